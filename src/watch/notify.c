/* sd_notify datagrams, by hand. */
#include "watch/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un pyh_notify_addr;
static socklen_t pyh_notify_len;	/* 0: no socket */
static uint64_t pyh_watchdog_ms;	/* 0: no watchdog */
static uint64_t pyh_last_alive_ms;
static uint64_t pyh_alive_sent;

void pyh_notify_init(void)
{
	const char *sock = getenv("NOTIFY_SOCKET"), *usec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");
	size_t len;

	pyh_notify_len = 0;
	pyh_watchdog_ms = 0;
	if (!sock || (sock[0] != '/' && sock[0] != '@'))
		return;
	len = strlen(sock);
	if (len >= sizeof(pyh_notify_addr.sun_path))
		return;
	memset(&pyh_notify_addr, 0, sizeof(pyh_notify_addr));
	pyh_notify_addr.sun_family = AF_UNIX;
	memcpy(pyh_notify_addr.sun_path, sock, len);
	if (sock[0] == '@')
		pyh_notify_addr.sun_path[0] = '\0';	/* an abstract socket */
	pyh_notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (usec && (!wpid || strtol(wpid, NULL, 10) == (long)getpid())) {
		unsigned long long us = strtoull(usec, NULL, 10);

		pyh_watchdog_ms = us / 1000;
	}
}

static void send_state(const char *state)
{
	int fd;

	if (!pyh_notify_len)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* Never blocks: a datagram, MSG_DONTWAIT; lost ones are sent again next scan. */
	if (sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
		   (const struct sockaddr *)&pyh_notify_addr, pyh_notify_len) >= 0 &&
	    !strcmp(state, "WATCHDOG=1"))
		pyh_alive_sent++;
	close(fd);
}

void pyh_notify_ready(void)
{
	send_state("READY=1");
}

void pyh_notify_alive(uint64_t now_ms)
{
	if (!pyh_watchdog_ms || now_ms - pyh_last_alive_ms < pyh_watchdog_ms / 2)
		return;
	pyh_last_alive_ms = now_ms;
	send_state("WATCHDOG=1");
}

void pyh_notify_stopping(void)
{
	send_state("STOPPING=1");
}

uint64_t pyh_notify_sent(void)
{
	return pyh_alive_sent;
}
