/* SPDX-License-Identifier: MIT */
/*
 * layouts.c - pick the CPython struct layout for a target: a committed table
 * (tools/gen-layouts.sh) for 2.7 and 3.6 - 3.13, or, on 3.13+, the target's
 * own _Py_DebugOffsets.
 */
#include "python/layouts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "python/layouts_gen.h"

const struct pyh_layout *pyh_layout_table(int major, int minor, int free_threaded)
{
	if (free_threaded)
		return major == 3 && minor == 14 ? &pyh_layout_3_14t : NULL;
	if (major == 2 && minor == 7)
		return &pyh_layout_2_7;
	if (major != 3)
		return NULL;
	switch (minor) {
	case 6: return &pyh_layout_3_6;
	case 7: return &pyh_layout_3_7;
	case 8: return &pyh_layout_3_8;
	case 9: return &pyh_layout_3_9;
	case 10: return &pyh_layout_3_10;
	case 11: return &pyh_layout_3_11;
	case 12: return &pyh_layout_3_12;
	case 13: return &pyh_layout_3_13;
	case 14: return &pyh_layout_3_14;
	default: return NULL;
	}
}

/*
 * _Py_DebugOffsets is a flat struct of uint64_t: an 8-byte cookie, then
 * version, free_threaded, then one group per CPython struct, each group
 * starting with that struct's sizeof. We describe where each value we use
 * sits as an index in 8-byte words from the start of the struct.
 *
 * 3.13: read from the installed 3.13.0 internal/pycore_runtime.h (73 words).
 *
 * 3.14: the struct moved to internal/pycore_debug_offsets.h and grew: the
 * interpreter group gained threads_main (after threads_head) and
 * code_object_generation + tlbc_generation (at its end), the frame group
 * stackpointer + tlbc_index, the code group co_tlbc, a set_object group sits
 * between list_object and dict_object, and gen_object, llist_node and
 * debugger_support groups follow gc (95 words). Checked against the real
 * 3.14.7 and 3.14.7t binaries (tests/unit/fixtures/debug_offsets_*.h, made by
 * tools/gen-debug-offsets-fixtures.sh). Every value read through a map must
 * also be consistent with the struct sizes the same buffer declares (pyobject
 * must look like a PyObject, every member must lie inside its struct, the ASCII
 * header inside the str object): a misplaced group reads a size or an offset
 * from the wrong slot and fails those checks rather than producing a plausible
 * wrong layout.
 *
 * What the debug offsets do not carry (the kinds, which owners to skip, the
 * tag bits of f_executable, where the str kind bits sit) comes from the
 * committed table of the same minor version and build (GIL or free-threaded),
 * generated from that version's headers.
 *
 * Free-threaded builds: 3.14t is read (its object header puts ob_type at 24,
 * its frames carry tlbc_index and its code objects co_tlbc; the debug offsets
 * say where). 3.13t is refused: nothing here was checked against one.
 *
 * 3.15 changed the thread_state group again (members inserted in the middle),
 * so versions past 3.14 are refused instead of being read with a guessed
 * layout.
 */
struct pyh_dbg_map {
	unsigned int minor;
	unsigned int words;		/* sizeof(_Py_DebugOffsets) / 8 */
	const struct pyh_layout *base;	/* what the debug offsets do not carry, with the GIL */
	const struct pyh_layout *base_ft; /* the same for the free-threaded build; NULL: refused */
	unsigned int runtime_size, runtime_interp_head;
	unsigned int interp_size, interp_next, interp_threads_head, interp_ceval_gil;
	unsigned int interp_gil_state, interp_gil_locked, interp_gil_holder;
	unsigned int tstate_size, tstate_prev, tstate_next, tstate_interp, tstate_current_frame;
	unsigned int tstate_thread_id, tstate_native_thread_id;
	unsigned int frame_size, frame_previous, frame_executable, frame_instr_ptr, frame_owner;
	unsigned int frame_tlbc_index;	/* 0: the version has none */
	unsigned int code_size, code_filename, code_name, code_qualname, code_linetable;
	unsigned int code_firstlineno, code_adaptive, code_tlbc;
	unsigned int object_size, object_type;
	unsigned int bytes_size, bytes_ob_size, bytes_ob_sval;
	unsigned int unicode_size, unicode_state, unicode_length, unicode_ascii_size;
	unsigned int gen_size, gen_iframe;	/* 0: the version does not carry them */
};

