/* SPDX-License-Identifier: MIT */
/* Every asyncio task of a process. See tasks.h. */
#include "asyncio/tasks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio/coro.h"
#include "asyncio/registry.h"
#include "proc/mem.h"
#include "python/frames.h"
#include "python/pydict.h"
#include "python/threads.h"

#define PYH_TASKS_LOOPS_MAX 256		/* event loops told apart, at most */
#define PYH_TASKS_CURRENT_MAX 256	/* entries of _current_tasks looked at */

const char *pyh_task_state_text(int state)
{
	switch (state) {
	case PYH_FUT_PENDING: return "pending";
	case PYH_FUT_CANCELLED: return "cancelled";
	default: return "done";
	}
}

static void pyh_tasks_err(struct pyh_tasks *ts, const char *what, const char *detail)
{
	const char *parts[3] = { ts->error[0] ? "; " : "", what, detail ? detail : "" };
	size_t w = strlen(ts->error), room = sizeof(ts->error) - 1;

	for (int i = 0; i < 3; i++)
		for (const char *p = parts[i]; *p && w < room; p++)
			ts->error[w++] = *p;
	ts->error[w] = '\0';
}

void pyh_tasks_free(struct pyh_tasks *ts)
{
	if (!ts)
		return;
	for (int i = 0; i < ts->n; i++) {
		struct pyh_task *k = &ts->v[i];

		for (int j = 0; j < k->nframes; j++)
			pyh_frame_release(&k->frames[j]);
		free(k->frames);
		pyh_await_free(&k->await);
	}
	free(ts->v);
	free(ts->loops);
	free(ts->by_addr);
	pyh_agraph_free(&ts->graph);
	memset(ts, 0, sizeof(*ts));
}

static int pyh_cmp_addr(const void *a, const void *b, void *arg)
{
	const struct pyh_tasks *ts = arg;
	uint64_t x = ts->v[*(const int *)a].addr, y = ts->v[*(const int *)b].addr;

	return x < y ? -1 : x > y;
}

