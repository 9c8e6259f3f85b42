// SPDX-License-Identifier: GPL-2.0
/*
 * sampler.bpf.c - the `pyhang record` sampler.
 *
 * A perf_event program runs on every CPU at the sampling rate, but not on
 * one that is idle (the events exclude the idle task). When the task
 * on the CPU belongs to a process in `targets`, it finds the thread's
 * PyThreadState (cached per thread, validated on every hit), reads whether
 * the thread holds the GIL, walks its Python frames (bounded) and sends
 * [code address, instruction byte offset] pairs to the ring buffer. No
 * strings are read here: the user side names the code objects. For record
 * --native (pyh_on_cpu_native) each sample also carries the thread's user
 * registers and a copy of the top of its user stack, for the user side to
 * unwind its native frames.
 *
 * Every tick on a target thread is counted in `stats` (enum
 * pyh_sample_counter, which says how): TICKS, then its one outcome.
 *
 * A `targets` entry names the process and program it was made for (see
 * pyhang/sample.h): the exec generations come from the process tracker
 * (bpf/proctrack.bpf.c, whose exec_gens map the user side shares with this
 * object before load), so an entry left from before an exec or for a reused
 * PID is never used. Without the tracker (record without --all), exec_gens
 * is this object's own, empty map of one entry, never looked up
 * (tracked_gens 0).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pyhang/proctrack.h"
#include "pyhang/sample.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the user side before load: 1 when the kernel has bpf_loop(). */
const volatile __u32 use_bpf_loop = 1;
/* Nanoseconds per USER_HZ clock tick (/proc/PID/stat starttime unit). */
const volatile __u64 clk_tck_ns = 10000000;
/* Set by the user side before load: whether any target may ask for --gil
 * (PYH_TARGET_GIL_ONLY) or --tasks (PYH_TARGET_TASKS); 0 leaves that code
 * out of what the verifier checks. */
const volatile __u32 may_gil_only = 1;
const volatile __u32 may_tasks = 1;
/* Set by the user side before load for a per-thread sampler (snapshots):
 * its perf events are each a thread's own, armed for milliseconds by a
 * reader that waits for every sample. Such a program counts nothing (nobody
 * reads its stats), looks a thread's state up only where the user side put
 * it when arming the thread (tstate_cache; still checked against the thread
 * at every sample), does not check the targets entry's process (its entries
 * carry no exec generation or start time: a thread's own event dies with the
 * thread), and wakes the reader at every sample. What the verifier checks is
 * then about a third smaller. */
const volatile __u32 per_thread = 0;
/* Set by the user side before load: 1 when exec_gens is the process
 * tracker's (record --all); else it is this object's own map, always empty,
 * every generation 0, and its lookup is left out. */
const volatile __u32 tracked_gens = 1;

/* The stack is copied a page at a time, up to the first page that cannot be
 * read (the end of the stack's mapping: the main thread's stack top is often
 * closer to its stack pointer than PYH_SAMPLE_STACK_MAX). */
#define PYH_USTACK_PAGE 4096u
#define PYH_USTACK_CHUNKS (PYH_SAMPLE_STACK_MAX / PYH_USTACK_PAGE + 1)

/* Bytes of a 3.11+ data stack read at once (pyhang/frame.h): a power of 2. */
#define PYH_BULK PYH_FRAME_BULK
_Static_assert((PYH_BULK & (PYH_BULK - 1)) == 0, "the window offsets are masked with PYH_BULK - 1");
_Static_assert(sizeof(struct pyh_layout) % 8 == 0 && __builtin_offsetof(struct pyh_sample_target, layout) % 8 == 0,
	       "the layout is copied by 8-byte words");

/* The walk's loop bound; the frame rule ends every walk before it. */
#define PYH_WALK_ITERS PYH_WALK_MAX_STEPS(PYH_SAMPLE_MAX_DEPTH)
#define PYH_FIND_ITERS (PYH_SAMPLE_MAX_INTERPS * (PYH_SAMPLE_MAX_THREADS + 1))

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* resized by the user side */
	__type(key, __u32);	   /* tgid */
	__type(value, struct pyh_sample_target);
} targets SEC(".maps");

/* In front of `targets` (pyhang/sample.h): one bit per tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PYH_TARGET_BITS_WORDS); /* 1 for a per-thread sampler */
	__type(key, __u32);
	__type(value, __u64);
} target_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* tgid << 32 | tid */
	__type(value, struct pyh_tstate_entry);	/* pyhang/sample.h */
} tstate_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the user side */
} samples SEC(".maps");

/* the per-CPU counters (enum pyh_counter in pyhang/sample.h) */
#define PYH_STATS_MAX PYH_CNT_MAX
#define PYH_STATS_ON (!per_thread)
#include "stats.bpf.h"

