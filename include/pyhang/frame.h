/* SPDX-License-Identifier: MIT */
/*
 * pyhang/frame.h - the frame rule: what one frame of a thread's chain means,
 * for every CPython version, written once. The BPF sampler (bpf/sampler.bpf.c)
 * and the C walker (src/python/frames.c) both walk with it, so a stack read in
 * the kernel and one read from user space can never disagree about a frame.
 *
 * A walker keeps a struct pyh_walk, and for each frame address the walk gives
 * it copies the first pyh_frame_span() bytes of the frame into a window of
 * PYH_FRAME_WINDOW bytes and calls pyh_walk_step(), which decides:
 * - which frames are Python code (PYH_STEP_PYTHON) and which are the C stack's
 *   or the interpreter's shims to skip (PYH_STEP_SHIM: 3.12+ entry frames
 *   owned by FRAME_OWNED_BY_CSTACK, 3.14's FRAME_OWNED_BY_INTERPRETER too);
 * - which code object a frame runs (3.14's f_executable is a tagged
 *   _PyStackRef: the tag bits are cleared) and at which instruction offset
 *   (pyh_frame_offset: f_lasti in bytes or code units, or a pointer into the
 *   bytecode, which on 3.14t is the thread's own copy, co_tlbc[tlbc_index]);
 * - what a frame that has not started means: PYH_NO_OFFSET, named at its
 *   first line (co_firstlineno) by the user side; an offset that cannot be
 *   right is PYH_BAD_OFFSET, an unknown line;
 * - when the chain is broken: an unreadable frame, a frame without a code
 *   object, a cycle (Brent's check: one compare per frame, no extra reads),
 *   or a chain longer than any real one.
 * And for the whole stack, pyh_stack_root_ok(): a chain that ends at a
 * generator's or coroutine's frame did not end where the thread's stack does.
 *
 * Fixed-width types only, no pointers into the target: addresses are __u64.
 */
#ifndef PYHANG_FRAME_H
#define PYHANG_FRAME_H