const struct pyh_task *pyh_tasks_find(const struct pyh_tasks *ts, uint64_t addr)
{
	int lo = 0, hi = ts->n;

	if (!ts->by_addr)
		return NULL;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (ts->v[ts->by_addr[mid]].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ts->n && ts->v[ts->by_addr[lo]].addr == addr ? &ts->v[ts->by_addr[lo]] : NULL;
}

/* Names in natural order ("Task-2" before "Task-10"), unnamed ones last,
 * then by address: what people read, and the same from dump to dump. */
static int pyh_task_cmp(const void *a, const void *b)
{
	const struct pyh_task *x = a, *y = b;
	const char *p = x->name, *q = y->name;

	if (!*p != !*q)
		return *p ? -1 : 1;
	while (*p && *q) {
		if (*p >= '0' && *p <= '9' && *q >= '0' && *q <= '9') {
			size_t lp = strspn(p, "0123456789"), lq = strspn(q, "0123456789");
			int c;

			while (lp > 1 && *p == '0')
				p++, lp--;
			while (lq > 1 && *q == '0')
				q++, lq--;
			if (lp != lq)
				return lp < lq ? -1 : 1;
			c = strncmp(p, q, lp);
			if (c)
				return c;
			p += lp;
			q += lq;
			continue;
		}
		if (*p != *q)
			return (unsigned char)*p < (unsigned char)*q ? -1 : 1;
		p++, q++;
	}
	if (*p || *q)
		return *p ? 1 : -1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* ------------------------------------------------------------ one task */

/* The chain's frames named, innermost first, into k. */
static int pyh_task_frames(struct pyh_codecache *cache, const struct pyh_chain *ch,
			   struct pyh_task *k)
{
	k->frames = calloc((size_t)(ch->n ? ch->n : 1), sizeof(*k->frames));
	if (!k->frames)
		return -ENOMEM;
	for (int i = 0; i < ch->n; i++) {
		const struct pyh_chain_frame *f = &ch->frames[ch->n - 1 - i];

		pyh_frame_name(cache, &f->raw, f->frame, 0, &k->frames[i]);
	}
	k->nframes = ch->n;
	k->frames_truncated = ch->end == PYH_CHAIN_TRUNCATED;
	for (int i = 0; i < ch->n; i++) {
		if (!k->frames[i].ci) {
			snprintf(k->stack_error, sizeof(k->stack_error), "frame %d is not a readable "
				 "code object (freed or overwritten)", i);
			break;
		}
	}
	if (ch->end == PYH_CHAIN_BROKEN || ch->end == PYH_CHAIN_CYCLE)
		snprintf(k->stack_error, sizeof(k->stack_error), "%s", ch->error);
	else if (ch->end == PYH_CHAIN_DONE)
		snprintf(k->stack_error, sizeof(k->stack_error), ch->n ? "the coroutine it awaits "
			 "has just finished (the task is moving on)" : "its coroutine has just finished "
			 "(the task is being completed)");
	return 0;
}

static int pyh_task_read(struct pyh_aio *a, struct pyh_codecache *cache,
			 struct pyh_await_ctx *actx, const struct pyh_fut *f,
			 struct pyh_chain *ch, struct pyh_task *k)
{
	int rc;

	memset(k, 0, sizeof(*k));
	k->addr = f->addr;
	k->state = f->state;
	k->loop = f->loop;
	k->fut_waiter = f->fut_waiter;
	snprintf(k->name, sizeof(k->name), "%s", f->name);
	if (f->state != PYH_FUT_PENDING)
		return 0;	/* a finished task has no stack left to show */
	if (!f->coro) {
		snprintf(k->stack_error, sizeof(k->stack_error), "the task holds no coroutine");
		return 0;
	}
	pyh_coro_chain(a, f->coro, ch);
	rc = pyh_task_frames(cache, ch, k);
	if (ch->n) {
		k->coro_frame = ch->frames[0].frame;
		k->coro_code = ch->frames[0].raw.code;
	}
	if (!rc)
		rc = pyh_await_classify(actx, f, ch, k->frames, &k->await);
	if (!rc && ch->end == PYH_CHAIN_RUNNING)
		k->running = 1;
	return rc;
}

/* ------------------------------------------------------------ loops */

static struct pyh_task_loop *pyh_loop_of(struct pyh_tasks *ts, uint64_t loop)
{
	for (int i = 0; i < ts->nloops; i++)
		if (ts->loops[i].loop == loop)
			return &ts->loops[i];
	if (!loop || ts->nloops >= PYH_TASKS_LOOPS_MAX)
		return NULL;
	ts->loops[ts->nloops] = (struct pyh_task_loop){ .loop = loop };
	return &ts->loops[ts->nloops++];
}

/* The thread and the running task of each loop: 3.14+ from each thread
 * state (asyncio_running_loop, asyncio_running_task); before, the loop's
 * _thread_id (threading.get_ident() of run_forever's thread, the pthread_t
 * a thread state keeps) and asyncio.tasks._current_tasks. */
static void pyh_tasks_loops(struct pyh_aio *a, struct pyh_tasks *ts,
			    const struct pyh_pythread *py, int npy)
{
	uint64_t dicts[3] = { a->current, a->py36_current, a->c36_current };

	for (int i = 0; i < ts->n; i++)
		pyh_loop_of(ts, ts->v[i].loop);
	if (a->lists) {
		for (int i = 0; i < npy; i++) {
			uint64_t loop = 0, task = 0;
			struct pyh_task_loop *l;

			if (pyh_mem_read_u64(a->o->pid, py[i].tstate + a->l.tstate_running_loop, &loop) ||
			    !loop || !(l = pyh_loop_of(ts, loop)))
				continue;
			l->tid = py[i].tid;
			if (!pyh_mem_read_u64(a->o->pid, py[i].tstate + a->l.tstate_running_task, &task))
				l->current = task;
		}
	}
	for (int i = 0; i < ts->nloops; i++) {
		struct pyh_task_loop *l = &ts->loops[i];
		int64_t ident = 0;

		if (l->tid || pyh_aio_attr_int(a, l->loop, "_thread_id", &ident) || !ident)
			continue;
		for (int p = 0; p < npy; p++)
			if (py[p].thread_id == (uint64_t)ident)
				l->tid = py[p].tid;
	}
	for (int d = 0; d < 3; d++) {
		struct pyh_kv kv[PYH_TASKS_CURRENT_MAX];
		struct pyh_obj ob;
		size_t n = 0, length = 0;

		if (!dicts[d] || pyh_obj_get(a->o, dicts[d], &ob) || ob.ti.kind != PYH_OBJ_DICT ||
		    pyh_dict_items(a->o, &ob, kv, PYH_TASKS_CURRENT_MAX, &n, &length))
			continue;
		for (size_t j = 0; j < n; j++) {
			struct pyh_task_loop *l = pyh_loop_of(ts, kv[j].key);

			if (l && !l->current)
				l->current = kv[j].value;
		}
	}
	for (int i = 0; i < ts->n; i++) {
		struct pyh_task *k = &ts->v[i];
		struct pyh_task_loop *l = pyh_loop_of(ts, k->loop);

		if (!l)
			continue;
		k->tid = l->tid;
		if (l->current == k->addr)
			k->running = 1;
	}
	/* a task whose step runs awaits nothing now (its fut_waiter is cleared at
	 * the start of a step; one read before that is stale) */
	for (int i = 0; i < ts->n; i++)
		if (ts->v[i].running)
			pyh_await_free(&ts->v[i].await);
}

/* ------------------------------------------------------------ the graph */

/* 3.14+: each task's awaited_by (one awaiter or a set of them): the awaiters
 * gain an edge to the task. */
static int pyh_tasks_awaited_by(struct pyh_aio *a, struct pyh_tasks *ts, const struct pyh_fut *fs)
{
	for (int i = 0; i < ts->n; i++) {
		uint64_t by[PYH_AWAIT_MAX_EDGES];
		size_t n = 0, length = 0;

		if (!fs[i].awaited_by)
			continue;
		if (fs[i].awaited_by_is_set) {
			struct pyh_obj ob;

			if (pyh_obj_get(a->o, fs[i].awaited_by, &ob) || ob.ti.kind != PYH_OBJ_SET ||
			    pyh_set_items(a->o, &ob, by, PYH_AWAIT_MAX_EDGES, &n, &length))
				continue;
		} else {
			by[n++] = fs[i].awaited_by;
		}
		for (size_t j = 0; j < n; j++) {
			struct pyh_task *x = (struct pyh_task *)pyh_tasks_find(ts, by[j]);
			struct pyh_await *w;
			int dup = 0;

			if (!x || x->state != PYH_FUT_PENDING)
				continue;
			w = &x->await;
			for (int e = 0; e < w->nawaits; e++)
				dup |= w->awaits[e] == ts->v[i].addr;
			if (!dup && pyh_await_add_edge(w, ts->v[i].addr))
				return -ENOMEM;
		}
	}
	return 0;
}

static int pyh_tasks_graph(struct pyh_tasks *ts)
{
	struct pyh_agraph_in *in = calloc((size_t)ts->n + 1, sizeof(*in));
	int rc;

	if (!in)
		return -ENOMEM;
	for (int i = 0; i < ts->n; i++)
		in[i] = (struct pyh_agraph_in){ ts->v[i].addr, ts->v[i].await.awaits,
						ts->v[i].await.nawaits };
	rc = pyh_agraph_build(in, ts->n, &ts->graph);
	free(in);
	return rc;
}

static int pyh_tasks_index(struct pyh_tasks *ts)
{
	ts->by_addr = malloc(((size_t)ts->n + 1) * sizeof(int));
	if (!ts->by_addr)
		return -ENOMEM;
	for (int i = 0; i < ts->n; i++)
		ts->by_addr[i] = i;
	qsort_r(ts->by_addr, (size_t)ts->n, sizeof(int), pyh_cmp_addr, ts);
	return 0;
}

static int pyh_task_idx_cmp(const void *a, const void *b, void *arg)
{
	const struct pyh_task *v = arg;

	return pyh_task_cmp(&v[*(const int *)a], &v[*(const int *)b]);
}

/* Sort the tasks (pyh_task_cmp), their futures fs[] along. */
static int pyh_tasks_sort(struct pyh_tasks *ts, struct pyh_fut *fs)
{
	size_t n = (size_t)ts->n;
	int *idx = malloc((n + 1) * sizeof(*idx));
	struct pyh_task *v = malloc((n + 1) * sizeof(*v));
	struct pyh_fut *f = malloc((n + 1) * sizeof(*f));

	if (!idx || !v || !f) {
		free(idx);
		free(v);
		free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = (int)i;
	qsort_r(idx, n, sizeof(*idx), pyh_task_idx_cmp, ts->v);
	for (size_t i = 0; i < n; i++) {
		v[i] = ts->v[idx[i]];
		f[i] = fs[idx[i]];
	}
	memcpy(ts->v, v, n * sizeof(*v));
	memcpy(fs, f, n * sizeof(*f));
	free(idx);
	free(v);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ all of it */

struct pyh_tasks_work {
	struct pyh_objects o;
	struct pyh_aio a;
	struct pyh_await_ctx actx;
	struct pyh_registry reg;
	struct pyh_pythread *py;
	uint64_t *tstates;
	struct pyh_fut *fs;
	struct pyh_chain ch;
	struct pyh_codecache *own_cache;
	int o_open, actx_open;
};

static void pyh_tasks_work_free(struct pyh_tasks_work *w)
{
	if (w->actx_open)
		pyh_await_ctx_free(&w->actx);
	if (w->o_open)
		pyh_objects_close(&w->o);
	pyh_codecache_free(w->own_cache);
	free(w->reg.tasks);
	free(w->py);
	free(w->tstates);
	free(w->fs);
	free(w->ch.frames);
}

/* The tasks of the registries, each read whole. */
static int pyh_tasks_each(struct pyh_tasks_work *w, struct pyh_codecache *cache,
			  struct pyh_tasks *ts)
{
	size_t unreadable = 0;
	int rc = 0;

	ts->v = calloc(w->reg.n + 1, sizeof(*ts->v));
	w->fs = calloc(w->reg.n + 1, sizeof(*w->fs));
	if (!ts->v || !w->fs)
		return -ENOMEM;
	for (size_t i = 0; i < w->reg.n && !rc; i++) {
		struct pyh_fut f;

		if (pyh_aio_future(&w->a, w->reg.tasks[i], &f) || !pyh_fut_is_task(f.impl)) {
			unreadable++;	/* freed while the registry was read, or garbage */
			continue;
		}
		w->fs[ts->n] = f;
		rc = pyh_task_read(&w->a, cache, &w->actx, &f, &w->ch, &ts->v[ts->n]);
		ts->n++;
	}
	if (unreadable) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%zu registered tasks were not readable tasks (freed "
			 "while read, or corrupt)", unreadable);
		pyh_tasks_err(ts, msg, NULL);
	}
	return rc;
}

int pyh_tasks_read(const struct pyh_target *t, struct pyh_codecache *cache,
		   const struct pyh_tasks_opts *opts, struct pyh_tasks *ts)
{
	struct pyh_tasks_work *w = calloc(1, sizeof(*w));
	struct pyh_threads_check chk = { 0 };
	char err[256];
	uint64_t gil = 0;
	int npy = 0, rc;

	memset(ts, 0, sizeof(*ts));
	if (!w)
		return -ENOMEM;
	err[0] = '\0';
	if (pyh_objects_from_target(&w->o, t, err, sizeof(err))) {
		pyh_tasks_err(ts, "objects cannot be read: ", err);
		rc = 0;
		goto cleanup;
	}
	w->o_open = 1;
	rc = pyh_aio_open(&w->a, &w->o, t, err, sizeof(err));
	if (rc) {
		if (rc != -ENOENT)
			pyh_tasks_err(ts, err, NULL);
		ts->present = rc != -ENOENT;
		rc = 0;
		goto cleanup;
	}
	ts->present = 1;
	if (w->a.note[0])
		pyh_tasks_err(ts, w->a.note, NULL);
	if (!cache)
		cache = w->own_cache = pyh_codecache_new(t);
	w->py = calloc(PYH_MAX_THREADS, sizeof(*w->py));
	w->tstates = calloc(PYH_MAX_THREADS, sizeof(*w->tstates));
	w->reg.max = opts->max_tasks;
	w->reg.tasks = calloc(opts->max_tasks + 1, sizeof(*w->reg.tasks));
	w->ch.max = opts->max_frames;
	w->ch.frames = calloc((size_t)opts->max_frames, sizeof(*w->ch.frames));
	if (!cache || !w->py || !w->tstates || !w->reg.tasks || !w->ch.frames ||
	    pyh_await_ctx_init(&w->actx, &w->a, pyh_await_target_now(t->pid))) {
		rc = -ENOMEM;
		goto cleanup;
	}
	w->actx_open = 1;
	if (pyh_threads_read(t, w->py, PYH_MAX_THREADS, &npy, &gil, &chk))
		npy = 0;
	if (chk.unmatched && w->a.lists)	/* 3.14+: each thread state holds its tasks */
		pyh_tasks_err(ts, "the thread list changed while it was read: the task list may be "
			      "incomplete (tasks of threads missing from it)", NULL);
	for (int i = 0; i < npy; i++)
		w->tstates[i] = w->py[i].tstate;
	rc = pyh_registry_read(&w->a, w->tstates, npy, npy ? w->py[0].interp : 0, &w->reg);
	if (rc)
		goto cleanup;
	if (w->reg.error[0])
		pyh_tasks_err(ts, w->reg.error, NULL);
	ts->total = w->reg.total;
	ts->truncated = w->reg.truncated;
	ts->loops = calloc(PYH_TASKS_LOOPS_MAX, sizeof(*ts->loops));
	if (!ts->loops) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = pyh_tasks_each(w, cache, ts);
	if (!rc)
		rc = pyh_tasks_sort(ts, w->fs);
	if (!rc)
		rc = pyh_tasks_index(ts);
	if (!rc)
		pyh_tasks_loops(&w->a, ts, w->py, npy);
	if (!rc)
		rc = pyh_tasks_awaited_by(&w->a, ts, w->fs);
	if (!rc)
		rc = pyh_tasks_graph(ts);
cleanup:
	pyh_tasks_work_free(w);
	free(w);
	if (rc)
		pyh_tasks_free(ts);
	return rc;
}
