/* SPDX-License-Identifier: MIT */
/*
 * objlayout.h - where CPython keeps the insides of its objects: int, float,
 * str, bytes, tuple, list, dict, set, cell, weakref, types, instances,
 * modules, and the locals of frames and code objects.
 *
 * User side only: BPF never reads object contents, so this stays out of
 * struct pyh_layout (include/pyhang/layout.h), which is shared with BPF and
 * kept small. One table per CPython version, generated from that version's
 * own headers by tools/gen-objlayouts.sh (tools/objlayout-probe.c); on 3.13+
 * every field the target's _Py_DebugOffsets carries is taken from the target
 * and the table only cross-checks it. Offsets are in bytes from the start of
 * their struct; PYH_NO_FIELD (pyhang/layout.h) marks what a version lacks.
 */
#ifndef PYH_PYTHON_OBJLAYOUT_H
#define PYH_PYTHON_OBJLAYOUT_H
#include <stddef.h>
#include <stdint.h>

#include "pyhang/layout.h"

/* How an int stores its size and sign (long_kind). */
enum pyh_long_kind {
	PYH_LONG_OB_SIZE = 1,	/* 2.7 long, 3.x <= 3.11: signed ob_size = +-ndigits */
	PYH_LONG_LV_TAG = 2,	/* 3.12+: lv_tag = ndigits << non_size_bits | sign bits */
};

/* How a dict keeps its entries (dict_kind). */
enum pyh_dict_kind {
	PYH_DICT_27 = 1,	/* 2.7: open table ma_table[ma_mask + 1] of (hash, key, value) */
	PYH_DICT_36 = 2,	/* 3.6 - 3.10: keys object, dk_size, indices, entries in order */
	PYH_DICT_311 = 3,	/* 3.11+: dk_log2_size, dk_log2_index_bytes, dk_kind */
};

/* Where a split dict's values and their insertion order live (values_kind). */
enum pyh_values_kind {
	PYH_VALUES_ARRAY = 1,	/* 3.6 - 3.10: PyObject *[] in entry order */
	PYH_VALUES_PREFIX = 2,	/* 3.11, 3.12: order bytes before the array: [-2] = count,
				 * [-3 - i] = entry index of the i-th value */
	PYH_VALUES_HEADER = 3,	/* 3.13+: capacity, size, embedded, valid; order after values[capacity] */
};

/* Where an instance of a Python class keeps its attributes (managed_kind). */
enum pyh_managed_kind {
	PYH_MANAGED_NONE = 1,	/* <= 3.10: tp_dictoffset only */
	PYH_MANAGED_311 = 2,	/* values pointer at managed_values_offset, dict at managed_dict_offset */
	PYH_MANAGED_312 = 3,	/* one word at managed_dict_offset: a dict, or values - 1 (low bit set) */
	PYH_MANAGED_313 = 4,	/* dict at managed_dict_offset; inline values at tp_basicsize
				 * when the type has tpflags_inline_values */
};

/* Where a suspended frame's value stack ends (stack_kind). */
enum pyh_stack_kind {
	PYH_STACK_NONE = 1,	/* 2.7: not read */
	PYH_STACK_TOP_PTR = 2,	/* 3.6 - 3.9: PyObject **f_stacktop (NULL while running) */
	PYH_STACK_DEPTH = 3,	/* 3.10: int f_stackdepth slots from PyObject **f_valuestack */
	PYH_STACK_TOP_INDEX = 4, /* 3.11 - 3.13: int stacktop, slots from localsplus */
	PYH_STACK_POINTER = 5,	/* 3.14+: _PyStackRef *stackpointer (tagged entries) */
};

/* gen_state_*: the version has no such frame state. */
#define PYH_GEN_NO_STATE (-1000)

struct pyh_objlayout {
	uint32_t version_hex;		/* major << 24 | minor << 16 (micro not significant) */
	uint32_t free_threaded;		/* 1: Py_GIL_DISABLED build (object header differs) */
	uint32_t long_kind;		/* enum pyh_long_kind */
	uint32_t dict_kind;		/* enum pyh_dict_kind */
	uint32_t values_kind;		/* enum pyh_values_kind */
	uint32_t managed_kind;		/* enum pyh_managed_kind */

	/* PyObject / PyVarObject */
	uint32_t object_size;		/* sizeof(PyObject) */
	uint32_t ob_refcnt;		/* PYH_NO_FIELD on free-threaded builds (split counts) */
	uint32_t ob_refcnt_size;	/* 8, or 4 on 3.14 (flags share the word); 0 free-threaded */
	uint32_t ob_type;
	uint32_t ob_size;

