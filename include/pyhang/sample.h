/* SPDX-License-Identifier: MIT */
/*
 * pyhang/sample.h - what the record sampler (bpf/sampler.bpf.c) and its user
 * side (src/record/) exchange: the per-process target description (a map
 * value), the stack samples (ring buffer records) and the error counters.
 *
 * Fixed-width types only, no pointers: every address is a __u64 in the
 * target's address space. BPF sends code-object addresses and instruction
 * byte offsets; the user side names them.
 */
#ifndef PYHANG_SAMPLE_H
#define PYHANG_SAMPLE_H

#include "pyhang/frame.h"
#include "pyhang/layout.h"
#include "pyhang/uregs.h"

/* Frames a sample carries; a deeper stack keeps its innermost
 * PYH_SAMPLE_MAX_DEPTH frames and sets PYH_SAMPLE_TRUNCATED. */
#define PYH_SAMPLE_MAX_DEPTH 256
/* Bounds of the thread-state search when a thread is not in the cache. */
#define PYH_SAMPLE_MAX_INTERPS 4
#define PYH_SAMPLE_MAX_THREADS 256

/* The sampler's first filter (the `target_bits` array map, __u64 words):
 * bit tgid % 64 of word tgid / 64 is set while `targets` may hold tgid, so a
 * tick on a CPU running any other process costs an array load, not a hash
 * lookup. Sized for the kernel's largest PID (PID_MAX_LIMIT, 4M on 64-bit);
 * a sampler may size it smaller, and a tgid past its end is looked up in
 * `targets` directly. */
#define PYH_TARGET_BITS_WORDS ((4u << 20) / 64)

/* struct pyh_sample_target.flags */
#define PYH_TARGET_MATCH_NATIVE_TID 0x1u /* match tstate by native_thread_id (3.11+: the layout has it), else by fs base */
#define PYH_TARGET_GIL_ONLY 0x2u	 /* --gil: emit only samples whose thread holds the GIL */
#define PYH_TARGET_WAKEUP 0x4u		 /* wake the reader at every sample (snapshots: it waits) */
#define PYH_TARGET_NATIVE 0x8u		 /* send each sample's user registers and top of user stack
					  * (struct pyh_sample_native): record --native */
#define PYH_TARGET_TASKS 0x10u		 /* fill pyh_sample.task_gens: record --tasks */

/* The `targets` map value, keyed by tgid (__u32).
 *
 * A tgid alone does not name a process for long: PIDs are reused, and a
 * process that execs keeps its PID but gets another program. So an entry
 * also says WHICH process and program it describes, and the sampler ignores
 * (PYH_CNT_STALE_TARGET) an entry that does not match the task it hits:
 * - start_ticks: the process's start time as /proc/PID/stat field 22 gives
 *   it (clock ticks since boot); BPF compares it with the group leader's
 *   start_boottime / clk_tck_ns. 0: not checked.
 * - exec_gen: the process tracker's exec generation of the tgid (exec_gens,
 *   pyhang/proctrack.h; 0 when absent) when the user side started reading the
 *   process. Every exec bumps it, so an entry made from the previous program
 *   never matches the new one, even before the user side removes it.
 * The per-thread sampler of snapshots (sampler.bpf.c, per_thread) checks
 * neither: its entries carry 0 for both (it has no process tracker), and
 * each of its perf events is one thread's, armed for milliseconds with the
 * thread state the user side has just read, which every sample checks
 * against the thread. */
