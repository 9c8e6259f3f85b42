/* SPDX-License-Identifier: MIT */
/*
 * objects.c - what type a target object is, and the readers of the scalar
 * and sequence built-ins. See objects.h for the rules every reader keeps.
 */
#include "python/objects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf/elfsym.h"
#include "proc/mem.h"
#include "python/layouts.h"
#include "python/target.h"

#define PYH_TYPECACHE_SLOTS 512		/* power of two; a dump meets a few dozen types */
#define PYH_TYPE_READ_MAX 1024		/* sizeof(PyTypeObject) is 392 - 432 */
#define PYH_OBJ_ALIGN 8			/* every object is at least pointer-aligned */
#define PYH_OBJ_HEADER_MAX 64		/* sizeof(PyVarObject): 24, or 40 free-threaded */
/* Reference counts above this are allocator links of a freed block, not counts
 * (3.11 and before; 3.12+ counts fit in 32 bits). */
#define PYH_REFCNT_MAX (1ull << 36)
/* _Py_DebugOffsets word holding offsetof(_PyRuntimeState, interpreters.head)
 * and the one holding sizeof(_PyRuntimeState): the same in 3.13 and 3.14. */
#define PYH_DBG_WORD_RUNTIME_SIZE 3
#define PYH_DBG_WORD_INTERP_HEAD 5

struct pyh_typecache {
	struct pyh_typeinfo slot[PYH_TYPECACHE_SLOTS];
	uint8_t used[PYH_TYPECACHE_SLOTS];
};

/* ------------------------------------------------------------ attaching */

struct pyh_obj_symbol {
	enum pyh_obj_kind kind;
	const char *name2, *name3;	/* the symbol on 2.7 and on 3.x; NULL: none there */
};

static const struct pyh_obj_symbol pyh_obj_symbols[] = {
	{ PYH_OBJ_BOOL, "PyBool_Type", "PyBool_Type" },
	{ PYH_OBJ_INT27, "PyInt_Type", NULL },
	{ PYH_OBJ_LONG, "PyLong_Type", "PyLong_Type" },
	{ PYH_OBJ_FLOAT, "PyFloat_Type", "PyFloat_Type" },
	{ PYH_OBJ_BYTES, "PyString_Type", "PyBytes_Type" },
	{ PYH_OBJ_STR, NULL, "PyUnicode_Type" },
	{ PYH_OBJ_UNICODE27, "PyUnicode_Type", NULL },
	{ PYH_OBJ_TUPLE, "PyTuple_Type", "PyTuple_Type" },
	{ PYH_OBJ_LIST, "PyList_Type", "PyList_Type" },
	{ PYH_OBJ_DICT, "PyDict_Type", "PyDict_Type" },
	{ PYH_OBJ_SET, "PySet_Type", "PySet_Type" },
	{ PYH_OBJ_FROZENSET, "PyFrozenSet_Type", "PyFrozenSet_Type" },
	{ PYH_OBJ_CELL, "PyCell_Type", "PyCell_Type" },
	{ PYH_OBJ_WEAKREF, "_PyWeakref_RefType", "_PyWeakref_RefType" },
	{ PYH_OBJ_MODULE, "PyModule_Type", "PyModule_Type" },
	{ PYH_OBJ_TYPE, "PyType_Type", "PyType_Type" },
	{ PYH_OBJ_OBJECT, "PyBaseObject_Type", "PyBaseObject_Type" },
	{ PYH_OBJ_INSTANCE27, "PyInstance_Type", NULL },
	{ PYH_OBJ_CLASS27, "PyClass_Type", NULL },
	{ PYH_OBJ_FUNCTION, "PyFunction_Type", "PyFunction_Type" },
	{ PYH_OBJ_GENERATOR, "PyGen_Type", "PyGen_Type" },
	{ PYH_OBJ_COROUTINE, NULL, "PyCoro_Type" },
	{ PYH_OBJ_ASYNC_GEN, NULL, "PyAsyncGen_Type" },
	{ PYH_OBJ_ASYNC_GEN_ASEND, NULL, "_PyAsyncGenASend_Type" },
	{ PYH_OBJ_METHOD, "PyMethod_Type", "PyMethod_Type" },
	{ PYH_OBJ_MEMBER_DESCR, "PyMemberDescr_Type", "PyMemberDescr_Type" },
};

static uint64_t pyh_obj_sym(const struct pyh_elf *elf, const struct pyh_pybinary *bin,
			    const char *name)
{
	uint64_t value = 0, size = 0;

	if (!name || pyh_elf_symbol(elf, name, &value, &size) || value == 0)
		return 0;
	return bin->load_bias + value;
}

