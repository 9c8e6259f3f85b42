/* Socket peers from /proc/net, one scan per table per network namespace. */
#include "kernel/sockets.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYH_SOCK_DESC 160		/* one socket's description */
#define PYH_SOCK_PATH 128
#define PYH_TCP_LISTEN 10

struct pyh_sock {
	unsigned long inode;
	char desc[PYH_SOCK_DESC];	/* "" until a table named it */
};

struct pyh_netns {
	uint64_t id;			/* inode of /proc/PID/task/TID/ns/net */
	struct pyh_sock *s;		/* the process's sockets, sorted by inode */
	size_t n;
};

struct pyh_sockets {
	pid_t pid;
	struct pyh_netns ns[PYH_SOCK_MAX_NS];
	int nns;
};

static unsigned long pyh_sock_scans;	/* atomic */

unsigned long pyh_sockets_scans(void)
{
	return __atomic_load_n(&pyh_sock_scans, __ATOMIC_RELAXED);
}

struct pyh_sockets *pyh_sockets_new(pid_t pid)
{
	struct pyh_sockets *s = calloc(1, sizeof(*s));

	if (s)
		s->pid = pid;
	return s;
}

void pyh_sockets_free(struct pyh_sockets *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nns; i++)
		free(s->ns[i].s);
	free(s);
}

static const char *tcp_state_name(unsigned st)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV",
		[4] = "FIN_WAIT1", [5] = "FIN_WAIT2", [6] = "TIME_WAIT",
		[7] = "CLOSE", [8] = "CLOSE_WAIT", [9] = "LAST_ACK",
		[10] = "LISTEN", [11] = "CLOSING", [12] = "NEW_SYN_RECV",
	};

	if (st < sizeof(names) / sizeof(names[0]) && names[st])
		return names[st];
	return "?";
}

/* "0100007F:1388" (IPv4) or 32 hex digits ":PORT" (IPv6) as the kernel prints
 * them (each 32-bit word in host order) to "127.0.0.1:5000" / "[::1]:5000". */
static int format_addr(const char *hex, int v6, char *out, size_t outsz)
{
	unsigned char bytes[16];
	char ip[INET6_ADDRSTRLEN];
	const char *colon = strchr(hex, ':');
	size_t want = v6 ? 32 : 8;
	unsigned long port;
	char *end;

	if (!colon || (size_t)(colon - hex) != want)
		return -EINVAL;
	for (size_t w = 0; w < want / 8; w++) {
		char word[9];
		uint32_t v;

		memcpy(word, hex + w * 8, 8);
		word[8] = '\0';
		for (int k = 0; k < 8; k++)
			if (!isxdigit((unsigned char)word[k]))
				return -EINVAL;
		v = (uint32_t)strtoul(word, NULL, 16);
		memcpy(bytes + w * 4, &v, 4);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 16);
	if (errno || end == colon + 1 || port > 65535)
		return -EINVAL;
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, ip, sizeof(ip)))
		return -EINVAL;
	snprintf(out, outsz, v6 ? "[%s]:%lu" : "%s:%lu", ip, port);
	return 0;
}

static int cmp_sock(const void *a, const void *b)
{
	unsigned long x = ((const struct pyh_sock *)a)->inode, y = ((const struct pyh_sock *)b)->inode;

	return (x > y) - (x < y);
}

static struct pyh_sock *find(struct pyh_netns *ns, unsigned long inode)
{
	struct pyh_sock key = { .inode = inode };

	return ns->n ? bsearch(&key, ns->s, ns->n, sizeof(*ns->s), cmp_sock) : NULL;
}

/* The socket inodes among pid's descriptors, sorted. */
static int list_sockets(pid_t pid, struct pyh_netns *ns)
{
	char path[PYH_SOCK_PATH], link[64];
	size_t cap = 0, looked = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && looked++ < PYH_SOCK_MAX_FDS) {
		unsigned long inode;
		char tail;
		ssize_t n;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%lu%c", &inode, &tail) != 2 || tail != ']')
			continue;
		if (ns->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pyh_sock *g = realloc(ns->s, ncap * sizeof(*g));

			if (!g)
				break;
			ns->s = g;
			cap = ncap;
		}
		ns->s[ns->n].inode = inode;
		ns->s[ns->n++].desc[0] = '\0';
	}
	closedir(d);
	if (ns->n)
		qsort(ns->s, ns->n, sizeof(*ns->s), cmp_sock);
	return 0;
}

