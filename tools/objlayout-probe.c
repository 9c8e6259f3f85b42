/* SPDX-License-Identifier: MIT */
/*
 * objlayout-probe.c - helper of tools/gen-objlayouts.sh, not part of pyhang.
 *
 * Compiled once per installed CPython against that version's own headers
 * (public and, with Py_BUILD_CORE, internal ones); prints the body of one
 * `struct pyh_objlayout` designated initialiser (src/python/objlayout.h)
 * measured with offsetof()/sizeof() and the headers' own constants. Exits
 * non-zero if a self-check fails.
 *
 * Two structs are not in any installed header of 3.6 - 3.10 (they live in
 * Objects/dict-common.h and Objects/moduleobject.c): the dict keys object and
 * its entries, and the module object. For those versions the probe measures
 * a struct declared here with the same member types in the same order, and
 * says so in a comment of the output; tests/unit/test_objects.c reads real
 * dicts and modules of every installed interpreter through the result.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PY_AT_LEAST(maj, min) \
	(PY_MAJOR_VERSION > (maj) || (PY_MAJOR_VERSION == (maj) && PY_MINOR_VERSION >= (min)))

#if !PY_AT_LEAST(3, 11)
#include <frameobject.h>
#include <longintrepr.h>
#endif

#if PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION == 7
#include <internal/pystate.h>
#elif PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION == 8
#include <internal/pycore_pystate.h>
#elif PY_AT_LEAST(3, 9)
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#endif
#if PY_AT_LEAST(3, 11)
#include <internal/pycore_code.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_moduleobject.h>
#include <internal/pycore_object.h>
#endif
#if PY_AT_LEAST(3, 12)
#include <internal/pycore_long.h>
#endif
#if PY_AT_LEAST(3, 14)
#include <internal/pycore_interpframe_structs.h>
#endif

#if PY_MAJOR_VERSION == 3
#include <opcode.h>
#endif
#if PY_AT_LEAST(3, 12)
#include <descrobject.h>
#else
#include <structmember.h>
#endif

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int probe_failed;

static void probe_field(const char *name, long value)
{
	printf("\t.%s = %ld,\n", name, value);
}

static void probe_none(const char *name)
{
	printf("\t.%s = PYH_NO_FIELD,\n", name);
}

static void probe_enum(const char *name, const char *value)
{
	printf("\t.%s = %s,\n", name, value);
}

static void probe_fail(const char *what)
{
	fprintf(stderr, "objlayout-probe: %s\n", what);
	probe_failed = 1;
}

#define F(name, value) probe_field(#name, (long)(value))
#define N(name) probe_none(#name)
#define E(name, value) probe_enum(#name, #value)

#if PY_MAJOR_VERSION == 2
#define PROBE_STR_OBJECT PyStringObject
#else
#define PROBE_STR_OBJECT PyBytesObject
#endif

#if PY_MAJOR_VERSION == 3 && !PY_AT_LEAST(3, 11)
/* Objects/dict-common.h of 3.6 - 3.10 (not installed): same member types,
 * same order. 3.6 declares dk_indices as an 8-byte union, 3.7 - 3.10 as
 * char[]; both start at the same aligned offset. */
struct probe_dictkeys {
	Py_ssize_t dk_refcnt;
	Py_ssize_t dk_size;
	void *dk_lookup;
	Py_ssize_t dk_usable;
	Py_ssize_t dk_nentries;
	int64_t dk_indices[1];
};
struct probe_dictentry {
	Py_hash_t me_hash;
	PyObject *me_key;
	PyObject *me_value;
};
#endif
#if !PY_AT_LEAST(3, 11)
/* Objects/moduleobject.c (not installed before 3.11): md_dict follows the header. */
struct probe_module {
	PyObject_HEAD
	PyObject *md_dict;
};
#endif

#if PY_MAJOR_VERSION == 3
/* The PEP 393 state bit-field word follows `hash` (aligned to 4); find it and
 * the lowest bit of each member by setting them through the bit-fields. */