static __always_inline int read_u64(__u64 addr, __u64 *out)
{
	*out = 0;
	if (!addr)
		return -1;
	return bpf_probe_read_user(out, sizeof(*out), (const void *)addr) ? -1 : 0;
}

/* 0 when tgid is certainly not a target; 1: look it up in targets. */
static __always_inline int maybe_target(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *w = bpf_map_lookup_elem(&target_bits, &word);

	return !w || ((*w >> (tgid % 64)) & 1);
}

/* ---- finding the thread state ---------------------------------------- */

struct find_ctx {
	__u64 interp;		/* current interpreter */
	__u64 tstate;		/* current thread state in it, 0: move to the next interpreter */
	__u64 want;		/* tid or fs base */
	__u64 found;
	__u32 interps_seen;
	__u32 threads_seen;
	__u32 interp_next, tstate_head, tstate_next, id_off;
	int err;
};

struct walk_ctx {
	struct pyh_walk w;	/* the frame rule's walk state (pyhang/frame.h) */
	struct pyh_layout l __attribute__((aligned(8)));
				/* the target's layout, copied (by words): the verifier
				 * cannot follow a map value pointer kept in a map */
	__u32 span;		/* bytes read per frame: the target's frame_span; 0: no walk */
	__u32 fp_off, fp_len;	/* the target's code_fp_off, code_fp_len */
	__u32 tasks;		/* PYH_TARGET_TASKS: keep the generator runs */
	__u64 last_code, last_fp; /* the code object fingerprinted last (recursion repeats it) */
	__u64 prev_gen;		/* the generator owning the frame taken last (0: none) */
	__u32 ngens;		/* task_gens filled */
	__u32 _pad;
	__u32 ceiling;		/* PYH_SAMPLE_CEILING: the code-version counter; frames get no fp */
	__u32 _pad2;
	__u64 callers;		/* pyh_callers_mix() of frames[1..depth) so far, each as taken,
				 * and a mark where one of them got PYH_RAWF_ENTRY after */
};

/* Per-CPU working memory. The loop state lives here, not on the stack, so
 * that the verifier sees its counters as unknown values: bpf_loop callbacks
 * then verify once instead of once per iteration. */
struct pyh_work {
	union {
		struct pyh_sample s;
		/* With PYH_TARGET_NATIVE the native part follows frames[depth]. */
		__u8 rec[sizeof(struct pyh_sample) + sizeof(struct pyh_sample_native) +
			 PYH_USTACK_PAGE /* room the verifier can see a last chunk fits in */];
	};
	/* Frames read in bulk (3.11+, where a thread's frames lie next to each
	 * other on its data stack): bulk[0..bulk_len) is the target's memory at
	 * bulk_base; the extra PYH_FRAME_WINDOW lets the verifier see that a
	 * frame's window at any offset below PYH_BULK stays inside. */
	__u8 bulk[PYH_BULK + PYH_FRAME_WINDOW];
	__u64 bulk_base;
	__u32 bulk_len;
	__u32 _pad;
	/* pyh_code_fp_padded()'s input: zeroed for each sample; a read of one
	 * code object's span (the same length all through a sample) leaves the
	 * bytes past it zero. */
	__u8 fpbuf[PYH_CODE_FP_MAX] __attribute__((aligned(8)));
	struct find_ctx f;
	struct walk_ctx w;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pyh_work);
} work SEC(".maps");

static __always_inline struct pyh_work *get_work(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&work, &zero);
}

static long find_step(__u64 i, void *unused)
{
	struct pyh_work *wk = get_work();
	struct find_ctx *c;
	__u64 v;

	if (!wk)
		return 1;
	c = &wk->f;

	if (!c->tstate) {
		/* Move to the next interpreter (the first one is set by the caller). */
		if (c->interps_seen > 0) {
			if (read_u64(c->interp + c->interp_next, &v) || v == c->interp)
				return 1;
			c->interp = v;
		}
		if (!c->interp || c->interps_seen >= PYH_SAMPLE_MAX_INTERPS)
			return 1;
		c->interps_seen++;
		c->threads_seen = 0;
		if (read_u64(c->interp + c->tstate_head, &c->tstate)) {
			c->err = 1;
			return 1;
		}
		return 0;
	}
	if (read_u64(c->tstate + c->id_off, &v)) {
		c->err = 1;
		return 1;
	}
	if (c->id_off != PYH_NO_FIELD && v == c->want) {
		c->found = c->tstate;
		return 1;
	}
	if (read_u64(c->tstate + c->tstate_next, &v) || v == c->tstate ||
	    ++c->threads_seen >= PYH_SAMPLE_MAX_THREADS)
		v = 0; /* this interpreter's list ends (or is garbage) */
	c->tstate = v;
	return 0;
}

