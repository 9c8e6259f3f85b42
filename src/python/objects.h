/* SPDX-License-Identifier: MIT */
/*
 * objects.h - reading Python objects out of a live target: what type an
 * object is, and typed readers for the built-in types (None, bool, int,
 * float, bytes, str, tuple, list, cell, weakref). Dicts, sets, instance
 * attributes and modules are in python/pydict.h.
 *
 * Every byte comes from a process that keeps running: an object may be freed,
 * half-built or reused while it is read. So types are recognised by the
 * address of the interpreter's own type objects (PyLong_Type, ...), never by
 * tp_name; every size and count is checked before it drives a read; every
 * reader takes a caller's bound; and a reader that fails leaves its outputs
 * untouched and returns -errno (-EFAULT: unreadable memory, -EINVAL: not a
 * well-formed object of that type, -ESRCH: the process is gone).
 */
#ifndef PYH_PYTHON_OBJECTS_H
#define PYH_PYTHON_OBJECTS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/maps.h"
#include "python/objlayout.h"
#include "python/pystr.h"
#include "python/version.h"

struct pyh_target;

/* The built-in types the readers know, recognised by the address of the
 * type object (or, for a subclass, of its nearest built-in base). */
enum pyh_obj_kind {
	PYH_OBJ_OTHER = 0,	/* none of these */
	PYH_OBJ_NONE,		/* the None singleton (type(None)) */
	PYH_OBJ_BOOL,
	PYH_OBJ_INT27,		/* 2.7 int (PyIntObject, a C long) */
	PYH_OBJ_LONG,		/* 3.x int, 2.7 long */
	PYH_OBJ_FLOAT,
	PYH_OBJ_BYTES,		/* 3.x bytes, 2.7 str */
	PYH_OBJ_STR,		/* 3.x str */
	PYH_OBJ_UNICODE27,	/* 2.7 unicode */
	PYH_OBJ_TUPLE,
	PYH_OBJ_LIST,
	PYH_OBJ_DICT,
	PYH_OBJ_SET,
	PYH_OBJ_FROZENSET,
	PYH_OBJ_CELL,
	PYH_OBJ_WEAKREF,	/* weakref.ref */
	PYH_OBJ_MODULE,
	PYH_OBJ_TYPE,		/* type itself (an object whose type is type) */
	PYH_OBJ_OBJECT,		/* object (the base of everything; object() itself) */
	PYH_OBJ_INSTANCE27,	/* 2.7 classic-class instance */
	PYH_OBJ_CLASS27,	/* 2.7 classic class */
	PYH_OBJ_FUNCTION,	/* a Python function */
	PYH_OBJ_GENERATOR,	/* a generator (types.coroutine ones too) */
	PYH_OBJ_COROUTINE,	/* an `async def` coroutine */
	PYH_OBJ_ASYNC_GEN,	/* an async generator */
	PYH_OBJ_ASYNC_GEN_ASEND, /* what an async generator's asend() / __anext__() returns */
	PYH_OBJ_METHOD,		/* a bound method (PyMethod_Type) */
	PYH_OBJ_MEMBER_DESCR,	/* a member descriptor: a C member or a __slots__ slot */
	PYH_OBJ_NKINDS
};

#define PYH_TYPE_NAME_MAX 128

/* What one type object says about its instances. */
struct pyh_typeinfo {
	uint64_t addr;			/* the type object */
	enum pyh_obj_kind kind;		/* the type's own kind, or its nearest built-in base's */
	int exact;			/* the type is that built-in type itself */
	int same_repr;			/* its tp_repr is the built-in base's: that repr applies */
	int heap;			/* a heap type (a class statement) */
	uint64_t flags;			/* tp_flags */
	int64_t basicsize, itemsize, dictoffset;
	uint64_t repr;			/* tp_repr (a C function address) */
	uint64_t dict;			/* tp_dict */
	uint64_t ht_name, ht_qualname, ht_cached_keys; /* heap types, else 0 */
	char tp_name[PYH_TYPE_NAME_MAX];	/* cut to fit; control characters as '?' */
};

struct pyh_typecache;

/* An attached interpreter's objects: layout, and the addresses of its types. */
struct pyh_objects {
	pid_t pid;
	struct pyh_pyversion ver;
	struct pyh_objlayout l;
	struct pyh_strshape str;	/* 3.x str, from l */
	int layout_from_target;		/* 3.13+: fields overlaid from _Py_DebugOffsets */
	int table_mismatch;		/* fields where those and the committed table differ */
	uint64_t type_addr[PYH_OBJ_NKINDS];	/* 0 where the symbol is not there */
	uint64_t none, true_obj, false_obj;	/* singletons; 0 when unknown */
	uint64_t set_dummy;		/* 3.x: the object deleted set slots hold; 0 unknown */
	uint64_t interp_head_ptr;	/* where the first PyInterpreterState * is; 0 unknown */
	struct pyh_typecache *types;
};