static const struct pyh_dbg_map pyh_dbg_map_3_13 = {
	.minor = 13, .words = 73, .base = &pyh_layout_3_13, .base_ft = NULL,
	.runtime_size = 3, .runtime_interp_head = 5,
	.interp_size = 6, .interp_next = 8, .interp_threads_head = 9, .interp_ceval_gil = 14,
	.interp_gil_state = 15, .interp_gil_locked = 17, .interp_gil_holder = 18,
	.tstate_size = 19, .tstate_prev = 20, .tstate_next = 21, .tstate_interp = 22, .tstate_current_frame = 23,
	.tstate_thread_id = 24, .tstate_native_thread_id = 25,
	.frame_size = 28, .frame_previous = 29, .frame_executable = 30, .frame_instr_ptr = 31,
	.frame_owner = 33,
	.code_size = 34, .code_filename = 35, .code_name = 36, .code_qualname = 37,
	.code_linetable = 38, .code_firstlineno = 39, .code_adaptive = 43,
	.object_size = 44, .object_type = 45,
	.bytes_size = 64, .bytes_ob_size = 65, .bytes_ob_sval = 66,
	.unicode_size = 67, .unicode_state = 68, .unicode_length = 69, .unicode_ascii_size = 70,
};

static const struct pyh_dbg_map pyh_dbg_map_3_14 = {
	.minor = 14, .words = 95, .base = &pyh_layout_3_14, .base_ft = &pyh_layout_3_14t,
	.runtime_size = 3, .runtime_interp_head = 5,
	.interp_size = 6, .interp_next = 8, .interp_threads_head = 9, .interp_ceval_gil = 15,
	.interp_gil_state = 16, .interp_gil_locked = 18, .interp_gil_holder = 19,
	.tstate_size = 22, .tstate_prev = 23, .tstate_next = 24, .tstate_interp = 25, .tstate_current_frame = 26,
	.tstate_thread_id = 27, .tstate_native_thread_id = 28,
	.frame_size = 31, .frame_previous = 32, .frame_executable = 33, .frame_instr_ptr = 34,
	.frame_owner = 36, .frame_tlbc_index = 38,
	.code_size = 39, .code_filename = 40, .code_name = 41, .code_qualname = 42,
	.code_linetable = 43, .code_firstlineno = 44, .code_adaptive = 48, .code_tlbc = 49,
	.object_size = 50, .object_type = 51,
	.bytes_size = 74, .bytes_ob_size = 75, .bytes_ob_sval = 76,
	.unicode_size = 77, .unicode_state = 78, .unicode_length = 79, .unicode_ascii_size = 80,
	.gen_size = 83, .gen_iframe = 85,
};

#define PYH_DBG_COOKIE "xdebugpy"
#define PYH_DBG_HEADER_WORDS 3	/* cookie, version, free_threaded */

/* One parse: the buffer, the map, and where to report the first error. */
struct pyh_dbg_parse {
	const unsigned char *buf;
	char *err;
	size_t errsz;
	int failed;
};

