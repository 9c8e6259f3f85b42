// SPDX-License-Identifier: GPL-2.0
/* The hang detector's kernel side.
 *
 * For the threads of watched processes only, the `inflight` map says which
 * system call each thread waits in and since when. By default sched_switch
 * fills it (a thread that goes to sleep starts a wait, its call number and
 * first arguments taken from its saved user registers; the wait ends when it
 * runs again), which costs nothing per system call that does not sleep.
 * --trace-syscalls uses raw_syscalls sys_enter/sys_exit instead (exact call
 * boundaries and return values, but every system call of the machine takes
 * the kernel's tracing slow path). Each pair exists as tp_btf and as a classic
 * tracepoint; the user side probes tp_btf and loads one of the four.
 * The user side scans the map every ~200 ms and reports waits longer than
 * the threshold; the end of every wait that lasted at least min_report_ns
 * goes to the ring buffer as a "returned" event (each wait the user side
 * reported lasted longer than that, so no per-entry flag is needed).
 *
 * uprobes on PyThread lock acquire/release keep lock -> holder, and on
 * PyEval_RestoreThread / take_gil record threads waiting for the GIL.
 * Everything is keyed by tid; no CPython layouts here.
 *
 * Which processes are watched is the process tracker's `tracked` map
 * (pyhang/proctrack.h), shared by the user side before load; the tracker also
 * reports exits, so the entries of a thread that exits are removed by the
 * user side (src/watch/), not here. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pyhang/proctrack.h"
#include "pyhang/watch.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 min_report_ns = 5000000000ULL;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYH_WATCH_MAX_TIDS);
	__type(key, __u32);
	__type(value, struct pyh_watch_call);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYH_WATCH_MAX_TIDS);
	__type(key, __u32);
	__type(value, struct pyh_watch_gilwait);
} gilwait SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYH_WATCH_MAX_TIDS);
	__type(key, __u32);
	__type(value, __u64);
} lockacq SEC(".maps");

/* LRU: a lock freed while held (or released where no probe sees it) must
 * not fill the map for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PYH_WATCH_MAX_LOCKS);
	__type(key, struct pyh_watch_lock_key);
	__type(value, struct pyh_watch_holder);
} holders SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

#define PYH_STATS_MAX PYH_WCNT_MAX
#include "stats.bpf.h"

static __always_inline void pyh_on_enter_task(__u32 tgid, __u32 tid, long id, __u64 a0, __u64 a1,
					      __u64 a2)
{
	struct pyh_watch_call *c;

	pyh_count(PYH_WCNT_ENTER);
	c = bpf_map_lookup_elem(&inflight, &tid);
	if (!c) {
		struct pyh_watch_call nc = {};

		nc.nr = id;
		nc.args[0] = a0;
		nc.args[1] = a1;
		nc.args[2] = a2;
		nc.tgid = tgid;
		nc.start_ns = bpf_ktime_get_ns();
		if (bpf_map_update_elem(&inflight, &tid, &nc, BPF_NOEXIST))
			pyh_count(PYH_WCNT_MAP_FULL);
		else
			pyh_count(PYH_WCNT_NEW_TID);
		return;
	}
	c->nr = id;
	c->args[0] = a0;
	c->args[1] = a1;
	c->args[2] = a2;
	c->tgid = tgid;
	c->start_ns = bpf_ktime_get_ns();
}

static __always_inline void pyh_on_exit_task(__u32 tgid, __u32 tid, long ret)
{
	struct pyh_watch_call *c;
	struct pyh_watch_event *e;
	__u64 now, start;

	c = bpf_map_lookup_elem(&inflight, &tid);
	if (!c || !c->start_ns)
		return;
	start = c->start_ns;
	c->start_ns = 0;
	now = bpf_ktime_get_ns();
	c->end_ns = now;
	if (now - start < min_report_ns)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		pyh_count(PYH_WCNT_RB_FULL);
		return;
	}
	e->kind = PYH_WATCH_EV_RETURNED;
	e->tgid = tgid;
	e->tid = tid;
	e->_pad = 0;
	e->nr = c->nr;
	e->ret = ret;
	e->start_ns = start;
	e->end_ns = now;
	bpf_ringbuf_submit(e, 0);
	pyh_count(PYH_WCNT_RETURNED);
}

static __always_inline void pyh_on_enter(long id, __u64 a0, __u64 a1, __u64 a2)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (!pyh_is_tracked(tgid))
		return;
	pyh_on_enter_task(tgid, (__u32)pid_tgid, id, a0, a1, a2);
}

static __always_inline void pyh_on_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	pyh_on_exit_task(pid_tgid >> 32, (__u32)pid_tgid, ret);
}

/* --trace-syscalls: exact call boundaries, at a price on every system call. */
SEC("tp_btf/sys_enter")
int BPF_PROG(pyh_enter_btf, struct pt_regs *regs, long id)
{
	pyh_on_enter(id, regs->di, regs->si, regs->dx);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pyh_exit_btf, struct pt_regs *regs, long ret)
{
	pyh_on_exit(ret);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int pyh_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	pyh_on_enter(ctx->id, ctx->args[0], ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int pyh_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	pyh_on_exit(ctx->ret);
	return 0;
}

/* The cheap default: sched_switch. A watched thread that goes to sleep
 * (not preempted) starts a wait: its system call number and first arguments
 * come from its saved user registers. When it next runs, the wait ends.
 * Context switches are far rarer than system calls (a loop of reads that
 * never block costs nothing), where raw_syscalls puts every call of every
 * process on the kernel's slow tracing path. */
static __always_inline void pyh_on_sleep(struct task_struct *prev)
{
	__u32 tgid = BPF_CORE_READ(prev, tgid), tid = BPF_CORE_READ(prev, pid);
	struct pt_regs *regs;
	long nr;

	if (!pyh_is_tracked(tgid))
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (!regs)
		return;
	nr = (long)BPF_CORE_READ(regs, orig_ax);
	pyh_on_enter_task(tgid, tid, nr, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si),
			  BPF_CORE_READ(regs, dx));
}

