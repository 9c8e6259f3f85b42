// SPDX-License-Identifier: GPL-2.0
/* The process tracker's kernel side: exec generations, and the processes
 * that exec, exit and fork (maps and events: include/pyhang/proctrack.h).
 *
 * These tracepoints fire rarely next to system calls or context switches.
 * Each program exists as tp_btf and as a classic tracepoint; the user side
 * probes tp_btf and loads one of each pair (fork only when asked for). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pyhang/proctrack.h"

char LICENSE[] SEC("license") = "GPL";

/* 1: an EXEC event for every process of the machine (--all); 0: for tracked ones. */
const volatile __u32 all_execs = 0;
/* 1: a THREAD_EXIT event for each thread of a tracked process that exits. */
const volatile __u32 thread_exits = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

#define PYH_STATS_MAX PYH_PTCNT_MAX
#include "stats.bpf.h"

static __always_inline void pyh_send(__u32 kind, __u32 tgid, __u32 tid, __u32 gen)
{
	struct pyh_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		pyh_count(PYH_PTCNT_LOST);
		return;
	}
	e->kind = kind;
	e->pid = tgid;
	e->tid = tid;
	e->exec_gen = gen;
	e->ktime_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	pyh_count(PYH_PTCNT_SENT);
}

/* After exec, current is the process running its new program. */
static __always_inline int pyh_on_exec(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 gen = pyh_exec_gen_of(tgid) + 1;
	int was_tracked = pyh_is_tracked(tgid);

	bpf_map_update_elem(&exec_gens, &tgid, &gen, BPF_ANY);
	if (was_tracked)
		bpf_map_delete_elem(&tracked, &tgid);	/* a new program: not Python until attached again */
	if (all_execs || was_tracked)
		pyh_send(PYH_PROC_EXEC, tgid, tgid, gen);
	return 0;
}

/* Fires for every exiting thread; the process is gone with its last one
 * (signal->live reached 0 before the tracepoint). */
static __always_inline int pyh_on_exit(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	int last = BPF_CORE_READ(task, signal, live.counter) == 0;

	if (last)
		bpf_map_delete_elem(&exec_gens, &tgid);
	if (!pyh_is_tracked(tgid))
		return 0;
	if (last) {
		bpf_map_delete_elem(&tracked, &tgid);
		pyh_send(PYH_PROC_EXIT, tgid, tid, 0);
	} else if (thread_exits) {
		pyh_send(PYH_PROC_THREAD_EXIT, tgid, tid, 0);
	}
	return 0;
}

/* A tracked process that forks (multiprocessing, pre-fork servers) has a
 * Python child that never execs. */
static __always_inline int pyh_on_fork(__u32 parent_tgid, __u32 child_pid, __u32 child_tgid)
{
	if (child_pid != child_tgid)
		return 0;	/* a new thread, not a new process */
	if (!pyh_is_tracked(parent_tgid))
		return 0;
	pyh_send(PYH_PROC_FORK, child_tgid, child_tgid, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int pyh_exec_btf(__u64 *ctx)
{
	return pyh_on_exec();
}

SEC("tracepoint/sched/sched_process_exec")
int pyh_exec_tp(void *ctx)
{
	return pyh_on_exec();
}

SEC("tp_btf/sched_process_exit")
int pyh_exit_btf(__u64 *ctx)
{
	return pyh_on_exit();
}

SEC("tracepoint/sched/sched_process_exit")
int pyh_exit_tp(void *ctx)
{
	return pyh_on_exit();
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pyh_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return pyh_on_fork(parent->tgid, child->pid, child->tgid);
}

SEC("tracepoint/sched/sched_process_fork")
int pyh_fork_tp(struct trace_event_raw_sched_process_fork *ctx)
{
	/* No tgids in the classic tracepoint: a child whose pid is a thread of
	 * the parent is filtered out by the user side (/proc says it is not a
	 * process). */
	__u32 parent = bpf_get_current_pid_tgid() >> 32;

	return pyh_on_fork(parent, (__u32)ctx->child_pid, (__u32)ctx->child_pid);
}