static void pyh_dbg_fail(struct pyh_dbg_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pyh_dbg_fail(struct pyh_dbg_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;		/* keep the first error */
	p->failed = 1;
	if (!p->err || p->errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errsz, fmt, ap);
	va_end(ap);
}

static uint64_t pyh_dbg_word(const unsigned char *buf, unsigned int idx)
{
	uint64_t v;

	memcpy(&v, buf + (size_t)idx * 8, sizeof(v));
	return v;
}

/* The sizeof of one CPython struct, as the buffer declares it. */
static uint64_t pyh_dbg_size(struct pyh_dbg_parse *p, unsigned int idx, const char *what)
{
	uint64_t size = pyh_dbg_word(p->buf, idx);

	if (size == 0 || size > PYH_DEBUG_OFFSETS_MAX_STRUCT) {
		pyh_dbg_fail(p, "_Py_DebugOffsets: sizeof(%s) = %llu is not plausible (1..%u)",
			     what, (unsigned long long)size, PYH_DEBUG_OFFSETS_MAX_STRUCT);
		return 0;
	}
	return size;
}

/* A member offset that must leave width bytes inside a struct of `size` bytes
 * and be below PYH_DEBUG_OFFSETS_MAX_FIELD. Returns it, or PYH_NO_FIELD. */
static __u32 pyh_dbg_member(struct pyh_dbg_parse *p, unsigned int idx, uint64_t size,
			    unsigned int width, const char *what)
{
	uint64_t off = pyh_dbg_word(p->buf, idx);

	if (off >= PYH_DEBUG_OFFSETS_MAX_FIELD) {
		pyh_dbg_fail(p, "_Py_DebugOffsets: offset of %s = %llu is not below %u",
			     what, (unsigned long long)off, PYH_DEBUG_OFFSETS_MAX_FIELD);
		return PYH_NO_FIELD;
	}
	if (off + width > size) {
		pyh_dbg_fail(p, "_Py_DebugOffsets: %s at %llu (+%u) lies outside its %llu-byte struct",
			     what, (unsigned long long)off, width, (unsigned long long)size);
		return PYH_NO_FIELD;
	}
	return (__u32)off;
}

int pyh_layout_from_debug_offsets(const void *buf, size_t len, struct pyh_layout *out,
				  char *err, size_t errsz)
{
	struct pyh_dbg_parse p = { .buf = buf, .err = err, .errsz = errsz };
	const struct pyh_dbg_map *m;
	const struct pyh_layout *base;
	struct pyh_layout l;
	uint64_t version, free_threaded;
	uint64_t sz_rt, sz_interp, sz_ts, sz_frame, sz_code, sz_obj, sz_bytes, sz_str;
	unsigned int major, minor;
	__u32 gil_state, locked, holder, ascii_size;
	int err_ret = -EINVAL;

	if (err && errsz)
		err[0] = '\0';
	if (!buf || !out) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: no buffer");
		goto cleanup;
	}
	if (len < PYH_DBG_HEADER_WORDS * 8) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: %zu bytes is too short for the header", len);
		goto cleanup;
	}
	if (memcmp(buf, PYH_DBG_COOKIE, 8) != 0) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: cookie is not \"" PYH_DBG_COOKIE "\"");
		goto cleanup;
	}
	version = pyh_dbg_word(p.buf, 1);
	free_threaded = pyh_dbg_word(p.buf, 2);
	major = (version >> 24) & 0xff;
	minor = (version >> 16) & 0xff;
	if (version > 0xffffffffu || major != 3 || minor < 13) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: version 0x%llx is not CPython 3.13 or later",
			     (unsigned long long)version);
		goto cleanup;
	}
	if (free_threaded > 1) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: free_threaded = %llu is not 0 or 1",
			     (unsigned long long)free_threaded);
		goto cleanup;
	}
	if (minor == 13) {
		m = &pyh_dbg_map_3_13;
	} else if (minor == 14) {
		m = &pyh_dbg_map_3_14;
	} else {
		pyh_dbg_fail(&p, "_Py_DebugOffsets of Python %u.%u: layout not known "
			     "(3.13 and 3.14 are)", major, minor);
		goto cleanup;
	}
	if (len < (size_t)m->words * 8) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets of Python 3.%u needs %u bytes, got %zu",
			     minor, m->words * 8, len);
		goto cleanup;
	}

	if (free_threaded && !m->base_ft) {
		pyh_dbg_fail(&p, "free-threaded Python 3.%u is not supported (3.14t is)", minor);
		goto cleanup;
	}
	/* Everything the debug offsets do not carry comes from the table of the
	 * same version and build: the kinds, the owners to skip, the tag bits,
	 * and unicode_compact_data (adjusted below). */
	base = free_threaded ? m->base_ft : m->base;
	l = *base;
	l.version_hex = (__u32)(version & 0xffffff00u);

	sz_rt = pyh_dbg_size(&p, m->runtime_size, "_PyRuntimeState");
	sz_interp = pyh_dbg_size(&p, m->interp_size, "PyInterpreterState");
	sz_ts = pyh_dbg_size(&p, m->tstate_size, "PyThreadState");
	sz_frame = pyh_dbg_size(&p, m->frame_size, "_PyInterpreterFrame");
	sz_code = pyh_dbg_size(&p, m->code_size, "PyCodeObject");
	sz_obj = pyh_dbg_size(&p, m->object_size, "PyObject");
	sz_bytes = pyh_dbg_size(&p, m->bytes_size, "PyBytesObject");
	sz_str = pyh_dbg_size(&p, m->unicode_size, "PyUnicodeObject");
	if (p.failed)
		goto cleanup;

	l.runtime_interp_head = pyh_dbg_member(&p, m->runtime_interp_head, sz_rt, 8,
					       "interpreters.head");
	l.runtime_tstate_current = PYH_NO_FIELD;

	l.interp_next = pyh_dbg_member(&p, m->interp_next, sz_interp, 8, "interp.next");
	l.interp_tstate_head = pyh_dbg_member(&p, m->interp_threads_head, sz_interp, 8,
					      "interp.threads.head");
	l.interp_gil_ptr = pyh_dbg_member(&p, m->interp_ceval_gil, sz_interp, 8, "interp.ceval.gil");
	/* The GIL members are given inside the interpreter's own _gil; we need
	 * them relative to struct _gil_runtime_state, which ceval.gil points to. */
	gil_state = pyh_dbg_member(&p, m->interp_gil_state, sz_interp, 1, "interp._gil");
	locked = pyh_dbg_member(&p, m->interp_gil_locked, sz_interp, 4, "interp._gil.locked");
	holder = pyh_dbg_member(&p, m->interp_gil_holder, sz_interp, 8, "interp._gil.last_holder");
	if (p.failed)
		goto cleanup;
	if (locked < gil_state || holder < gil_state) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: GIL members (%u, %u) lie before the GIL at %u",
			     locked, holder, gil_state);
		goto cleanup;
	}
	l.gil_locked = locked - gil_state;
	l.gil_holder = holder - gil_state;

	l.tstate_next = pyh_dbg_member(&p, m->tstate_next, sz_ts, 8, "tstate.next");
	l.tstate_prev = pyh_dbg_member(&p, m->tstate_prev, sz_ts, 8, "tstate.prev");
	l.tstate_interp = pyh_dbg_member(&p, m->tstate_interp, sz_ts, 8, "tstate.interp");
	l.tstate_frame = pyh_dbg_member(&p, m->tstate_current_frame, sz_ts, 8,
					"tstate.current_frame");
	l.cframe_current_frame = PYH_NO_FIELD;
	l.tstate_thread_id = pyh_dbg_member(&p, m->tstate_thread_id, sz_ts, 8, "tstate.thread_id");
	l.tstate_native_thread_id = pyh_dbg_member(&p, m->tstate_native_thread_id, sz_ts, 8,
						   "tstate.native_thread_id");

	l.frame_back = pyh_dbg_member(&p, m->frame_previous, sz_frame, 8, "frame.previous");
	l.frame_code = pyh_dbg_member(&p, m->frame_executable, sz_frame, 8, "frame.f_executable");
	l.frame_lasti = pyh_dbg_member(&p, m->frame_instr_ptr, sz_frame, 8, "frame.instr_ptr");
	l.frame_owner = pyh_dbg_member(&p, m->frame_owner, sz_frame, 1, "frame.owner");
	l.frame_tlbc_index = free_threaded && m->frame_tlbc_index
		? pyh_dbg_member(&p, m->frame_tlbc_index, sz_frame, 4, "frame.tlbc_index")
		: PYH_NO_FIELD;

	l.code_filename = pyh_dbg_member(&p, m->code_filename, sz_code, 8, "co_filename");
	l.code_name = pyh_dbg_member(&p, m->code_name, sz_code, 8, "co_name");
	l.code_qualname = pyh_dbg_member(&p, m->code_qualname, sz_code, 8, "co_qualname");
	l.code_firstlineno = pyh_dbg_member(&p, m->code_firstlineno, sz_code, 4, "co_firstlineno");
	l.code_linetable = pyh_dbg_member(&p, m->code_linetable, sz_code, 8, "co_linetable");
	l.code_code = PYH_NO_FIELD;
	/* co_code_adaptive is a trailing array: it may start at sizeof. */
	l.code_adaptive = pyh_dbg_member(&p, m->code_adaptive, sz_code + 2, 2, "co_code_adaptive");
	l.code_tlbc = free_threaded && m->code_tlbc
		? pyh_dbg_member(&p, m->code_tlbc, sz_code, 8, "co_tlbc") : PYH_NO_FIELD;

	if (m->gen_iframe) {
		uint64_t sz_gen = pyh_dbg_size(&p, m->gen_size, "PyGenObject");

		/* gi_iframe is a trailing array: the frame may start at sizeof */
		if (!p.failed)
			l.gen_iframe = pyh_dbg_member(&p, m->gen_iframe, sz_gen + 8, 8, "gi_iframe");
	}

	l.object_type = pyh_dbg_member(&p, m->object_type, sz_obj, 8, "ob_type");
	if (!p.failed && sz_obj > 64) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: sizeof(PyObject) = %llu is not plausible",
			     (unsigned long long)sz_obj);
	}

	l.bytes_size = pyh_dbg_member(&p, m->bytes_ob_size, sz_bytes, 8, "bytes ob_size");
	/* ob_sval is a trailing char[1]: its one byte lies inside sizeof. */
	l.bytes_data = pyh_dbg_member(&p, m->bytes_ob_sval, sz_bytes, 1, "bytes ob_sval");

	l.unicode_length = pyh_dbg_member(&p, m->unicode_length, sz_str, 8, "str length");
	l.unicode_state = pyh_dbg_member(&p, m->unicode_state, sz_str, 4, "str state");
	ascii_size = pyh_dbg_member(&p, m->unicode_ascii_size, sz_str, 0, "sizeof(PyASCIIObject)");
	if (p.failed)
		goto cleanup;
	if (ascii_size <= l.unicode_state || ascii_size <= l.unicode_length) {
		pyh_dbg_fail(&p, "_Py_DebugOffsets: sizeof(PyASCIIObject) = %u does not hold "
			     "length (%u) and state (%u)", ascii_size, l.unicode_length,
			     l.unicode_state);
		goto cleanup;
	}
	l.unicode_ascii_data = ascii_size;
	/* PyCompactUnicodeObject = PyASCIIObject + utf8_length + utf8 on 3.12+;
	 * keep that difference, measured from the same version's headers. */
	l.unicode_compact_data = ascii_size + (base->unicode_compact_data - base->unicode_ascii_data);

	*out = l;
	err_ret = 0;
cleanup:
	return err_ret;
}
