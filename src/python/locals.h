/* SPDX-License-Identifier: MIT */
/*
 * locals.h - the arguments and local variables of one Python frame, by
 * name, in the code object's order: co_varnames + co_cellvars +
 * co_freevars (<= 3.10), co_localsplusnames with co_localspluskinds (3.11+).
 * Cell and free variables are given by their contents. Unbound names (not
 * assigned yet, deleted) are left out, as locals() leaves them out.
 */
#ifndef PYH_PYTHON_LOCALS_H
#define PYH_PYTHON_LOCALS_H
#include <stddef.h>
#include <stdint.h>

#include "python/objects.h"

#define PYH_LOCAL_NAME_MAX 256
#define PYH_LOCALS_MAX 1024	/* names of one code object, at most */

enum pyh_local_kind {
	PYH_LOCAL_FAST = 1,	/* an argument or plain local */
	PYH_LOCAL_CELL = 2,	/* a local that inner functions refer to (its cell's contents) */
	PYH_LOCAL_FREE = 3,	/* a variable of an enclosing function (its cell's contents) */
};

struct pyh_local {
	char name[PYH_LOCAL_NAME_MAX];	/* UTF-8; control characters replaced by '?' */
	enum pyh_local_kind kind;
	uint64_t value;			/* the object; for cells what the cell holds */
	int readable;			/* 0: a cell that could not be read (value 0) */
};

/* The locals of the frame at `frame` (a raw frame's address) running the
 * code object `code`, at most max of them into out, *n set. Before the
 * values are trusted the frame's code pointer is read again in the same
 * system call as the values: a frame reused for another call meanwhile is
 * refused (-ESTALE). *truncated is set when the code object has more than max
 * names (or more than PYH_LOCALS_MAX). Returns 0, or -errno with *n 0 and
 * *why naming the problem ("unreadable names", "frame changed while read"). */
int pyh_frame_locals(struct pyh_objects *o, uint64_t frame, uint64_t code,
		     struct pyh_local *out, size_t max, size_t *n, int *truncated,
		     const char **why);
#endif