/* 3.13+: the table of the build _Py_DebugOffsets names, overlaid with it. */
static int pyh_obj_layout_313(struct pyh_objects *o, uint64_t runtime, char *err, size_t errsz)
{
	uint8_t buf[PYH_DEBUG_OFFSETS_READ];
	const struct pyh_objlayout *table;
	char why[160];
	uint64_t head_off, rt_size;
	int ft, rc;

	rc = pyh_mem_read(o->pid, runtime, buf, sizeof(buf));
	if (rc) {
		snprintf(err, errsz, "cannot read _PyRuntime of process %d: %s", o->pid,
			 strerror(-rc));
		return rc;
	}
	ft = pyh_debug_offsets_free_threaded(buf, sizeof(buf));
	if (ft < 0) {
		snprintf(err, errsz, "process %d: Python %d.%d.%d has no usable _Py_DebugOffsets",
			 o->pid, o->ver.major, o->ver.minor, o->ver.micro);
		return -EINVAL;
	}
	table = pyh_objlayout_table(o->ver.major, o->ver.minor, ft);
	if (!table) {
		snprintf(err, errsz, "process %d runs Python %d.%d.%d%s, whose object layout "
			 "pyhang does not know (it knows %s)", o->pid, o->ver.major, o->ver.minor,
			 o->ver.micro, ft ? " (free-threaded)" : "", pyh_objlayout_known());
		return -ENOTSUP;
	}
	o->l = *table;
	rc = pyh_objlayout_from_debug_offsets(buf, sizeof(buf), &o->l, &o->table_mismatch, why,
					      sizeof(why));
	if (rc) {
		snprintf(err, errsz, "process %d: Python %d.%d.%d: %s", o->pid, o->ver.major,
			 o->ver.minor, o->ver.micro, why);
		return rc;
	}
	o->layout_from_target = 1;
	if (!o->interp_head_ptr) {
		memcpy(&rt_size, buf + 8 * PYH_DBG_WORD_RUNTIME_SIZE, sizeof(rt_size));
		memcpy(&head_off, buf + 8 * PYH_DBG_WORD_INTERP_HEAD, sizeof(head_off));
		if (head_off + 8 <= rt_size)
			o->interp_head_ptr = runtime + head_off;
	}
	return 0;
}

/* The str shape the layout gives. */
static void pyh_objects_shape(struct pyh_objects *o)
{
	o->str = (struct pyh_strshape){
		.length = o->l.str_length, .state = o->l.str_state,
		.ascii_data = o->l.str_ascii_data, .compact_data = o->l.str_compact_data,
		.legacy_data = o->l.str_legacy_data, .kind_shift = (uint8_t)o->l.str_kind_shift,
		.compact_bit = (uint8_t)o->l.str_compact_bit, .ascii_bit = (uint8_t)o->l.str_ascii_bit,
	};
}

int pyh_objects_init(struct pyh_objects *o, pid_t pid, const struct pyh_pyversion *ver,
		     const struct pyh_objlayout *l)
{
	memset(o, 0, sizeof(*o));
	o->pid = pid;
	o->ver = *ver;
	o->l = *l;
	pyh_objects_shape(o);
	o->types = calloc(1, sizeof(*o->types));
	return o->types ? 0 : -ENOMEM;
}

void pyh_obj_syms_resolve(const struct pyh_elf *elf, const struct pyh_pybinary *bin, int major,
			  struct pyh_obj_syms *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(pyh_obj_symbols) / sizeof(pyh_obj_symbols[0]); i++) {
		const struct pyh_obj_symbol *s = &pyh_obj_symbols[i];

		out->type_addr[s->kind] = pyh_obj_sym(elf, bin, major == 2 ? s->name2 : s->name3);
	}
	out->none = pyh_obj_sym(elf, bin, "_Py_NoneStruct");
	out->true_obj = pyh_obj_sym(elf, bin, "_Py_TrueStruct");
	out->false_obj = pyh_obj_sym(elf, bin, "_Py_FalseStruct");
	/* _PySet_Dummy is a PyObject * variable (3.x); 2.7 keeps its dummy static. */
	out->set_dummy_ptr = pyh_obj_sym(elf, bin, "_PySet_Dummy");
	out->runtime = pyh_obj_sym(elf, bin, "_PyRuntime");
	out->resolved = 1;
}