	/* PyTypeObject, PyHeapTypeObject */
	uint32_t type_size;		/* sizeof(PyTypeObject) */
	uint32_t tp_name;		/* const char * */
	uint32_t tp_basicsize;
	uint32_t tp_itemsize;
	uint32_t tp_repr;
	uint32_t tp_flags;		/* unsigned long */
	uint32_t tp_base;
	uint32_t tp_dict;
	uint32_t tp_dictoffset;		/* Py_ssize_t */
	uint32_t ht_name;
	uint32_t ht_qualname;		/* 3.3+ */
	uint32_t ht_cached_keys;	/* 3.3+: the shared keys of split instance dicts */
	uint32_t tpflags_heaptype;	/* Py_TPFLAGS_HEAPTYPE */
	uint32_t tpflags_type_subclass;	/* Py_TPFLAGS_TYPE_SUBCLASS: set on type and metaclasses */
	uint32_t tpflags_managed_dict;	/* Py_TPFLAGS_MANAGED_DICT (3.11+), else 0 */
	uint32_t tpflags_inline_values;	/* Py_TPFLAGS_INLINE_VALUES (3.13+), else 0 */

	/* instances: offsets from the object, negative (into the pre-header) */
	int32_t managed_dict_offset;	/* 3.11+ */
	int32_t managed_values_offset;	/* 3.11 only */

	/* int: 2.7 PyIntObject, then PyLongObject */
	uint32_t int_ival;		/* 2.7 int: C long */
	uint32_t long_size;		/* ob_size (PYH_LONG_OB_SIZE) or lv_tag (PYH_LONG_LV_TAG) */
	uint32_t long_digits;		/* ob_digit */
	uint32_t long_shift;		/* PyLong_SHIFT: bits per digit */
	uint32_t long_digit_size;	/* sizeof(digit) */
	uint32_t long_non_size_bits;	/* 3.12+: bits of lv_tag below the digit count */
	uint32_t long_sign_mask;	/* 3.12+ */
	uint32_t long_sign_zero;	/* 3.12+: (lv_tag & sign_mask) for 0 */
	uint32_t long_sign_negative;	/* 3.12+: the same for a negative int */

	uint32_t float_fval;

	/* bytes (3.x) / str (2.7) */
	uint32_t bytes_size;
	uint32_t bytes_sval;

	/* 3.x PEP 393 str */
	uint32_t str_length;
	uint32_t str_state;		/* 32-bit word holding the bit fields */
	uint32_t str_kind_shift;	/* lowest bit of `kind` (3 bits) in that word */
	uint32_t str_compact_bit;
	uint32_t str_ascii_bit;
	uint32_t str_ascii_data;	/* sizeof(PyASCIIObject) */
	uint32_t str_compact_data;	/* sizeof(PyCompactUnicodeObject) */
	uint32_t str_legacy_data;	/* PyUnicodeObject.data.any (non-compact strings) */
	/* 2.7 unicode */
	uint32_t unicode27_length;
	uint32_t unicode27_str;		/* Py_UNICODE * */
	uint32_t unicode27_unit;	/* sizeof(Py_UNICODE): 2 or 4 */

	uint32_t tuple_items;		/* ob_item[] */
	uint32_t list_items;		/* PyObject **ob_item */

	/* dict */
	uint32_t dict_used;		/* ma_used */
	uint32_t dict_keys;		/* ma_keys (3.x) */
	uint32_t dict_values;		/* ma_values (3.x) */
	uint32_t dict27_mask;		/* ma_mask (2.7) */
	uint32_t dict27_table;		/* ma_table (2.7) */
	uint32_t dk_size;		/* Py_ssize_t dk_size (3.6 - 3.10) */
	uint32_t dk_log2_size;		/* uint8 (3.11+) */
	uint32_t dk_log2_index_bytes;	/* uint8 (3.11+) */
	uint32_t dk_kind;		/* uint8 (3.11+): 0 general, else unicode entries */
	uint32_t dk_nentries;
	uint32_t dk_indices;
	uint32_t entry_size;		/* PyDictKeyEntry (3.x) / PyDictEntry (2.7) */
	uint32_t entry_hash;
	uint32_t entry_key;
	uint32_t entry_value;
	uint32_t uentry_size;		/* PyDictUnicodeEntry (3.11+) */
	uint32_t uentry_key;
	uint32_t uentry_value;
	uint32_t values_items;		/* offsetof(PyDictValues, values) */
	uint32_t values_capacity;	/* uint8 (3.13+) */
	uint32_t values_size;		/* uint8 (3.13+) */
	uint32_t values_valid;		/* uint8 (3.13+) */

	/* set, frozenset */
	uint32_t set_fill;		/* active + deleted slots */
	uint32_t set_used;
	uint32_t set_mask;
	uint32_t set_table;
	uint32_t setentry_size;
	uint32_t setentry_key;
	uint32_t setentry_hash;

