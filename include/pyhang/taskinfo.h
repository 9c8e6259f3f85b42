/* SPDX-License-Identifier: MIT */
/*
 * pyhang/taskinfo.h - the records the task iterators (bpf/taskinfo.bpf.c)
 * write, once per thread, into the iterator's output, and that
 * src/kernel/taskinfo.c reads back with read(2).
 *
 * Shared by the user side and the BPF side: fixed-width types only, no
 * pointers; the sizes are asserted so the halves cannot disagree.
 */
#ifndef PYHANG_TASKINFO_H
#define PYHANG_TASKINFO_H

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#include "pyhang/uregs.h"

struct pyh_taskinfo_rec {
	__u32 tid;	/* task->pid: the thread id */
	__u32 tgid;	/* task->tgid: the process id */
	__u64 fsbase;	/* task->thread.fsbase: pthread_self() on x86_64 glibc */
};

_Static_assert(sizeof(struct pyh_taskinfo_rec) == 16, "pyh_taskinfo_rec layout");

/* What a native stack unwind of a thread that is NOT running starts from:
 * its user registers as the kernel saved them when it entered the kernel (a
 * system call, a fault, an interrupt), the kernel stack it sleeps on, and,
 * from the sleepable iterator, a copy of the top of its user stack. */

/* Kernel return addresses kept (bpf_get_task_stack), innermost first. */
#define PYH_TASKINFO_KSTACK_MAX 64
/* Bytes of user stack copied from the stack pointer up. The record must fit
 * in the iterator's output buffer (eight pages), one record per thread. */
#define PYH_TASKINFO_USTACK_MAX (16u << 10)
/* A shorter copy is tried, halving, down to this, when the stack's mapping
 * ends sooner (the main thread's stack is near the top of its mapping). */
#define PYH_TASKINFO_USTACK_MIN 512u

/* struct pyh_taskinfo_native_rec.flags */
#define PYH_TI_KTHREAD 0x1u	/* a kernel thread: no user registers */
#define PYH_TI_ON_CPU 0x2u	/* on a CPU while read: the saved registers are stale */
#define PYH_TI_RUNNABLE 0x4u	/* runnable (TASK_RUNNING) while read: it may run any moment */
#define PYH_TI_MOVED 0x8u	/* it was switched in or out while read: nothing is consistent */
#define PYH_TI_USTACK 0x10u	/* ustack[0..ustack_len) holds user memory from regs.r[RSP] */
#define PYH_TI_KSTACK 0x20u	/* kstack[0..kstack_n) is the kernel stack */

struct pyh_taskinfo_native_rec {
	__u32 tid;
	__u32 tgid;
	__u32 flags;		/* PYH_TI_* */
	__u32 state;		/* task->__state at the start of the read (0: TASK_RUNNING) */
	__u64 switches;		/* nvcsw + nivcsw at the start of the read (== at its end
				 * unless PYH_TI_MOVED); /proc/.../status shows the same two */
	__u64 fsbase;
	struct pyh_uregs regs;	/* valid unless KTHREAD, ON_CPU or MOVED */
	__u32 kstack_n;		/* entries of kstack used */
	__u32 ustack_len;	/* bytes of ustack used */
	__u64 kstack[PYH_TASKINFO_KSTACK_MAX];
	__u8 ustack[PYH_TASKINFO_USTACK_MAX];
};

_Static_assert(sizeof(struct pyh_taskinfo_native_rec) ==
		       32 + sizeof(struct pyh_uregs) + 8 + 8 * PYH_TASKINFO_KSTACK_MAX +
			       PYH_TASKINFO_USTACK_MAX,
	       "pyh_taskinfo_native_rec layout");

/* One thread as /proc/PID/task/TID/{stat,schedstat,sched,syscall,wchan}
 * tell it, every thread of a process in one run of the iterator
 * pyh_taskinfo_threads (src/kernel/taskinfo.h): what a dump reads of each
 * thread without opening five files per thread. The slices are read first,
 * then the rest (a snapshot's check: its slices, then its state). */
#define PYH_TT_WCHAN_MAX 64
#define PYH_TT_KTHREAD 0x1u	/* a kernel thread: no user registers */
#define PYH_TT_REGS 0x2u	/* syscall_nr, args, sp and ip hold its saved user registers
				 * (not running, not on a CPU and not switched while read:
				 * where /proc/.../syscall would not say "running") */
#define PYH_TT_ON_RQ 0x4u	/* on a run queue: no wchan (/proc/.../wchan says "0") */

struct pyh_taskinfo_thread_rec {
	__u32 tid;
	__u32 tgid;
	__u32 state;		/* task->__state (0: TASK_RUNNING) */
	__u32 exit_state;	/* task->exit_state */
	__u32 flags;		/* PYH_TT_* */
	__u32 cpu;		/* task_cpu(): /proc/.../stat field 39 */
	__u64 slices;		/* sched_info.pcount: schedstat's third field */
	__u64 start_ns;		/* task->start_boottime: stat field 22, in ns */
	__u64 exec_start_ns;	/* se.exec_start: sched's se.exec_start, in ns of its run
				 * queue's task clock (src/kernel/task.c) */
	__s64 syscall_nr;	/* orig_ax: -1 when not in a system call (PYH_TT_REGS) */
	__u64 args[6];		/* its arguments (PYH_TT_REGS, syscall_nr >= 0) */
	__u64 sp, ip;		/* user stack and instruction pointers (PYH_TT_REGS) */
	char comm[16];		/* task->comm, NUL-terminated */
	char wchan[PYH_TT_WCHAN_MAX];	/* the kernel function it sleeps in (%ps of its
					 * stack's first return address outside the
					 * scheduler, as /proc/.../wchan), "" if none */
};

_Static_assert(sizeof(struct pyh_taskinfo_thread_rec) == 136 + PYH_TT_WCHAN_MAX,
	       "pyh_taskinfo_thread_rec layout");

#endif
