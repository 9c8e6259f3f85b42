/* SPDX-License-Identifier: MIT */
/* record --tasks: naming the task whose step a sample was taken in. See taskroots.h. */
#include "record/taskroots.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "asyncio/aio.h"
#include "asyncio/registry.h"
#include "python/frames.h"
#include "python/objects.h"
#include "python/threads.h"

#define PYH_TASKROOTS_SLOTS (2 * PYH_TASKROOTS_MAX)	/* power of two */
#define PYH_NS_PER_MS 1000000ll
#define PYH_TASKROOTS_CORO 96	/* a coroutine's name in a root's text */

struct pyh_taskroot {
	uint64_t coro;		/* 0: free slot */
	uint64_t task;
	int impl;		/* enum pyh_fut_impl */
	char text[PYH_TASKROOTS_TEXT];
};

struct pyh_taskroots {
	const struct pyh_target *t;
	struct pyh_codecache *cache;
	struct pyh_objects o;
	struct pyh_aio a;
	int opened;		/* o and a are open */
	int64_t last_scan_ns;	/* 0: never */
	struct pyh_taskroot *slot;
	uint64_t *scratch;	/* registry addresses */
	struct pyh_pythread *threads;	/* PYH_MAX_THREADS: 3.14's per-thread task lists */
	uint64_t *tstates;
	uint64_t rescans, unknown;
	uint64_t list_changed;		/* rescans whose thread list changed in every read */
	char text[PYH_TASKROOTS_TEXT];
};

struct pyh_taskroots *pyh_taskroots_new(const struct pyh_target *t, struct pyh_codecache *cache)
{
	struct pyh_taskroots *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->t = t;
	r->cache = cache;
	r->slot = calloc(PYH_TASKROOTS_SLOTS, sizeof(*r->slot));
	r->scratch = calloc(PYH_TASKROOTS_MAX + 1, sizeof(*r->scratch));
	r->threads = calloc(PYH_MAX_THREADS, sizeof(*r->threads));
	r->tstates = calloc(PYH_MAX_THREADS, sizeof(*r->tstates));
	if (!r->slot || !r->scratch || !r->threads || !r->tstates) {
		pyh_taskroots_free(r);
		return NULL;
	}
	return r;
}

void pyh_taskroots_free(struct pyh_taskroots *r)
{
	if (!r)
		return;
	if (r->opened)
		pyh_objects_close(&r->o);
	free(r->slot);
	free(r->scratch);
	free(r->threads);
	free(r->tstates);
	free(r);
}

void pyh_taskroots_stats(const struct pyh_taskroots *r, uint64_t *rescans, uint64_t *unknown,
			 uint64_t *list_changed)
{
	*rescans = r ? r->rescans : 0;
	*unknown = r ? r->unknown : 0;
	*list_changed = r ? r->list_changed : 0;
}

static struct pyh_taskroot *pyh_root_slot(struct pyh_taskroots *r, uint64_t coro)
{
	size_t i = (size_t)((coro >> 4) * 0x9e3779b97f4a7c15ull) & (PYH_TASKROOTS_SLOTS - 1);

	while (r->slot[i].coro && r->slot[i].coro != coro)
		i = (i + 1) & (PYH_TASKROOTS_SLOTS - 1);
	return &r->slot[i];
}

/* The qualified name of the code a coroutine runs ("" when unreadable). */
static void pyh_coro_name(struct pyh_taskroots *r, uint64_t coro, char *out, size_t outsz)
{
	const struct pyh_objlayout *l = &r->o.l;
	struct pyh_raw_frame raw;
	enum pyh_walk_status st;
	const struct pyh_code_info *ci;
	struct pyh_obj ob;
	uint64_t frame = 0;

	out[0] = '\0';
	if (pyh_obj_get(&r->o, coro, &ob))
		return;
	if (l->gen_frame != PYH_NO_FIELD) {
		if (pyh_obj_read(&r->o, &ob, l->gen_frame, &frame, sizeof(frame)))
			return;
	} else if (l->gen_iframe != PYH_NO_FIELD) {
		frame = coro + l->gen_iframe;
	}
	if (!frame || pyh_frames_walk(r->t, frame, &raw, NULL, 1, &st) != 1)
		return;
	ci = pyh_code_get(r->cache, raw.code, 1);
	if (ci) {
		const char *name = ci->qualname[0] ? ci->qualname : ci->name;
		size_t len = strnlen(name, outsz - 1);	/* cut to fit */

		memcpy(out, name, len);
		out[len] = '\0';
	}
}