struct pyh_sample_target {
	struct pyh_layout layout;
	__u64 interp_head_ptr;		/* address of the PyInterpreterState * list head */
	__u64 tstate_current_ptr;	/* gil_kind TSTATE_CURRENT: address of that pointer, else 0 */
	__u32 flags;			/* PYH_TARGET_* */
	__u32 exec_gen;			/* see above */
	__u64 start_ticks;		/* see above; 0: unchecked */
	/* The code-version ceiling (3.12+; below, at PYH_SAMPLE_CEILING): where
	 * the code-version counter (uint32) and _PyRuntime.interpreters.next_id
	 * (int64) lie. code_counter_ptr 0: no ceiling, every sample fingerprints
	 * its frames; interp_next_id_ptr 0: no check of interpreters (the user
	 * side sets both, or neither: python/target.h). */
	__u64 code_counter_ptr;
	__u64 interp_next_id_ptr;
	/* Of the layout, by the frame rule's own functions (pyhang/frame.h),
	 * once here rather than at every sample (and every verifier path):
	 * pyh_frame_span() and pyh_code_fp_span(). */
	__u32 frame_span;
	__u32 code_fp_off, code_fp_len;
	__u32 _pad;
};
_Static_assert(sizeof(struct pyh_sample_target) == sizeof(struct pyh_layout) + 64, "pyh_sample_target size");

/* struct pyh_sample.flags */
#define PYH_SAMPLE_TRUNCATED 0x1u	/* deeper than PYH_SAMPLE_MAX_DEPTH: root frames missing */
#define PYH_SAMPLE_GIL_HELD 0x2u	/* the thread held the GIL when sampled */
#define PYH_SAMPLE_GIL_KNOWN 0x4u	/* PYH_SAMPLE_GIL_HELD is meaningful */
/* The GIL flags are computed only for a PYH_TARGET_GIL_ONLY target: they cost
 * up to four reads per sample and nothing else reads them (every sample such a
 * target sends has both set). */
#define PYH_SAMPLE_BROKEN 0x8u		/* the walk did not reach the end of the chain (why: walk_status) */
#define PYH_SAMPLE_NATIVE 0x10u		/* a struct pyh_sample_native follows frames[depth] */
/* The frames carry no fingerprint (fp 0); code_ceiling does instead.
 *
 * Reading every frame's code object at sample time (its co_version, for the
 * fingerprint) is most of the sampler's cost on a deep stack. On 3.13+ a new
 * code object takes co_version from its interpreter's counter
 * (interp->func_state.next_version, Objects/codeobject.c init_code, under a
 * mutex on 3.14t; 3.12: the process's _Py_next_func_version), which then
 * grows by one, unless it is 0: run out, every later code object gets 0 and
 * the counter stays 0. So the counter read once per sample is a ceiling:
 * every code object alive at the sample has 0 < co_version < code_ceiling
 * (but static ones, whose version is 0), every one made after it has
 * co_version >= code_ceiling. The sampler sends it instead of the
 * fingerprints when it read the counter and interpreters.next_id, the
 * counter is not 0, and next_id is 1 (only the main interpreter ever
 * existed: on 3.13+ a subinterpreter has a counter of its own, so versions
 * are unique only within one; on 3.12 they share one, bumped without
 * atomics under a GIL each, so two can hand out a stale version); else it fingerprints every frame (counted
 * PYH_CNT_CEILING_FALLBACK). The user side
 * gives each frame the fingerprint the sampler would have taken, from the
 * code object read after the sample (record/ceiling.h says when that is
 * sound). */
#define PYH_SAMPLE_CEILING 0x20u

/* The record carries frames[0] alone: its callers, frames[1..depth), are
 * those of the thread's last whole sample, whose `callers` was this one's.
 *
 * A deep stack's callers change far less often than its innermost frame,
 * and copying them into the ring was a fifth of a 60-frame sample's cost.
 * So the sampler keeps, in the thread's tstate_cache entry (struct
 * pyh_tstate_entry), the callers hash of the last whole sample it sent;
 * when a sample's callers hash the same (pyh_callers_mix over frames[1..depth),
 * code, fingerprint, offset and flags, then the depth) and that sample is
 * less than PYH_SAMPLE_WHOLE_NS old, it sends this one without them. The
 * user side keeps each thread's last whole callers (record/callers.h) and
 * puts them back; a record whose callers it does not hold under that hash
 * (evicted, or a whole sample it never read) is lost, counted, never given
 * other callers. Only record's per-CPU sampler does this, and not for
 * --native (the native unwind pairs with every frame). */
#define PYH_SAMPLE_CALLERS 0x40u
#define PYH_SAMPLE_WHOLE_NS 250000000ull	/* a whole sample at least this often per thread */

