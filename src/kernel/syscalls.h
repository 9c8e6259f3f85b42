/* x86_64 system call names, and a one-line human description of a blocked call. */
#ifndef PYH_KERNEL_SYSCALLS_H
#define PYH_KERNEL_SYSCALLS_H
#include <stddef.h>
#include <sys/types.h>
#include "kernel/task.h"

/* "read", "futex", ...; NULL for an unknown number. */
const char *pyh_syscall_name(long nr);

/* Describe what the blocked call waits for, decoding its main arguments:
 * fds (what /proc/PID/fd/N points to; sockets with local/peer address from
 * the thread's /proc/net/{tcp,tcp6,udp,udp6,unix}, kernel/sockets.h), sleep durations (timespec read from
 * the target), futex address and op, wait4 pid, the path of an open, poll/select
 * fd sets. Writes "" when there is nothing to add. Returns 0 or -errno (out still valid). */
int pyh_syscall_detail(pid_t pid, const struct pyh_task_info *ti, char *out, size_t outsz);

struct pyh_sockets;
/* The same with a socket cache (kernel/sockets.h) kept by the caller for
 * every thread of one snapshot: the /proc/net tables are scanned once per
 * network namespace, not per descriptor. */
int pyh_syscall_detail_cached(pid_t pid, const struct pyh_task_info *ti, struct pyh_sockets *socks,
			      char *out, size_t outsz);
/* What fd of thread tid of pid is, as the call descriptions write it: "fd 5
 * TCP 127.0.0.1:40312 -> 127.0.0.1:8080 (ESTABLISHED)", "fd 3 pipe:[1234]",
 * "fd 9 (closed)". Always fills out. */
void pyh_fd_describe(pid_t pid, pid_t tid, long fd, char *out, size_t outsz);
#endif
