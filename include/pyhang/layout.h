/* SPDX-License-Identifier: MIT */
/*
 * pyhang/layout.h - where things live inside one CPython version's structs.
 *
 * Shared by the user side and the BPF side: fixed-width types only, no
 * pointers. The user side picks a table for the target's version (or, on
 * 3.13+, builds one from the target's own _Py_DebugOffsets) and hands it to
 * BPF as map data. Every offset is in bytes from the start of its struct.
 * PYH_NO_FIELD marks a field the version does not have.
 */
#ifndef PYHANG_LAYOUT_H
#define PYHANG_LAYOUT_H

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#define PYH_NO_FIELD 0xffffffffu

/* How a frame records where it is (frame_lasti_kind). */
enum pyh_lasti_kind {
	PYH_LASTI_BYTES = 1,	/* <= 3.9: int f_lasti, a byte offset into co_code */
	PYH_LASTI_UNITS = 2,	/* 3.10: int f_lasti, in 2-byte code units */
	PYH_LASTI_PREV_PTR = 3,	/* 3.11, 3.12: prev_instr, pointer into co_code_adaptive */
	PYH_LASTI_CUR_PTR = 4,	/* 3.13+: instr_ptr, pointer into co_code_adaptive */
};

/* Which line-table format co_lnotab/co_linetable holds (code_linetable_kind). */
enum pyh_linetable_kind {
	PYH_LNOTAB_27 = 1,	/* 2.7: (addr incr, unsigned line incr) pairs */
	PYH_LNOTAB_36 = 2,	/* 3.6 - 3.9: (addr incr, signed line incr) pairs */
	PYH_LINETABLE_310 = 3,	/* 3.10: PEP 626 (byte range, line delta) pairs */
	PYH_LOCATIONS_311 = 4,	/* 3.11+: location table */
};

/* What a string object looks like (str_kind). */
enum pyh_str_kind {
	PYH_STR_BYTES = 1,	/* 2.7 str: PyStringObject, ob_size + ob_sval */
	PYH_STR_UNICODE = 2,	/* 3.3+ PEP 393 compact str */
};

/* How to learn which thread holds the GIL (gil_kind). */
enum pyh_gil_kind {
	/* Free-threaded build (3.14t): there is no GIL to hold. */
	PYH_GIL_NONE = 3,
	/* A global PyThreadState * that is NULL while nobody holds the GIL:
	 * 2.7 / 3.6 _PyThreadState_Current, 3.7-3.11 _PyRuntime.gilstate.tstate_current
	 * (at runtime + runtime_tstate_current). */
	PYH_GIL_TSTATE_CURRENT = 1,
	/* 3.12+: interp + interp_gil_ptr holds a pointer to the GIL struct,
	 * with an int "locked" at gil_locked and the last holder at gil_holder. */
	PYH_GIL_INTERP_PTR = 2,
};

/* struct pyh_layout.flags */
#define PYH_LAYOUT_FREE_THREADED 0x1u	/* a --disable-gil build (3.14t) */

struct pyh_layout {
	__u32 version_hex;		/* major << 24 | minor << 16 | micro << 8 */
	__u32 lasti_kind;		/* enum pyh_lasti_kind */
	__u32 linetable_kind;		/* enum pyh_linetable_kind */
	__u32 str_kind;			/* enum pyh_str_kind */
	__u32 gil_kind;			/* enum pyh_gil_kind */
	__u32 flags;			/* PYH_LAYOUT_* */

	/* _PyRuntimeState (3.7+; PYH_NO_FIELD before) */
	__u32 runtime_interp_head;	/* interpreters.head */
	__u32 runtime_tstate_current;	/* gilstate.tstate_current (3.7 - 3.11) */

	/* PyInterpreterState */
	__u32 interp_next;
	__u32 interp_tstate_head;	/* tstate_head / threads.head */
	__u32 interp_gil_ptr;		/* ceval.gil, a pointer (3.12+) */
	__u32 gil_locked;		/* in struct _gil_runtime_state (3.12+) */
	__u32 gil_holder;		/* last_holder, same struct */