/* One step of a sample's callers hash (PYH_SAMPLE_CALLERS): mixes frame f
 * into h. The sampler starts from PYH_CALLERS_SEED, mixes frames 1 to
 * depth - 1 and ends with pyh_callers_end(). */
#define PYH_CALLERS_SEED 0x6a09e667f3bcc909ull
/* One multiply on the chain per frame: the sampler mixes up to 255 frames
 * at every sample (three a frame cost more than the record they save). */
static inline __u64 pyh_callers_mix(__u64 h, __u64 code, __u64 fp, __u32 offset, __u32 flags)
{
	__u64 w = code ^ ((__u64)offset << 47 | (__u64)offset >> 17) ^ ((__u64)flags << 32) ^
		  (fp * 0x9e3779b97f4a7c15ull);

	h = (h ^ w) * 0xc2b2ae3d27d4eb4full;
	return (h << 29) | (h >> 35);
}

/* The hash of callers mixed into h, of a sample depth frames deep: never 0
 * (0 in an entry: no whole sample sent yet). */
static inline __u64 pyh_callers_end(__u64 h, __u32 depth)
{
	h = (h ^ depth) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 29;
	return h ? h : 1;
}

/* A `tstate_cache` value, keyed by tgid << 32 | tid: the thread's state,
 * and what the sampler last sent of it whole (PYH_SAMPLE_CALLERS). A
 * per-thread sampler's entries, written by the user side, carry 0 for both. */
struct pyh_tstate_entry {
	__u64 tstate;		/* PyThreadState address */
	__u64 callers;		/* the callers hash of the last whole sample, 0: none */
	__u64 whole_ns;		/* its ktime_ns */
};

/* record --tasks: the generators a sample's stack could be a task's step
 * of. A task's step runs its coroutine called from C (the task's step
 * function), so the task's coroutine is the outermost frame of a run of
 * generator frames; task_gens holds the owner of each such run's outermost
 * frame (pyh_frame_gen), innermost run first, 0 after the last. The user side
 * tells which of them is a task's coroutine. */
#define PYH_SAMPLE_TASK_GENS 4

/* One ring-buffer record. Only the header and frames[0..depth) are sent:
 * the record's length is PYH_SAMPLE_SIZE(depth); with PYH_SAMPLE_CALLERS
 * frames[0] alone, PYH_SAMPLE_SIZE(1). frames[0] is the INNERMOST frame. */
struct pyh_sample {
	__u32 pid;	/* tgid */
	__u32 tid;
	__u64 ktime_ns;	/* bpf_ktime_get_ns() */
	__u64 tstate;	/* PyThreadState address */
	__u32 cpu;
	__u32 flags;	/* PYH_SAMPLE_* */
	__u32 depth;	/* frames used, <= PYH_SAMPLE_MAX_DEPTH */
	__u32 walk_status; /* enum pyh_walk_status (pyhang/frame.h): why the walk ended */
	__u64 task_gens[PYH_SAMPLE_TASK_GENS]; /* PYH_TARGET_TASKS, else 0 */
	__u32 code_ceiling;	/* PYH_SAMPLE_CEILING: the code-version counter at the sample, else 0 */
	__u32 _pad;
	__u64 callers;		/* the callers hash (PYH_SAMPLE_CALLERS) of a per-CPU (record)
				 * sampler's sample deeper than one frame, else 0 */
	struct pyh_raw_frame frames[PYH_SAMPLE_MAX_DEPTH];
};
#define PYH_SAMPLE_HDR_SIZE 88
_Static_assert(sizeof(struct pyh_sample) ==
		       PYH_SAMPLE_HDR_SIZE + sizeof(struct pyh_raw_frame) * PYH_SAMPLE_MAX_DEPTH,
	       "pyh_sample size");
#define PYH_SAMPLE_SIZE(depth) (PYH_SAMPLE_HDR_SIZE + sizeof(struct pyh_raw_frame) * (depth))