/* A field of a task_struct, or of a struct reached from one. A per-CPU
 * sampler loads it directly through the task's BTF pointer (no helper call
 * per sample). A per-thread one, loaded for a single dump, reads it with
 * bpf_core_read: for each pointer loaded directly from a BTF pointer the
 * verifier looks a type name up in the kernel's BTF, one pass over its
 * ~100,000 types, which was ~1 ms of a dump's CPU here. */
#define TASK_FIELD(p, f) (per_thread ? BPF_CORE_READ(p, f) : (p)->f)

/* The current thread's id in its own (innermost) PID namespace: what
 * gettid() returned inside a container, so what native_thread_id holds.
 * numbers[level], at an offset known only here, is read by the helper. */
static __always_inline __u32 ns_tid(struct task_struct *task, __u32 tid)
{
	struct pid *tp = TASK_FIELD(task, thread_pid);
	unsigned int level;
	struct upid up;

	if (!tp)
		return tid;
	level = TASK_FIELD(tp, level);
	if (level == 0 || level > 32)
		return tid;
	if (bpf_core_read(&up, sizeof(up), (void *)tp + bpf_core_field_offset(tp->numbers) +
					     level * sizeof(struct upid)))
		return tid;
	return (__u32)up.nr;
}

/* The thread id as the target's thread state records it. */
static __always_inline __u64 thread_key(const struct pyh_sample_target *t, __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (t->flags & PYH_TARGET_MATCH_NATIVE_TID)
		return ns_tid(task, tid);
	return TASK_FIELD(task, thread.fsbase);
}

static __always_inline __u32 id_offset(const struct pyh_sample_target *t)
{
	return (t->flags & PYH_TARGET_MATCH_NATIVE_TID) ? t->layout.tstate_native_thread_id
							: t->layout.tstate_thread_id;
}

/* Bytes of a thread state read at once for its id and its top-frame pointer. */
#define PYH_TSTATE_SPAN 256u
_Static_assert(PYH_TSTATE_SPAN <= PYH_BULK, "the thread state is read into wk->bulk");

/* The words at tstate + id_off and tstate + tstate_frame: the thread's id, to
 * check the state is still this thread's, and its top-frame pointer. One read
 * when both lie within PYH_TSTATE_SPAN bytes (on every version pyhang knows
 * they are 16 to 176 bytes in), into wk->bulk, which the walk fills only
 * later; two otherwise. 0, or -1 when unreadable. */
static __always_inline int read_tstate(struct pyh_work *wk, const struct pyh_sample_target *t,
				       __u64 ts, __u32 id_off, __u64 *id, __u64 *frame)
{
	__u32 fo = t->layout.tstate_frame;
	__u32 lo = id_off < fo ? id_off : fo;
	__u32 hi = (id_off < fo ? fo : id_off) + 8;
	__u32 len = hi - lo, io;

	*id = 0;
	*frame = 0;
	if (!ts)
		return -1;
	if (hi <= lo || len > PYH_TSTATE_SPAN || id_off - lo > PYH_TSTATE_SPAN - 8 ||
	    fo - lo > PYH_TSTATE_SPAN - 8)
		return read_u64(ts + id_off, id) || read_u64(ts + fo, frame) ? -1 : 0;
	wk->bulk_len = 0;
	/* len in [1, PYH_TSTATE_SPAN] written so the verifier sees the bound */
	if (bpf_probe_read_user(wk->bulk, ((len - 1) & (PYH_TSTATE_SPAN - 1)) + 1,
				(const void *)(ts + lo)))
		return -1;
	io = id_off - lo;
	fo -= lo;
	/* the masks kept (clang knows they change nothing) for the verifier */
	barrier_var(io);
	barrier_var(fo);
	*id = *(__u64 *)(wk->bulk + (io & (PYH_TSTATE_SPAN - 1)));
	*frame = *(__u64 *)(wk->bulk + (fo & (PYH_TSTATE_SPAN - 1)));
	return 0;
}

/* Returns the thread state of the current thread, 0 when none matches; sets
 * *frame to the pointer at its tstate_frame (read in the same call) and
 * *entry to its tstate_cache entry (NULL: none, only when the state was just
 * found and the entry could not be made or found again). */