/* pyh_objects_open's work once the symbols are known. */
static int objects_attach(struct pyh_objects *o, pid_t pid, const struct pyh_pybinary *bin,
			  const struct pyh_pyversion *ver, uint64_t interp_head_ptr,
			  const struct pyh_obj_syms *syms, char *err, size_t errsz)
{
	const struct pyh_objlayout *table;
	int rc;

	memset(o, 0, sizeof(*o));
	o->pid = pid;
	o->ver = *ver;
	o->types = calloc(1, sizeof(*o->types));
	if (!o->types) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	o->interp_head_ptr = interp_head_ptr;
	if (ver->major == 3 && ver->minor >= 13) {
		if (!syms->runtime) {
			snprintf(err, errsz, "process %d: %s has no _PyRuntime symbol", pid, bin->path);
			rc = -ENOENT;
			goto cleanup;
		}
		rc = pyh_obj_layout_313(o, syms->runtime, err, errsz);
		if (rc)
			goto cleanup;
	} else {
		table = pyh_objlayout_table(ver->major, ver->minor, 0);
		if (!table) {
			snprintf(err, errsz, "process %d runs Python %d.%d.%d, whose object layout "
				 "pyhang does not know (it knows %s)", pid, ver->major, ver->minor,
				 ver->micro, pyh_objlayout_known());
			rc = -ENOTSUP;
			goto cleanup;
		}
		o->l = *table;
	}
	pyh_objects_shape(o);
	memcpy(o->type_addr, syms->type_addr, sizeof(o->type_addr));
	o->none = syms->none;
	o->true_obj = syms->true_obj;
	o->false_obj = syms->false_obj;
	if (syms->set_dummy_ptr && pyh_mem_read_u64(pid, syms->set_dummy_ptr, &o->set_dummy))
		o->set_dummy = 0;
	rc = 0;
cleanup:
	if (rc)
		pyh_objects_close(o);
	return rc;
}

int pyh_objects_open(struct pyh_objects *o, pid_t pid, const struct pyh_pybinary *bin,
		     const struct pyh_pyversion *ver, uint64_t interp_head_ptr, char *err,
		     size_t errsz)
{
	struct pyh_elf *elf = NULL;
	struct pyh_obj_syms syms;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = pyh_pybinary_open(pid, bin);
	if (rc >= 0)
		rc = pyh_elf_open_fd(rc, &elf);
	if (rc) {
		snprintf(err, errsz, "cannot read %s of process %d: %s", bin->path, pid,
			 strerror(-rc));
		return rc;
	}
	pyh_obj_syms_resolve(elf, bin, ver->major, &syms);
	pyh_elf_close(elf);
	return objects_attach(o, pid, bin, ver, interp_head_ptr, &syms, err, errsz);
}

int pyh_objects_from_target(struct pyh_objects *o, const struct pyh_target *t, char *err,
			    size_t errsz)
{
	if (!t->objsyms.resolved)
		return pyh_objects_open(o, t->pid, &t->bin, &t->ver, t->interp_head_ptr, err, errsz);
	return objects_attach(o, t->pid, &t->bin, &t->ver, t->interp_head_ptr, &t->objsyms, err,
			      errsz);
}

void pyh_objects_forget_types(struct pyh_objects *o)
{
	if (o && o->types)
		memset(o->types->used, 0, sizeof(o->types->used));
}

void pyh_objects_close(struct pyh_objects *o)
{
	if (!o)
		return;
	free(o->types);
	o->types = NULL;
}

/* ------------------------------------------------------------ types */

static uint64_t pyh_obj_field(const uint8_t *buf, size_t len, uint32_t off, size_t width)
{
	uint64_t v = 0;

	if (off == PYH_NO_FIELD || width > sizeof(v) || (size_t)off + width > len)
		return 0;
	memcpy(&v, buf + off, width);
	return v;
}

/* A C string from the target: printable ASCII and UTF-8 of printable code
 * points kept, anything else (controls, C1, broken UTF-8) becomes '?'.
 * Returns 0, or -EINVAL when there is no NUL within outsz - 1 bytes. */
static int pyh_obj_cstring(pid_t pid, uint64_t addr, char *out, size_t outsz)
{
	size_t n;

	ssize_t got;

	if (!addr || outsz < 2)
		return -EFAULT;
	got = pyh_mem_read_some(pid, addr, out, outsz - 1);	/* the name may end a mapping */
	if (got <= 0)
		return -EFAULT;
	out[got] = '\0';
	n = strnlen(out, (size_t)got);
	if (n == (size_t)got && (size_t)got < outsz - 1)
		return -EFAULT;	/* the mapping ends before the NUL */
	if (n == outsz - 1 || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xc2) || c >= 0xf5)
			out[i] = '?';
		else if (c == 0xc2 && (unsigned char)out[i + 1] < 0xa0)
			out[i] = '?';	/* U+0080 - U+009F: C1 controls */
	}
	return 0;
}

