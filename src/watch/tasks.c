/* The asyncio side of the hang detector's engine: a watched process's tasks
 * read from its registries (asyncio/tasks.h) every half threshold, each
 * suspended task's await point fed to the awaiting detector
 * (pyh_detect_task), and what it decides turned into "awaiting" and
 * "resumed" events with the task's await chain, what it awaits and who
 * awaits it. Also names the task whose step a reported thread runs. */
#include "watch/watcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "asyncio/tasks.h"
#include "log/log.h"

#define PYH_WATCH_TASKS_MIN_NS 200000000ull	/* looks at most every 0.2 s ... */
#define PYH_WATCH_TASKS_MAX_NS 1000000000ull	/* ... and at least every 1 s */
#define PYH_WATCH_TASKS_ABSENT_NS 5000000000ull	/* without asyncio: every 5 s */
#define PYH_WATCH_TASKS_FIRST_NS 2000000000ull	/* the first look: 2 s (or a period) after attaching */
/* A look that took T waits at least this many times T before the next one:
 * watch spends at most about a tenth of a core on a process's tasks (10,000
 * tasks take ~0.4 s to read here, so they are looked at every ~4 s). */
#define PYH_WATCH_TASKS_DUTY 10
/* One scan starts no more looks at tasks once they took this long in it: the
 * processes still due are looked at in the next scans, and the threads'
 * detectors keep their 200 ms pace whatever the tasks cost (--all). */
#define PYH_WATCH_TASKS_BUDGET_NS 50000000ull

static int pyh_wtask_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct pyh_wtask *)a)->addr, y = ((const struct pyh_wtask *)b)->addr;

	return x < y ? -1 : x > y;
}

static struct pyh_wtask *pyh_wtask_find(struct pyh_wtask *v, int n, uint64_t addr)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].addr == addr ? &v[lo] : NULL;
}

/* What tells task i's wait from another at the same addresses: its name and
 * the names of the tasks it awaits. */
static uint64_t pyh_task_ident(const struct pyh_tasks *ts, int i)
{
	const struct pyh_agraph *g = &ts->graph;
	uint64_t salt = pyh_task_salt(0, ts->v[i].name);

	if (g->n != ts->n || !g->awaits_at)
		return salt;
	for (int e = g->awaits_at[i]; e < g->awaits_at[i + 1]; e++)
		salt = pyh_task_salt(salt, ts->v[g->awaits[e]].name);
	return salt;
}

static const struct pyh_tasks_opts pyh_watch_tasks_opts = {
	.max_tasks = PYH_TASKS_DEFAULT_MAX,
	.max_frames = PYH_TASK_DEFAULT_FRAMES,
};

/* e's task from task i of ts: what it awaits and who awaits it. */
static void pyh_task_fill(struct pyh_wevent *e, const struct pyh_tasks *ts, int i)
{
	const struct pyh_task *k = &ts->v[i];
	const struct pyh_agraph *g = &ts->graph;
	const char *kind = pyh_await_kind_name(k->await.kind);
	struct pyh_wtaskev *t = &e->task;

	e->has_task = 1;
	t->id = k->addr;
	snprintf(t->name, sizeof(t->name), "%s", k->name);
	t->state = pyh_task_state_text(k->state);
	if (kind) {
		snprintf(t->await_kind, sizeof(t->await_kind), "%s", kind);
		snprintf(t->await_detail, sizeof(t->await_detail), "%s", k->await.detail);
	}
	if (g->n != ts->n || !g->by_at)
		return;
	for (int b = g->by_at[i]; b < g->by_at[i + 1]; b++) {
		const struct pyh_task *by = &ts->v[g->by[b]];

		if (t->nawaited_by >= PYH_WATCH_EV_MAX_AWAITERS) {
			t->awaited_by_more++;
			continue;
		}
		t->awaited_by[t->nawaited_by] = by->addr;
		snprintf(t->awaited_by_name[t->nawaited_by], sizeof(t->awaited_by_name[0]), "%.63s", by->name);
		t->nawaited_by++;
	}
}

