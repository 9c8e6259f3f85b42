/* SPDX-License-Identifier: MIT */
/*
 * repr.h - repr() of a target object, as the target's own interpreter would
 * print it, without running any of its code: None, bool, int (any size;
 * 2.7 long with its L), float, str, bytes, 2.7 str and unicode, and tuple,
 * list, dict, set and frozenset of those (subclasses too, when they keep the
 * built-in repr), and Python functions ("<function f.<locals>.g at 0x...>").
 * Anything else is written as object.__repr__ writes it,
 * "<module.Class object at 0x7f...>" (2.7 classic instances:
 * "<module.Class instance at 0x...>"): exactly Python's repr when the class
 * keeps object.__repr__, pyhang's stand-in for one it cannot run otherwise.
 *
 * Bounded: total bytes, items per container, characters per str or bytes,
 * nesting depth. Whatever was left out is marked with PYH_REPR_CUT ("…",
 * which Python never writes outside quotes): "[1, 2, …]", "'abc'…",
 * "12345…", "[[…]]". A container that contains itself is written as Python
 * writes it ("[...]", "{...}", "set(...)"). An object that cannot be read
 * (freed, half-built, not an object, the memory gone) is "<unreadable>".
 */
#ifndef PYH_PYTHON_REPR_H
#define PYH_PYTHON_REPR_H
#include <stddef.h>
#include <stdint.h>

#include "python/objects.h"

struct pyh_repr_limits {
	size_t max_bytes;	/* of the whole repr, NUL included (at least 16) */
	size_t max_items;	/* items shown per tuple, list, dict, set */
	size_t max_chars;	/* characters (bytes) of a str (bytes), digits of an int */
	int max_depth;		/* containers nested deeper are written as "[…]" */
};

/* What dump --locals shows per value, and dump --frame (a larger bound). */
#define PYH_REPR_SHORT ((struct pyh_repr_limits){ 256, 32, 200, 6 })
#define PYH_REPR_FULL ((struct pyh_repr_limits){ 65536, 10000, 16384, 32 })

#define PYH_REPR_UNREADABLE "<unreadable>"

struct pyh_repr_info {
	char type[PYH_TYPE_NAME_MAX];	/* type(obj).__name__; "" when unreadable */
	int readable;			/* 0: the object itself could not be read */
	int truncated;			/* something was left out (marked in the text) */
	int64_t length;			/* len() of a str, bytes, tuple, list, dict, set; else -1 */
};

/* repr() of the object at addr into out (outsz bytes, at most
 * lim->max_bytes used), and what it is in *info. Never fails: an
 * unreadable object gives PYH_REPR_UNREADABLE, one inside a container gives
 * it in its place. Returns the length written. */
size_t pyh_repr(struct pyh_objects *o, uint64_t addr, const struct pyh_repr_limits *lim,
		char *out, size_t outsz, struct pyh_repr_info *info);
#endif