#include "pyhang/layout.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Bytes of a frame a walker copies at most; every frame field any layout
 * names lies below (2.7's f_lasti at 120 is the deepest). */
#define PYH_FRAME_WINDOW 128

/* 3.11+: a thread's frames lie next to each other on its data stack, each
 * caller below its callee (a generator's frame lies in its object, with no
 * other frame near it). So a walker may copy the PYH_FRAME_BULK bytes that
 * end with a frame's window in one read, and take the callers that lie in
 * them from that copy: one read for a run of frames, all read at the same
 * moment. Before 3.11 frames are heap objects: one read each. */
#define PYH_FRAME_BULK 4096u
#define PYH_FRAME_PAGE 4096u

static __always_inline int pyh_frame_bulk_ok(const struct pyh_layout *l)
{
	return l->lasti_kind >= PYH_LASTI_PREV_PTR;
}

/* 1 when the span bytes at f lie inside the len bytes read at base. Written
 * so that nothing overflows: f comes from the target, and f + span of a
 * forged f wraps (a soak under ASan caught the C walker taking a window at
 * buf + (f - base) for such an f). */
static __always_inline int pyh_frame_in_read(__u64 base, __u32 len, __u64 f, __u32 span)
{
	return f >= base && f - base <= len && span <= len - (__u32)(f - base);
}

/* Where the bulk read for the frame at f (span bytes) starts: PYH_FRAME_BULK
 * below the window's end, and no lower than the start of f's page (the page
 * below may not be mapped: a data stack chunk starts on a page, and a
 * generator's frame may sit near the start of its page). */
static __always_inline __u64 pyh_frame_bulk_start(__u64 f, __u32 span)
{
	__u64 start = f + span > PYH_FRAME_BULK ? f + span - PYH_FRAME_BULK : 0;
	__u64 page = f & ~(__u64)(PYH_FRAME_PAGE - 1);

	return start < page ? page : start;
}

/* pyh_raw_frame.offset: the frame has not started (named at co_firstlineno);
 * the position cannot be known (named with an unknown line). */
#define PYH_NO_OFFSET 0xffffffffu
#define PYH_BAD_OFFSET 0xfffffffeu
/* Bytecode of one code object is smaller than this: a larger offset is garbage. */
#define PYH_CODE_MAX_BYTES (64u << 20)

/* pyh_raw_frame.flags */
#define PYH_RAWF_ENTRY 0x1u	/* the outermost Python frame its native eval call runs
				 * (entered from C); every frame on <= 3.10 */
#define PYH_RAWF_GENERATOR 0x2u	/* owned by a generator or coroutine (3.11+) */

/* One Python frame as a walk found it; frames of a stack are innermost first. */
struct pyh_raw_frame {
	__u64 code;	/* PyCodeObject address, tag bits cleared */
	__u64 fp;	/* pyh_code_fp() of that code object when the frame was read (the
			 * BPF sampler takes it: whoever names the frame later can tell
			 * whether the object at that address is still the same); 0: not taken
			 * (also every frame of a PYH_SAMPLE_CEILING sample, pyhang/sample.h,
			 * until its reader sets it); PYH_CODE_FP_REPLACED: the object the
			 * frame ran is known to be gone, the frame names no code */
	__u32 offset;	/* byte offset of the current instruction, or PYH_NO/BAD_OFFSET */
	__u32 flags;	/* PYH_RAWF_* */
};
_Static_assert(sizeof(struct pyh_raw_frame) == 24, "struct pyh_raw_frame must match on both sides");

/* The code object's fingerprint: a hash of the bytes at pyh_code_fp_span()
 * of it. On 3.12+ that is co_version, a number CPython gives each new code
 * object from a global counter, so a code object freed and another made at
 * its address never share one. Before 3.12 there is no such number: it is
 * the bytes from co_firstlineno or co_code (the lower) to co_linetable —
 * the first line, and the addresses of the bytecode, constants, names,
 * file, name and line table objects — which a new code object shares only
 * if it starts on the same line and every one of those objects came back at
 * its old address too. Not proof: a program that remakes same-shaped
 * functions at the same addresses can still meet it (run_record.py's
 * codechurn showed 1 stack in ~3,000 so named when it covered only
 * co_filename .. co_linetable); it is what the target keeps. Where that
 * span is larger than PYH_CODE_FP_MAX, co_filename .. co_linetable, or
 * co_filename alone. */
#define PYH_CODE_FP_MAX 96
/* Not a fingerprint (pyh_code_fp() sets bit 0): see pyh_raw_frame.fp. */
#define PYH_CODE_FP_REPLACED 2ull
_Static_assert(PYH_CODE_FP_MAX % 8 == 0, "pyh_code_fp() hashes whole words");

static __always_inline void pyh_code_fp_span(const struct pyh_layout *l, __u32 *off, __u32 *len)
{
	__u32 lo = l->code_filename;

	if (l->code_firstlineno != PYH_NO_FIELD && l->code_firstlineno < lo)
		lo = l->code_firstlineno;
	if (l->code_code != PYH_NO_FIELD && l->code_code < lo)
		lo = l->code_code;
	if (l->code_version != PYH_NO_FIELD) {
		*off = l->code_version;
		*len = 4;
	} else if (l->code_linetable > lo && l->code_linetable + 8 - lo <= PYH_CODE_FP_MAX) {
		*off = lo;
		*len = l->code_linetable + 8 - lo;
	} else if (l->code_linetable > l->code_filename &&
		   l->code_linetable + 8 - l->code_filename <= PYH_CODE_FP_MAX) {
		*off = l->code_filename;
		*len = l->code_linetable + 8 - l->code_filename;
	} else {
		*off = l->code_filename;
		*len = 8;
	}
}

/* FNV-1a over the first words (<= PYH_CODE_FP_MAX / 8) 64-bit words at
 * padded (host order, the same on both sides), whose bytes past the span are
 * zero: a span of len bytes is (len + 7) / 8 words, the last one padded.
 * Written so that the verifier checks it in one pass: the span's length is a
 * word count fixed for a sample, each step either taken or not with nothing
 * else depending on it, and no mask (the loop that stopped at the span's end
 * and masked its last word was a third of what the verifier checked in the
 * snapshot sampler). Never 0 (0 means "not taken"). In BPF, padded must be
 * 8-byte aligned with PYH_CODE_FP_MAX bytes readable. */
static __always_inline __u64 pyh_code_fp_padded(const __u8 *padded, __u32 words)
{
	__u64 h = 14695981039346656037ull, w;
	__u32 i;

	for (i = 0; i < PYH_CODE_FP_MAX / 8; i++) {
		if (i < words) {
#ifdef __BPF__
			w = *(const __u64 *)(padded + 8 * i);
#else
			__builtin_memcpy(&w, padded + 8 * i, 8);
#endif
			h = (h ^ w) * 1099511628211ull;
		}
	}
	return h | 1;
}

#ifndef __BPF__
/* pyh_code_fp_padded() of the len (<= PYH_CODE_FP_MAX) bytes at bytes. */
static inline __u64 pyh_code_fp(const __u8 *bytes, __u32 len)
{
	__u8 padded[PYH_CODE_FP_MAX] = { 0 };

	if (len > PYH_CODE_FP_MAX)
		len = PYH_CODE_FP_MAX;
	__builtin_memcpy(padded, bytes, len);
	return pyh_code_fp_padded(padded, (len + 7) / 8);
}
#endif

/* co_flags of a generator's, coroutine's or async generator's code
 * (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR, the same since 2.7). */
#define PYH_CO_GENERATOR_FLAGS 0x2a0u

/* Why a walk ended (pyh_walk.status). */
enum pyh_walk_status {
	PYH_WALK_MORE = 0,	/* not ended: read pyh_walk.frame next */
	PYH_WALK_END,		/* the chain ended (frame 0): the stack is whole */
	PYH_WALK_TRUNCATED,	/* max_depth Python frames taken, more below */
	PYH_WALK_UNREADABLE,	/* a frame's memory could not be read */
	PYH_WALK_NO_CODE,	/* a frame that must hold a code object holds none */
	PYH_WALK_CYCLE,		/* the chain comes back to a frame it passed */
	PYH_WALK_TOO_LONG,	/* more frames (shims included) than any real chain has */
};

/* Frames a chain may have, shims included, for max_depth Python frames: on
 * 3.12+ every C-to-Python call adds one shim. */
#define PYH_WALK_MAX_STEPS(max_depth) (2u * (max_depth) + 2u)

struct pyh_walk {
	__u64 frame;		/* the frame to read next; 0 when the chain ended */
	__u64 checkpoint;	/* Brent's cycle check: the frame seen at step 2^k */
	__u32 steps;		/* frames read, shims included */
	__u32 next_checkpoint;	/* the step at which checkpoint moves on */
	__u32 depth;		/* Python frames taken */
	__u32 max_depth;
	__u32 status;		/* enum pyh_walk_status */
	__u32 _pad;
};

/* What pyh_walk_step says of one frame. */
enum pyh_step {
	PYH_STEP_STOP = 0,	/* the walk ended (see status): take nothing */
	PYH_STEP_PYTHON,	/* a Python frame: take it (see pyh_frame_offset) */
	PYH_STEP_SHIM,		/* not Python code: skip it; the Python frame taken just
				 * before (if any) was entered from C: give it PYH_RAWF_ENTRY */
};

/* What a frame's bytes say; filled by pyh_walk_step. */
struct pyh_frame_view {
	__u64 back;		/* the next frame toward the root */
	__u64 code;		/* code object, tag bits cleared */
	__u64 ip;		/* f_lasti sign-extended (<= 3.10), or the instruction pointer */
	__u32 flags;		/* PYH_RAWF_* that the frame alone tells */
	__u32 tlbc_index;	/* 3.14t: the bytecode copy ip points into (0: co_code_adaptive) */
};

static __always_inline __u32 pyh_frame_max32(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

/* Bytes to copy from each frame: every field the rule reads lies inside. */
static __always_inline __u32 pyh_frame_span(const struct pyh_layout *l)
{
	__u32 end = pyh_frame_max32(pyh_frame_max32(l->frame_back, l->frame_code), l->frame_lasti) + 8;

	if (l->frame_owner != PYH_NO_FIELD)
		end = pyh_frame_max32(end, l->frame_owner + 1);
	if (l->frame_is_entry != PYH_NO_FIELD)
		end = pyh_frame_max32(end, l->frame_is_entry + 1);
	if (l->frame_tlbc_index != PYH_NO_FIELD)
		end = pyh_frame_max32(end, l->frame_tlbc_index + 4);
	if (l->frame_gen != PYH_NO_FIELD)
		end = pyh_frame_max32(end, l->frame_gen + 8);
	return end > PYH_FRAME_WINDOW ? PYH_FRAME_WINDOW : end;
}

/* 1 when every field the rule reads lies inside PYH_FRAME_WINDOW. */
static __always_inline int pyh_frame_layout_ok(const struct pyh_layout *l)
{
	return l->frame_back <= PYH_FRAME_WINDOW - 8 && l->frame_code <= PYH_FRAME_WINDOW - 8 &&
	       l->frame_lasti <= PYH_FRAME_WINDOW - 8 &&
	       (l->frame_owner == PYH_NO_FIELD || l->frame_owner < PYH_FRAME_WINDOW) &&
	       (l->frame_is_entry == PYH_NO_FIELD || l->frame_is_entry < PYH_FRAME_WINDOW) &&
	       (l->frame_tlbc_index == PYH_NO_FIELD || l->frame_tlbc_index <= PYH_FRAME_WINDOW - 4) &&
	       (l->frame_gen == PYH_NO_FIELD || l->frame_gen <= PYH_FRAME_WINDOW - 8);
}

/* Reads from a window of PYH_FRAME_WINDOW bytes; 0 for an offset outside it
 * (PYH_NO_FIELD included). Written so the BPF verifier sees the bound. */
static __always_inline __u64 pyh_win_u64(const __u8 *win, __u32 off)
{
	if (off > PYH_FRAME_WINDOW - 8)
		return 0;
#ifdef __BPF__
	return *(const __u64 *)(win + off);
#else
	__u64 v;

	__builtin_memcpy(&v, win + off, sizeof(v));
	return v;
#endif
}

static __always_inline __u32 pyh_win_u32(const __u8 *win, __u32 off)
{
	if (off > PYH_FRAME_WINDOW - 4)
		return 0;
#ifdef __BPF__
	return *(const __u32 *)(win + off);
#else
	__u32 v;

	__builtin_memcpy(&v, win + off, sizeof(v));
	return v;
#endif
}

static __always_inline __u8 pyh_win_u8(const __u8 *win, __u32 off)
{
	if (off > PYH_FRAME_WINDOW - 1)
		return 0;
	return win[off];
}

/* Start a walk at top (the thread's innermost frame, 0 for none) taking at
 * most max_depth Python frames. */
static __always_inline void pyh_walk_begin(struct pyh_walk *w, __u64 top, __u32 max_depth)
{
	w->frame = top;
	w->checkpoint = 0;
	w->steps = 0;
	w->next_checkpoint = 1;
	w->depth = 0;
	w->max_depth = max_depth;
	w->status = top ? PYH_WALK_MORE : PYH_WALK_END;
	w->_pad = 0;
}

/* Before reading w->frame: 0 when the walk has ended (status says why). */
static __always_inline int pyh_walk_more(struct pyh_walk *w)
{
	if (w->status != PYH_WALK_MORE)
		return 0;
	if (!w->frame) {
		w->status = PYH_WALK_END;
		return 0;
	}
	if (w->depth >= w->max_depth) {
		w->status = PYH_WALK_TRUNCATED;
		return 0;
	}
	if (w->steps >= PYH_WALK_MAX_STEPS(w->max_depth)) {
		w->status = PYH_WALK_TOO_LONG;
		return 0;
	}
	return 1;
}

/* The frame at w->frame could not be read. */
static __always_inline void pyh_walk_unreadable(struct pyh_walk *w)
{
	w->status = PYH_WALK_UNREADABLE;
}

/* One frame: win holds pyh_frame_span(l) bytes copied from w->frame. Decodes
 * them into *v, moves w to the next frame toward the root and says what the
 * frame is. On PYH_STEP_PYTHON the caller takes { v->code, pyh_frame_offset(),
 * v->flags } and must count it with pyh_walk_took(). */
static __always_inline enum pyh_step pyh_walk_step(const struct pyh_layout *l, struct pyh_walk *w,
						   const __u8 *win, struct pyh_frame_view *v)
{
	__u64 here = w->frame;
	__u32 owner = 0xffu;

	w->steps++;
	v->back = pyh_win_u64(win, l->frame_back);
	v->code = pyh_win_u64(win, l->frame_code) & ~(__u64)l->frame_code_tag_bits;
	v->flags = 0;
	v->tlbc_index = 0;
	if (l->lasti_kind == PYH_LASTI_BYTES || l->lasti_kind == PYH_LASTI_UNITS)
		v->ip = (__u64)(__s64)(__s32)pyh_win_u32(win, l->frame_lasti);
	else
		v->ip = pyh_win_u64(win, l->frame_lasti);
	if (l->frame_tlbc_index != PYH_NO_FIELD)
		v->tlbc_index = pyh_win_u32(win, l->frame_tlbc_index);

	/* Brent: a chain that cycles meets its checkpoint again. */
	if (v->back && (v->back == here || v->back == w->checkpoint)) {
		w->status = PYH_WALK_CYCLE;
		return PYH_STEP_STOP;
	}
	if (w->steps == w->next_checkpoint) {
		w->checkpoint = here;
		w->next_checkpoint = w->next_checkpoint * 2;
	}
	w->frame = v->back;

	if (l->frame_owner != PYH_NO_FIELD) {
		owner = pyh_win_u8(win, l->frame_owner);
		if (owner < 32 && (l->frame_owner_skip & (1u << owner)))
			return PYH_STEP_SHIM;
		if (owner == l->frame_owner_generator)
			v->flags |= PYH_RAWF_GENERATOR;
	}
	if (!v->code) {
		w->status = PYH_WALK_NO_CODE;
		return PYH_STEP_STOP;
	}
	if (l->lasti_kind == PYH_LASTI_BYTES || l->lasti_kind == PYH_LASTI_UNITS)
		v->flags |= PYH_RAWF_ENTRY;	/* one eval call per frame */
	else if (l->frame_is_entry != PYH_NO_FIELD && pyh_win_u8(win, l->frame_is_entry))
		v->flags |= PYH_RAWF_ENTRY;	/* 3.11 says so in the frame */
	return PYH_STEP_PYTHON;
}

/* The generator, coroutine or async generator that owns the frame just
 * stepped (at address `frame`, its bytes in win, v from pyh_walk_step), or 0
 * when it is a plain function's: the frame's f_gen (3.6 - 3.10), or the
 * object the frame lies in (3.11+, a frame owned by a generator). */
static __always_inline __u64 pyh_frame_gen(const struct pyh_layout *l, __u64 frame, const __u8 *win,
					   const struct pyh_frame_view *v)
{
	if (l->frame_gen != PYH_NO_FIELD)
		return pyh_win_u64(win, l->frame_gen);
	if (l->gen_iframe != PYH_NO_FIELD && (v->flags & PYH_RAWF_GENERATOR) && frame > l->gen_iframe)
		return frame - l->gen_iframe;
	return 0;
}

/* Count the frame just taken. */
static __always_inline void pyh_walk_took(struct pyh_walk *w)
{
	w->depth++;
}

/* 1 when the frame's instruction pointer is into a per-thread copy of the
 * bytecode (3.14t, tlbc_index > 0): its start is then entries[tlbc_index] of
 * the _PyCodeArray at code + code_tlbc, { Py_ssize_t size; char *entries[]; },
 * which the caller reads (index checked against size) and passes as bytecode
 * to pyh_frame_offset. Else the bytecode starts at code + code_adaptive. */
static __always_inline int pyh_frame_in_tlbc(const struct pyh_layout *l, const struct pyh_frame_view *v)
{
	return l->code_tlbc != PYH_NO_FIELD && v->tlbc_index > 0;
}

/* Address of entries[index] in a _PyCodeArray at arr. */
static __always_inline __u64 pyh_tlbc_entry_addr(__u64 arr, __u32 index)
{
	return arr + 8 + 8 * (__u64)index;
}

/* Where the frame's bytecode starts when not in a per-thread copy (3.11+). */
static __always_inline __u64 pyh_frame_bytecode(const struct pyh_layout *l, const struct pyh_frame_view *v)
{
	return l->code_adaptive == PYH_NO_FIELD ? 0 : v->code + l->code_adaptive;
}

/* The byte offset of the instruction the frame is at (into co_code up to
 * 3.10, into the bytecode starting at `bytecode` on 3.11+); PYH_NO_OFFSET
 * when the frame has not started, PYH_BAD_OFFSET when the position is not
 * one the code can have. */
static __always_inline __u32 pyh_frame_offset(const struct pyh_layout *l, const struct pyh_frame_view *v,
					      __u64 bytecode)
{
	__s64 lasti = (__s64)v->ip;

	switch (l->lasti_kind) {
	case PYH_LASTI_BYTES:	/* -1 before the first instruction */
		if (lasti < 0)
			return PYH_NO_OFFSET;
		return lasti < PYH_CODE_MAX_BYTES ? (__u32)lasti : PYH_BAD_OFFSET;
	case PYH_LASTI_UNITS:
		if (lasti < 0)
			return PYH_NO_OFFSET;
		return lasti < PYH_CODE_MAX_BYTES / 2 ? (__u32)lasti * 2 : PYH_BAD_OFFSET;
	case PYH_LASTI_PREV_PTR:
		/* prev_instr: the last instruction run; one code unit before the
		 * bytecode while the frame has not started. */
		if (v->ip == bytecode - 2)
			return PYH_NO_OFFSET;
		if (v->ip < bytecode || v->ip - bytecode >= PYH_CODE_MAX_BYTES)
			return PYH_BAD_OFFSET;
		return (__u32)(v->ip - bytecode) & ~1u;
	case PYH_LASTI_CUR_PTR:
		/* instr_ptr: the instruction running or about to run; the first
		 * one (offset 0) before the frame has started. */
		if (v->ip < bytecode || v->ip - bytecode >= PYH_CODE_MAX_BYTES)
			return PYH_BAD_OFFSET;
		return (__u32)(v->ip - bytecode) & ~1u;
	default:
		return PYH_BAD_OFFSET;
	}
}

/* 1 when the tstate's frame field points at a _PyCFrame whose current_frame
 * is the top frame (3.11, 3.12): read the pointer at tstate + tstate_frame,
 * then, when it is not 0, the one at that + cframe_current_frame. */
static __always_inline int pyh_tstate_frame_indirect(const struct pyh_layout *l)
{
	return l->cframe_current_frame != PYH_NO_FIELD;
}

/* Whether a whole stack (the walk ended with PYH_WALK_END) can be the
 * thread's: its outermost Python frame must not be a generator's or a
 * coroutine's, which runs only with a caller below it. root_flags: that
 * frame's PYH_RAWF_*; root_co_flags: its code's co_flags where the frame does
 * not tell (<= 3.10; the user side reads it with the code object), else 0. */
static __always_inline int pyh_stack_root_ok(const struct pyh_layout *l, __u32 root_flags,
					     __u32 root_co_flags)
{
	if (root_flags & PYH_RAWF_GENERATOR)
		return 0;
	if (l->frame_owner == PYH_NO_FIELD && (root_co_flags & PYH_CO_GENERATOR_FLAGS))
		return 0;
	return 1;
}

#endif