	uint32_t cell_ref;		/* PyCellObject.ob_ref */
	uint32_t func_qualname;		/* PyFunctionObject.func_qualname (2.7: func_name) */
	uint32_t weakref_object;	/* PyWeakReference.wr_object */

	/* 2.7 classic classes */
	uint32_t class27_name;		/* PyClassObject.cl_name */
	uint32_t class27_dict;
	uint32_t instance27_class;	/* PyInstanceObject.in_class */
	uint32_t instance27_dict;

	uint32_t module_dict;		/* PyModuleObject.md_dict */
	uint32_t interp_modules;	/* PyInterpreterState: modules / imports.modules */
	uint32_t interp_sysdict;

	/* code objects */
	uint32_t code_argcount;		/* int */
	uint32_t code_nlocals;		/* int (<= 3.10) */
	uint32_t code_varnames;		/* tuples (<= 3.10) */
	uint32_t code_cellvars;
	uint32_t code_freevars;
	uint32_t code_localsplusnames;	/* tuple (3.11+) */
	uint32_t code_localspluskinds;	/* bytes (3.11+) */
	uint32_t co_fast_hidden;	/* CO_FAST_* kind bits (3.11+; hidden 3.12+), else 0 */
	uint32_t co_fast_local;
	uint32_t co_fast_cell;
	uint32_t co_fast_free;

	/* frames: PyFrameObject (<= 3.10) or _PyInterpreterFrame (3.11+) */
	uint32_t frame_localsplus;
	uint32_t frame_code;		/* f_code / f_executable (3.14: a tagged _PyStackRef) */
	uint32_t frame_stackref;	/* 1: localsplus holds tagged _PyStackRef (3.14+) */
	uint32_t stack_kind;		/* enum pyh_stack_kind */
	uint32_t frame_stacktop;	/* f_stacktop / f_stackdepth / stacktop / stackpointer */
	uint32_t frame_valuestack;	/* f_valuestack (3.10) */

	/* generators, coroutines, async generators (one head for the three) */
	uint32_t gen_frame;		/* PyFrameObject *gi_frame (<= 3.10) */
	uint32_t gen_iframe;		/* the embedded _PyInterpreterFrame (3.11+) */
	uint32_t gen_frame_state;	/* int8 gi_frame_state (3.11+) */
	int32_t gen_state_created;	/* FRAME_CREATED (3.11+), else PYH_GEN_NO_STATE */
	int32_t gen_state_suspended;	/* FRAME_SUSPENDED */
	int32_t gen_state_yield_from;	/* FRAME_SUSPENDED_YIELD_FROM (3.13+) */
	int32_t gen_state_completed;	/* FRAME_COMPLETED: this and above, finished */
	/* opcodes that tell a frame suspended in `yield from` / `await` (<= 3.12):
	 * YIELD_FROM after f_lasti (<= 3.10), RESUME with oparg >= 2 after
	 * prev_instr (3.11: also RESUME_QUICK; 3.12: INSTRUMENTED_RESUME) */
	uint32_t op_yield_from;
	uint32_t op_resume;
	uint32_t op_resume_alt;

	/* __slots__: PyMemberDescrObject.d_member -> PyMemberDef */
	uint32_t descr_member;
	uint32_t memberdef_type;	/* int */
	uint32_t memberdef_offset;	/* Py_ssize_t */
	uint32_t member_object_ex;	/* T_OBJECT_EX, the type of a __slots__ member */
};

_Static_assert(sizeof(struct pyh_objlayout) % 4 == 0, "struct pyh_objlayout: 32-bit fields only");

/* The committed table for major.minor (free-threaded build or not), or NULL
 * when pyhang has none (a version it does not know). */
const struct pyh_objlayout *pyh_objlayout_table(int major, int minor, int free_threaded);

/* "2.7", "3.6" ... "3.14", "3.14t": the tables there are, for error messages. */
const char *pyh_objlayout_known(void);

/* Overlay the fields a target's _Py_DebugOffsets carries (3.13, 3.14; buf is
 * len bytes copied from the start of _PyRuntime) on *out, which the caller
 * filled from the table of the same version. Every offset read must lie
 * inside the struct size the same buffer declares. Sets *mismatch to the
 * number of fields where the buffer and the table disagreed (the buffer
 * wins). Returns 0, or -EINVAL with the reason in err (out then untouched):
 * bad cookie, a version other than out's, free_threaded not matching, an
 * implausible size or offset. */
int pyh_objlayout_from_debug_offsets(const void *buf, size_t len, struct pyh_objlayout *out,
				     int *mismatch, char *err, size_t errsz);

/* The free_threaded word of a _Py_DebugOffsets copy: 0 or 1, or -EINVAL when
 * buf is not one (too short, bad cookie, version below 3.13). */
int pyh_debug_offsets_free_threaded(const void *buf, size_t len);
#endif