	/* PyThreadState */
	__u32 tstate_next;
	__u32 tstate_prev;		/* 3.6+: the list is doubly linked; PYH_NO_FIELD on 2.7 */
	__u32 tstate_interp;
	__u32 tstate_frame;		/* frame (<=3.10), cframe (3.11, 3.12), current_frame (3.13+) */
	__u32 cframe_current_frame;	/* in _PyCFrame (3.11, 3.12); PYH_NO_FIELD otherwise */
	__u32 tstate_thread_id;		/* pthread_t (== fs base on x86_64 glibc) */
	__u32 tstate_native_thread_id;	/* OS tid (3.11+) */

	/* PyFrameObject (<= 3.10) or _PyInterpreterFrame (3.11+) */
	__u32 frame_back;		/* f_back / previous */
	__u32 frame_code;		/* f_code / f_executable */
	__u32 frame_lasti;		/* f_lasti / prev_instr / instr_ptr, see lasti_kind */
	__u32 frame_owner;		/* char owner (3.11+); PYH_NO_FIELD before */
	__u32 frame_owner_skip;		/* bit (1 << owner) set: that owner's frames are not Python
					 * code but the C stack's or the interpreter's (3.12+); 0 none */
	__u32 frame_owner_generator;	/* the owner value of a generator's/coroutine's frame (3.11+) */
	__u32 frame_is_entry;		/* bool is_entry (3.11 only): first frame of its eval call */
	__u32 frame_code_tag_bits;	/* low bits of frame_code that are tags, not address (3.14: 3) */
	__u32 frame_tlbc_index;		/* int32 tlbc_index (3.14t): which bytecode copy lasti is in */

	/* PyCodeObject */
	__u32 code_filename;
	__u32 code_name;
	__u32 code_qualname;		/* 3.11+ */
	__u32 code_firstlineno;		/* int */
	__u32 code_linetable;		/* co_lnotab (<=3.9) / co_linetable (3.10+): a bytes object */
	__u32 code_code;		/* co_code bytes object (<= 3.10) */
	__u32 code_adaptive;		/* offsetof co_code_adaptive (3.11+) */
	__u32 code_flags;		/* int co_flags (<= 3.10, where a frame does not say it is a
					 * generator's); PYH_NO_FIELD where unused */
	__u32 code_tlbc;		/* _PyCodeArray *co_tlbc (3.14t): { ssize_t size; char *entries[] } */

	/* PyObject */
	__u32 object_type;		/* ob_type */

	/* bytes (str on 2.7) */
	__u32 bytes_size;		/* ob_size */
	__u32 bytes_data;		/* ob_sval */

	/* PEP 393 str (3.x) */
	__u32 unicode_length;
	__u32 unicode_state;		/* the bit-field word: kind, compact, ascii */
	__u32 unicode_ascii_data;	/* sizeof(PyASCIIObject) */
	__u32 unicode_compact_data;	/* sizeof(PyCompactUnicodeObject) */
	__u32 unicode_kind_shift;	/* bit of the state word where the 3-bit kind starts
					 * (2; 8 on 3.14t, whose `interned` is a whole byte) */
	__u32 code_version;		/* uint32 co_version (3.12+): unique per code object made */

	/* the generator (or coroutine) owning a frame: record --tasks */
	__u32 frame_gen;		/* PyObject *f_gen (3.6 - 3.10); PYH_NO_FIELD otherwise */
	__u32 gen_iframe;		/* offsetof(PyGenObject, gi_iframe) (3.11+): a generator's
					 * frame lies inside it */

	/* The code-version ceiling (3.13+, record/ceiling.h): in _PyRuntimeState */
	__u32 runtime_code_counter;	/* _main_interpreter.func_state.next_version (uint32): the
					 * co_version the main interpreter's next code object takes */
	__u32 runtime_interp_next_id;	/* interpreters.next_id (int64): 1 while the main
					 * interpreter is the only one ever made */
	__u32 pad;			/* 0: keeps the struct a whole number of 8 bytes
					 * (struct pyh_sample_target's u64s follow it) */
};

_Static_assert(sizeof(struct pyh_layout) == 52 * 4, "struct pyh_layout must match on both sides");

#endif