static __always_inline __u64 find_tstate(struct pyh_work *wk, const struct pyh_sample_target *t,
					 __u32 tgid, __u32 tid, __u64 *frame, struct pyh_tstate_entry **entry)
{
	__u64 key = ((__u64)tgid << 32) | tid;
	__u64 want = thread_key(t, tid);
	__u32 id_off = id_offset(t);
	struct find_ctx *c = &wk->f;
	struct pyh_tstate_entry *cached, fresh = {};
	__u64 v, found;
	__u32 i;

	*frame = 0;
	*entry = NULL;
	if (id_off == PYH_NO_FIELD)
		return 0;
	cached = bpf_map_lookup_elem(&tstate_cache, &key);
	if (cached) {
		__u64 ts = cached->tstate;

		if (!read_tstate(wk, t, ts, id_off, &v, frame) && v == want) {
			*entry = cached;
			return ts;
		}
		*frame = 0;
		bpf_map_delete_elem(&tstate_cache, &key);
		pyh_count(PYH_CNT_CACHE_STALE);
	}
	if (per_thread)
		return 0;	/* armed with its state, which no longer matches */

	__builtin_memset(c, 0, sizeof(*c));
	if (read_u64(t->interp_head_ptr, &c->interp) || !c->interp) {
		pyh_count(PYH_CNT_READ_ERROR);
		return 0;
	}
	c->want = want;
	c->interp_next = t->layout.interp_next;
	c->tstate_head = t->layout.interp_tstate_head;
	c->tstate_next = t->layout.tstate_next;
	c->id_off = id_off;
	if (use_bpf_loop) {
		bpf_loop(PYH_FIND_ITERS, find_step, NULL, 0);
	} else {
		for (i = 0; i < PYH_FIND_ITERS; i++)
			if (find_step(i, NULL))
				break;
	}
	found = c->found;
	if (!found || read_tstate(wk, t, found, id_off, &v, frame) || v != want) {
		*frame = 0;
		return 0;
	}
	fresh.tstate = found;
	bpf_map_update_elem(&tstate_cache, &key, &fresh, BPF_ANY);
	*entry = bpf_map_lookup_elem(&tstate_cache, &key);
	return found;
}

/* ---- the GIL ----------------------------------------------------------- */

/* PYH_SAMPLE_GIL_KNOWN | PYH_SAMPLE_GIL_HELD when tstate holds it. */
static __always_inline __u32 gil_flags(const struct pyh_sample_target *t, __u64 tstate)
{
	__u64 cur, interp, gil, holder;
	__u32 locked = 0;

	if (t->layout.gil_kind == PYH_GIL_TSTATE_CURRENT) {
		if (!t->tstate_current_ptr || read_u64(t->tstate_current_ptr, &cur))
			return 0;
		return PYH_SAMPLE_GIL_KNOWN | (cur == tstate ? PYH_SAMPLE_GIL_HELD : 0);
	}
	if (t->layout.gil_kind == PYH_GIL_INTERP_PTR) {
		if (read_u64(tstate + t->layout.tstate_interp, &interp) ||
		    read_u64(interp + t->layout.interp_gil_ptr, &gil) ||
		    read_u64(gil + t->layout.gil_holder, &holder) ||
		    bpf_probe_read_user(&locked, sizeof(locked), (const void *)(gil + t->layout.gil_locked)))
			return 0;
		return PYH_SAMPLE_GIL_KNOWN | (locked && holder == tstate ? PYH_SAMPLE_GIL_HELD : 0);
	}
	return 0;
}

/* ---- walking the frames ------------------------------------------------ */

/* Where the frame's bytecode starts: in its code object, or on 3.14t in the
 * thread's own copy, co_tlbc->entries[tlbc_index]; 0 when unreadable. */
static __always_inline __u64 bytecode_of(const struct pyh_layout *l, const struct pyh_frame_view *v)
{
	__u64 arr, size, base;

	if (!pyh_frame_in_tlbc(l, v))
		return pyh_frame_bytecode(l, v);
	if (read_u64(v->code + l->code_tlbc, &arr) || read_u64(arr, &size) ||
	    (__u64)v->tlbc_index >= size || read_u64(pyh_tlbc_entry_addr(arr, v->tlbc_index), &base))
		return 0;
	return base;
}

/* The fingerprint of the code object at code (pyhang/frame.h), 0 when it
 * cannot be read. A frame runs its code object, which it keeps alive: the
 * fingerprint is that of the object the frame runs. */
static __always_inline __u64 fingerprint(struct pyh_work *wk, struct walk_ctx *c, __u64 code)
{
	__u32 n = c->fp_len;

	if (c->ceiling)
		return 0;	/* the sample's code_ceiling stands for it (pyhang/sample.h) */
	if (code == c->last_code)
		return c->last_fp;
	if (n < 1 || n > PYH_CODE_FP_MAX ||
	    bpf_probe_read_user(wk->fpbuf, n, (const void *)(code + c->fp_off)))
		return 0;
	c->last_code = code;
	c->last_fp = pyh_code_fp_padded(wk->fpbuf, (n + 7) / 8);
	return c->last_fp;
}