/* The interpreter's symbols the objects reader takes from its ELF file
 * (.dynsym), load bias added, 0 where there is none: resolved once by
 * whoever has the file open (pyh_target_open does, into pyh_target.objsyms),
 * so that an objects reader opened on a target later reads no ELF again. */
struct pyh_obj_syms {
	int resolved;			/* 0: not looked up (open the file instead) */
	uint64_t type_addr[PYH_OBJ_NKINDS];
	uint64_t none, true_obj, false_obj;
	uint64_t set_dummy_ptr;		/* &_PySet_Dummy: a PyObject * variable (3.x) */
	uint64_t runtime;		/* &_PyRuntime */
};

struct pyh_elf;
/* Fill *out from elf, the file of bin, for an interpreter of major version major. */
void pyh_obj_syms_resolve(const struct pyh_elf *elf, const struct pyh_pybinary *bin, int major,
			  struct pyh_obj_syms *out);

/* Attach to the objects of the interpreter in bin (as found by
 * pyh_maps_find_python) of version ver: picks the table of that version
 * (free-threaded or not, from _Py_DebugOffsets on 3.13+), overlays the
 * target's _Py_DebugOffsets on 3.13+, and looks up the type objects and
 * singletons in the ELF symbols (.dynsym is enough). interp_head_ptr is the
 * address of the interpreter list head (struct pyh_target has it); 0 lets
 * 3.13+ take it from _Py_DebugOffsets and leaves module lookups failing
 * before. Returns 0, or -errno with a one-line reason in err: a version with
 * no table is refused by name ("Python 3.15.0: ... pyhang knows 2.7, ...").
 * On failure *o holds nothing to free. */
int pyh_objects_open(struct pyh_objects *o, pid_t pid, const struct pyh_pybinary *bin,
		     const struct pyh_pyversion *ver, uint64_t interp_head_ptr, char *err,
		     size_t errsz);
/* The same for an attached target, from the symbols its open resolved
 * (pyh_target.objsyms; the file is opened only where they are missing). */
int pyh_objects_from_target(struct pyh_objects *o, const struct pyh_target *t, char *err,
			    size_t errsz);
/* A context over the memory of pid with layout l and no symbols: the caller
 * fills type_addr[], none, true_obj, ... itself (tests and fuzzing build
 * objects in their own memory this way). Returns 0, or -ENOMEM (nothing to
 * free then). */
int pyh_objects_init(struct pyh_objects *o, pid_t pid, const struct pyh_pyversion *ver,
		     const struct pyh_objlayout *l);
void pyh_objects_close(struct pyh_objects *o);	/* NULL-safe, idempotent */
/* Forget the type objects read so far (for a context kept longer than one
 * snapshot, in which a class may have been freed and its memory reused). */
void pyh_objects_forget_types(struct pyh_objects *o);

/* One object as read: its address, its type, and its first bytes (header
 * and, for small objects, all of it), taken in one read. The typed readers
 * below take this and read the rest from the target only where needed. */
#define PYH_OBJ_HEAD 96
struct pyh_obj {
	uint64_t addr;
	struct pyh_typeinfo ti;
	size_t len;			/* bytes of head that were read */
	uint8_t head[PYH_OBJ_HEAD];
};

/* Read the object at addr, after checking that it looks alive: an aligned
 * address, a readable header, a plausible reference count (GIL builds: a
 * freed block holds an allocator link there) and a type pointer to something
 * that is a type (its own type has Py_TPFLAGS_TYPE_SUBCLASS). Type objects
 * are read once and cached for the life of o (a type is not expected to be
 * freed while one snapshot is taken). Returns 0 with *ob, or -errno. */
int pyh_obj_get(struct pyh_objects *o, uint64_t addr, struct pyh_obj *ob);
/* The same for an object whose first len bytes were read into head already
 * (several objects in one read): the same checks, on those bytes (up to
 * PYH_OBJ_HEAD of them are kept); the object itself is not read again. */
int pyh_obj_from_head(struct pyh_objects *o, uint64_t addr, const uint8_t *head, size_t len,
		      struct pyh_obj *ob);

/* The type object at type itself (read once, then cached as pyh_obj_get
 * caches it). Returns 0 with *ti, or -errno when it is not a type. */