static __always_inline void pyh_on_wake(struct task_struct *next)
{
	__u32 tgid = BPF_CORE_READ(next, tgid), tid = BPF_CORE_READ(next, pid);

	if (!pyh_is_tracked(tgid))
		return;
	pyh_on_exit_task(tgid, tid, 0);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(pyh_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	if (!preempt && (prev_state & 3))	/* TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE */
		pyh_on_sleep(prev);
	pyh_on_wake(next);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int pyh_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	struct task_struct *prev = bpf_get_current_task_btf();
	long st = ctx->prev_state;

	/* A preempted task reports TASK_REPORT_MAX (0x100); sleeping ones S (1) or D (2). */
	if (st > 0 && st < 0x100 && (st & 3))
		pyh_on_sleep(prev);
	{
		__u32 tid = ctx->next_pid;
		struct pyh_watch_call *c = bpf_map_lookup_elem(&inflight, &tid);

		if (c && c->start_ns)
			pyh_on_exit_task(c->tgid, tid, 0);
	}
	return 0;
}

/* With --all the uprobes are attached once per interpreter binary for every
 * process that maps it: only watched processes count. */
static __always_inline int pyh_current_watched(void)
{
	return pyh_is_tracked(bpf_get_current_pid_tgid() >> 32);
}

/* ---- lock holders ---------------------------------------------------------
 * lockacq[tid] is the lock tid is acquiring, holders[lock] who holds it.
 *
 * Up to 3.13, threading.Lock and RLock's inner lock are PyThread locks:
 * PyThread_acquire_lock_timed(lock, microseconds, intr_flag), 1 on success,
 * and PyThread_release_lock(lock). (2.7's are not probed: watch/probes.c.)
 *
 * From 3.14 they are PyMutexes: lock_PyThread_acquire_lock and rlock_acquire
 * call _PyMutex_LockTimed(m, timeout, flags) (PY_LOCK_ACQUIRED is 1), and
 * release with _PyMutex_TryUnlock(m) and _PyRecursiveMutex_TryUnlock(rm).
 * The interpreter's own mutexes go through _PyMutex_LockTimed too, and many
 * are released by an inline fast path no probe sees: only a
 * _PyMutex_LockTimed inside one of the two Python-level acquires is taken,
 * the others would leave holders that are no longer true. The two mark the
 * thread PYH_LOCKACQ_PENDING until _PyMutex_LockTimed names the mutex. */
#define PYH_LOCKACQ_PENDING 1ull
/* _PyRecursiveMutex { PyMutex mutex; unsigned long long thread; size_t level; } */
#define PYH_RMUTEX_LEVEL 16

static __always_inline void pyh_holder_set(__u64 lock)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pyh_watch_lock_key k = { .lock = lock, .tgid = pid_tgid >> 32 };
	struct pyh_watch_holder h = {};

	h.since_ns = bpf_ktime_get_ns();
	h.tid = (__u32)pid_tgid;
	h.tgid = k.tgid;
	if (bpf_map_update_elem(&holders, &k, &h, BPF_ANY))
		pyh_count(PYH_WCNT_MAP_FULL);
	pyh_count(PYH_WCNT_LOCK_ACQ);
}