/* What a native unwind of a sample starts from (PYH_TARGET_NATIVE): the
 * thread's user registers at the interrupt (those it had when it entered the
 * kernel, if it was in the kernel) and a copy of its user stack from the
 * stack pointer up, taken at the same moment as the Python frames. It lies
 * at byte PYH_SAMPLE_SIZE(depth) of the record; only stack[0..stack_len) is
 * sent: the record is PYH_SAMPLE_NATIVE_SIZE(depth, stack_len) long. */
#define PYH_SAMPLE_STACK_MAX (16u << 10)	/* bytes of user stack copied at most */
#define PYH_SAMPLE_STACK_MIN 512u		/* halving from the maximum down to this */

struct pyh_sample_native {
	struct pyh_uregs regs;
	__u64 stack_addr;	/* user address of stack[0] (the stack pointer) */
	__u32 stack_len;	/* bytes of stack copied, <= PYH_SAMPLE_STACK_MAX */
	__u32 _pad;
	__u8 stack[PYH_SAMPLE_STACK_MAX];
};
#define PYH_SAMPLE_NATIVE_HDR_SIZE (sizeof(struct pyh_uregs) + 16)
_Static_assert(sizeof(struct pyh_sample_native) == PYH_SAMPLE_NATIVE_HDR_SIZE + PYH_SAMPLE_STACK_MAX,
	       "pyh_sample_native size");
#define PYH_SAMPLE_NATIVE_SIZE(depth, stack_len) \
	(PYH_SAMPLE_SIZE(depth) + PYH_SAMPLE_NATIVE_HDR_SIZE + (stack_len))

/* Per-CPU counters (the `counters` array map, one __u64 per index, summed by
 * the user side), so that nothing is dropped silently. Every tick on a target
 * thread counts TICKS and then one outcome: EMITTED, RINGBUF_FULL,
 * STALE_TARGET, NO_TSTATE, GIL_FILTERED, NO_FRAME, or BAD_FRAME when not one
 * frame could be read. Other counters say more about a tick that also has
 * its outcome: CACHE_STALE and READ_ERROR on the way to finding the thread
 * state (which may still succeed after CACHE_STALE), BAD_FRAME for a sample
 * whose stack is cut at an unreadable frame, NATIVE_NO_STACK for a
 * sample sent without its copy of the user stack; CEILING and
 * CEILING_FALLBACK say how a sample's code objects are told apart, CALLERS
 * how many were sent without their callers. */
enum pyh_sample_counter {
	PYH_CNT_TICKS = 0,		/* perf events that hit a target thread */
	PYH_CNT_EMITTED,		/* records written to the ring buffer */
	PYH_CNT_NO_TSTATE,		/* no thread state matches the thread (not a Python thread yet) */
	PYH_CNT_NO_FRAME,		/* thread state has no Python frame (idle in C) */
	PYH_CNT_BAD_FRAME,		/* a frame could not be read: the stack is cut there (and
					 * still EMITTED when at least one frame was read) */
	PYH_CNT_RINGBUF_FULL,		/* the ring buffer had no room: sample lost */
	PYH_CNT_GIL_FILTERED,		/* --gil: thread did not hold the GIL */
	PYH_CNT_READ_ERROR,		/* thread state or interpreter unreadable */
	PYH_CNT_CACHE_STALE,		/* cached thread state no longer matched the thread */
	PYH_CNT_STALE_TARGET,		/* the targets entry describes an earlier process with
					 * this PID, or the program before an exec */
	PYH_CNT_NATIVE_NO_STACK,	/* PYH_TARGET_NATIVE: the user stack could not be copied;
					 * the sample was sent without it (still EMITTED) */
	PYH_CNT_CEILING,		/* samples sent with PYH_SAMPLE_CEILING (still EMITTED) */
	PYH_CNT_CEILING_FALLBACK,	/* samples of a target with a code_counter_ptr that
					 * fingerprinted their frames: the counter run out, more than
					 * one interpreter ever made, or either unreadable */
	PYH_CNT_CALLERS,		/* samples sent with PYH_SAMPLE_CALLERS (still EMITTED) */
	PYH_CNT_MAX,
};

#endif