int pyh_type_info(struct pyh_objects *o, uint64_t type, struct pyh_typeinfo *ti);

/* 1 when the type at type is base or has base in its tp_base chain (at most
 * PYH_TYPE_BASES_MAX deep: multiple inheritance follows the first, solid
 * base only), 0 when not, -errno when a type on the way is unreadable. */
#define PYH_TYPE_BASES_MAX 32
int pyh_type_is_subclass(struct pyh_objects *o, uint64_t type, uint64_t base);

/* Just the type of the object at addr (pyh_obj_get's checks). Returns 0 with *ti. */
int pyh_obj_type(struct pyh_objects *o, uint64_t addr, struct pyh_typeinfo *ti);

/* type(obj).__name__ into out (UTF-8, NUL-terminated, cut to fit): a heap
 * type's __name__, else tp_name after its last dot. Returns 0 or -errno. */
int pyh_obj_type_name(struct pyh_objects *o, const struct pyh_typeinfo *ti, char *out,
		      size_t outsz);

/* The typed readers: ob must be of that kind (or a subclass of it), else
 * -EINVAL. They return 0, or -errno with their outputs untouched. */

/* The truth of a bool (*value 0 or 1); the C long of a 2.7 int (or bool). */
int pyh_obj_bool(struct pyh_objects *o, const struct pyh_obj *ob, int *value);
int pyh_obj_int27(struct pyh_objects *o, const struct pyh_obj *ob, int64_t *value);

/* An int of any size: sign, and digits least significant first, each
 * `shift` bits. A 3.x int / 2.7 long (also the payload of a bool on 3.x). */
#define PYH_LONG_MAX_DIGITS 512		/* 15 360 bits with 30-bit digits */
struct pyh_long {
	int sign;			/* -1, 0, 1 */
	unsigned shift;			/* bits per digit (30, or 15) */
	size_t ndigits;
	uint32_t digits[PYH_LONG_MAX_DIGITS];
};
/* -E2BIG with only out->ndigits set when the int has more than
 * PYH_LONG_MAX_DIGITS digits; -EINVAL also for a digit with bits above shift
 * or a leading zero digit (not an int as CPython leaves them). */
int pyh_obj_long(struct pyh_objects *o, const struct pyh_obj *ob, struct pyh_long *out);

int pyh_obj_float(struct pyh_objects *o, const struct pyh_obj *ob, double *value);

/* The bytes of a bytes (3.x) or str (2.7) object: min(length, max) of them
 * into buf, *length = the object's whole length. */
int pyh_obj_bytes(struct pyh_objects *o, const struct pyh_obj *ob, uint8_t *buf, size_t max,
		  size_t *length);

/* The code points of a 3.x str or 2.7 unicode: min(length, max) into cps,
 * *length = the whole length. 2.7 narrow (UCS-2) builds give UTF-16 code
 * units, surrogate pairs as two. */
int pyh_obj_str(struct pyh_objects *o, const struct pyh_obj *ob, uint32_t *cps, size_t max,
		size_t *length);

/* The item addresses of a tuple or list: min(length, max) into items,
 * *length = its length (longer than PYH_SEQ_MAX_LENGTH: -EINVAL). Items may
 * be 0 in a list being changed. */
#define PYH_SEQ_MAX_LENGTH (1ll << 40)
int pyh_obj_seq(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *items, size_t max,
		size_t *length);

/* A cell's contents (0: empty), a weak reference's referent (0: dead). */
int pyh_obj_cell(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *ref);
int pyh_obj_weakref(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *referent);

/* Read len bytes at offset off of the object: from its head when they are
 * there, else from the target. Returns 0 or -errno. */
int pyh_obj_read(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t off, void *buf,
		 size_t len);

/* By address, for names and keys: a str (3.x; 2.7 str or unicode) as UTF-8
 * into out, NUL-terminated; -ENOSPC when it does not fit whole. Returns the
 * byte length or -errno. */
int pyh_obj_str_utf8(struct pyh_objects *o, uint64_t addr, char *out, size_t outsz);

/* 1 when the object at addr is a str (3.x; 2.7 str or unicode) whose text is
 * exactly the UTF-8 string s, 0 when it is another str, -errno when it is not
 * a readable str. */
int pyh_obj_str_equals(struct pyh_objects *o, uint64_t addr, const char *s);
/* The same for an object already read (pyh_obj_get, pyh_obj_from_head). */
int pyh_obj_str_equals_ob(struct pyh_objects *o, const struct pyh_obj *ob, const char *s);
#endif