static struct pyh_typeinfo *pyh_typecache_slot(struct pyh_objects *o, uint64_t type, int *hit)
{
	size_t i = (size_t)((type >> 3) * 0x9e3779b97f4a7c15ull >> 55) & (PYH_TYPECACHE_SLOTS - 1);

	*hit = o->types->used[i] && o->types->slot[i].addr == type;
	return &o->types->slot[i];
}

static int pyh_obj_typeinfo(struct pyh_objects *o, uint64_t type, struct pyh_typeinfo *out,
			    int depth);

/* Read the type object at type and fill *ti (not yet kind). */
static int pyh_obj_read_type(struct pyh_objects *o, uint64_t type, struct pyh_typeinfo *ti)
{
	const struct pyh_objlayout *l = &o->l;
	uint8_t buf[PYH_TYPE_READ_MAX];
	size_t len = l->type_size;
	uint64_t meta, meta_flags = 0;
	int rc;

	if (!type || type % PYH_OBJ_ALIGN || len == 0 || len > sizeof(buf))
		return -EINVAL;
	rc = pyh_mem_read(o->pid, type, buf, len);
	if (rc)
		return rc;
	meta = pyh_obj_field(buf, len, l->ob_type, 8);
	if (meta != o->type_addr[PYH_OBJ_TYPE] || !meta) {
		/* a metaclass: it must itself be a type subclass */
		if (!meta || meta % PYH_OBJ_ALIGN ||
		    pyh_mem_read(o->pid, meta + l->tp_flags, &meta_flags, sizeof(meta_flags)) ||
		    !(meta_flags & l->tpflags_type_subclass))
			return -EINVAL;
	}
	memset(ti, 0, sizeof(*ti));
	ti->addr = type;
	ti->flags = pyh_obj_field(buf, len, l->tp_flags, 8);
	ti->basicsize = (int64_t)pyh_obj_field(buf, len, l->tp_basicsize, 8);
	ti->itemsize = (int64_t)pyh_obj_field(buf, len, l->tp_itemsize, 8);
	ti->dictoffset = (int64_t)pyh_obj_field(buf, len, l->tp_dictoffset, 8);
	ti->repr = pyh_obj_field(buf, len, l->tp_repr, 8);
	ti->dict = pyh_obj_field(buf, len, l->tp_dict, 8);
	ti->heap = (ti->flags & l->tpflags_heaptype) != 0;
	if (ti->basicsize <= 0 || ti->basicsize > (1 << 20) || ti->itemsize < 0 ||
	    ti->itemsize > (1 << 20))
		return -EINVAL;
	rc = pyh_obj_cstring(o->pid, pyh_obj_field(buf, len, l->tp_name, 8), ti->tp_name,
			     sizeof(ti->tp_name));
	if (rc == -EINVAL && ti->tp_name[0])	/* longer than we keep: cut */
		rc = 0;
	if (rc)
		return rc;
	if (ti->heap) {
		uint64_t hv[3] = { 0 };
		struct pyh_mem_iov iov[3];
		int n = 0;

		if (l->ht_name != PYH_NO_FIELD)
			iov[n++] = (struct pyh_mem_iov){ type + l->ht_name, &hv[0], 8 };
		if (l->ht_qualname != PYH_NO_FIELD)
			iov[n++] = (struct pyh_mem_iov){ type + l->ht_qualname, &hv[1], 8 };
		if (l->ht_cached_keys != PYH_NO_FIELD)
			iov[n++] = (struct pyh_mem_iov){ type + l->ht_cached_keys, &hv[2], 8 };
		if (n && pyh_mem_readv(o->pid, iov, n))
			return -EFAULT;
		ti->ht_name = hv[0];
		ti->ht_qualname = hv[1];
		ti->ht_cached_keys = hv[2];
	}
	return 0;
}