/* The window of the frame at f (span bytes): inside what was read in bulk
 * when it is there, else read now — in bulk on 3.11+ (pyh_frame_bulk_start:
 * its callers lie below it), one frame otherwise or when that crosses into
 * unmapped memory. NULL when unreadable. */
static __always_inline const __u8 *frame_window(struct pyh_work *wk, __u64 f, __u32 span, int bulk)
{
	__u64 delta;

	if (span < 8 || span > PYH_FRAME_WINDOW)
		return NULL;
	if (pyh_frame_in_read(wk->bulk_base, wk->bulk_len, f, span)) {
		delta = (f - wk->bulk_base) & (PYH_BULK - 1);
		return wk->bulk + delta;
	}
	if (f > ~0ull - span)
		return NULL;	/* no frame ends past the top of the address space */
	if (bulk) {
		__u64 start = pyh_frame_bulk_start(f, span);
		__u32 len = (__u32)(f + span - start);

		/* len in [1, PYH_BULK] written so the verifier sees the bound. */
		if (len >= span && len <= PYH_BULK &&
		    !bpf_probe_read_user(wk->bulk, ((len - 1) & (PYH_BULK - 1)) + 1,
					 (const void *)start)) {
			wk->bulk_base = start;
			wk->bulk_len = len;
			return wk->bulk + ((f - start) & (PYH_BULK - 1));
		}
	}
	wk->bulk_len = 0;
	if (bpf_probe_read_user(wk->bulk, span, (const void *)f))
		return NULL;
	wk->bulk_base = f;
	wk->bulk_len = span;
	return wk->bulk;
}

/* record --tasks: the run of generator frames that ended is a candidate. */
static __always_inline void push_task_gen(struct pyh_sample *s, struct walk_ctx *c)
{
	if (c->prev_gen && c->ngens < PYH_SAMPLE_TASK_GENS) {
		s->task_gens[c->ngens & (PYH_SAMPLE_TASK_GENS - 1)] = c->prev_gen;
		c->ngens++;
	}
	c->prev_gen = 0;
}

/* One frame of the walk; 1 when the walk has ended. */
static __always_inline long walk_frame(struct pyh_work *wk)
{
	struct pyh_frame_view v;
	const struct pyh_layout *l;
	const __u8 *win;
	struct pyh_sample *s;
	struct walk_ctx *c;
	enum pyh_step step;
	__u64 here, fp;
	__u32 d, offset;

	if (!wk)
		return 1;
	s = &wk->s;
	c = &wk->w;
	if (!c->span || !pyh_walk_more(&c->w))
		return 1;
	here = c->w.frame;
	l = &c->l;
	win = frame_window(wk, c->w.frame, c->span, pyh_frame_bulk_ok(l));
	if (!win) {
		pyh_walk_unreadable(&c->w);
		return 1;
	}
	step = pyh_walk_step(l, &c->w, win, &v);
	d = c->w.depth;
	if (step == PYH_STEP_SHIM) {
		if (d > 0 && d <= PYH_SAMPLE_MAX_DEPTH)
			s->frames[(d - 1) & (PYH_SAMPLE_MAX_DEPTH - 1)].flags |= PYH_RAWF_ENTRY;
		if (!per_thread && d >= 2)	/* a caller's flags changed: a mark no frame mixes (code 0) */
			c->callers = pyh_callers_mix(c->callers, 0, 0, 0, PYH_RAWF_ENTRY);
		return 0;
	}
	if (step != PYH_STEP_PYTHON || d >= PYH_SAMPLE_MAX_DEPTH)
		return 1;
	offset = pyh_frame_offset(l, &v, bytecode_of(l, &v));
	fp = fingerprint(wk, c, v.code);
	s->frames[d].code = v.code;
	s->frames[d].offset = offset;
	s->frames[d].flags = v.flags;
	s->frames[d].fp = fp;
	if (!per_thread && d >= 1)	/* a caller: frames[0] travels in every record (a
					 * per-thread sampler's always carry every frame) */
		c->callers = pyh_callers_mix(c->callers, v.code, fp, offset, v.flags);
	pyh_walk_took(&c->w);
	if (may_tasks && c->tasks) {
		__u64 gen = pyh_frame_gen(l, here, win, &v);

		/* the run of generator frames ended at the frame before */
		if (!gen)
			push_task_gen(s, c);
		c->prev_gen = gen;
	}
	return 0;
}

/* The walk's bpf_loop callback: two frames a call, which saves a call and
 * its checks at every other frame. A per-thread sampler takes one: what the
 * verifier checks of it is what a dump that loads it waits for. */
static long walk_step(__u64 i, void *arg)
{
	struct pyh_work *wk = *(struct pyh_work **)arg;

	if (walk_frame(wk))
		return 1;
	return per_thread ? 0 : walk_frame(wk);
}

