/* SPDX-License-Identifier: MIT */
/*
 * pyhang/proctrack.h - what the process tracker's BPF side
 * (bpf/proctrack.bpf.c) and its user side (src/host/proctrack.c) exchange,
 * and the two maps it shares with the other BPF objects of a command.
 *
 * The tracker is one BPF object on the sched_process_exec, _exit and _fork
 * tracepoints, loaded once per command that follows processes (record --all,
 * watch). It keeps:
 *   exec_gens __u32 tgid -> __u32  how many times the process exec'd since the
 *             tracker loaded (absent: 0); deleted when its last thread exits.
 *             A command reads it before it opens a process and compares later
 *             (the sampler at every sample, watch at every scan): a process
 *             that exec'd is never read with its old program's layout, even
 *             when the event telling so was lost.
 *   tracked   __u32 tgid -> __u32 (1)  the processes the command follows (the
 *             user side adds and removes them): their exits and forks are
 *             reported, and watch's programs record only their threads. An
 *             exec removes the process (a new program is not followed until
 *             the command attaches it again), and so does its exit.
 *   events    ring buffer of struct pyh_proc_event
 *   stats     per-CPU counters (enum pyh_proctrack_counter)
 *
 * Sharing: a BPF object that includes this header declares exec_gens and
 * tracked itself; the user side makes them the tracker's maps with
 * bpf_map__reuse_fd between that object's open and load
 * (pyh_proctrack_share()). Without a tracker they are the object's own,
 * empty maps: every generation reads 0.
 *
 * Fixed-width types only, no pointers; times are bpf_ktime_get_ns().
 */
#ifndef PYHANG_PROCTRACK_H
#define PYHANG_PROCTRACK_H

#ifdef __BPF__
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#else
#include <linux/types.h>
#endif

#define PYH_PROCTRACK_MAX_PROCS 65536	/* exec_gens entries (LRU: the oldest go first) */
#define PYH_PROCTRACK_MAX_TRACKED 1024	/* processes followed at once */

/* struct pyh_proc_event.kind */
#define PYH_PROC_EXEC 1u	/* pid runs a new program (every process with all_execs,
				 * else only a tracked one); exec_gen: its new generation */
#define PYH_PROC_EXIT 2u	/* the last thread of pid, a tracked process, exited (tid) */
#define PYH_PROC_FORK 3u	/* a tracked process forked pid, a new process (with forks) */
#define PYH_PROC_THREAD_EXIT 4u	/* thread tid of pid, a tracked process, exited and others
				 * remain (with thread_exits) */

struct pyh_proc_event {
	__u32 kind;		/* PYH_PROC_* */
	__u32 pid;		/* tgid, in the initial PID namespace */
	__u32 tid;		/* EXIT, THREAD_EXIT: the thread that exited; else pid */
	__u32 exec_gen;		/* EXEC: the generation after it; else 0 */
	__u64 ktime_ns;		/* when it happened */
};
_Static_assert(sizeof(struct pyh_proc_event) == 24, "struct pyh_proc_event must match on both sides");

/* The `stats` per-CPU array. */
enum pyh_proctrack_counter {
	PYH_PTCNT_SENT = 0,	/* events sent */
	PYH_PTCNT_LOST,		/* events lost: the ring buffer was full (the user side's
				 * rescans and generation checks make up for them) */
	PYH_PTCNT_MAX,
};

#ifdef __BPF__
/* The shared maps (see above), as each object that includes this declares them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PYH_PROCTRACK_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u32);
} exec_gens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYH_PROCTRACK_MAX_TRACKED);
	__type(key, __u32);
	__type(value, __u32);
} tracked SEC(".maps");

static __always_inline __u32 pyh_exec_gen_of(__u32 tgid)
{
	__u32 *g = bpf_map_lookup_elem(&exec_gens, &tgid);

	return g ? *g : 0;
}

static __always_inline int pyh_is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid) != 0;
}
#endif

#endif