/* Read the registries again into the table. */
static void pyh_taskroots_scan(struct pyh_taskroots *r)
{
	struct pyh_registry reg = { .tasks = r->scratch, .max = PYH_TASKROOTS_MAX };
	struct pyh_threads_check chk = { 0 };
	uint64_t gil = 0, interp = 0;
	char err[256];
	int n;

	r->last_scan_ns = (int64_t)pyh_mono_ns();
	r->rescans++;
	if (!r->opened) {
		if (pyh_objects_from_target(&r->o, r->t, err, sizeof(err)))
			return;
		if (pyh_aio_open(&r->a, &r->o, r->t, err, sizeof(err))) {
			pyh_objects_close(&r->o);	/* asyncio not (yet) imported */
			return;
		}
		r->opened = 1;
	}
	/* types are read again: a class freed since may have left its address */
	pyh_objects_forget_types(&r->o);
	memset(r->slot, 0, PYH_TASKROOTS_SLOTS * sizeof(*r->slot));
	/* the per-thread lists of 3.14 need the thread states: read them too */
	n = 0;
	if (r->a.lists && !pyh_threads_read(r->t, r->threads, PYH_MAX_THREADS, &n, &gil, &chk)) {
		for (int i = 0; i < n; i++)
			r->tstates[i] = r->threads[i].tstate;
		interp = n ? r->threads[0].interp : 0;
		/* the tasks of threads cut off the list are not in the table: their
		 * samples are PYH_TASKROOTS_UNKNOWN (counted), never another task's */
		r->list_changed += chk.unmatched > 0;
	}
	if (pyh_registry_read(&r->a, r->tstates, n, interp, &reg))
		return;
	for (size_t i = 0; i < reg.n; i++) {
		struct pyh_taskroot *s;
		struct pyh_fut f;
		char coro[PYH_TASKROOTS_CORO];

		if (pyh_aio_future(&r->a, reg.tasks[i], &f) || !pyh_fut_is_task(f.impl) ||
		    f.state != PYH_FUT_PENDING || !f.coro)
			continue;
		s = pyh_root_slot(r, f.coro);
		s->coro = f.coro;
		s->task = f.addr;
		s->impl = f.impl;
		pyh_coro_name(r, f.coro, coro, sizeof(coro));
		if (f.name[0] && coro[0])
			snprintf(s->text, sizeof(s->text), "task %s (%s)", f.name, coro);
		else if (coro[0])
			snprintf(s->text, sizeof(s->text), "task 0x%llx (%s)", (unsigned long long)f.addr,
				 coro);
		else
			snprintf(s->text, sizeof(s->text), "task %s", f.name[0] ? f.name : "?");
	}
}

/* The table's task for coro, checked to hold it still. */
static const char *pyh_taskroots_lookup(struct pyh_taskroots *r, uint64_t coro, int gone)
{
	struct pyh_taskroot *s = pyh_root_slot(r, coro);
	uint64_t now = 0;

	if (!s->coro)
		return NULL;
	if (!gone && (pyh_aio_task_coro(&r->a, s->task, s->impl, &now) || now != coro))
		return NULL;	/* that task moved on: the table is stale */
	return s->text;
}

/* 1 when the object at addr is a coroutine (a task's step runs one). */
static int pyh_is_coroutine(struct pyh_taskroots *r, uint64_t addr)
{
	struct pyh_typeinfo ti;

	return r->opened && !pyh_obj_type(&r->o, addr, &ti) && ti.kind == PYH_OBJ_COROUTINE;
}

const char *pyh_taskroots_name(struct pyh_taskroots *r, const uint64_t *gens, int n, int gone)
{
	int64_t now;
	int last = -1;

	for (int i = 0; i < n && gens[i]; i++)
		last = i;
	if (last < 0)
		return NULL;	/* no generator frames: not a task's step */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i <= last && r->opened; i++) {
			const char *text = pyh_taskroots_lookup(r, gens[i], gone);

			if (text) {
				snprintf(r->text, sizeof(r->text), "%s", text);
				return r->text;
			}
		}
		now = (int64_t)pyh_mono_ns();
		if (pass || gone || (r->last_scan_ns &&
				     now - r->last_scan_ns < PYH_TASKROOTS_RESCAN_MS * PYH_NS_PER_MS))
			break;
		pyh_taskroots_scan(r);
	}
	if (gone || !pyh_is_coroutine(r, gens[last]))
		return NULL;
	r->unknown++;
	return PYH_TASKROOTS_UNKNOWN;
}
