/* SPDX-License-Identifier: MIT */
/* Reading asyncio's task registries. See registry.h. */
#include "asyncio/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "python/pydict.h"

#define PYH_REG_LIST_TRIES 3	/* a list that breaks off is walked this many times */
#define PYH_REG_ALIGN 8

/* The addresses kept so far, as an open-addressing set (slots: a power of
 * two at least twice max). */
struct pyh_reg_set {
	uint64_t *slot;
	size_t mask;
};

static int pyh_reg_set_init(struct pyh_reg_set *s, size_t max)
{
	size_t n = 16;

	while (n < 2 * max + 2)
		n <<= 1;
	s->slot = calloc(n, sizeof(*s->slot));
	s->mask = n - 1;
	return s->slot ? 0 : -ENOMEM;
}

/* 1 when addr was new (and is now kept), 0 when seen before. */
static int pyh_reg_set_add(struct pyh_reg_set *s, uint64_t addr)
{
	size_t i = (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull) & s->mask;

	while (s->slot[i]) {
		if (s->slot[i] == addr)
			return 0;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = addr;
	return 1;
}

static void pyh_reg_error(struct pyh_registry *r, const char *fmt, const char *what, long a1,
			  long a2)
{
	char msg[160];

	if (r->error[0])
		return;	/* the first problem is the one to say */
	snprintf(msg, sizeof(msg), fmt, what, a1, a2);
	snprintf(r->error, sizeof(r->error), "%s", msg);
}

static void pyh_reg_keep(struct pyh_registry *r, struct pyh_reg_set *seen, uint64_t task)
{
	if (!task || task % PYH_REG_ALIGN || !pyh_reg_set_add(seen, task))
		return;
	if (r->n < r->max)
		r->tasks[r->n++] = task;
	else
		r->truncated = 1;
}

/* One set of tasks (eager tasks) or of weak references to tasks (a WeakSet's
 * data). scratch has room for r->max + 1 items. */
static void pyh_reg_set(struct pyh_aio *a, struct pyh_registry *r, struct pyh_reg_set *seen,
			uint64_t set, int weak, const char *what, uint64_t *scratch)
{
	struct pyh_obj ob;
	size_t n = 0, length = 0;
	int rc = pyh_obj_get(a->o, set, &ob);

	if (!rc && ob.ti.kind != PYH_OBJ_SET)
		rc = -EINVAL;
	if (!rc)
		rc = pyh_set_items(a->o, &ob, scratch, r->max + 1, &n, &length);
	if (rc) {
		pyh_reg_error(r, "%s is unreadable (%ld)", what, (long)rc, 0);
		return;
	}
	r->total += length;
	if (n < length && n < r->max + 1)
		pyh_reg_error(r, "%s changed while it was read: %ld of %ld tasks read", what,
			      (long)n, (long)length);
	for (size_t i = 0; i < n; i++) {
		uint64_t task = scratch[i];

		if (weak) {
			struct pyh_obj wr;

			task = 0;
			if (pyh_obj_get(a->o, scratch[i], &wr) || pyh_obj_weakref(a->o, &wr, &task))
				continue;	/* a reference being dropped */
		}
		pyh_reg_keep(r, seen, task);
	}
}

/* A WeakSet: its `data` set of weak references. */
static void pyh_reg_weakset(struct pyh_aio *a, struct pyh_registry *r, struct pyh_reg_set *seen,
			    uint64_t weakset, const char *what, uint64_t *scratch)
{
	uint64_t data = 0;
	int rc;

	if (!weakset)
		return;
	rc = pyh_obj_getattr(a->o, weakset, "data", &data);
	if (rc) {
		pyh_reg_error(r, "%s (a WeakSet) has no readable data (%ld)", what, (long)rc, 0);
		return;
	}
	pyh_reg_set(a, r, seen, data, 1, what, scratch);
}

/* One circular list of C tasks (3.14+): head is the address of its struct
 * llist_node. The first max tasks go to out[0..*n), all are counted in
 * *count (up to PYH_REGISTRY_COUNT_MAX). Returns 0, or -EAGAIN when it
 * broke off (a node being removed, or garbage). */
static int pyh_reg_walk(struct pyh_aio *a, uint64_t head, uint64_t *out, size_t max, size_t *n,
			size_t *count)
{
	uint64_t node = 0, checkpoint = 0;
	size_t steps = 0, next_checkpoint = 1;

	*n = *count = 0;
	if (pyh_mem_read_u64(a->o->pid, head, &node))
		return -EAGAIN;
	while (node != head) {
		if (!node || node % PYH_REG_ALIGN || node == checkpoint)
			return -EAGAIN;
		if (*count >= PYH_REGISTRY_COUNT_MAX)
			return 0;
		(*count)++;
		if (*n < max)
			out[(*n)++] = node - a->l.task_node;
		if (++steps == next_checkpoint) {	/* Brent: a loop that misses head */
			checkpoint = node;
			next_checkpoint *= 2;
		}
		if (pyh_mem_read_u64(a->o->pid, node, &node))
			return -EAGAIN;
	}
	return 0;
}

static void pyh_reg_list(struct pyh_aio *a, struct pyh_registry *r, struct pyh_reg_set *seen,
			 uint64_t head, const char *what, long id, uint64_t *scratch)
{
	size_t n = 0, count = 0;
	int rc = -EAGAIN;

	for (int i = 0; i < PYH_REG_LIST_TRIES && rc; i++)
		rc = pyh_reg_walk(a, head, scratch, r->max + 1, &n, &count);
	if (rc)
		pyh_reg_error(r, "the task list of %s %ld broke off while it was read: %ld tasks "
			      "read", what, id, (long)n);
	r->total += count;
	for (size_t i = 0; i < n; i++)
		pyh_reg_keep(r, seen, scratch[i]);
}

int pyh_registry_read(struct pyh_aio *a, const uint64_t *tstates, int ntstates, uint64_t interp,
		      struct pyh_registry *r)
{
	struct pyh_reg_set seen = { 0 };
	uint64_t *scratch = calloc(r->max + 1, sizeof(*scratch));
	int rc = 0;

	r->n = r->total = 0;
	r->truncated = 0;
	r->error[0] = '\0';
	if (!scratch || pyh_reg_set_init(&seen, r->max)) {
		rc = -ENOMEM;
		goto cleanup;
	}
	if (a->lists) {
		for (int i = 0; i < ntstates; i++)
			pyh_reg_list(a, r, &seen, tstates[i] + a->l.tstate_tasks_head, "thread state",
				     (long)i, scratch);
		if (interp)
			pyh_reg_list(a, r, &seen, interp + a->l.interp_tasks_head,
				     "the interpreter (tasks of threads that exited)", 0, scratch);
	}
	pyh_reg_weakset(a, r, &seen, a->scheduled, a->t->ver.minor >= 12 ?
			"asyncio.tasks._scheduled_tasks" : "asyncio.tasks._all_tasks", scratch);
	if (a->eager)
		pyh_reg_set(a, r, &seen, a->eager, 0, "asyncio.tasks._eager_tasks", scratch);
	pyh_reg_weakset(a, r, &seen, a->py36_all, "asyncio.Task._all_tasks", scratch);
	pyh_reg_weakset(a, r, &seen, a->c36_all, "_asyncio's all_tasks", scratch);
	if (r->total < r->n)
		r->total = r->n;
	r->truncated = r->truncated || r->total > r->n;
cleanup:
	free(seen.slot);
	free(scratch);
	return rc;
}
