/* SPDX-License-Identifier: MIT */
/*
 * pydict.h - dicts, sets and what is built on them: the attributes of an
 * instance, a module's globals, sys.modules. Readers of a live target, with
 * the rules of python/objects.h: types checked by address, every count
 * bounded, outputs untouched and -errno returned on failure.
 *
 * Every version's dict is read: 2.7's open table, the compact dicts of 3.6+
 * (combined and split tables; 3.11+ general and unicode-keyed entries), and
 * the attributes of instances kept outside a dict (3.11+ managed dicts,
 * 3.13+ inline values), in the order Python iterates them.
 *
 * A table may change while it is read. Item readers say how many items they
 * found (*n) beside the length the object declares (*length): when *n is
 * below min(max, *length), the contents moved under the reader (or more
 * than PYH_DICT_MAX_SCAN slots would have had to be read) and the caller
 * must not present its result as the whole truth.
 */
#ifndef PYH_PYTHON_PYDICT_H
#define PYH_PYTHON_PYDICT_H
#include <stddef.h>
#include <stdint.h>

#include "python/objects.h"

struct pyh_kv {
	uint64_t key, value;
};

/* Slots (entries, table slots) one reader looks at, at most. */
#define PYH_DICT_MAX_SCAN (1u << 18)

/* The first min(max, len(d)) items of the dict (or dict subclass) ob, in
 * iteration order. Returns 0 with *n and *length, or -errno. */
int pyh_dict_items(struct pyh_objects *o, const struct pyh_obj *ob, struct pyh_kv *out,
		   size_t max, size_t *n, size_t *length);

/* By address: the value for the str key `key` (UTF-8) in the dict at addr: a linear scan
 * comparing str keys (no hashing, so no key object is needed). Returns 0 with
 * *value, -ENOENT when no str key equals it, or -errno. */
int pyh_dict_get_str(struct pyh_objects *o, uint64_t addr, const char *key, uint64_t *value);

/* The first min(max, len(s)) members of the set or frozenset ob, in
 * iteration (table) order. Returns 0 with *n and *length, or -errno. */
int pyh_set_items(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *out, size_t max,
		  size_t *n, size_t *length);

/* The instance ob's own attributes, as vars(obj) lists them: name (a str
 * object) and value, in insertion order. Found through tp_dictoffset, a 2.7
 * classic instance's in_dict, the 3.11+ managed dict, or the values kept
 * without a dict (3.11 / 3.12 values array, 3.13+ inline values) with the
 * class's shared keys. Returns 0 with *n and *length, -ENOENT when the
 * object has no attribute storage (no __dict__), or -errno. */
int pyh_obj_attrs(struct pyh_objects *o, const struct pyh_obj *ob, struct pyh_kv *out,
		  size_t max, size_t *n, size_t *length);

/* By address: one attribute of the instance itself (not of its class: no methods,
 * properties, slots or class variables). Returns 0 with *value, -ENOENT
 * when the instance has no attribute of that name, or -errno. */
int pyh_obj_getattr(struct pyh_objects *o, uint64_t addr, const char *name, uint64_t *value);

/* By address: one __slots__ slot of the instance, found as the member
 * descriptor of that name in its class or the class's bases (tp_base
 * chain, PYH_TYPE_BASES_MAX deep). Returns 0 with *value, -ENOENT when no
 * class has such a slot or it is not set, or -errno (a descriptor that is
 * not an object slot inside the instance: -EINVAL). */
int pyh_obj_slot(struct pyh_objects *o, uint64_t addr, const char *name, uint64_t *value);

/* An instance attribute wherever the instance keeps it: its own attributes
 * (pyh_obj_getattr), else a __slots__ slot (pyh_obj_slot). Same returns. */
int pyh_obj_attr(struct pyh_objects *o, uint64_t addr, const char *name, uint64_t *value);

/* What object.__repr__ puts before " object at 0x...": "module.Qualname" for
 * a heap type (2.7: "module.Name", it has no __qualname__; the bare tp_name
 * when the module is builtins / __builtin__ or unreadable), else tp_name.
 * Always fills out (NUL-terminated); returns 0, or -errno when it fell back
 * to tp_name because the module or qualname could not be read. */
int pyh_obj_repr_name(struct pyh_objects *o, const struct pyh_typeinfo *ti, char *out,
		      size_t outsz);

/* sys.modules[name]: the module object, from the first interpreter's module
 * dict (PyInterpreterState.modules, 3.12+ imports.modules). Returns 0 with
 * *module, -ENOENT when no such module is loaded, or -errno. */
int pyh_sys_module(struct pyh_objects *o, const char *name, uint64_t *module);

/* A module's namespace (md_dict) and one global in it, by name.
 * Return 0 with the result, -ENOENT (no such name), or -errno. */
int pyh_module_dict(struct pyh_objects *o, uint64_t module, uint64_t *dict);
int pyh_module_getattr(struct pyh_objects *o, uint64_t module, const char *name,
		       uint64_t *value);
#endif