/* Keyed by process and lock: only the process that holds it releases it
 * (lock addresses of two processes can be equal: pre-fork siblings). */
static __always_inline void pyh_holder_clear(__u64 lock)
{
	struct pyh_watch_lock_key k = { .lock = lock, .tgid = (__u32)(bpf_get_current_pid_tgid() >> 32) };

	bpf_map_delete_elem(&holders, &k);
}

SEC("uprobe")
int BPF_KPROBE(pyh_lock_acquire, void *lock)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 l = (__u64)lock;

	if (!pyh_current_watched())
		return 0;
	bpf_map_update_elem(&lockacq, &tid, &l, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pyh_lock_acquire_ret, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *l = bpf_map_lookup_elem(&lockacq, &tid);
	__u64 lock;

	if (!l)
		return 0;
	lock = *l;
	bpf_map_delete_elem(&lockacq, &tid);
	if ((int)ret == 1 && lock != PYH_LOCKACQ_PENDING)
		pyh_holder_set(lock);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(pyh_lock_release, void *lock)
{
	pyh_holder_clear((__u64)lock);
	return 0;
}

/* lock_PyThread_acquire_lock / rlock_acquire entered (3.14+). */
SEC("uprobe")
int BPF_KPROBE(pyh_pylock_enter)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 pending = PYH_LOCKACQ_PENDING;

	if (!pyh_current_watched())
		return 0;
	bpf_map_update_elem(&lockacq, &tid, &pending, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pyh_pylock_leave)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&lockacq, &tid);
	return 0;
}

/* _PyMutex_LockTimed(m, ...) entered: the mutex, when inside a Python-level acquire. */
SEC("uprobe")
int BPF_KPROBE(pyh_mutex_lock, void *m)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *l = bpf_map_lookup_elem(&lockacq, &tid);

	if (l && *l == PYH_LOCKACQ_PENDING)
		*l = (__u64)m;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pyh_mutex_lock_ret, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *l = bpf_map_lookup_elem(&lockacq, &tid);

	if (!l || *l == PYH_LOCKACQ_PENDING)
		return 0;
	if ((int)ret == 1)
		pyh_holder_set(*l);
	*l = PYH_LOCKACQ_PENDING;
	return 0;
}

/* _PyRecursiveMutex_TryUnlock(rm) entered: at level 0 it unlocks rm->mutex. */
SEC("uprobe")
int BPF_KPROBE(pyh_rmutex_unlock, void *rm)
{
	__u64 level;

	if (bpf_probe_read_user(&level, sizeof(level), (const char *)rm + PYH_RMUTEX_LEVEL) || level)
		return 0;
	pyh_holder_clear((__u64)rm);
	return 0;
}

/* PyEval_RestoreThread / take_gil entered: the thread starts waiting for the
 * GIL. The outer call's start wins (take_gil runs inside RestoreThread). */
SEC("uprobe")
int BPF_KPROBE(pyh_gil_wait)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pyh_watch_gilwait w = {};

	if (!pyh_current_watched())
		return 0;
	w.start_ns = bpf_ktime_get_ns();
	w.tgid = pid_tgid >> 32;
	bpf_map_update_elem(&gilwait, &tid, &w, BPF_NOEXIST);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pyh_gil_got)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&gilwait, &tid);
	return 0;
}
