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
 * /proc/PID/net/{tcp,tcp6,udp,udp6,unix}), sleep durations (timespec read from
 * the target), futex address and op, wait4 pid, the path of an open, poll/select
 * fd sets. Writes "" when there is nothing to add. Returns 0 or -errno (out still valid). */
int pyh_syscall_detail(pid_t pid, const struct pyh_task_info *ti, char *out, size_t outsz);
#endif