/* An "awaiting" or "resumed" event about task i of ts (ts NULL: a task gone
 * from the registries, known by what was remembered of it, r). */
static void pyh_task_event(struct pyh_watcher *w, struct pyh_watched *p, const char *kind,
			   const struct pyh_tasks *ts, int i, const struct pyh_wtask *r, double seconds)
{
	struct pyh_wthread *th;
	struct pyh_wevent e;

	pyh_watched_event(p, &e, kind);
	e.seconds = seconds;
	e.nth = 1;
	th = &e.th[0];
	th->seconds = seconds;
	if (ts) {
		const struct pyh_task *k = &ts->v[i];

		pyh_task_fill(&e, ts, i);
		th->tid = k->tid ? k->tid : p->pid;
		th->frames = calloc((size_t)(k->nframes > 0 ? k->nframes : 1), sizeof(*th->frames));
		if (th->frames) {
			for (int f = 0; f < k->nframes; f++)
				pyh_frame_copy(&th->frames[f], &k->frames[f]);
			th->nframes = k->nframes;
		}
		if (k->stack_error[0])
			snprintf(e.note, sizeof(e.note), "its await chain: %s", k->stack_error);
		else if (ts->error[0])
			snprintf(e.note, sizeof(e.note), "the task registries: %.200s", ts->error);
	} else {
		e.has_task = 1;
		e.task.id = r->addr;
		e.task.finished = 1;
		e.task.state = NULL;
		snprintf(e.task.name, sizeof(e.task.name), "%s", r->name);
		th->tid = r->tid ? r->tid : p->pid;
		snprintf(e.note, sizeof(e.note), "the task is no longer in asyncio's registries (done and freed)");
	}
	pyh_watched_fill_task(p, th, NULL);
	pyh_watcher_emit(w, &e);
}