static unsigned long probe_str_state(void)
{
	unsigned long off = offsetof(PyASCIIObject, hash) + sizeof(Py_hash_t);
	PyASCIIObject o;
	const unsigned char *p = (const unsigned char *)&o;
	size_t i;

	off = (off + 3) & ~3ul;
	memset(&o, 0, sizeof(o));
	o.state.kind = 7;
	o.state.compact = 1;
	o.state.ascii = 1;
	for (i = 0; i < sizeof(o); i++)
		if ((i < off || i >= off + 4) && p[i] != 0)
			probe_fail("str state bits outside the word after hash");
	return off;
}

static unsigned probe_lowest_bit(const PyASCIIObject *o, unsigned long off)
{
	uint32_t w;
	unsigned b;

	memcpy(&w, (const char *)o + off, sizeof(w));
	for (b = 0; b < 32; b++)
		if (w & (1u << b))
			return b;
	probe_fail("str state member sets no bit");
	return 0;
}

#define STATE_BIT(member, value, off) ({ \
	PyASCIIObject o_; \
	memset(&o_, 0, sizeof(o_)); \
	o_.state.member = (value); \
	probe_lowest_bit(&o_, (off)); })
#endif

#if PY_AT_LEAST(3, 11)
/* The managed dict (and, on 3.11, values) pointers, found by calling the
 * headers' own inline helpers on a fake object whose type says it has them. */
static PyTypeObject probe_type;
static long probe_managed_dict_offset(void)
{
	static char buf[256] __attribute__((aligned(16)));
	PyObject *obj = (PyObject *)(buf + 128);

	probe_type.tp_flags = Py_TPFLAGS_MANAGED_DICT;
	Py_SET_TYPE(obj, &probe_type);
#if PY_AT_LEAST(3, 13)
	return (long)((char *)_PyObject_ManagedDictPointer(obj) - (char *)obj);
#elif PY_AT_LEAST(3, 12)
	return (long)((char *)_PyObject_DictOrValuesPointer(obj) - (char *)obj);
#else
	if ((char *)_PyObject_ManagedDictPointer(obj) - (char *)obj != MANAGED_DICT_OFFSET)
		probe_fail("_PyObject_ManagedDictPointer disagrees with MANAGED_DICT_OFFSET");
	return (long)((char *)_PyObject_ManagedDictPointer(obj) - (char *)obj);
#endif
}

#if !PY_AT_LEAST(3, 12)
static long probe_managed_values_offset(void)
{
	static char buf[256] __attribute__((aligned(16)));
	PyObject *obj = (PyObject *)(buf + 128);

	probe_type.tp_flags = Py_TPFLAGS_MANAGED_DICT;
	Py_SET_TYPE(obj, &probe_type);
	return (long)((char *)_PyObject_ValuesPointer(obj) - (char *)obj);
}
#endif
#endif