/* The kind of a type: its own, or its nearest built-in base's. */
static void pyh_obj_type_kind(struct pyh_objects *o, struct pyh_typeinfo *ti, int depth)
{
	struct pyh_typeinfo base;
	uint64_t b = 0;

	for (int k = 1; k < PYH_OBJ_NKINDS; k++) {
		if (o->type_addr[k] && o->type_addr[k] == ti->addr) {
			ti->kind = (enum pyh_obj_kind)k;
			ti->exact = 1;
			ti->same_repr = 1;
			return;
		}
	}
	if (o->none) {
		/* type(None) is not exported on every version: recognise it by None. */
		uint64_t nt = 0;

		if (!pyh_mem_read_u64(o->pid, o->none + o->l.ob_type, &nt) && nt == ti->addr) {
			ti->kind = PYH_OBJ_NONE;
			ti->exact = 1;
			ti->same_repr = 1;
			return;
		}
	}
	ti->kind = PYH_OBJ_OTHER;
	if (depth >= PYH_TYPE_BASES_MAX ||
	    pyh_mem_read_u64(o->pid, ti->addr + o->l.tp_base, &b) || !b || b == ti->addr)
		return;
	if (pyh_obj_typeinfo(o, b, &base, depth + 1))
		return;
	ti->kind = base.kind;
	ti->same_repr = base.same_repr && ti->repr == base.repr;
}

static int pyh_obj_typeinfo(struct pyh_objects *o, uint64_t type, struct pyh_typeinfo *out,
			    int depth)
{
	struct pyh_typeinfo ti, *slot;
	int hit, rc;

	if (!o->types)
		return -EINVAL;
	slot = pyh_typecache_slot(o, type, &hit);
	if (hit) {
		*out = *slot;
		return 0;
	}
	rc = pyh_obj_read_type(o, type, &ti);
	if (rc)
		return rc;
	pyh_obj_type_kind(o, &ti, depth);
	slot = pyh_typecache_slot(o, type, &hit);	/* the walk over bases may have used it */
	*slot = ti;
	o->types->used[slot - o->types->slot] = 1;
	*out = ti;
	return 0;
}

/* ------------------------------------------------------------ objects */

/* pyh_obj_get's checks on the ob->len bytes read into ob->head. */
static int pyh_obj_check(struct pyh_objects *o, uint64_t addr, struct pyh_obj *ob)
{
	const struct pyh_objlayout *l = &o->l;
	uint64_t type;
	int rc;

	if (ob->len < l->object_size)
		return -EFAULT;
	ob->addr = addr;
	if (l->ob_refcnt != PYH_NO_FIELD) {
		uint64_t rc64 = pyh_obj_field(ob->head, ob->len, l->ob_refcnt, l->ob_refcnt_size);
		uint64_t max = l->version_hex >= 0x030c0000 ? UINT32_MAX : PYH_REFCNT_MAX;

		if (l->ob_refcnt_size == 4)
			rc64 &= UINT32_MAX;
		if (rc64 == 0 || rc64 > max)
			return -EINVAL;
	}
	type = pyh_obj_field(ob->head, ob->len, l->ob_type, 8);
	if (!type)
		return -EINVAL;
	rc = pyh_obj_typeinfo(o, type, &ob->ti, 0);
	return rc;
}

int pyh_obj_get(struct pyh_objects *o, uint64_t addr, struct pyh_obj *ob)
{
	const struct pyh_objlayout *l = &o->l;
	ssize_t got;

	if (!addr || addr % PYH_OBJ_ALIGN || l->object_size > PYH_OBJ_HEAD || !l->object_size)
		return -EFAULT;
	/* One read of the header and what follows, as far as the mapping goes. */
	got = pyh_mem_read_some(o->pid, addr, ob->head, PYH_OBJ_HEAD);
	if (got < 0)
		return (int)got;
	ob->len = (size_t)got;
	return pyh_obj_check(o, addr, ob);
}

int pyh_obj_from_head(struct pyh_objects *o, uint64_t addr, const uint8_t *head, size_t len,
		      struct pyh_obj *ob)
{
	const struct pyh_objlayout *l = &o->l;

	if (!addr || addr % PYH_OBJ_ALIGN || l->object_size > PYH_OBJ_HEAD || !l->object_size)
		return -EFAULT;
	ob->len = len < PYH_OBJ_HEAD ? len : PYH_OBJ_HEAD;
	memcpy(ob->head, head, ob->len);
	return pyh_obj_check(o, addr, ob);
}

int pyh_type_info(struct pyh_objects *o, uint64_t type, struct pyh_typeinfo *ti)
{
	return pyh_obj_typeinfo(o, type, ti, 0);
}

