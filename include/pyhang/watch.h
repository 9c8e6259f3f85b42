/* SPDX-License-Identifier: MIT */
/*
 * pyhang/watch.h - what the hang detector's BPF side (bpf/watch.bpf.c) and
 * its user side (src/watch/) exchange.
 *
 * Fixed-width types only, no pointers: addresses are __u64 in the target's
 * address space, times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns).
 *
 * Maps (hash maps):
 *   tracked   the processes watched: the process tracker's map
 *             (pyhang/proctrack.h), shared before load, as is exec_gens
 *   inflight  __u32 tid  -> pyh_watch_call  the call a thread is in; the entry
 *             stays after the call returns with start_ns = 0, so the hot path
 *             is two lookups and stores into the value, never an insert/delete
 *             (the user side removes entries of threads that ended)
 *   gilwait   __u32 tid  -> pyh_watch_gilwait  a thread waiting for the GIL
 *             (PyEval_RestoreThread / take_gil entered, not yet returned)
 *   lockacq   __u32 tid  -> __u64 lock       acquire in progress
 *   holders   pyh_watch_lock_key -> pyh_watch_holder  who holds a PyThread lock:
 *             keyed by process and lock (pre-fork siblings share addresses)
 *   events    ring buffer of pyh_watch_event
 */
#ifndef PYHANG_WATCH_H
#define PYHANG_WATCH_H

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#define PYH_WATCH_MAX_TIDS 65536
#define PYH_WATCH_MAX_LOCKS 65536

/* inflight value. start_ns == 0: not in a call. */
struct pyh_watch_call {
	__u64 start_ns;
	__s64 nr;		/* system call number */
	__u64 args[3];		/* its first three arguments */
	__u32 tgid;
	__u32 _pad;
	__u64 end_ns;		/* when the last call or wait ended (the thread ran again) */
};
_Static_assert(sizeof(struct pyh_watch_call) == 56, "struct pyh_watch_call must match on both sides");

struct pyh_watch_gilwait {
	__u64 start_ns;
	__u32 tgid;
	__u32 _pad;
};
_Static_assert(sizeof(struct pyh_watch_gilwait) == 16, "struct pyh_watch_gilwait must match on both sides");

/* A PyThread lock: the same address names different locks in different
 * processes (forked siblings), so the process is part of the key. */
struct pyh_watch_lock_key {
	__u64 lock;
	__u32 tgid;
	__u32 _pad;
};
_Static_assert(sizeof(struct pyh_watch_lock_key) == 16, "struct pyh_watch_lock_key must match on both sides");

struct pyh_watch_holder {
	__u64 since_ns;
	__u32 tid;
	__u32 tgid;
};
_Static_assert(sizeof(struct pyh_watch_holder) == 16, "struct pyh_watch_holder must match on both sides");

/* pyh_watch_event.kind (process events are the tracker's: pyhang/proctrack.h) */
#define PYH_WATCH_EV_RETURNED 1	/* a call that lasted at least min_report_ns returned */

struct pyh_watch_event {
	__u32 kind;
	__u32 tgid;
	__u32 tid;
	__u32 _pad;
	__s64 nr;
	__s64 ret;
	__u64 start_ns;
	__u64 end_ns;
};
_Static_assert(sizeof(struct pyh_watch_event) == 48, "struct pyh_watch_event must match on both sides");

/* Counters (the `stats` per-CPU array), read by -v. */
enum pyh_watch_counter {
	PYH_WCNT_ENTER = 0,	/* sys_enter hits on watched threads */
	PYH_WCNT_NEW_TID,	/* inflight entries created */
	PYH_WCNT_MAP_FULL,	/* inflight map full: a thread's calls are not seen */
	PYH_WCNT_RETURNED,	/* returned events sent */
	PYH_WCNT_RB_FULL,	/* ring buffer full */
	PYH_WCNT_LOCK_ACQ,	/* PyThread lock acquisitions seen */
	PYH_WCNT_MAX,
};

#endif