int main(void)
{
	unsigned long hex = ((unsigned long)PY_MAJOR_VERSION << 24) |
			    ((unsigned long)PY_MINOR_VERSION << 16);

	printf("\t.version_hex = 0x%08lx, /* %s */\n", hex, PY_VERSION);
#ifdef Py_GIL_DISABLED
	F(free_threaded, 1);
#else
	F(free_threaded, 0);
#endif
#if PY_AT_LEAST(3, 12)
	E(long_kind, PYH_LONG_LV_TAG);
#else
	E(long_kind, PYH_LONG_OB_SIZE);
#endif
#if PY_MAJOR_VERSION == 2
	E(dict_kind, PYH_DICT_27);
#elif !PY_AT_LEAST(3, 11)
	E(dict_kind, PYH_DICT_36);
#else
	E(dict_kind, PYH_DICT_311);
#endif
#if PY_AT_LEAST(3, 13)
	E(values_kind, PYH_VALUES_HEADER);
#elif PY_AT_LEAST(3, 11)
	E(values_kind, PYH_VALUES_PREFIX);
#else
	E(values_kind, PYH_VALUES_ARRAY);
#endif
#if PY_AT_LEAST(3, 13)
	E(managed_kind, PYH_MANAGED_313);
#elif PY_AT_LEAST(3, 12)
	E(managed_kind, PYH_MANAGED_312);
#elif PY_AT_LEAST(3, 11)
	E(managed_kind, PYH_MANAGED_311);
#else
	E(managed_kind, PYH_MANAGED_NONE);
#endif

	/* PyObject */
	F(object_size, sizeof(PyObject));
#ifdef Py_GIL_DISABLED
	N(ob_refcnt);
	F(ob_refcnt_size, 0);
#else
	F(ob_refcnt, offsetof(PyObject, ob_refcnt));
	F(ob_refcnt_size, sizeof(((PyObject *)0)->ob_refcnt));
#endif
	F(ob_type, offsetof(PyObject, ob_type));
	F(ob_size, offsetof(PyVarObject, ob_size));

	/* types */
	F(type_size, sizeof(PyTypeObject));
	F(tp_name, offsetof(PyTypeObject, tp_name));
	F(tp_basicsize, offsetof(PyTypeObject, tp_basicsize));
	F(tp_itemsize, offsetof(PyTypeObject, tp_itemsize));
	F(tp_repr, offsetof(PyTypeObject, tp_repr));
	F(tp_flags, offsetof(PyTypeObject, tp_flags));
	F(tp_base, offsetof(PyTypeObject, tp_base));
	F(tp_dict, offsetof(PyTypeObject, tp_dict));
	F(tp_dictoffset, offsetof(PyTypeObject, tp_dictoffset));
	F(ht_name, offsetof(PyHeapTypeObject, ht_name));
#if PY_MAJOR_VERSION == 3
	F(ht_qualname, offsetof(PyHeapTypeObject, ht_qualname));
	F(ht_cached_keys, offsetof(PyHeapTypeObject, ht_cached_keys));
#else
	N(ht_qualname);
	N(ht_cached_keys);
#endif
	F(tpflags_heaptype, Py_TPFLAGS_HEAPTYPE);
	F(tpflags_type_subclass, Py_TPFLAGS_TYPE_SUBCLASS);
#if PY_AT_LEAST(3, 11)
	F(tpflags_managed_dict, Py_TPFLAGS_MANAGED_DICT);
#else
	F(tpflags_managed_dict, 0);
#endif
#if PY_AT_LEAST(3, 13)
	F(tpflags_inline_values, Py_TPFLAGS_INLINE_VALUES);
#else
	F(tpflags_inline_values, 0);
#endif
#if PY_AT_LEAST(3, 11)
	F(managed_dict_offset, probe_managed_dict_offset());
#else
	F(managed_dict_offset, 0);
#endif
#if PY_AT_LEAST(3, 11) && !PY_AT_LEAST(3, 12)
	F(managed_values_offset, probe_managed_values_offset());
#else
	F(managed_values_offset, 0);
#endif

	/* int */
#if PY_MAJOR_VERSION == 2
	F(int_ival, offsetof(PyIntObject, ob_ival));
#else
	N(int_ival);
#endif
#if PY_AT_LEAST(3, 12)
	F(long_size, offsetof(PyLongObject, long_value.lv_tag));
	F(long_digits, offsetof(PyLongObject, long_value.ob_digit));
#else
	F(long_size, offsetof(PyVarObject, ob_size));
	F(long_digits, offsetof(PyLongObject, ob_digit));
#endif
	F(long_shift, PyLong_SHIFT);
	F(long_digit_size, sizeof(digit));
#if PY_AT_LEAST(3, 12)
	F(long_non_size_bits, NON_SIZE_BITS);
	F(long_sign_mask, SIGN_MASK);
	F(long_sign_zero, SIGN_ZERO);
	F(long_sign_negative, SIGN_NEGATIVE);
#else
	F(long_non_size_bits, 0);
	F(long_sign_mask, 0);
	F(long_sign_zero, 0);
	F(long_sign_negative, 0);
#endif
	F(float_fval, offsetof(PyFloatObject, ob_fval));

	/* bytes / 2.7 str */
	F(bytes_size, offsetof(PyVarObject, ob_size));
	F(bytes_sval, offsetof(PROBE_STR_OBJECT, ob_sval));

	/* str */
#if PY_MAJOR_VERSION == 3
	{
		unsigned long st = probe_str_state();

		F(str_length, offsetof(PyASCIIObject, length));
		F(str_state, st);
		F(str_kind_shift, STATE_BIT(kind, 1, st));
		F(str_compact_bit, STATE_BIT(compact, 1, st));
		F(str_ascii_bit, STATE_BIT(ascii, 1, st));
		F(str_ascii_data, sizeof(PyASCIIObject));
		F(str_compact_data, sizeof(PyCompactUnicodeObject));
		F(str_legacy_data, offsetof(PyUnicodeObject, data));
	}
	N(unicode27_length);
	N(unicode27_str);
	F(unicode27_unit, 0);
#else
	N(str_length);
	N(str_state);
	F(str_kind_shift, 0);
	F(str_compact_bit, 0);
	F(str_ascii_bit, 0);
	N(str_ascii_data);
	N(str_compact_data);
	N(str_legacy_data);
	F(unicode27_length, offsetof(PyUnicodeObject, length));
	F(unicode27_str, offsetof(PyUnicodeObject, str));
	F(unicode27_unit, sizeof(Py_UNICODE));
#endif

	F(tuple_items, offsetof(PyTupleObject, ob_item));
	F(list_items, offsetof(PyListObject, ob_item));

	/* dict */
	F(dict_used, offsetof(PyDictObject, ma_used));
#if PY_MAJOR_VERSION == 2
	N(dict_keys);
	N(dict_values);
	F(dict27_mask, offsetof(PyDictObject, ma_mask));
	F(dict27_table, offsetof(PyDictObject, ma_table));
	N(dk_size);
	N(dk_log2_size);
	N(dk_log2_index_bytes);
	N(dk_kind);
	N(dk_nentries);
	N(dk_indices);
	F(entry_size, sizeof(PyDictEntry));
	F(entry_hash, offsetof(PyDictEntry, me_hash));
	F(entry_key, offsetof(PyDictEntry, me_key));
	F(entry_value, offsetof(PyDictEntry, me_value));
#else
	F(dict_keys, offsetof(PyDictObject, ma_keys));
	F(dict_values, offsetof(PyDictObject, ma_values));
	N(dict27_mask);
	N(dict27_table);
#if !PY_AT_LEAST(3, 11)
	printf("\t/* dk_* and entry_*: Objects/dict-common.h is not installed; "
	       "measured on a mirror (see tools/objlayout-probe.c) */\n");
	F(dk_size, offsetof(struct probe_dictkeys, dk_size));
	N(dk_log2_size);
	N(dk_log2_index_bytes);
	N(dk_kind);
	F(dk_nentries, offsetof(struct probe_dictkeys, dk_nentries));
	F(dk_indices, offsetof(struct probe_dictkeys, dk_indices));
	F(entry_size, sizeof(struct probe_dictentry));
	F(entry_hash, offsetof(struct probe_dictentry, me_hash));
	F(entry_key, offsetof(struct probe_dictentry, me_key));
	F(entry_value, offsetof(struct probe_dictentry, me_value));
#else
	N(dk_size);
	F(dk_log2_size, offsetof(PyDictKeysObject, dk_log2_size));
	F(dk_log2_index_bytes, offsetof(PyDictKeysObject, dk_log2_index_bytes));
	F(dk_kind, offsetof(PyDictKeysObject, dk_kind));
	F(dk_nentries, offsetof(PyDictKeysObject, dk_nentries));
	F(dk_indices, offsetof(PyDictKeysObject, dk_indices));
	F(entry_size, sizeof(PyDictKeyEntry));
	F(entry_hash, offsetof(PyDictKeyEntry, me_hash));
	F(entry_key, offsetof(PyDictKeyEntry, me_key));
	F(entry_value, offsetof(PyDictKeyEntry, me_value));
#endif
#endif
#if PY_AT_LEAST(3, 11)
	F(uentry_size, sizeof(PyDictUnicodeEntry));
	F(uentry_key, offsetof(PyDictUnicodeEntry, me_key));
	F(uentry_value, offsetof(PyDictUnicodeEntry, me_value));
	F(values_items, offsetof(PyDictValues, values));
#else
	F(uentry_size, 0);
	N(uentry_key);
	N(uentry_value);
	F(values_items, 0);
#endif
#if PY_AT_LEAST(3, 13)
	F(values_capacity, offsetof(PyDictValues, capacity));
	F(values_size, offsetof(PyDictValues, size));
	F(values_valid, offsetof(PyDictValues, valid));
#else
	N(values_capacity);
	N(values_size);
	N(values_valid);
#endif

	/* set */
	F(set_fill, offsetof(PySetObject, fill));
	F(set_used, offsetof(PySetObject, used));
	F(set_mask, offsetof(PySetObject, mask));
	F(set_table, offsetof(PySetObject, table));
	F(setentry_size, sizeof(setentry));
	F(setentry_key, offsetof(setentry, key));
	F(setentry_hash, offsetof(setentry, hash));

	F(cell_ref, offsetof(PyCellObject, ob_ref));
#if PY_MAJOR_VERSION == 2
	F(func_qualname, offsetof(PyFunctionObject, func_name));
#else
	F(func_qualname, offsetof(PyFunctionObject, func_qualname));
#endif
	F(weakref_object, offsetof(PyWeakReference, wr_object));

#if PY_MAJOR_VERSION == 2
	F(class27_name, offsetof(PyClassObject, cl_name));
	F(class27_dict, offsetof(PyClassObject, cl_dict));
	F(instance27_class, offsetof(PyInstanceObject, in_class));
	F(instance27_dict, offsetof(PyInstanceObject, in_dict));
#else
	N(class27_name);
	N(class27_dict);
	N(instance27_class);
	N(instance27_dict);
#endif

#if PY_AT_LEAST(3, 11)
	F(module_dict, offsetof(PyModuleObject, md_dict));
#else
	printf("\t/* module_dict: PyModuleObject is not installed; measured on a mirror */\n");
	F(module_dict, offsetof(struct probe_module, md_dict));
#endif
#if PY_AT_LEAST(3, 12)
	F(interp_modules, offsetof(PyInterpreterState, imports.modules));
#else
	F(interp_modules, offsetof(PyInterpreterState, modules));
#endif
	F(interp_sysdict, offsetof(PyInterpreterState, sysdict));

	/* code */
	F(code_argcount, offsetof(PyCodeObject, co_argcount));
#if PY_AT_LEAST(3, 11)
	N(code_nlocals);
	N(code_varnames);
	N(code_cellvars);
	N(code_freevars);
	F(code_localsplusnames, offsetof(PyCodeObject, co_localsplusnames));
	F(code_localspluskinds, offsetof(PyCodeObject, co_localspluskinds));
#if PY_AT_LEAST(3, 12)
	F(co_fast_hidden, CO_FAST_HIDDEN);
#else
	F(co_fast_hidden, 0);
#endif
	F(co_fast_local, CO_FAST_LOCAL);
	F(co_fast_cell, CO_FAST_CELL);
	F(co_fast_free, CO_FAST_FREE);
	F(frame_localsplus, offsetof(_PyInterpreterFrame, localsplus));
#if PY_AT_LEAST(3, 13)
	F(frame_code, offsetof(_PyInterpreterFrame, f_executable));
#else
	F(frame_code, offsetof(_PyInterpreterFrame, f_code));
#endif
#else
	F(code_nlocals, offsetof(PyCodeObject, co_nlocals));
	F(code_varnames, offsetof(PyCodeObject, co_varnames));
	F(code_cellvars, offsetof(PyCodeObject, co_cellvars));
	F(code_freevars, offsetof(PyCodeObject, co_freevars));
	N(code_localsplusnames);
	N(code_localspluskinds);
	F(co_fast_hidden, 0);
	F(co_fast_local, 0);
	F(co_fast_cell, 0);
	F(co_fast_free, 0);
	F(frame_localsplus, offsetof(PyFrameObject, f_localsplus));
	F(frame_code, offsetof(PyFrameObject, f_code));
#endif
#if PY_AT_LEAST(3, 14)
	F(frame_stackref, 1);
#else
	F(frame_stackref, 0);
#endif

	/* where a suspended frame's value stack ends (its top is what a
	 * generator suspended in `yield from` / `await` waits on) */
#if PY_MAJOR_VERSION == 2
	E(stack_kind, PYH_STACK_NONE);
	N(frame_stacktop);
	N(frame_valuestack);
#elif !PY_AT_LEAST(3, 10)
	E(stack_kind, PYH_STACK_TOP_PTR);
	F(frame_stacktop, offsetof(PyFrameObject, f_stacktop));
	N(frame_valuestack);
#elif !PY_AT_LEAST(3, 11)
	E(stack_kind, PYH_STACK_DEPTH);
	F(frame_stacktop, offsetof(PyFrameObject, f_stackdepth));
	F(frame_valuestack, offsetof(PyFrameObject, f_valuestack));
#elif !PY_AT_LEAST(3, 14)
	E(stack_kind, PYH_STACK_TOP_INDEX);
	F(frame_stacktop, offsetof(_PyInterpreterFrame, stacktop));
	N(frame_valuestack);
#else
	E(stack_kind, PYH_STACK_POINTER);
	F(frame_stacktop, offsetof(_PyInterpreterFrame, stackpointer));
	N(frame_valuestack);
#endif

	/* generators, coroutines, async generators (the same head) */
#if PY_MAJOR_VERSION == 2
	F(gen_frame, offsetof(PyGenObject, gi_frame));
	N(gen_iframe);
	N(gen_frame_state);
#elif !PY_AT_LEAST(3, 11)
	F(gen_frame, offsetof(PyGenObject, gi_frame));
	N(gen_iframe);
	N(gen_frame_state);
	if (offsetof(PyCoroObject, cr_frame) != offsetof(PyGenObject, gi_frame) ||
	    offsetof(PyAsyncGenObject, ag_frame) != offsetof(PyGenObject, gi_frame))
		probe_fail("coroutines and generators keep their frames apart");
#else
	N(gen_frame);
	F(gen_iframe, offsetof(PyGenObject, gi_iframe));
	F(gen_frame_state, offsetof(PyGenObject, gi_frame_state));
	if (sizeof(((PyGenObject *)0)->gi_frame_state) != 1)
		probe_fail("gi_frame_state is not one byte");
	if (offsetof(PyCoroObject, cr_iframe) != offsetof(PyGenObject, gi_iframe) ||
	    offsetof(PyAsyncGenObject, ag_iframe) != offsetof(PyGenObject, gi_iframe))
		probe_fail("coroutines and generators keep their frames apart");
#endif
#if PY_AT_LEAST(3, 11)
	F(gen_state_created, FRAME_CREATED);
	F(gen_state_suspended, FRAME_SUSPENDED);
#if PY_AT_LEAST(3, 13)
	F(gen_state_yield_from, FRAME_SUSPENDED_YIELD_FROM);
#else
	E(gen_state_yield_from, PYH_GEN_NO_STATE);
#endif
	F(gen_state_completed, FRAME_COMPLETED);
#else
	E(gen_state_created, PYH_GEN_NO_STATE);
	E(gen_state_suspended, PYH_GEN_NO_STATE);
	E(gen_state_yield_from, PYH_GEN_NO_STATE);
	E(gen_state_completed, PYH_GEN_NO_STATE);
#endif
	/* the instruction after a suspended `yield from` / `await` (<= 3.12;
	 * 3.13+ says so in gi_frame_state) */
#if PY_MAJOR_VERSION == 3 && !PY_AT_LEAST(3, 11)
	F(op_yield_from, YIELD_FROM);
	F(op_resume, 0);
	F(op_resume_alt, 0);
#elif PY_AT_LEAST(3, 11) && !PY_AT_LEAST(3, 12)
	F(op_yield_from, 0);
	F(op_resume, RESUME);
	F(op_resume_alt, RESUME_QUICK);
#elif PY_AT_LEAST(3, 12) && !PY_AT_LEAST(3, 13)
	F(op_yield_from, 0);
	F(op_resume, RESUME);
	F(op_resume_alt, INSTRUMENTED_RESUME);
#else
	F(op_yield_from, 0);
	F(op_resume, 0);
	F(op_resume_alt, 0);
#endif

	/* __slots__: a member descriptor names its slot's offset */
	F(descr_member, offsetof(PyMemberDescrObject, d_member));
	F(memberdef_type, offsetof(PyMemberDef, type));
	F(memberdef_offset, offsetof(PyMemberDef, offset));
#if PY_AT_LEAST(3, 12)
	F(member_object_ex, Py_T_OBJECT_EX);
#else
	F(member_object_ex, T_OBJECT_EX);
#endif
	return probe_failed;
}
