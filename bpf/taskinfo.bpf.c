// SPDX-License-Identifier: GPL-2.0
/* Task iterators over the threads of target_tgid.
 *
 * pyh_taskinfo_iter: one struct pyh_taskinfo_rec per thread (its fs base).
 *
 * pyh_taskinfo_native (sleepable) and pyh_taskinfo_native_nocopy: one struct
 * pyh_taskinfo_native_rec per thread: the user registers the kernel saved
 * when the thread entered it, its kernel stack and, from the sleepable one,
 * a copy of the top of its user stack (bpf_copy_from_user_task). Nothing is
 * stopped: a thread that is on a CPU, or is switched while it is read, is
 * flagged, and its registers are not to be used. The user side loads one of
 * the two (the sleepable one where the kernel accepts it).
 *
 * The user side asks the kernel to walk only that process (link info
 * .task.pid); the tgid check below keeps the output right where the kernel
 * ignores that and walks every task. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "pyhang/taskinfo.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;

#define PYH_PF_KTHREAD 0x00200000u
#define PYH_USTACK_TRIES 6	/* 16 KiB, 8, 4, 2, 1, 512 bytes */

_Static_assert(PYH_TASKINFO_USTACK_MAX >> (PYH_USTACK_TRIES - 1) == PYH_TASKINFO_USTACK_MIN,
	       "the halving tries end at the minimum copy");

SEC("iter/task")
int pyh_taskinfo_iter(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct pyh_taskinfo_rec rec = {};

	if (!task)	/* the end of the walk */
		return 0;
	rec.tgid = BPF_CORE_READ(task, tgid);
	if (target_tgid && rec.tgid != target_tgid)
		return 0;
	rec.tid = BPF_CORE_READ(task, pid);
	rec.fsbase = BPF_CORE_READ(task, thread.fsbase);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

/* The record is larger than a BPF stack: built here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pyh_taskinfo_native_rec);
} native_buf SEC(".maps");

/* Kernels before 5.14 call task->__state task->state. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

static __always_inline __u64 task_switches(struct task_struct *task)
{
	return BPF_CORE_READ(task, nvcsw) + BPF_CORE_READ(task, nivcsw);
}

/* PYH_TI_ON_CPU / PYH_TI_RUNNABLE as the task is now. */
static __always_inline __u32 task_running_flags(struct task_struct *task)
{
	__u32 f = 0;

	if (BPF_CORE_READ(task, on_cpu))
		f |= PYH_TI_ON_CPU;
	if (task_state(task) == 0)
		f |= PYH_TI_RUNNABLE;
	return f;
}

static __always_inline int native_rec(struct bpf_iter__task *ctx, int copy_stack)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct pyh_taskinfo_native_rec *rec;
	struct pt_regs *regs;
	__u32 zero = 0, len = PYH_TASKINFO_USTACK_MAX;
	long n;
	int i;

	if (!task)
		return 0;
	if (target_tgid && (__u32)BPF_CORE_READ(task, tgid) != target_tgid)
		return 0;
	rec = bpf_map_lookup_elem(&native_buf, &zero);
	if (!rec)
		return 0;
	rec->tid = BPF_CORE_READ(task, pid);
	rec->tgid = BPF_CORE_READ(task, tgid);
	rec->state = task_state(task);
	rec->switches = task_switches(task);
	rec->fsbase = BPF_CORE_READ(task, thread.fsbase);
	rec->flags = task_running_flags(task);
	rec->kstack_n = 0;
	rec->ustack_len = 0;
	__builtin_memset(&rec->regs, 0, sizeof(rec->regs));
	if (BPF_CORE_READ(task, flags) & PYH_PF_KTHREAD) {
		rec->flags |= PYH_TI_KTHREAD;
		goto out;
	}
	if (rec->flags & PYH_TI_ON_CPU)
		goto out;	/* its saved registers are from its last kernel entry */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		goto out;
	pyh_uregs_from_pt_regs(&rec->regs, regs);
	n = bpf_get_task_stack(task, rec->kstack, sizeof(rec->kstack), 0);
	if (n > 0) {
		rec->kstack_n = (__u32)n / sizeof(rec->kstack[0]);
		rec->flags |= PYH_TI_KSTACK;
	}
	if (copy_stack) {
		for (i = 0; i < PYH_USTACK_TRIES; i++, len >>= 1) {
			if (len > PYH_TASKINFO_USTACK_MAX)
				break;
			if (bpf_copy_from_user_task(rec->ustack, len,
						    (const void *)rec->regs.r[PYH_UREG_RSP], task, 0) == 0) {
				rec->ustack_len = len;
				rec->flags |= PYH_TI_USTACK;
				break;
			}
		}
	}
	/* Read again: a switch in between means the pieces are from different moments. */
	if (task_switches(task) != rec->switches || (task_running_flags(task) & PYH_TI_ON_CPU))
		rec->flags |= PYH_TI_MOVED;
out:
	bpf_seq_write(seq, rec, sizeof(*rec));
	return 0;
}