/* The innermost frame of tstate, 0 if none; f is the pointer at its
 * tstate_frame (find_tstate read it). */
static __always_inline __u64 top_frame(const struct pyh_sample_target *t, __u64 f)
{
	if (pyh_tstate_frame_indirect(&t->layout) && f &&
	    read_u64(f + t->layout.cframe_current_frame, &f))
		return 0;
	return f;
}

/* ---- which process an entry describes ----------------------------------- */

/* 1 when the targets entry t describes the current process and program. */
static __always_inline int target_current(const struct pyh_sample_target *t, __u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 start;

	if (tracked_gens ? t->exec_gen != pyh_exec_gen_of(tgid) : t->exec_gen != 0)
		return 0;
	if (!t->start_ticks || !clk_tck_ns)
		return 1;
	if (!bpf_core_field_exists(task->start_boottime))
		return 1;
	start = task->group_leader->start_boottime;
	return start / clk_tck_ns == t->start_ticks;
}

/* ---- the code-version ceiling (pyhang/sample.h, PYH_SAMPLE_CEILING) ------ */

/* The target's code-version counter when a sample may send it instead of
 * fingerprints: the counter read and not 0 (run out), and where the counter
 * is the main interpreter's (interp_next_id_ptr set), interpreters.next_id
 * read and 1 (no interpreter but the main one ever made). Else 0, counted
 * CEILING_FALLBACK when the target has the counter at all. */
static __always_inline __u32 code_ceiling(const struct pyh_sample_target *t)
{
	__u32 counter = 0;
	__s64 next_id = 1;

	if (!t->code_counter_ptr)
		return 0;
	if (bpf_probe_read_user(&counter, sizeof(counter), (const void *)t->code_counter_ptr) ||
	    (t->interp_next_id_ptr &&
	     bpf_probe_read_user(&next_id, sizeof(next_id), (const void *)t->interp_next_id_ptr)) ||
	    next_id != 1 || counter == 0) {
		pyh_count(PYH_CNT_CEILING_FALLBACK);
		return 0;
	}
	return counter;
}

/* ---- native stacks (record --native) ------------------------------------- */


/* The interrupted task's user registers: the interrupted ones when the CPU
 * was in user mode, else those it saved when it entered the kernel. */
