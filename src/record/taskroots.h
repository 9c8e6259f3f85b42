/* SPDX-License-Identifier: MIT */
/*
 * taskroots.h - record --tasks: which asyncio task's step a sample was taken
 * in, as the text of a root frame ("task Task-5 (quote)").
 *
 * The sampler sends, per sample, the outermost generator of each run of
 * generator frames in the stack (pyh_sample.task_gens): a task's step runs
 * its coroutine called from C, so during a step the task's coroutine is one
 * of them. This module keeps a table of the target's tasks by coroutine,
 * read from asyncio's registries (asyncio/registry.h) at most every
 * PYH_TASKROOTS_RESCAN_MS and only when a sample names a coroutine the table
 * does not hold. A task found in the table is checked again (it still holds
 * that coroutine) before its name is given: a task freed and another made at
 * its address never gets the old name. A sample whose outermost candidate is
 * a coroutine that no task known holds gets PYH_TASKROOTS_UNKNOWN, never a
 * guess; one without a coroutine among its candidates gets no task root.
 */
#ifndef PYH_RECORD_TASKROOTS_H
#define PYH_RECORD_TASKROOTS_H
#include <stdint.h>

#include "python/code.h"
#include "python/target.h"

#define PYH_TASKROOTS_UNKNOWN "[task not named]"
#define PYH_TASKROOTS_RESCAN_MS 100	/* registries read again at most this often */
#define PYH_TASKROOTS_MAX 8192		/* tasks kept in the table */
#define PYH_TASKROOTS_TEXT 256		/* a root frame's text */

struct pyh_taskroots;

/* For target t (kept by the caller while this lives) and its code cache
 * (the coroutines' names). NULL when out of memory. Nothing is read yet:
 * a process without asyncio costs one module-table lookup per rescan. */
struct pyh_taskroots *pyh_taskroots_new(const struct pyh_target *t, struct pyh_codecache *cache);
void pyh_taskroots_free(struct pyh_taskroots *r);	/* NULL-safe */

/* The root text for a sample with candidates gens[0..n) (innermost first,
 * 0-terminated early), valid until the next call: "task NAME (COROUTINE)",
 * PYH_TASKROOTS_UNKNOWN, or NULL when the sample is not in a task's step.
 * gone: the process has exited (nothing is read again). */
const char *pyh_taskroots_name(struct pyh_taskroots *r, const uint64_t *gens, int n, int gone);

/* Registry reads so far, samples given PYH_TASKROOTS_UNKNOWN, and of the
 * reads those whose thread list (3.14+: each thread state holds its tasks)
 * changed while it was read (python/threads.h): tasks of threads missing
 * from it were not in the table. */
void pyh_taskroots_stats(const struct pyh_taskroots *r, uint64_t *rescans, uint64_t *unknown,
			 uint64_t *list_changed);
#endif
