/* SPDX-License-Identifier: MIT */
/*
 * layout-probe.c - helper of tools/gen-layouts.sh, not part of pyhang.
 *
 * Compiled once per installed CPython against that version's own headers
 * (public and, with Py_BUILD_CORE, internal ones); prints the body of one
 * `struct pyh_layout` designated initialiser (see include/pyhang/layout.h)
 * measured with offsetof()/sizeof(). Exits non-zero if a self-check fails.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_MAJOR_VERSION == 2 || PY_MINOR_VERSION <= 10
#include <frameobject.h>
#endif

#if PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION == 7
#include <internal/pystate.h>
#elif PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION == 8
#include <internal/pycore_pystate.h>
#elif PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION >= 9
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#endif
#if PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION >= 11
#include <internal/pycore_frame.h>
#endif
#if PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION >= 12
#include <internal/pycore_gil.h>
#endif

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define PY_AT_LEAST(maj, min) \
	(PY_MAJOR_VERSION > (maj) || (PY_MAJOR_VERSION == (maj) && PY_MINOR_VERSION >= (min)))

static int probe_failed;

static void probe_field(const char *name, unsigned long value)
{
	printf("\t.%s = %lu,\n", name, value);
}

static void probe_none(const char *name)
{
	printf("\t.%s = PYH_NO_FIELD,\n", name);
}

static void probe_enum(const char *name, const char *value)
{
	printf("\t.%s = %s,\n", name, value);
}

#define F(name, value) probe_field(#name, (unsigned long)(value))
#define N(name) probe_none(#name)
#define E(name, value) probe_enum(#name, #value)

#if PY_MAJOR_VERSION == 3
/* The PEP 393 state bit-field cannot be named by offsetof(): assume it is the
 * word right after `hash`, then prove that setting its bits touches only that
 * word. */
static unsigned long probe_unicode_state(void)
{
	unsigned long off = offsetof(PyASCIIObject, hash) + sizeof(Py_hash_t);
	PyASCIIObject o;
	const unsigned char *p = (const unsigned char *)&o;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.state.kind = 7;
	o.state.compact = 1;
	o.state.ascii = 1;
	for (i = 0; i < sizeof(o); i++) {
		int inside = i >= off && i < off + 4;

		if (!inside && p[i] != 0) {
			fprintf(stderr, "layout-probe: state bits outside the word at %lu\n", off);
			probe_failed = 1;
		}
	}
	if (!p[off] && !p[off + 1] && !p[off + 2] && !p[off + 3]) {
		fprintf(stderr, "layout-probe: state word at %lu untouched\n", off);
		probe_failed = 1;
	}
	return off;
}

/* The bit of the state word where `kind` starts: set kind to 1 alone. */
static unsigned long probe_unicode_kind_shift(unsigned long off)
{
	PyASCIIObject o;
	unsigned int word;
	unsigned long bit;

	memset(&o, 0, sizeof(o));
	o.state.kind = 1;
	memcpy(&word, (const unsigned char *)&o + off, sizeof(word));
	for (bit = 0; bit < 32 && !(word & (1u << bit)); bit++)
		;
	if (bit == 32 || word != (1u << bit)) {
		fprintf(stderr, "layout-probe: kind bits not found in the state word\n");
		probe_failed = 1;
	}
	return bit;
}
#endif