static __always_inline void user_regs(struct bpf_perf_event_data *ctx, struct pyh_uregs *u)
{
	struct pt_regs *regs;

	/* The saved cs is read as the whole 8-byte slot: the context takes no narrower load. */
	if ((*(volatile __u64 *)&ctx->regs.cs & 3) == 3) {
		u->r[PYH_UREG_RAX] = ctx->regs.ax;
		u->r[PYH_UREG_RDX] = ctx->regs.dx;
		u->r[PYH_UREG_RCX] = ctx->regs.cx;
		u->r[PYH_UREG_RBX] = ctx->regs.bx;
		u->r[PYH_UREG_RSI] = ctx->regs.si;
		u->r[PYH_UREG_RDI] = ctx->regs.di;
		u->r[PYH_UREG_RBP] = ctx->regs.bp;
		u->r[PYH_UREG_RSP] = ctx->regs.sp;
		u->r[PYH_UREG_R8] = ctx->regs.r8;
		u->r[PYH_UREG_R9] = ctx->regs.r9;
		u->r[PYH_UREG_R10] = ctx->regs.r10;
		u->r[PYH_UREG_R11] = ctx->regs.r11;
		u->r[PYH_UREG_R12] = ctx->regs.r12;
		u->r[PYH_UREG_R13] = ctx->regs.r13;
		u->r[PYH_UREG_R14] = ctx->regs.r14;
		u->r[PYH_UREG_R15] = ctx->regs.r15;
		u->r[PYH_UREG_RIP] = ctx->regs.ip;
		u->orig_ax = ctx->regs.orig_ax;
		return;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	pyh_uregs_from_pt_regs(u, regs);
}

/* Append the native part at rec + PYH_SAMPLE_SIZE(depth). Returns the
 * record's new length, or 0 when the stack could not be copied. */
static __always_inline __u32 add_native(struct bpf_perf_event_data *ctx, struct pyh_work *wk,
					__u32 depth)
{
	struct pyh_sample_native *n;
	struct pyh_uregs u = {};
	__u32 off, got = 0, chunk;
	__u64 at;
	__u32 i;

	if (depth > PYH_SAMPLE_MAX_DEPTH)
		return 0;
	off = PYH_SAMPLE_SIZE(depth);
	n = (struct pyh_sample_native *)(wk->rec + off);
	user_regs(ctx, &u);
	__builtin_memcpy(&n->regs, &u, sizeof(u));
	at = u.r[PYH_UREG_RSP];
	n->stack_addr = at;
	n->_pad = 0;
	for (i = 0; i < PYH_USTACK_CHUNKS; i++) {
		chunk = PYH_USTACK_PAGE - (__u32)(at & (PYH_USTACK_PAGE - 1));
		if (chunk > PYH_SAMPLE_STACK_MAX - got)
			chunk = PYH_SAMPLE_STACK_MAX - got;
		if (got >= PYH_SAMPLE_STACK_MAX || chunk == 0 || chunk > PYH_USTACK_PAGE)
			break;
		if (bpf_probe_read_user(n->stack + got, chunk, (const void *)at))
			break;
		got += chunk;
		at += chunk;
	}
	if (got < PYH_SAMPLE_STACK_MIN)
		return 0;
	n->stack_len = got;
	return off + PYH_SAMPLE_NATIVE_HDR_SIZE + got;
}

static __always_inline int on_cpu(struct bpf_perf_event_data *ctx, int native)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, depth, size, status, truncated, broken, ceiling;
	__u64 wake, top, tframe;
	const struct pyh_sample_target *t;
	struct pyh_tstate_entry *entry;
	struct pyh_work *wk;
	struct pyh_sample *s;
	struct walk_ctx *c;
	__u64 tstate;
	__u32 gil, elide, with_native;
	__u32 i;

	if (!maybe_target(tgid))
		return 0;
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (!t)
		return 0;
	pyh_count(PYH_CNT_TICKS);
	if (!per_thread && !target_current(t, tgid)) {
		pyh_count(PYH_CNT_STALE_TARGET);
		return 0;
	}
	wk = get_work();
	if (!wk)
		return 0;
	tstate = find_tstate(wk, t, tgid, tid, &tframe, &entry);
	if (!tstate) {
		pyh_count(PYH_CNT_NO_TSTATE);
		return 0;
	}
	/* The GIL costs up to four reads; only --gil asks for it (sample.h). */
	gil = 0;
	if (may_gil_only && (t->flags & PYH_TARGET_GIL_ONLY)) {
		gil = gil_flags(t, tstate);
		if (!(gil & PYH_SAMPLE_GIL_HELD)) {
			pyh_count(PYH_CNT_GIL_FILTERED);
			return 0;
		}
	}
	s = &wk->s;
	c = &wk->w;
	top = top_frame(t, tframe);
	if (!top) {
		pyh_count(PYH_CNT_NO_FRAME);
		return 0;
	}
	pyh_walk_begin(&c->w, top, PYH_SAMPLE_MAX_DEPTH);
	/* A per-thread sampler copies it in one helper call (what the verifier
	 * checks of it: 5 instructions, not 52); the per-CPU one by words (an
	 * assignment copies by the struct's alignment, 4 bytes: twice the
	 * instructions, and slower than the words at every sample). */
	if (per_thread) {
		bpf_probe_read_kernel(&c->l, sizeof(c->l), &t->layout);
	} else {
		for (i = 0; i < sizeof(c->l) / 8; i++)
			((__u64 *)&c->l)[i] = ((const __u64 *)&t->layout)[i];
	}
	c->span = t->frame_span;	/* bounded where it is used */
	c->fp_off = t->code_fp_off;
	c->fp_len = t->code_fp_len;
	c->last_code = 0;
	c->last_fp = 0;
	__builtin_memset(wk->fpbuf, 0, sizeof(wk->fpbuf));
	c->ceiling = code_ceiling(t);
	c->tasks = may_tasks && (t->flags & PYH_TARGET_TASKS);
	c->prev_gen = 0;
	c->ngens = 0;
	c->callers = PYH_CALLERS_SEED;
	for (i = 0; i < PYH_SAMPLE_TASK_GENS; i++)
		s->task_gens[i] = 0;
	wk->bulk_len = 0;
	if (use_bpf_loop) {
		bpf_loop(PYH_WALK_ITERS, walk_step, &wk, 0);
	} else {
		for (i = 0; i < PYH_WALK_ITERS; i++)
			if (walk_frame(wk))
				break;
	}
	c->span = 0;
	if (may_tasks && c->tasks)
		push_task_gen(s, c);	/* the stack ends in a run of generator frames */
	pyh_walk_more(&c->w);	/* settles the status of a walk that stopped at a limit */
	status = c->w.status;
	depth = c->w.depth;
	if (depth > PYH_SAMPLE_MAX_DEPTH)
		depth = PYH_SAMPLE_MAX_DEPTH;
	if (!depth) {
		pyh_count(status == PYH_WALK_END ? PYH_CNT_NO_FRAME : PYH_CNT_BAD_FRAME);
		return 0;
	}
	/* From here on nothing branches on the status or the ceiling where the
	 * program goes on either way: each such branch made the verifier check
	 * the rest once more (a third of the sampler's tail). As bits: */
	status &= 31;
	truncated = ((1u << PYH_WALK_TRUNCATED) >> status) & 1;
	broken = (~((1u << PYH_WALK_END) | (1u << PYH_WALK_TRUNCATED)) >> status) & 1;
	ceiling = ((c->ceiling | (0u - c->ceiling)) >> 31) & 1;	/* c->ceiling != 0 */
	if (PYH_STATS_ON && broken)
		pyh_count(PYH_CNT_BAD_FRAME);

	s->pid = tgid;
	s->tid = tid;
	s->ktime_ns = bpf_ktime_get_ns();
	s->tstate = tstate;
	s->cpu = bpf_get_smp_processor_id();
	s->flags = gil | truncated * PYH_SAMPLE_TRUNCATED | broken * PYH_SAMPLE_BROKEN |
		   ceiling * PYH_SAMPLE_CEILING;
	s->code_ceiling = c->ceiling;
	s->_pad = 0;
	s->depth = depth;
	s->walk_status = status;
	s->callers = !per_thread && depth >= 2 ? pyh_callers_end(c->callers, depth) : 0;
	size = PYH_SAMPLE_SIZE(depth);
	if (size > sizeof(*s))
		return 0;
	/* Without the callers when they are those of the thread's last whole
	 * sample, sent not too long ago (pyhang/sample.h, PYH_SAMPLE_CALLERS). */
	with_native = native && (t->flags & PYH_TARGET_NATIVE);
	elide = !per_thread && !with_native && entry && s->callers && entry->callers == s->callers &&
		s->ktime_ns - entry->whole_ns < PYH_SAMPLE_WHOLE_NS;
	if (elide) {
		s->flags |= PYH_SAMPLE_CALLERS;
		size = PYH_SAMPLE_SIZE(1);
	}
	if (with_native) {
		__u32 nsize = add_native(ctx, wk, depth);

		if (nsize) {
			s->flags |= PYH_SAMPLE_NATIVE;
			size = nsize;
		} else {
			pyh_count(PYH_CNT_NATIVE_NO_STACK);
		}
	}
	if (size > sizeof(wk->rec) - PYH_USTACK_PAGE)
		return 0;
	/* No wake-up per sample for record: the collector drains the ring every 20 to
	 * 500 ms (50 samples' worth of a thread, record/engine.c) and is woken early
	 * only when a quarter of the ring is in use. A snapshot (PYH_TARGET_WAKEUP) is waited for: wake the reader at once. */
	wake = per_thread || (t->flags & PYH_TARGET_WAKEUP) ||
			       bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA) >
				       bpf_ringbuf_query(&samples, BPF_RB_RING_SIZE) / 4
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&samples, wk->rec, size, wake)) {
		pyh_count(PYH_CNT_RINGBUF_FULL);
		return 0;
	}
	pyh_count(PYH_CNT_EMITTED);
	if (PYH_STATS_ON && ceiling)
		pyh_count(PYH_CNT_CEILING);
	if (PYH_STATS_ON && elide)
		pyh_count(PYH_CNT_CALLERS);
	/* Only a sample the ring took stands for the ones sent without callers. */
	if (!per_thread && !elide && entry && s->callers) {
		entry->callers = s->callers;
		entry->whole_ns = s->ktime_ns;
	}
	return 0;
}