void pyh_watcher_tasks(struct pyh_watcher *w, struct pyh_watched *p)
{
	const struct pyh_scan *s = &w->scan.s;
	uint64_t period = s->threshold_ns / 2, t0, took;
	struct pyh_wtask *next;
	struct pyh_tasks ts;
	int nn = 0, hung = 0, partial;

	period = period < PYH_WATCH_TASKS_MIN_NS ? PYH_WATCH_TASKS_MIN_NS :
		 period > PYH_WATCH_TASKS_MAX_NS ? PYH_WATCH_TASKS_MAX_NS : period;
	if (!p->tasks.next_ns) {
		/* a task's clock starts at its first look: that look can wait,
		 * and a process that lives less (--all: most short-lived ones)
		 * is never read for tasks */
		p->tasks.next_ns = s->now_ns + (period > PYH_WATCH_TASKS_FIRST_NS ? period : PYH_WATCH_TASKS_FIRST_NS);
		return;
	}
	if (s->now_ns < p->tasks.next_ns || w->scan.tasks_ns >= PYH_WATCH_TASKS_BUDGET_NS)
		return;
	t0 = pyh_mono_ns();
	if (p->state.stalled || p->state.bin_stalled)
		return;
	if (pyh_watched_tasks(p, &pyh_watch_tasks_opts, &ts))
		return;		/* stalled (said), or out of memory: the next scan tries again */
	took = pyh_mono_ns() - t0;
	w->scan.tasks_ns += took;
	if (period < PYH_WATCH_TASKS_DUTY * took)
		period = PYH_WATCH_TASKS_DUTY * took;
	p->tasks.seen = ts.present;
	p->tasks.absent = !ts.present;
	p->tasks.next_ns = s->now_ns + (ts.present ? period : PYH_WATCH_TASKS_ABSENT_NS);
	if (!ts.present) {
		pyh_tasks_free(&ts);
		return;
	}
	if (ts.truncated && !p->tasks.cap_said) {
		fprintf(stderr, "pyhang: process %d has %zu asyncio tasks: watch looks at the first %zu "
			"only, the others are never reported\n", (int)p->pid, ts.total, (size_t)ts.n);
		p->tasks.cap_said = 1;
	}
	if (ts.error[0] && !p->tasks.error_said && pyh_log_verbosity()) {
		fprintf(stderr, "pyhang: process %d: asyncio tasks: %s\n", (int)p->pid, ts.error);
		p->tasks.error_said = 1;
	}
	/* a partial list (cut at the cap, or a registry changing while read)
	 * says nothing of the tasks it does not hold: they are kept as they were */
	partial = ts.truncated || ts.error[0];
	next = calloc((size_t)ts.n + (size_t)p->tasks.n + 1, sizeof(*next));
	if (!next) {
		pyh_tasks_free(&ts);
		return;
	}
	for (int i = 0; i < ts.n && !pyh_stopped(w); i++) {
		const struct pyh_task *k = &ts.v[i];
		struct pyh_wtask *old = pyh_wtask_find(p->tasks.v, p->tasks.n, k->addr);
		struct pyh_wtask t = old ? *old : (struct pyh_wtask){ .addr = k->addr };
		uint64_t sig = 0, since = t.since;
		const char *why = NULL;
		int idle = 0;

		if (old)
			old->state = PYH_TSK_NONE;	/* seen: not gone */
		if (k->state == PYH_FUT_PENDING && !k->running && k->await.kind != PYH_AWAIT_NONE)
			sig = pyh_task_signature(k->frames, k->nframes, k->fut_waiter, pyh_task_ident(&ts, i));
		if (pyh_detect_task_due(&t, sig, s))
			idle = pyh_ignore_task_match(&w->o->ignore, k->frames, k->nframes,
						     pyh_await_kind_name(k->await.kind), &why);
		t.tid = k->tid;
		snprintf(t.name, sizeof(t.name), "%.63s", k->name);
		switch (pyh_detect_task(&t, sig, idle, s)) {
		case PYH_TASK_REPORT:
			hung++;
			pyh_task_event(w, p, "awaiting", &ts, i, NULL, pyh_scan_seconds(s, t.since));
			break;
		case PYH_TASK_HUNG:
			hung++;
			break;
		case PYH_TASK_RESUMED:
			pyh_task_event(w, p, "resumed", &ts, i, NULL, pyh_scan_seconds(s, since));
			break;
		case PYH_TASK_IDLE:
			if (why && pyh_log_verbosity() > 1)
				fprintf(stderr, "pyhang: task %s of process %d idle (%s)\n", k->name,
					(int)p->pid, why);
			break;
		default:
			break;
		}
		if (t.sig)
			next[nn++] = t;
	}
	for (int i = 0; i < p->tasks.n; i++) {
		const struct pyh_wtask *r = &p->tasks.v[i];

		if (!pyh_detect_task_gone(r))
			continue;
		if (partial || pyh_stopped(w)) {
			next[nn++] = *r;	/* not known to be gone */
			hung++;
		} else {
			pyh_task_event(w, p, "resumed", NULL, 0, r, pyh_scan_seconds(s, r->since));
		}
	}
	qsort(next, (size_t)nn, sizeof(*next), pyh_wtask_cmp);
	free(p->tasks.v);
	p->tasks.v = next;
	p->tasks.n = nn;
	p->tasks.hung = hung;
	pyh_tasks_free(&ts);
}

void pyh_watcher_running_task(struct pyh_watcher *w, struct pyh_watched *p, pid_t tid, struct pyh_wevent *e)
{
	struct pyh_tasks ts;

	(void)w;
	if (p->tasks.absent || p->state.stalled || p->state.bin_stalled || pyh_watched_tasks(p, &pyh_watch_tasks_opts, &ts))
		return;
	for (int i = 0; i < ts.n; i++) {
		const struct pyh_task *k = &ts.v[i];

		if (!k->running || k->tid != tid)
			continue;
		e->has_task = 1;
		e->task.id = k->addr;
		snprintf(e->task.name, sizeof(e->task.name), "%s", k->name);
		break;
	}
	pyh_tasks_free(&ts);
}