SEC("iter.s/task")
int pyh_taskinfo_native(struct bpf_iter__task *ctx)
{
	return native_rec(ctx, 1);
}

SEC("iter/task")
int pyh_taskinfo_native_nocopy(struct bpf_iter__task *ctx)
{
	return native_rec(ctx, 0);
}

/* A thread as /proc/.../{stat,schedstat,sched,syscall,wchan} tell it, one
 * struct pyh_taskinfo_thread_rec per thread (include/pyhang/taskinfo.h).
 * Without a target_tgid of its own (the link's task.pid restricts the walk;
 * the user side checks each record's tgid): the same program serves every
 * process, and so can be pinned (src/kernel/bpfpin.h). Fields are loaded
 * directly (the task is a BTF pointer: a load each, not a helper call), the
 * ordered ones through volatile (its slices before its state). */
#define PYH_ONCE(x) (*(volatile typeof(x) *)&(x))

static __always_inline __u32 task_state_direct(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return PYH_ONCE(task->__state);
	return (__u32)PYH_ONCE(((struct task_struct___pre514 *)task)->state);
}

static __always_inline __u64 task_switches_direct(struct task_struct *task)
{
	return PYH_ONCE(task->nvcsw) + PYH_ONCE(task->nivcsw);
}

/* The last address named and its name, for this walk only: reset at its
 * first task (a module's address may name another function after a reload).
 * Threads of a process mostly sleep in a few places: 1.6% of a 33-thread
 * dump's CPU was naming each. One walk at a time uses them: the store lends
 * the program to one process at a time (src/kernel/bpfpin.h). */
__u64 wchan_memo_addr;
char wchan_memo[PYH_TT_WCHAN_MAX];

SEC("iter/task")
int pyh_taskinfo_threads(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct pyh_taskinfo_thread_rec rec;
	struct pt_regs *regs;
	__u64 ret, sw;

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0)
		wchan_memo_addr = 0;
	__builtin_memset(&rec, 0, sizeof(rec));
	rec.slices = PYH_ONCE(task->sched_info.pcount);	/* first (include/pyhang/taskinfo.h) */
	rec.state = task_state_direct(task);
	rec.tid = task->pid;
	rec.tgid = task->tgid;
	rec.exit_state = (__u32)task->exit_state;
	rec.cpu = task->thread_info.cpu;
	rec.start_ns = task->start_boottime;
	rec.exec_start_ns = task->se.exec_start;
	rec.syscall_nr = -1;
	bpf_probe_read_kernel_str(rec.comm, sizeof(rec.comm), task->comm);
	if (task->on_rq)
		rec.flags |= PYH_TT_ON_RQ;
	if (task->flags & PYH_PF_KTHREAD)
		rec.flags |= PYH_TT_KTHREAD;
	/* As /proc/.../syscall: "running" unless it sleeps off a CPU. */
	if (rec.state == 0 || PYH_ONCE(task->on_cpu))
		goto out;
	sw = task_switches_direct(task);
	regs = rec.flags & PYH_TT_KTHREAD ? NULL : (struct pt_regs *)bpf_task_pt_regs(task);
	if (regs) {
		rec.syscall_nr = (__s64)regs->orig_ax;
		rec.args[0] = regs->di;
		rec.args[1] = regs->si;
		rec.args[2] = regs->dx;
		rec.args[3] = regs->r10;
		rec.args[4] = regs->r8;
		rec.args[5] = regs->r9;
		rec.sp = regs->sp;
		rec.ip = regs->ip;
	}
	/* As /proc/.../wchan (get_wchan): only a task off every run queue, the
	 * first return address of its kernel stack (which leaves out the
	 * scheduler's functions), by name. One entry: the unwind stops there. */
	if (!(rec.flags & PYH_TT_ON_RQ) &&
	    bpf_get_task_stack(task, &ret, sizeof(ret), 0) == sizeof(ret) && ret) {
		if (ret != wchan_memo_addr) {
			bpf_snprintf(wchan_memo, sizeof(wchan_memo), "%ps", &ret, sizeof(ret));
			wchan_memo_addr = ret;
		}
		__builtin_memcpy(rec.wchan, wchan_memo, sizeof(rec.wchan));
	}
	/* Read again: a switch in between means the registers may be another moment's. */
	if (regs && task_switches_direct(task) == sw && !PYH_ONCE(task->on_cpu))
		rec.flags |= PYH_TT_REGS;
out:
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