int pyh_type_is_subclass(struct pyh_objects *o, uint64_t type, uint64_t base)
{
	if (!base)
		return 0;
	for (int depth = 0; depth <= PYH_TYPE_BASES_MAX && type; depth++) {
		struct pyh_typeinfo ti;
		int rc;

		if (type == base)
			return 1;
		rc = pyh_type_info(o, type, &ti);
		if (rc)
			return rc;
		rc = pyh_mem_read_u64(o->pid, type + o->l.tp_base, &type);
		if (rc)
			return rc;
	}
	return 0;
}

int pyh_obj_type(struct pyh_objects *o, uint64_t addr, struct pyh_typeinfo *ti)
{
	struct pyh_obj ob;
	int rc = pyh_obj_get(o, addr, &ob);

	if (!rc)
		*ti = ob.ti;
	return rc;
}

int pyh_obj_read(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t off, void *buf,
		 size_t len)
{
	if (off + len <= ob->len && off + len >= off) {
		memcpy(buf, ob->head + off, len);
		return 0;
	}
	return pyh_mem_read(o->pid, ob->addr + off, buf, len);
}

static int pyh_obj_u64(struct pyh_objects *o, const struct pyh_obj *ob, uint32_t off,
		       uint64_t *v)
{
	if (off == PYH_NO_FIELD)
		return -EINVAL;
	return pyh_obj_read(o, ob, off, v, sizeof(*v));
}

int pyh_obj_type_name(struct pyh_objects *o, const struct pyh_typeinfo *ti, char *out,
		      size_t outsz)
{
	const char *dot;

	if (!outsz)
		return -EINVAL;
	if (ti->heap && ti->ht_name && pyh_obj_str_utf8(o, ti->ht_name, out, outsz) >= 0)
		return 0;
	dot = strrchr(ti->tp_name, '.');
	snprintf(out, outsz, "%s", dot ? dot + 1 : ti->tp_name);
	return 0;
}

/* ------------------------------------------------------------ scalars */

int pyh_obj_int27(struct pyh_objects *o, const struct pyh_obj *ob, int64_t *value)
{
	uint64_t v;
	int rc;

	if (o->l.int_ival == PYH_NO_FIELD || (ob->ti.kind != PYH_OBJ_INT27 &&
					       !(ob->ti.kind == PYH_OBJ_BOOL && o->ver.major == 2)))
		return -EINVAL;
	rc = pyh_obj_u64(o, ob, o->l.int_ival, &v);
	if (rc)
		return rc;
	*value = (int64_t)v;
	return 0;
}

int pyh_obj_long(struct pyh_objects *o, const struct pyh_obj *ob, struct pyh_long *out)
{
	const struct pyh_objlayout *l = &o->l;
	uint32_t digits[PYH_LONG_MAX_DIGITS];
	uint64_t size = 0, n;
	int sign, rc;

	if (ob->ti.kind != PYH_OBJ_LONG && !(ob->ti.kind == PYH_OBJ_BOOL && o->ver.major == 3))
		return -EINVAL;
	if (l->long_digit_size != 4 || l->long_shift == 0 || l->long_shift > 31)
		return -EINVAL;
	rc = pyh_obj_u64(o, ob, l->long_size, &size);
	if (rc)
		return rc;
	if (l->long_kind == PYH_LONG_LV_TAG) {
		uint64_t s = size & l->long_sign_mask;

		n = size >> l->long_non_size_bits;
		sign = s == l->long_sign_zero ? 0 : s == l->long_sign_negative ? -1 : 1;
		if ((s == l->long_sign_zero) != (n == 0) || s > l->long_sign_negative)
			return -EINVAL;
	} else if (l->long_kind == PYH_LONG_OB_SIZE) {
		int64_t ss = (int64_t)size;

		sign = ss < 0 ? -1 : ss > 0;
		n = ss < 0 ? (uint64_t)-(ss + 1) + 1 : (uint64_t)ss;
	} else {
		return -EINVAL;
	}
	if (n > PYH_LONG_MAX_DIGITS) {
		out->ndigits = (size_t)(n > SIZE_MAX ? SIZE_MAX : n);
		return -E2BIG;
	}
	rc = pyh_obj_read(o, ob, l->long_digits, digits, (size_t)n * 4);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < n; i++)
		if (digits[i] >> l->long_shift)
			return -EINVAL;
	if (n && digits[n - 1] == 0)	/* a normalised int has no leading zero digit */
		return -EINVAL;
	memcpy(out->digits, digits, (size_t)n * 4);
	out->sign = sign;
	out->shift = l->long_shift;
	out->ndigits = (size_t)n;
	return 0;
}

