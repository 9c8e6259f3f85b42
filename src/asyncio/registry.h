/* SPDX-License-Identifier: MIT */
/*
 * registry.h - every task of a target, from asyncio's own registries: the
 * weak set of scheduled tasks (3.6's two, 3.7 - 3.11's _all_tasks, 3.12+'s
 * _scheduled_tasks), the set of tasks executing eagerly (3.12+), and on
 * 3.14+ the circular lists of C tasks that each thread state and the
 * interpreter keep (the ones AsyncioDebug describes).
 *
 * The registries change while they are read (tasks come and go; a set may be
 * resized). What was read is kept and what went wrong is said: a list that
 * breaks off (a node being removed) is walked again, twice at most, then
 * reported. Bounded: at most r->max tasks are kept (the others are counted
 * in r->total), each list walk takes at most r->max + 1 steps and stops at a
 * node met before.
 */
#ifndef PYH_ASYNCIO_REGISTRY_H
#define PYH_ASYNCIO_REGISTRY_H
#include <stddef.h>
#include <stdint.h>

#include "asyncio/aio.h"

/* Tasks of a list counted (past those kept) at most. */
#define PYH_REGISTRY_COUNT_MAX 1000000

struct pyh_registry {
	/* in */
	uint64_t *tasks;	/* room for max addresses */
	size_t max;
	/* out */
	size_t n;		/* task addresses kept, each once */
	size_t total;		/* tasks the registries hold as far as they say (>= n) */
	int truncated;		/* total > max: some were left out */
	char error[256];	/* "" or what could not be read whole */
};

/* Read the registries of a. tstates[0..ntstates) are the thread states of
 * the target (3.14+ lists), interp its first interpreter (0: unknown).
 * Returns 0 (r->error says what was incomplete), or -ENOMEM. */
int pyh_registry_read(struct pyh_aio *a, const uint64_t *tstates, int ntstates, uint64_t interp,
		      struct pyh_registry *r);
#endif
