/* SPDX-License-Identifier: MIT */
/*
 * aio.h - a target's asyncio as pyhang reads it, from outside and without
 * running any of its code: which types its futures and tasks have (the C
 * accelerator's and the pure-Python ones), where its task registries are,
 * and the readers of one Future or Task.
 *
 * Everything is found through the interpreter's module table (sys.modules):
 * _asyncio's Future and Task types, asyncio.tasks' registries (the all-tasks
 * weak set, 3.12+'s eager tasks, the current task of each loop). Two things
 * are not reachable that way and come from the _asyncio extension's ELF file:
 * 3.6's C tasks, which _asyncio registers in a WeakSet kept in a static
 * variable (its .symtab names it; a stripped _asyncio cannot be read and
 * says so), and on 3.14+ the AsyncioDebug section (the layout of tasks and
 * the per-thread task lists). Readers follow python/objects.h: every byte
 * is the target's, every read bounded, outputs untouched on failure.
 */
#ifndef PYH_ASYNCIO_AIO_H
#define PYH_ASYNCIO_AIO_H
#include <stddef.h>
#include <stdint.h>

#include "asyncio/aiolayout.h"
#include "python/objects.h"
#include "python/target.h"

/* What kind of asyncio future an object is. */
enum pyh_fut_impl {
	PYH_FUT_NOT = 0,	/* not a future asyncio knows */
	PYH_FUT_C,		/* _asyncio.Future or a subclass (C fields) */
	PYH_FUT_C_TASK,		/* _asyncio.Task or a subclass */
	PYH_FUT_PY,		/* asyncio.futures._PyFuture or a subclass (instance attributes) */
	PYH_FUT_PY_TASK,	/* asyncio.tasks._PyTask or a subclass */
};

static inline int pyh_fut_is_task(int impl)
{
	return impl == PYH_FUT_C_TASK || impl == PYH_FUT_PY_TASK;
}

enum pyh_fut_state {
	PYH_FUT_PENDING = 0,
	PYH_FUT_CANCELLED,
	PYH_FUT_DONE,		/* asyncio's FINISHED: a result or an exception */
};

struct pyh_aio {
	struct pyh_objects *o;		/* the target's objects (not owned) */
	const struct pyh_target *t;	/* (not owned) */
	struct pyh_aiolayout l;		/* valid when have_c */
	int have_c;			/* _asyncio is loaded and its layout is known */
	int layout_from_target;		/* 3.14+: AsyncioDebug read from the target */
	int layout_mismatch;		/* fields where AsyncioDebug and the table differ */

	/* type objects, 0 where not loaded */
	uint64_t c_future, c_task;	/* _asyncio.Future, _asyncio.Task */
	uint64_t py_future, py_task;	/* asyncio.futures._PyFuture, asyncio.tasks._PyTask */
	uint64_t gathering;		/* asyncio.tasks._GatheringFuture */
	uint64_t deque;			/* collections.deque */
	uint64_t str_pending, str_cancelled, str_finished; /* base_futures._PENDING ... */

	/* registries, 0 where the version has none */
	uint64_t scheduled;		/* WeakSet: tasks._all_tasks (3.7 - 3.11), _scheduled_tasks */
	uint64_t eager;			/* set: tasks._eager_tasks (3.12+) */
	uint64_t py36_all;		/* 3.6: _PyTask._all_tasks (a WeakSet class attribute) */
	uint64_t c36_all;		/* 3.6: _asyncio's static `all_tasks` WeakSet */
	uint64_t current;		/* dict loop -> running task: tasks._current_tasks */
	uint64_t py36_current;		/* 3.6: _PyTask._current_tasks */
	uint64_t c36_current;		/* 3.6: _asyncio's static `current_tasks` dict */
	int lists;			/* 3.14+: per-thread and per-interpreter task lists */

	char note[192];			/* a registry that could not be found, "" */
};

/* Find the target's asyncio. o must be the target's objects context. Returns
 * 0, -ENOENT when asyncio is not imported (no "tasks" at all), or another
 * -errno with the reason in err (a version whose _asyncio layout pyhang does
 * not know, an unreadable module table). A registry that cannot be found is
 * not a failure: a->note says which, and the others are read. */
int pyh_aio_open(struct pyh_aio *a, struct pyh_objects *o, const struct pyh_target *t,
		 char *err, size_t errsz);

/* Which asyncio future the object of type `type` is. */
int pyh_aio_impl(struct pyh_aio *a, uint64_t type);

#define PYH_TASK_NAME_MAX 128

/* One Future or Task as read. */
struct pyh_fut {
	uint64_t addr, type;
	int impl;			/* enum pyh_fut_impl */
	int state;			/* enum pyh_fut_state */
	uint64_t loop;
	/* tasks only */
	uint64_t coro;			/* 0 when cleared */
	uint64_t fut_waiter;		/* what the task waits for; 0: nothing (ready, running) */
	uint64_t awaited_by;		/* 3.14+ C tasks: one awaiter or a set of them; 0 none */
	int awaited_by_is_set;
	char name[PYH_TASK_NAME_MAX];	/* UTF-8, cut to fit; "" when it has none (3.6) */
	int name_known;			/* 0: the name object could not be read */
};

/* Read the future or task at addr. Returns 0 with *out, -EINVAL when the
 * object is not an asyncio future (or its state is not one of the three),
 * or -errno. */
int pyh_aio_future(struct pyh_aio *a, uint64_t addr, struct pyh_fut *out);

/* The coroutine a task holds now (0: cleared): for a C task one read, for a
 * pure-Python one its `_coro` attribute. Returns 0 or -errno. */
int pyh_aio_task_coro(struct pyh_aio *a, uint64_t task, int impl, uint64_t *coro);

/* An instance attribute of an object of the target (dict or __slots__): a
 * shorthand for pyh_obj_attr. */
int pyh_aio_attr(struct pyh_aio *a, uint64_t obj, const char *name, uint64_t *value);
/* The same attribute read as a small int / a float / a bool, or the length
 * of a container (ob_size; -EINVAL when it is none). Return 0 or -errno. */
int pyh_aio_attr_int(struct pyh_aio *a, uint64_t obj, const char *name, int64_t *value);
int pyh_aio_attr_float(struct pyh_aio *a, uint64_t obj, const char *name, double *value);
int pyh_aio_attr_bool(struct pyh_aio *a, uint64_t obj, const char *name, int *value);
int pyh_aio_len(struct pyh_aio *a, uint64_t obj, int64_t *len);
/* An int object's value when it fits 64 bits. Returns 0 or -errno. */
int pyh_aio_int(struct pyh_aio *a, uint64_t obj, int64_t *value);
#endif
