/* What each thread of a process is doing in the kernel, from /proc (no stopping). */
#ifndef PYH_KERNEL_TASK_H
#define PYH_KERNEL_TASK_H
#include <stdint.h>
#include <sys/types.h>

struct pyh_task_info {
	pid_t tid;
	char comm[17];		/* /proc/PID/task/TID/comm, no newline */
	char state;		/* R S D T t Z X I P ... from stat; '?' unknown */
	int in_syscall;		/* 1: blocked in a system call, nr and args valid */
	long syscall_nr;	/* -1 when not in one */
	uint64_t args[6];
	uint64_t sp, pc;	/* user stack and instruction pointers from /proc/.../syscall */
	char wchan[64];		/* kernel function it sleeps in, "" if none */
	double offcpu_s;	/* seconds since it last ran (sched se.exec_start); -1 if unknown or running */
	uint64_t start_time;	/* stat field 22, for telling reused tids apart */
};

/* List the threads of pid (at most max). Returns 0 with *n, -ESRCH if gone,
 * -E2BIG if there were more than max (the first max are listed). */
int pyh_task_list(pid_t pid, pid_t *tids, int max, int *n);

/* Fill *out for one thread. Returns 0, -ESRCH if the thread is gone. Never
 * stops the thread: /proc/.../syscall answers "running" for a running one. */
int pyh_task_info(pid_t pid, pid_t tid, struct pyh_task_info *out);

/* The thread's id in its own (innermost) PID namespace: the last NSpid field of
 * /proc/PID/task/TID/status; == tid outside containers. Returns 0 or -ESRCH. */
int pyh_task_ns_tid(pid_t pid, pid_t tid, pid_t *ns_tid);

/* "running", "sleeping", "disk", "stopped", "zombie", "dead", "idle" or "unknown". */
const char *pyh_task_state_name(char state);

/* The process' state letter and whether it is a kernel thread (PF_KTHREAD).
 * Returns 0, -ESRCH. */
int pyh_proc_state(pid_t pid, char *state, int *kthread);
#endif