#ifdef PYH_RUN_HIST
/* A build for measuring the program (make RUN_HIST=1, read by
 * tools/bench-pair.py): how long each run of pyh_on_cpu took, a count per
 * PYH_RUN_HIST_NS-wide bucket, the last one for every longer run. The
 * buckets leave out the counting itself; bpf_stats does not. */
#define PYH_RUN_HIST_NS 25
#define PYH_RUN_HIST_BUCKETS 4096
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYH_RUN_HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} run_hist SEC(".maps");

SEC("perf_event")
int pyh_on_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 t0 = bpf_ktime_get_ns(), *n;
	__u32 b;

	on_cpu(ctx, 0);
	b = (__u32)((bpf_ktime_get_ns() - t0) / PYH_RUN_HIST_NS);
	if (b >= PYH_RUN_HIST_BUCKETS)
		b = PYH_RUN_HIST_BUCKETS - 1;
	n = bpf_map_lookup_elem(&run_hist, &b);
	if (n)
		(*n)++;
	return 0;
}
#else
SEC("perf_event")
int pyh_on_cpu(struct bpf_perf_event_data *ctx)
{
	return on_cpu(ctx, 0);
}
#endif

/* The same, and the native part for targets that ask for it: loaded instead
 * of pyh_on_cpu for record --native (it needs bpf_task_pt_regs). */
SEC("perf_event")
int pyh_on_cpu_native(struct bpf_perf_event_data *ctx)
{
	return on_cpu(ctx, 1);
}