/* One pass over net/{tcp,tcp6,udp,udp6}: describe the sockets of ns found there. */
static void scan_inet(const char *net, struct pyh_netns *ns)
{
	static const struct { const char *file, *proto; int v6, tcp; } tables[] = {
		{ "tcp", "TCP", 0, 1 }, { "tcp6", "TCP", 1, 1 },
		{ "udp", "UDP", 0, 0 }, { "udp6", "UDP", 1, 0 },
	};

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		char path[PYH_SOCK_PATH], line[512];
		FILE *f;
		int lines = 0;

		snprintf(path, sizeof(path), "%s/%s", net, tables[t].file);
		f = fopen(path, "re");
		if (!f)
			continue;
		__atomic_add_fetch(&pyh_sock_scans, 1, __ATOMIC_RELAXED);
		while (lines++ < PYH_SOCK_MAX_NET_LINES && fgets(line, sizeof(line), f)) {
			char local[64], remote[64], la[56], ra[56];	/* "[v6 addr]:port" fits */
			struct pyh_sock *s;
			unsigned st;
			unsigned long ino;

			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, " %*[0-9]: %63s %63s %x %*s %*s %*s %*u %*d %lu",
				   local, remote, &st, &ino) != 4 || !(s = find(ns, ino)) || s->desc[0])
				continue;
			if (format_addr(local, tables[t].v6, la, sizeof(la)) ||
			    format_addr(remote, tables[t].v6, ra, sizeof(ra)))
				snprintf(s->desc, sizeof(s->desc), "%s socket:[%lu]", tables[t].proto, ino);
			else if (tables[t].tcp && st == PYH_TCP_LISTEN)
				snprintf(s->desc, sizeof(s->desc), "TCP %s (LISTEN)", la);
			else if (tables[t].tcp)
				snprintf(s->desc, sizeof(s->desc), "TCP %s -> %s (%s)", la, ra, tcp_state_name(st));
			else if (strcmp(ra + strlen(ra) - 2, ":0") == 0)
				snprintf(s->desc, sizeof(s->desc), "UDP %s", la);
			else
				snprintf(s->desc, sizeof(s->desc), "UDP %s -> %s", la, ra);
		}
		fclose(f);
	}
}

/* net/unix: "Num RefCount Protocol Flags Type St Inode [Path]". */
static void scan_unix(const char *net, struct pyh_netns *ns)
{
	char path[PYH_SOCK_PATH], line[512];
	FILE *f;
	int lines = 0;

	snprintf(path, sizeof(path), "%s/unix", net);
	f = fopen(path, "re");
	if (!f)
		return;
	__atomic_add_fetch(&pyh_sock_scans, 1, __ATOMIC_RELAXED);
	while (lines++ < PYH_SOCK_MAX_NET_LINES && fgets(line, sizeof(line), f)) {
		struct pyh_sock *s;
		unsigned long ino;
		int pos = 0;
		char *name;

		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu%n", &ino, &pos) != 1 || !(s = find(ns, ino)) ||
		    s->desc[0])
			continue;
		name = line + pos;
		while (*name == ' ')
			name++;
		name[strcspn(name, "\n")] = '\0';
		if (*name)
			snprintf(s->desc, sizeof(s->desc), "UNIX %.*s", PYH_SOCK_DESC - 8, name);
		else
			snprintf(s->desc, sizeof(s->desc), "UNIX (unnamed)");
	}
	fclose(f);
}

/* The namespace of thread tid, loaded on first use. NULL when it cannot be. */
static struct pyh_netns *netns_of(struct pyh_sockets *s, pid_t tid)
{
	char path[PYH_SOCK_PATH], net[PYH_SOCK_PATH / 2];
	struct stat st;
	struct pyh_netns *ns;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/ns/net", (int)s->pid, (int)tid);
	if (stat(path, &st))
		return NULL;
	for (int i = 0; i < s->nns; i++)
		if (s->ns[i].id == (uint64_t)st.st_ino)
			return &s->ns[i];
	if (s->nns == PYH_SOCK_MAX_NS)
		return NULL;
	ns = &s->ns[s->nns++];
	memset(ns, 0, sizeof(*ns));
	ns->id = (uint64_t)st.st_ino;
	if (list_sockets(s->pid, ns))
		return ns;	/* no descriptors to look at: answers nothing */
	if (!ns->n)
		return ns;
	snprintf(net, sizeof(net), "/proc/%d/task/%d/net", (int)s->pid, (int)tid);
	scan_inet(net, ns);
	scan_unix(net, ns);
	return ns;
}

int pyh_sockets_describe(struct pyh_sockets *s, pid_t tid, unsigned long inode, char *out,
			 size_t outsz)
{
	struct pyh_netns *ns;
	struct pyh_sock *k;

	if (!s || !outsz)
		return -ENOENT;
	ns = netns_of(s, tid > 0 ? tid : s->pid);
	k = ns ? find(ns, inode) : NULL;
	if (!k || !k->desc[0])
		return -ENOENT;
	snprintf(out, outsz, "%s", k->desc);
	return 0;
}