int pyh_obj_bool(struct pyh_objects *o, const struct pyh_obj *ob, int *value)
{
	int rc;

	if (ob->ti.kind != PYH_OBJ_BOOL)
		return -EINVAL;
	if (ob->addr == o->true_obj || ob->addr == o->false_obj) {
		*value = ob->addr == o->true_obj;
		return 0;
	}
	if (o->ver.major == 2) {
		int64_t v;

		rc = pyh_obj_int27(o, ob, &v);
		if (!rc)
			*value = v != 0;
		return rc;
	}
	{
		struct pyh_long *v = malloc(sizeof(*v));

		if (!v)
			return -ENOMEM;
		rc = pyh_obj_long(o, ob, v);
		if (!rc)
			*value = v->sign != 0;
		free(v);
		return rc;
	}
}

int pyh_obj_float(struct pyh_objects *o, const struct pyh_obj *ob, double *value)
{
	double v;
	int rc;

	if (ob->ti.kind != PYH_OBJ_FLOAT)
		return -EINVAL;
	rc = pyh_obj_read(o, ob, o->l.float_fval, &v, sizeof(v));
	if (rc)
		return rc;
	*value = v;
	return 0;
}

/* ------------------------------------------------------------ bytes and str */

int pyh_obj_bytes(struct pyh_objects *o, const struct pyh_obj *ob, uint8_t *buf, size_t max,
		  size_t *length)
{
	uint64_t size;
	int rc;

	if (ob->ti.kind != PYH_OBJ_BYTES)
		return -EINVAL;
	rc = pyh_obj_u64(o, ob, o->l.bytes_size, &size);
	if (rc)
		return rc;
	if ((int64_t)size < 0 || (int64_t)size >= PYH_SEQ_MAX_LENGTH)
		return -EINVAL;
	rc = pyh_obj_read(o, ob, o->l.bytes_sval, buf, size < max ? (size_t)size : max);
	if (rc)
		return rc;
	*length = (size_t)size;
	return 0;
}

/* Widen n code units of width `kind` in place (the units sit at the start of
 * the uint32 array they widen into). */
static void pyh_obj_widen(uint32_t *cps, size_t n, int kind)
{
	const uint8_t *b = (const uint8_t *)cps;

	for (size_t i = n; i-- > 0;) {
		if (kind == 1) {
			cps[i] = b[i];
		} else if (kind == 2) {
			uint16_t v;

			memcpy(&v, b + 2 * i, sizeof(v));
			cps[i] = v;
		}
	}
}

int pyh_obj_str(struct pyh_objects *o, const struct pyh_obj *ob, uint32_t *cps, size_t max,
		size_t *length)
{
	const struct pyh_objlayout *l = &o->l;
	uint64_t data;
	size_t n, total;
	int kind, rc;

	if (ob->ti.kind == PYH_OBJ_STR) {
		struct pyh_strtext text;

		rc = pyh_pystr_locate_head(o->pid, &o->str, ob->addr, ob->head, ob->len, &text);
		if (rc)
			return rc;
		if (text.length >= (uint64_t)PYH_SEQ_MAX_LENGTH)
			return -EINVAL;
		data = text.data;
		kind = text.kind;
		total = (size_t)text.length;
	} else if (ob->ti.kind == PYH_OBJ_UNICODE27) {
		uint64_t len;

		if (l->unicode27_unit != 2 && l->unicode27_unit != 4)
			return -EINVAL;
		rc = pyh_obj_u64(o, ob, l->unicode27_length, &len);
		if (!rc)
			rc = pyh_obj_u64(o, ob, l->unicode27_str, &data);
		if (rc)
			return rc;
		if ((int64_t)len < 0 || (int64_t)len >= PYH_SEQ_MAX_LENGTH || (!data && len))
			return -EINVAL;
		kind = (int)l->unicode27_unit;
		total = (size_t)len;
	} else {
		return -EINVAL;
	}
	n = total < max ? total : max;
	if (n) {
		/* the text of a short compact str is in the head already */
		if (data >= ob->addr && data - ob->addr <= ob->len &&
		    n * (size_t)kind <= ob->len - (data - ob->addr))
			memcpy(cps, ob->head + (data - ob->addr), n * (size_t)kind);
		else if ((rc = pyh_mem_read(o->pid, data, cps, n * (size_t)kind)))
			return rc;
		pyh_obj_widen(cps, n, kind);
	}
	*length = total;
	return 0;
}

/* Encode one code point as UTF-8 (surrogates and > U+10FFFF as U+FFFD). */
static size_t pyh_obj_utf8(uint32_t c, char *o)
{
	if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		c = 0xfffd;
	return pyh_ucs_to_utf8(&c, 1, 4, o, 5);
}

