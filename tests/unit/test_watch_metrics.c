/* The Prometheus text of `watch --metrics`, the address parser, and the server
 * answering while an idle client holds a connection. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <sys/resource.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "watch/metrics.h"

static void test_render(void **state)
{
	struct pyh_metrics_snapshot *s = calloc(1, sizeof(*s));
	size_t max = pyh_metrics_render_max();
	char *out = malloc(max);

	(void)state;
	assert_non_null(s);
	assert_non_null(out);
	s->nprocs = 1;
	s->procs[0].pid = 42;
	s->procs[0].hung[PYH_MK_DEADLOCK] = 2;
	s->procs[0].hung_tasks = 3;
	s->events[PYH_MK_AWAITING] = 5;
	snprintf(s->procs[0].python, sizeof(s->procs[0].python), "3.12.1");
	snprintf(s->procs[0].cmdline, sizeof(s->procs[0].cmdline), "py \"a\\b\"\nc \xff\xc3\xa9");
	s->events[PYH_MK_BLOCKED] = 7;
	s->samples = 9;
	s->list_changed = 4;
	s->last_scan = 1700000000.25;
	s->capacity[PYH_MC_THREADS] = 5;
	assert_true(pyh_metrics_render(s, out, max) > 0);
	assert_non_null(strstr(out, "# TYPE pyhang_hung_threads gauge\n"));
	assert_non_null(strstr(out, "pyhang_hung_threads{pid=\"42\",kind=\"deadlock\"} 2\n"));
	assert_non_null(strstr(out, "pyhang_hung_threads{pid=\"42\",kind=\"blocked\"} 0\n"));
	assert_null(strstr(out, "kind=\"returned\"} 0\npyhang_hung"));
	/* tasks are not threads: their own gauge, their events counted */
	assert_null(strstr(out, "pyhang_hung_threads{pid=\"42\",kind=\"awaiting\"}"));
	assert_null(strstr(out, "pyhang_hung_threads{pid=\"42\",kind=\"resumed\"}"));
	assert_non_null(strstr(out, "# TYPE pyhang_hung_tasks gauge\npyhang_hung_tasks{pid=\"42\"} 3\n"));
	assert_non_null(strstr(out, "pyhang_hang_events_total{kind=\"awaiting\"} 5\n"));
	assert_non_null(strstr(out, "pyhang_hang_events_total{kind=\"resumed\"} 0\n"));
	assert_non_null(strstr(out, "pyhang_hang_events_total{kind=\"blocked\"} 7\n"));
	assert_non_null(strstr(out, "# TYPE pyhang_samples_total counter\npyhang_samples_total 9\n"));
	assert_non_null(strstr(out, "# TYPE pyhang_thread_list_changed_total counter\n"
				    "pyhang_thread_list_changed_total 4\n"));
	assert_non_null(strstr(out, "pyhang_processes_watched 1\n"));
	assert_non_null(strstr(out, "pyhang_last_scan_timestamp_seconds 1700000000.250\n"));
	assert_non_null(strstr(out, "pyhang_capacity_refusals_total{what=\"threads\"} 5\n"));
	assert_non_null(strstr(out, "pyhang_stalled_reads 0\n"));
	/* escaped quote, backslash, newline; invalid UTF-8 replaced by U+FFFD, valid kept */
	assert_non_null(strstr(out, "cmdline=\"py \\\"a\\\\b\\\"\\nc \xef\xbf\xbd\xc3\xa9\""));
	/* too small: -ENOSPC, still terminated */
	assert_int_equal(pyh_metrics_render(s, out, 64), -ENOSPC);
	assert_true(strlen(out) < 64);
	/* the worst case fits */
	s->nprocs = PYH_METRICS_MAX_PROCS;
	for (int i = 0; i < PYH_METRICS_MAX_PROCS; i++) {
		s->procs[i].pid = 4000000 + i;
		memset(s->procs[i].cmdline, '"', sizeof(s->procs[i].cmdline) - 1);
		memset(s->procs[i].cgroup, '\\', sizeof(s->procs[i].cgroup) - 1);
		memset(s->procs[i].python, '\n', sizeof(s->procs[i].python) - 1);
		for (int k = 0; k < PYH_MK_COUNT; k++)
			s->procs[i].hung[k] = 4000000000u;
		s->procs[i].hung_tasks = 4000000000u;
	}
	for (int k = 0; k < PYH_MK_COUNT; k++)
		s->events[k] = ~0ull;
	assert_true(pyh_metrics_render(s, out, max) > 0);
	free(out);
	free(s);
}