int main(void)
{
	unsigned long hex = ((unsigned long)PY_MAJOR_VERSION << 24) |
			    ((unsigned long)PY_MINOR_VERSION << 16) |
			    ((unsigned long)PY_MICRO_VERSION << 8);

	printf("\t.version_hex = 0x%08lx, /* %s */\n", hex, PY_VERSION);

	/* kinds */
#if !PY_AT_LEAST(3, 10)
	E(lasti_kind, PYH_LASTI_BYTES);
#elif PY_MINOR_VERSION == 10
	E(lasti_kind, PYH_LASTI_UNITS);
#elif PY_MINOR_VERSION <= 12
	E(lasti_kind, PYH_LASTI_PREV_PTR);
#else
	E(lasti_kind, PYH_LASTI_CUR_PTR);
#endif
#if PY_MAJOR_VERSION == 2
	E(linetable_kind, PYH_LNOTAB_27);
#elif !PY_AT_LEAST(3, 10)
	E(linetable_kind, PYH_LNOTAB_36);
#elif PY_MINOR_VERSION == 10
	E(linetable_kind, PYH_LINETABLE_310);
#else
	E(linetable_kind, PYH_LOCATIONS_311);
#endif
#if PY_MAJOR_VERSION == 2
	E(str_kind, PYH_STR_BYTES);
#else
	E(str_kind, PYH_STR_UNICODE);
#endif
#if defined(Py_GIL_DISABLED)
	E(gil_kind, PYH_GIL_NONE);
	E(flags, PYH_LAYOUT_FREE_THREADED);
#elif PY_AT_LEAST(3, 12)
	E(gil_kind, PYH_GIL_INTERP_PTR);
	F(flags, 0);
#else
	E(gil_kind, PYH_GIL_TSTATE_CURRENT);
	F(flags, 0);
#endif

	/* _PyRuntimeState */
#if PY_AT_LEAST(3, 7)
	F(runtime_interp_head, offsetof(_PyRuntimeState, interpreters.head));
#else
	N(runtime_interp_head);
#endif
#if PY_AT_LEAST(3, 7) && !PY_AT_LEAST(3, 12)
	F(runtime_tstate_current, offsetof(_PyRuntimeState, gilstate.tstate_current));
#else
	N(runtime_tstate_current);
#endif

	/* PyInterpreterState and the GIL */
	F(interp_next, offsetof(PyInterpreterState, next));
#if PY_AT_LEAST(3, 11)
	F(interp_tstate_head, offsetof(PyInterpreterState, threads.head));
#else
	F(interp_tstate_head, offsetof(PyInterpreterState, tstate_head));
#endif
#if PY_AT_LEAST(3, 12)
	F(interp_gil_ptr, offsetof(PyInterpreterState, ceval.gil));
	F(gil_locked, offsetof(struct _gil_runtime_state, locked));
	F(gil_holder, offsetof(struct _gil_runtime_state, last_holder));
#else
	N(interp_gil_ptr);
	N(gil_locked);
	N(gil_holder);
#endif

	/* PyThreadState */
	F(tstate_next, offsetof(PyThreadState, next));
#if PY_AT_LEAST(3, 6)
	F(tstate_prev, offsetof(PyThreadState, prev));
#else
	N(tstate_prev);
#endif
	F(tstate_interp, offsetof(PyThreadState, interp));
#if PY_AT_LEAST(3, 13)
	F(tstate_frame, offsetof(PyThreadState, current_frame));
	N(cframe_current_frame);
#elif PY_AT_LEAST(3, 11)
	F(tstate_frame, offsetof(PyThreadState, cframe));
	F(cframe_current_frame, offsetof(_PyCFrame, current_frame));
#else
	F(tstate_frame, offsetof(PyThreadState, frame));
	N(cframe_current_frame);
#endif
	F(tstate_thread_id, offsetof(PyThreadState, thread_id));
	/* PyThreadState.native_thread_id first appears in 3.11 (3.8 only has
	 * PyThread_get_thread_native_id(), nothing stored in the tstate). */
#if PY_AT_LEAST(3, 11)
	F(tstate_native_thread_id, offsetof(PyThreadState, native_thread_id));
#else
	N(tstate_native_thread_id);
#endif

	/* frames */
#if PY_AT_LEAST(3, 11)
	F(frame_back, offsetof(_PyInterpreterFrame, previous));
#if PY_AT_LEAST(3, 13)
	F(frame_code, offsetof(_PyInterpreterFrame, f_executable));
	F(frame_lasti, offsetof(_PyInterpreterFrame, instr_ptr));
#else
	F(frame_code, offsetof(_PyInterpreterFrame, f_code));
	F(frame_lasti, offsetof(_PyInterpreterFrame, prev_instr));
#endif
	F(frame_owner, offsetof(_PyInterpreterFrame, owner));
	/* Frames owned by the C stack (3.12+) and by the interpreter (3.14's entry
	 * frames) are not Python code. */
#if PY_AT_LEAST(3, 14)
	F(frame_owner_skip, (1u << FRAME_OWNED_BY_CSTACK) | (1u << FRAME_OWNED_BY_INTERPRETER));
#elif PY_AT_LEAST(3, 12)
	F(frame_owner_skip, 1u << FRAME_OWNED_BY_CSTACK);
#else
	F(frame_owner_skip, 0);
#endif
	F(frame_owner_generator, FRAME_OWNED_BY_GENERATOR);
#if PY_MINOR_VERSION == 11
	F(frame_is_entry, offsetof(_PyInterpreterFrame, is_entry));
#else
	N(frame_is_entry);
#endif
#if PY_AT_LEAST(3, 14)
	F(frame_code_tag_bits, 3);	/* _PyStackRef: Py_TAG_BITS is 3 with the GIL, 1 without */
#else
	F(frame_code_tag_bits, 0);
#endif
#if PY_AT_LEAST(3, 14) && defined(Py_GIL_DISABLED)
	F(frame_tlbc_index, offsetof(_PyInterpreterFrame, tlbc_index));
#else
	N(frame_tlbc_index);
#endif
#else
	F(frame_back, offsetof(PyFrameObject, f_back));
	F(frame_code, offsetof(PyFrameObject, f_code));
	F(frame_lasti, offsetof(PyFrameObject, f_lasti));
	N(frame_owner);
	F(frame_owner_skip, 0);
	N(frame_owner_generator);
	N(frame_is_entry);
	F(frame_code_tag_bits, 0);
	N(frame_tlbc_index);
#endif

	/* PyCodeObject */
	F(code_filename, offsetof(PyCodeObject, co_filename));
	F(code_name, offsetof(PyCodeObject, co_name));
#if PY_AT_LEAST(3, 11)
	F(code_qualname, offsetof(PyCodeObject, co_qualname));
#else
	N(code_qualname);
#endif
	F(code_firstlineno, offsetof(PyCodeObject, co_firstlineno));
#if PY_AT_LEAST(3, 10)
	F(code_linetable, offsetof(PyCodeObject, co_linetable));
#else
	F(code_linetable, offsetof(PyCodeObject, co_lnotab));
#endif
#if PY_AT_LEAST(3, 11)
	N(code_code);
	F(code_adaptive, offsetof(PyCodeObject, co_code_adaptive));
	N(code_flags);		/* a frame's owner says whether it is a generator's */
#else
	F(code_code, offsetof(PyCodeObject, co_code));
	N(code_adaptive);
	F(code_flags, offsetof(PyCodeObject, co_flags));
#endif
#if PY_AT_LEAST(3, 14) && defined(Py_GIL_DISABLED)
	F(code_tlbc, offsetof(PyCodeObject, co_tlbc));
#else
	N(code_tlbc);
#endif

	F(object_type, offsetof(PyObject, ob_type));

	/* strings */
#if PY_MAJOR_VERSION == 2
	F(bytes_size, offsetof(PyStringObject, ob_size));
	F(bytes_data, offsetof(PyStringObject, ob_sval));
	N(unicode_length);
	N(unicode_state);
	N(unicode_ascii_data);
	N(unicode_compact_data);
	N(unicode_kind_shift);
#else
	F(bytes_size, offsetof(PyBytesObject, ob_base.ob_size));
	F(bytes_data, offsetof(PyBytesObject, ob_sval));
	F(unicode_length, offsetof(PyASCIIObject, length));
	F(unicode_state, probe_unicode_state());
	F(unicode_ascii_data, sizeof(PyASCIIObject));
	F(unicode_compact_data, sizeof(PyCompactUnicodeObject));
	F(unicode_kind_shift, probe_unicode_kind_shift(probe_unicode_state()));
#endif
#if PY_AT_LEAST(3, 12)
	F(code_version, offsetof(PyCodeObject, co_version));
#else
	N(code_version);
#endif

	/* generators */
#if PY_MAJOR_VERSION == 3 && !PY_AT_LEAST(3, 11)
	F(frame_gen, offsetof(PyFrameObject, f_gen));
#else
	N(frame_gen);
#endif
#if PY_AT_LEAST(3, 11)
	F(gen_iframe, offsetof(PyGenObject, gi_iframe));
#else
	N(gen_iframe);
#endif

	/* the code-version counter: a new code object's co_version (3.13+) */
#if PY_AT_LEAST(3, 13)
	F(runtime_code_counter, offsetof(_PyRuntimeState, _main_interpreter) +
					offsetof(PyInterpreterState, func_state.next_version));
#else
	N(runtime_code_counter);	/* 3.12: a static of codeobject.c (target.c finds it) */
#endif
	/* 3.12+: whether an interpreter but the main one was ever made */
#if PY_AT_LEAST(3, 12)
	F(runtime_interp_next_id, offsetof(_PyRuntimeState, interpreters.next_id));
#else
	N(runtime_interp_next_id);
#endif

	return probe_failed;
}