#define PYH_OBJ_NAME_MAX 1024	/* code points of a str read as a name */

/* pyh_obj_str_utf8 of an object already read. */
static int pyh_obj_str_utf8_ob(struct pyh_objects *o, const struct pyh_obj *ob, char *out,
			       size_t outsz)
{
	size_t len, w = 0;
	int rc;

	if (!outsz)
		return -EINVAL;
	if (ob->ti.kind == PYH_OBJ_BYTES && o->ver.major == 2) {
		uint8_t buf[PYH_OBJ_NAME_MAX];

		rc = pyh_obj_bytes(o, ob, buf, sizeof(buf), &len);
		if (rc)
			return rc;
		if (len > sizeof(buf) || len >= outsz)
			return -ENOSPC;
		memcpy(out, buf, len);
		out[len] = '\0';
		return (int)len;
	}
	{
		uint32_t cps[PYH_OBJ_NAME_MAX];

		rc = pyh_obj_str(o, ob, cps, PYH_OBJ_NAME_MAX, &len);
		if (rc)
			return rc;
		if (len > PYH_OBJ_NAME_MAX)
			return -ENOSPC;
		for (size_t i = 0; i < len; i++) {
			char u[5];
			size_t k = pyh_obj_utf8(cps[i], u);

			if (w + k + 1 > outsz)
				return -ENOSPC;
			memcpy(out + w, u, k);
			w += k;
		}
	}
	out[w] = '\0';
	return (int)w;
}

int pyh_obj_str_utf8(struct pyh_objects *o, uint64_t addr, char *out, size_t outsz)
{
	struct pyh_obj ob;
	int rc;

	if (!outsz)
		return -EINVAL;
	rc = pyh_obj_get(o, addr, &ob);
	return rc ? rc : pyh_obj_str_utf8_ob(o, &ob, out, outsz);
}

int pyh_obj_str_equals_ob(struct pyh_objects *o, const struct pyh_obj *ob, const char *s)
{
	char buf[PYH_OBJ_NAME_MAX * 4 + 1];
	int n = pyh_obj_str_utf8_ob(o, ob, buf, sizeof(buf));

	if (n == -ENOSPC)
		return 0;	/* longer than any name we look up */
	if (n < 0)
		return n;
	return strcmp(buf, s) == 0;
}

int pyh_obj_str_equals(struct pyh_objects *o, uint64_t addr, const char *s)
{
	struct pyh_obj ob;
	int rc = pyh_obj_get(o, addr, &ob);

	return rc ? rc : pyh_obj_str_equals_ob(o, &ob, s);
}

/* ------------------------------------------------------------ containers */

int pyh_obj_seq(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *items, size_t max,
		size_t *length)
{
	const struct pyh_objlayout *l = &o->l;
	uint64_t size, base;
	size_t n;
	int rc;

	if (ob->ti.kind != PYH_OBJ_TUPLE && ob->ti.kind != PYH_OBJ_LIST)
		return -EINVAL;
	rc = pyh_obj_u64(o, ob, l->ob_size, &size);
	if (rc)
		return rc;
	if ((int64_t)size < 0 || (int64_t)size >= PYH_SEQ_MAX_LENGTH)
		return -EINVAL;
	n = size < max ? (size_t)size : max;
	if (ob->ti.kind == PYH_OBJ_TUPLE) {
		if (n)
			rc = pyh_obj_read(o, ob, l->tuple_items, items, n * sizeof(*items));
	} else {
		rc = pyh_obj_u64(o, ob, l->list_items, &base);
		if (!rc && !base && size)
			rc = -EINVAL;
		if (!rc && n)
			rc = pyh_mem_read(o->pid, base, items, n * sizeof(*items));
	}
	if (rc)
		return rc;
	*length = (size_t)size;
	return 0;
}

int pyh_obj_cell(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *ref)
{
	if (ob->ti.kind != PYH_OBJ_CELL)
		return -EINVAL;
	return pyh_obj_u64(o, ob, o->l.cell_ref, ref);
}

int pyh_obj_weakref(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *referent)
{
	uint64_t r;
	int rc;

	if (ob->ti.kind != PYH_OBJ_WEAKREF)
		return -EINVAL;
	rc = pyh_obj_u64(o, ob, o->l.weakref_object, &r);
	if (rc)
		return rc;
	/* a dead reference points at None (3.x) or is NULL */
	*referent = r == o->none ? 0 : r;
	return 0;
}
