/* SPDX-License-Identifier: MIT */
/*
 * aiolayout.h - where asyncio's C accelerator (_asyncio) keeps the insides of
 * its Future and Task objects, and where a FutureIter, an async generator's
 * asend object and a coroutine wrapper keep what they wrap.
 *
 * Those structs are private to Modules/_asynciomodule.c and Objects/genobject.c,
 * so no installed header has them: one table per CPython version (3.6 - 3.14,
 * 3.14t), measured on live objects of each interpreter by
 * tools/gen-aiolayouts.sh. On 3.14+ the _asyncio module carries an
 * `AsyncioDebug` section (what `python -m asyncio ps` reads): its offsets are
 * taken from the target and the table only cross-checks them; the per-thread
 * and per-interpreter task lists are known only from it. Offsets are in bytes
 * from the start of the object; PYH_NO_FIELD marks what a version lacks.
 */
#ifndef PYH_ASYNCIO_AIOLAYOUT_H
#define PYH_ASYNCIO_AIOLAYOUT_H
#include <stddef.h>
#include <stdint.h>

#include "pyhang/layout.h"

struct pyh_aiolayout {
	uint32_t version_hex;		/* major << 24 | minor << 16 */
	uint32_t free_threaded;

	/* FutureObj (a Task starts with the same fields) */
	uint32_t fut_loop;
	uint32_t fut_result;
	uint32_t fut_exception;
	uint32_t fut_callback0;		/* 3.7+ */
	uint32_t fut_state;		/* a C enum (int) */
	uint32_t state_pending, state_cancelled, state_finished;
	uint32_t fut_awaited_by;	/* 3.14+: one awaiter, or a set of them */
	uint32_t fut_awaited_by_is_set;	/* 3.14+: char, 1 when fut_awaited_by is a set */

	/* TaskObj */
	uint32_t task_fut_waiter;	/* the future the task's coroutine waits on, or NULL */
	uint32_t task_coro;
	uint32_t task_name;		/* 3.8+: a str, or (3.13+) an int N for "Task-N" */
	uint32_t task_node;		/* 3.14+: struct llist_node { next, prev } in the task lists */

	/* what iterators of awaits point at */
	uint32_t futureiter_future;	/* FutureIter.future (Future.__await__()) */
	uint32_t asend_gen;		/* PyAsyncGenASend.ags_gen */
	uint32_t corowrapper_coro;	/* PyCoroWrapper.cw_coroutine (coro.__await__()) */

	/* 3.14+, from AsyncioDebug only (PYH_NO_FIELD in the tables) */
	uint32_t interp_tasks_head;	/* PyInterpreterState.asyncio_tasks_head: tasks of
					 * threads that exited */
	uint32_t tstate_tasks_head;	/* _PyThreadStateImpl.asyncio_tasks_head */
	uint32_t tstate_running_loop;
	uint32_t tstate_running_task;
};

_Static_assert(sizeof(struct pyh_aiolayout) % 4 == 0, "struct pyh_aiolayout: 32-bit fields only");

/* The committed table for major.minor (free-threaded or not), or NULL. */
const struct pyh_aiolayout *pyh_aiolayout_table(int major, int minor, int free_threaded);

/* Bytes of an AsyncioDebug section (3.14: 13 words). */
#define PYH_ASYNCIO_DEBUG_SIZE (13 * 8)

/* Overlay a copy of the target's AsyncioDebug section (buf, len bytes) on
 * *out, which the caller filled from the table of the same version: the task
 * fields it carries, and the task lists of interpreters and threads. Every
 * offset must lie inside the struct size the section declares. Sets
 * *mismatch to the fields where section and table disagree (the section
 * wins). Returns 0, or -EINVAL with the reason in err (out untouched). */
int pyh_aiolayout_from_debug(const void *buf, size_t len, struct pyh_aiolayout *out,
			     int *mismatch, char *err, size_t errsz);
#endif
