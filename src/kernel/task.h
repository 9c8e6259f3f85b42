/* What each thread of a process is doing in the kernel, from /proc (no stopping). */
#ifndef PYH_KERNEL_TASK_H
#define PYH_KERNEL_TASK_H
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/taskinfo.h"

struct pyh_task_info {
	pid_t tid;
	char comm[17];		/* the comm file's first line (from stat), no newline */
	char state;		/* R S D T t Z X I P ... from stat; '?' unknown */
	int in_syscall;		/* 1: blocked in a system call, nr and args valid */
	long syscall_nr;	/* -1 when not in one */
	uint64_t args[6];
	uint64_t sp, pc;	/* user stack and instruction pointers from /proc/.../syscall */
	char wchan[64];		/* kernel function it sleeps in, "" if none */
	double offcpu_s;	/* seconds since it last ran (sched se.exec_start); -1 if unknown or running */
	uint64_t start_time;	/* stat field 22, for telling reused tids apart */
};

/* Fill *out for one thread. Returns 0, -ESRCH if the thread is gone. Never
 * stops the thread: /proc/.../syscall answers "running" for a running one. */
int pyh_task_info(pid_t pid, pid_t tid, struct pyh_task_info *out);

/* Fill *out from the kernel's record of the thread (kernel/taskinfo.h,
 * pyh_taskinfo_threads) as pyh_task_info would from /proc. Returns 0, or
 * -EINVAL for a record without a thread id. */
int pyh_task_info_from(const struct pyh_taskinfo_thread_rec *r, struct pyh_task_info *out);

/* The letter /proc/.../stat shows for a task of these task->__state and
 * task->exit_state bits (the kernel's task_state_index()). */
char pyh_task_state_letter(uint32_t state, uint32_t exit_state);

/* "running", "sleeping", "disk", "stopped", "zombie", "dead", "idle" or "unknown". */
const char *pyh_task_state_name(char state);

#endif