static void test_parse_addr(void **state)
{
	char h[128], p[16], e[256];

	(void)state;
	assert_int_equal(pyh_metrics_parse_addr("127.0.0.1:9464", h, sizeof(h), p, sizeof(p), e, sizeof(e)), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_string_equal(p, "9464");
	assert_int_equal(pyh_metrics_parse_addr("[::1]:80", h, sizeof(h), p, sizeof(p), e, sizeof(e)), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(pyh_metrics_parse_addr("::1:80", h, sizeof(h), p, sizeof(p), e, sizeof(e)), -EINVAL);
	assert_int_equal(pyh_metrics_parse_addr("9464", h, sizeof(h), p, sizeof(p), e, sizeof(e)), -EINVAL);
	assert_int_equal(pyh_metrics_parse_addr(":9464", h, sizeof(h), p, sizeof(p), e, sizeof(e)), -EINVAL);
	assert_int_equal(pyh_metrics_parse_addr("a:65536", h, sizeof(h), p, sizeof(p), e, sizeof(e)), -EINVAL);
	assert_int_equal(pyh_metrics_parse_addr("a:-1", h, sizeof(h), p, sizeof(p), e, sizeof(e)), -EINVAL);
	assert_int_equal(pyh_metrics_parse_addr("a:", h, sizeof(h), p, sizeof(p), e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "expected ADDRESS:PORT"));
}

static int connect_to(const char *bound)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(bound, ':');
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void test_server(void **state)
{
	struct pyh_metrics *m = NULL, *m2 = NULL;
	struct pyh_metrics_snapshot *s = calloc(1, sizeof(*s));
	char err[256], buf[65536], addr[160];
	int idle, fd;
	ssize_t n, total = 0;

	(void)state;
	assert_non_null(s);
	assert_int_equal(pyh_metrics_start("127.0.0.1:0", &m, err, sizeof(err)), 0);
	s->nprocs = 3;
	pyh_metrics_publish(m, s);
	idle = connect_to(pyh_metrics_bound(m));	/* never writes */
	assert_true(idle >= 0);
	fd = connect_to(pyh_metrics_bound(m));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25), 25);
	while (total < (ssize_t)sizeof(buf) - 1 && (n = read(fd, buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	buf[total] = '\0';
	close(fd);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "pyhang_processes_watched 3\n"));
	/* the same port again: the clear error */
	snprintf(addr, sizeof(addr), "%s", pyh_metrics_bound(m));
	assert_int_equal(pyh_metrics_start(addr, &m2, err, sizeof(err)), -EADDRINUSE);
	assert_null(m2);
	assert_non_null(strstr(err, "Address already in use"));
	close(idle);
	pyh_metrics_stop(m);
	pyh_metrics_stop(NULL);
	free(s);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static ssize_t get_metrics(int fd, char *buf, size_t bufsz)
{
	ssize_t n, total = 0;

	if (write(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25) != 25)
		return -1;
	while (total < (ssize_t)bufsz - 1 && (n = read(fd, buf + total, bufsz - 1 - (size_t)total)) > 0)
		total += n;
	buf[total] = '\0';
	return total;
}

/* accept() failing for want of descriptors must not spin the server, and
 * the connection waiting meanwhile is served once descriptors are back. */
static void test_accept_failure_no_spin(void **state)
{
	struct pyh_metrics *m = NULL;
	struct pyh_metrics_snapshot *s = calloc(1, sizeof(*s));
	struct rlimit old, low;
	char err[256], buf[65536];
	double cpu0, cpu1;
	int fd, probe;

	(void)state;
	assert_non_null(s);
	assert_int_equal(pyh_metrics_start("127.0.0.1:0", &m, err, sizeof(err)), 0);
	pyh_metrics_publish(m, s);
	fd = connect_to(pyh_metrics_bound(m));
	assert_true(fd >= 0);
	assert_true(get_metrics(fd, buf, sizeof(buf)) > 0);	/* it works; now the server idles */
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);	/* made now, connected once descriptors are gone */
	assert_true(fd >= 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	probe = dup(0);		/* the lowest free descriptor: everything below is taken */
	assert_true(probe >= 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe;	/* no new descriptor at all, for the server too */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		const char *colon = strrchr(pyh_metrics_bound(m), ':');

		sa.sin_port = htons((uint16_t)atoi(colon + 1));
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	cpu0 = cpu_seconds();
	sleep(1);
	cpu1 = cpu_seconds();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* A spinning accept loop burns the second (or what it gets of a CPU, here
	 * about half); pausing burns almost nothing. */
	print_message("cpu %.3f\n", cpu1 - cpu0);
	assert_true(cpu1 - cpu0 < 0.2);
	assert_true(get_metrics(fd, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
	close(fd);
	pyh_metrics_stop(m);
	free(s);
}

/* Clients that send a request and never read the answer hold a slot at
 * most PYH_METRICS_IO_MS: a good client is answered after that. */
static void test_request_never_read(void **state)
{
	enum { BAD = PYH_METRICS_MAX_CONNS + 4 };
	struct pyh_metrics *m = NULL;
	struct pyh_metrics_snapshot *s = calloc(1, sizeof(*s));
	char err[256], *buf = malloc(1 << 20);
	int bad[BAD], small = 1024, ok = 0;

	(void)state;
	assert_non_null(s);
	assert_non_null(buf);
	s->nprocs = PYH_METRICS_MAX_PROCS;	/* an answer far larger than socket buffers */
	for (int i = 0; i < PYH_METRICS_MAX_PROCS; i++) {
		s->procs[i].pid = 1000 + i;
		memset(s->procs[i].cmdline, 'x', sizeof(s->procs[i].cmdline) - 1);
		memset(s->procs[i].cgroup, 'y', sizeof(s->procs[i].cgroup) - 1);
	}
	assert_int_equal(pyh_metrics_start("127.0.0.1:0", &m, err, sizeof(err)), 0);
	pyh_metrics_publish(m, s);
	for (int i = 0; i < BAD; i++) {
		bad[i] = connect_to(pyh_metrics_bound(m));
		assert_true(bad[i] >= 0);
		setsockopt(bad[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		assert_int_equal(write(bad[i], "GET /metrics HTTP/1.1\r\n\r\n", 25), 25);
	}
	/* Retry for a while (the deadline is 2 s): the point is that it comes. */
	for (int attempt = 0; attempt < 40 && !ok; attempt++) {
		int fd = connect_to(pyh_metrics_bound(m));

		if (fd >= 0 && get_metrics(fd, buf, 1 << 20) > 0 && strstr(buf, "pyhang_processes_watched 256\n"))
			ok = 1;
		if (fd >= 0)
			close(fd);
		if (!ok)
			usleep(250 * 1000);
	}
	assert_true(ok);
	for (int i = 0; i < BAD; i++)
		close(bad[i]);
	pyh_metrics_stop(m);
	free(buf);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_accept_failure_no_spin),
		cmocka_unit_test(test_request_never_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
