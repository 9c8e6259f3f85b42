/* What a socket descriptor of a target is connected to, from the /proc/net
 * tables of its network namespace: "TCP 10.0.0.2:40312 -> 10.0.0.9:5432
 * (ESTABLISHED)", "UDP 0.0.0.0:53", "UNIX /run/app.sock".
 *
 * Looking one inode up means scanning up to five tables (tcp, tcp6, udp,
 * udp6, unix) that can hold hundreds of thousands of lines. A cache does it
 * once per network namespace: it lists the process's own socket descriptors
 * (/proc/PID/fd), scans each table one time keeping only the lines of those
 * sockets, and answers every later lookup from that (memory: one entry per
 * socket the process holds). Every read is bounded. */
#ifndef PYH_KERNEL_SOCKETS_H
#define PYH_KERNEL_SOCKETS_H
#include <stddef.h>
#include <sys/types.h>

struct pyh_sockets;

/* A cache for the sockets of pid (one dump, one event). NULL when out of
 * memory (lookups then fail with -ENOENT). */
struct pyh_sockets *pyh_sockets_new(pid_t pid);
void pyh_sockets_free(struct pyh_sockets *s); /* NULL-safe */

/* Describe socket inode of thread tid (its network namespace) into out.
 * Returns 0, or -ENOENT when no table has it. */
int pyh_sockets_describe(struct pyh_sockets *s, pid_t tid, unsigned long inode, char *out,
			 size_t outsz);

/* Tables scanned so far, by every cache: for tests and reports. */
unsigned long pyh_sockets_scans(void);

#define PYH_SOCK_MAX_NET_LINES 200000	/* lines read per table */
#define PYH_SOCK_MAX_FDS 65536		/* descriptors of a process looked at */
#define PYH_SOCK_MAX_NS 4		/* network namespaces cached per process */
#endif
