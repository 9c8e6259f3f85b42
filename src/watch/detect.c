/* The hang detectors: decisions only (see detect.h). */
#include "watch/detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* A thread's state lives in an entry of its own, so that it stays where it
 * is while the table grows or is rebuilt around it. */
struct pyh_wthr_entry {
	struct pyh_wthr t;		/* first: a struct pyh_wthr * is its entry */
	uint64_t mark;			/* the prune that last saw it alive */
};

struct pyh_wthreads {
	int n;
	uint32_t cap;			/* slots: a power of two, PYH_WATCH_THR_MIN .. PYH_WATCH_THR_SLOTS */
	uint64_t refused;		/* threads not remembered: the table was full */
	uint64_t pruned_at;		/* when threads that ended were last looked for (ns) */
	uint64_t mark;			/* the last prune */
	struct pyh_wthr_entry **slot;	/* cap; NULL: free */
};

_Static_assert((PYH_WATCH_THR_SLOTS & (PYH_WATCH_THR_SLOTS - 1)) == 0, "PYH_WATCH_THR_SLOTS is a power of two");
_Static_assert((PYH_WATCH_THR_MIN & (PYH_WATCH_THR_MIN - 1)) == 0 && PYH_WATCH_THR_MIN <= PYH_WATCH_THR_SLOTS,
	       "PYH_WATCH_THR_MIN is a power of two, at most PYH_WATCH_THR_SLOTS");

const struct pyh_watch_call *pyh_scan_call(const struct pyh_scan *s, pid_t tid)
{
	for (int i = 0; i < s->ncalls; i++)
		if (s->calls[i].tid == (uint32_t)tid)
			return &s->calls[i].c;
	return NULL;
}

int pyh_scan_over(const struct pyh_scan *s, const struct pyh_watch_call *c)
{
	return c && c->start_ns && s->now_ns >= c->start_ns && s->now_ns - c->start_ns >= s->threshold_ns;
}

double pyh_scan_seconds(const struct pyh_scan *s, uint64_t start_ns)
{
	return s->now_ns > start_ns ? (double)(s->now_ns - start_ns) / 1e9 : 0;
}

static int pyh_scan_in_gilwait(const struct pyh_scan *s, uint32_t tid)
{
	for (int i = 0; i < s->ngil; i++)
		if (s->gil[i].tid == tid)
			return 1;
	return 0;
}

/* ---- the thread table ---------------------------------------------------- */

struct pyh_wthreads *pyh_wthreads_new(void)
{
	struct pyh_wthreads *tt = calloc(1, sizeof(*tt));

	if (tt && !(tt->slot = calloc(PYH_WATCH_THR_MIN, sizeof(*tt->slot)))) {
		free(tt);
		return NULL;
	}
	if (tt)
		tt->cap = PYH_WATCH_THR_MIN;
	return tt;
}

void pyh_wthreads_free(struct pyh_wthreads *tt)
{
	if (!tt)
		return;
	for (uint32_t i = 0; i < tt->cap; i++)
		free(tt->slot[i]);
	free(tt->slot);
	free(tt);
}

/* The slot of tid in slot[0..cap): its entry, or the free slot where it
 * would go; NULL when every slot holds another thread. */
static struct pyh_wthr_entry **pyh_wthreads_slot_in(struct pyh_wthr_entry **slot, uint32_t cap, pid_t tid)
{
	uint32_t h = ((uint32_t)tid * 2654435761u) & (cap - 1);

	for (uint32_t i = 0; i < cap; i++) {
		struct pyh_wthr_entry **e = &slot[(h + i) & (cap - 1)];

		if (!*e || (*e)->t.tid == tid)
			return e;
	}
	return NULL;
}

struct pyh_wthr *pyh_wthreads_find(const struct pyh_wthreads *tt, pid_t tid)
{
	struct pyh_wthr_entry **e = pyh_wthreads_slot_in(tt->slot, tt->cap, tid);

	return e && *e ? &(*e)->t : NULL;
}

/* The entries of tt, those of the current mark only when keep_marked, in a
 * new table of cap slots (the others freed). 0, or -ENOMEM (tt unchanged). */
static int pyh_wthreads_rebuild(struct pyh_wthreads *tt, uint32_t cap, int keep_marked)
{
	struct pyh_wthr_entry **slot = calloc(cap, sizeof(*slot));
	int n = 0;

	if (!slot)
		return -ENOMEM;
	for (uint32_t i = 0; i < tt->cap; i++) {
		struct pyh_wthr_entry *e = tt->slot[i];

		if (!e)
			continue;
		if (keep_marked && e->mark != tt->mark) {
			free(e);
			continue;
		}
		*pyh_wthreads_slot_in(slot, cap, e->t.tid) = e;	/* cap > n: a free slot is there */
		n++;
	}
	free(tt->slot);
	tt->slot = slot;
	tt->cap = cap;
	tt->n = n;
	return 0;
}

struct pyh_wthr *pyh_wthreads_get(struct pyh_wthreads *tt, pid_t tid)
{
	struct pyh_wthr_entry **e = pyh_wthreads_slot_in(tt->slot, tt->cap, tid);

	if (e && *e)
		return &(*e)->t;
	if (tt->n >= PYH_WATCH_THR_SLOTS / 2) {
		tt->refused++;	/* bounded: more live threads than we remember; counted */
		return NULL;
	}
	if ((uint32_t)tt->n + 1 > tt->cap / 2) {
		/* at most half full: grow (out of memory: not remembered, counted) */
		if (pyh_wthreads_rebuild(tt, tt->cap * 2, 0)) {
			tt->refused++;
			return NULL;
		}
		e = pyh_wthreads_slot_in(tt->slot, tt->cap, tid);
	}
	if (!(*e = calloc(1, sizeof(**e)))) {
		tt->refused++;
		return NULL;
	}
	(*e)->t.tid = tid;
	(*e)->mark = tt->mark;
	tt->n++;
	return &(*e)->t;
}

uint64_t pyh_wthreads_refused(const struct pyh_wthreads *tt)
{
	return tt ? tt->refused : 0;
}

size_t pyh_wthreads_bytes(const struct pyh_wthreads *tt)
{
	return tt ? sizeof(*tt) + tt->cap * sizeof(*tt->slot) + (size_t)tt->n * sizeof(struct pyh_wthr_entry) : 0;
}

int pyh_wthreads_count(const struct pyh_wthreads *tt)
{
	return tt ? tt->n : 0;
}

void pyh_wthreads_prune(struct pyh_wthreads *tt, const pid_t *live, int nlive, uint64_t now_ns)
{
	uint32_t cap = PYH_WATCH_THR_MIN;
	int kept = 0;

	if (!tt || now_ns - tt->pruned_at < PYH_WATCH_THR_PRUNE_NS)
		return;
	tt->pruned_at = now_ns;
	tt->mark++;
	for (int i = 0; i < nlive; i++) {
		struct pyh_wthr_entry **e = pyh_wthreads_slot_in(tt->slot, tt->cap, live[i]);

		if (e && *e && (*e)->mark != tt->mark) {
			(*e)->mark = tt->mark;
			kept++;
		}
	}
	if (kept == tt->n)
		return;	/* none ended */
	while (cap < tt->cap && (uint32_t)kept * 4 > cap)
		cap *= 2;	/* a quarter full at most: room to grow again */
	pyh_wthreads_rebuild(tt, cap, 1);	/* out of memory: tried again next period */
}

/* ---- blocked ------------------------------------------------------------- */

int pyh_detect_blocked_due(struct pyh_wthr *t, const struct pyh_wcall *c, const struct pyh_scan *s)
{
	if (!pyh_scan_over(s, &c->c) || t->blk.start == c->c.start_ns || pyh_scan_in_gilwait(s, c->tid))
		return 0;
	t->blk.start = c->c.start_ns;
	t->blk.state = PYH_BLK_NONE;
	t->blk.acquire = 0;
	return 1;
}

enum pyh_blk pyh_detect_blocked_verdict(struct pyh_wthr *t, const struct pyh_blocked_facts *f)
{
	if (!f->python)
		t->blk.state = PYH_BLK_SKIPPED;
	else if (f->ignored)
		t->blk.state = PYH_BLK_IGNORED;
	else
		t->blk.state = PYH_BLK_REPORTED;
	t->blk.acquire = t->blk.state == PYH_BLK_REPORTED && f->futex && !f->holder && f->in_acquire;
	return t->blk.state;
}

void pyh_detect_blocked_defer(struct pyh_wthr *t)
{
	t->blk.start = 0;
	t->blk.state = PYH_BLK_NONE;
	t->blk.acquire = 0;
}

int pyh_detect_in_acquire(const struct pyh_frame *f, const char *line)
{
	const char *file;

	if (!f || !f->ci)
		return 0;
	if (!strcmp(pyh_frame_function(f), "acquire") || !strcmp(pyh_frame_function(f), "__enter__"))
		return 1;
	file = pyh_frame_file(f);
	if (file && strstr(file, "threading.py"))
		return 0;	/* join, Condition.wait: not a lock someone holds */
	return line && (strstr(line, "acquire(") != NULL || !strncmp(line, "with ", 5));
}

int pyh_detect_returned(struct pyh_wthr *t, uint64_t start_ns)
{
	if (t->blk.start != start_ns || (t->blk.state != PYH_BLK_REPORTED && t->blk.state != PYH_BLK_DEADLOCK))
		return 0;
	t->blk.state = PYH_BLK_NONE;
	t->blk.acquire = 0;
	return 1;
}

/* ---- deadlock ------------------------------------------------------------ */

int pyh_detect_cycle(const struct pyh_scan *s, uint32_t tgid, pid_t tid, struct pyh_cycle *cy)
{
	pid_t cur = tid;

	cy->n = 0;
	for (int hop = 0; hop < PYH_WATCH_CHAIN_MAX; hop++) {
		const struct pyh_watch_call *c = pyh_scan_call(s, cur);
		uint64_t lock = 0;
		pid_t h = 0;

		if (!c || !c->start_ns || c->nr != SYS_futex)
			break;
		if (!s->holder || s->holder(s->holder_arg, tgid, cur, c->args[0], &lock, &h) || h == cur)
			break;
		cy->tid[cy->n] = cur;
		cy->lock[cy->n] = lock;
		cy->n++;
		if (h == tid)
			return cy->n;
		for (int i = 0; i < cy->n; i++)
			if (cy->tid[i] == h)
				goto none;	/* a cycle, but not through tid: its own members report it */
		cur = h;
	}
none:
	cy->n = 0;
	return 0;
}

void pyh_detect_cycle_mark(struct pyh_wthreads *tt, const struct pyh_scan *s, const struct pyh_cycle *cy)
{
	for (int i = 0; i < cy->n; i++) {
		const struct pyh_watch_call *c = pyh_scan_call(s, cy->tid[i]);
		struct pyh_wthr *t = pyh_wthreads_get(tt, cy->tid[i]);

		if (!t || !c)
			continue;
		t->blk.start = c->start_ns;
		t->blk.state = PYH_BLK_DEADLOCK;
		t->blk.acquire = 0;
	}
}

int pyh_detect_possible_deadlock(const struct pyh_scan *s, uint32_t tgid, const struct pyh_wthreads *tt,
				 int *reported, pid_t who[PYH_WATCH_EV_MAX_THREADS])
{
	int n = 0;

	for (int i = 0; i < s->ncalls && n < PYH_WATCH_EV_MAX_THREADS; i++) {
		const struct pyh_wcall *f = &s->calls[i];
		const struct pyh_wthr *t;

		if (f->c.tgid != tgid || !f->c.start_ns)
			continue;
		t = pyh_wthreads_find(tt, (pid_t)f->tid);
		if (t && t->blk.acquire && t->blk.start == f->c.start_ns)
			who[n++] = t->tid;
	}
	if (n < 2) {
		*reported = 0;
		return 0;
	}
	if (*reported == n)
		return 0;
	*reported = n;
	return n;
}

/* ---- stuck --------------------------------------------------------------- */

int pyh_detect_stuck(const struct pyh_scan *s, uint32_t tgid, long nthreads, const struct pyh_wthreads *tt,
		     int *reported, double *least)
{
	int nblocked = 0, nreal = 0;

	*least = -1;
	for (int i = 0; i < s->ncalls; i++) {
		const struct pyh_wcall *f = &s->calls[i];
		const struct pyh_wthr *t;
		double sec;

		if (f->c.tgid != tgid || !pyh_scan_over(s, &f->c))
			continue;
		nblocked++;
		sec = pyh_scan_seconds(s, f->c.start_ns);
		if (*least < 0 || sec < *least)
			*least = sec;
		t = pyh_wthreads_find(tt, (pid_t)f->tid);
		if (t && t->blk.start == f->c.start_ns &&
		    (t->blk.state == PYH_BLK_REPORTED || t->blk.state == PYH_BLK_DEADLOCK))
			nreal++;
	}
	if (nthreads <= 0 || nblocked < nthreads || !nreal) {
		*reported = 0;
		return 0;
	}
	if (*reported)
		return 0;
	*reported = 1;
	return 1;
}

/* ---- GIL starvation ------------------------------------------------------ */

enum pyh_gil_verdict pyh_detect_gil(struct pyh_wthr *t, const struct pyh_wgil *g, const struct pyh_scan *s)
{
	uint64_t start = g->g.start_ns;

	if (!start || s->now_ns < start || s->now_ns - start < s->threshold_ns)
		return PYH_GIL_NO;
	if (!t || t->gil.start == start)
		return PYH_GIL_HUNG;
	t->gil.start = start;
	return PYH_GIL_REPORT;
}

void pyh_detect_gil_defer(struct pyh_wthr *t)
{
	if (t)
		t->gil.start = 0;
}

/* ---- spinning ------------------------------------------------------------ */

uint64_t pyh_spin_signature(const struct pyh_raw_frame *f, int n)
{
	uint64_t sig = 1469598103934665603ull;	/* FNV-1a */

	for (int i = 0; i < n; i++) {
		sig = (sig ^ f[i].code) * 1099511628211ull;
		if (i > 0)
			sig = (sig ^ f[i].offset) * 1099511628211ull;
	}
	return sig;
}

static int pyh_spin_seen(const struct pyh_wthr *t, uint64_t sig)
{
	for (int i = 0; i < t->spin.nsig && i < PYH_SPIN_MAX_STACKS; i++)
		if (t->spin.sig[i] == sig)
			return 1;
	return 0;
}

int pyh_detect_spin_ran(const struct pyh_wthr *t, uint64_t run_ns, const struct pyh_watch_call *c,
			uint64_t now_ns)
{
	uint64_t dt = now_ns - t->spin.cpu_t;

	if (!t->spin.cpu_t || now_ns < t->spin.cpu_t || run_ns < t->spin.cpu_ns)
		return 0;
	if ((run_ns - t->spin.cpu_ns) * 100 < dt * PYH_SPIN_MIN_CPU_PERCENT)
		return 0;
	return !(c && (c->start_ns || c->end_ns > t->spin.cpu_t));
}

/* Starts the clock in the stack sig. */
static enum pyh_spin pyh_spin_restart(struct pyh_wthr *t, uint64_t sig)
{
	t->spin.since = t->spin.last_new = t->spin.cpu_t;
	t->spin.sig[0] = sig;
	t->spin.nsig = 1;
	t->spin.reported = 0;
	return PYH_SPIN_NEW;
}

/* On the CPU all the interval in the whole stack frames[0..n). */
static enum pyh_spin pyh_spin_judge(struct pyh_wthr *t, const struct pyh_raw_frame *frames, int n,
				    const struct pyh_scan *s)
{
	uint64_t sig = pyh_spin_signature(frames, n);

	if (!pyh_spin_seen(t, sig)) {
		if (!t->spin.since || t->spin.nsig >= PYH_SPIN_MAX_STACKS)
			return pyh_spin_restart(t, sig);
		t->spin.sig[t->spin.nsig++] = sig;	/* one more stack of the loop */
		t->spin.last_new = s->now_ns;
	}
	if (t->spin.reported)
		return PYH_SPIN_HUNG;
	if (s->now_ns - t->spin.since >= s->threshold_ns && s->now_ns - t->spin.last_new >= s->threshold_ns / 2) {
		t->spin.reported = 1;
		return PYH_SPIN_REPORT;
	}
	return PYH_SPIN_SAME;
}

enum pyh_spin pyh_detect_spin(struct pyh_wthr *t, uint64_t run_ns, const struct pyh_watch_call *c,
			      const struct pyh_raw_frame *frames, int n, int whole, const struct pyh_scan *s)
{
	enum pyh_spin v;

	if (!pyh_detect_spin_ran(t, run_ns, c, s->now_ns)) {
		v = t->spin.since ? PYH_SPIN_LEFT : PYH_SPIN_OFF_CPU;
		t->spin.since = 0;
		t->spin.nsig = 0;
		t->spin.reported = 0;
	} else if (n <= 0 || !whole) {
		v = PYH_SPIN_TORN;	/* a torn read of a running stack: judge on the next look */
	} else {
		v = pyh_spin_judge(t, frames, n, s);
	}
	t->spin.cpu_t = s->now_ns;
	t->spin.cpu_ns = run_ns;
	return v;
}

/* ---- asyncio tasks ------------------------------------------------------- */

uint64_t pyh_task_salt(uint64_t salt, const char *s)
{
	if (!s || !*s)
		return salt;
	salt = (salt ^ 0x2f) * 1099511628211ull;	/* a separator: "ab","c" is not "a","bc" */
	for (; *s; s++)
		salt = (salt ^ (unsigned char)*s) * 1099511628211ull;
	return salt;
}

uint64_t pyh_task_signature(const struct pyh_frame *frames, int n, uint64_t fut_waiter, uint64_t salt)
{
	uint64_t sig = 1469598103934665603ull;	/* FNV-1a */

	if (!fut_waiter)
		return 0;
	sig = (sig ^ fut_waiter) * 1099511628211ull;
	sig = (sig ^ salt) * 1099511628211ull;
	for (int i = 0; frames && i < n; i++) {
		sig = (sig ^ frames[i].code) * 1099511628211ull;
		sig = (sig ^ frames[i].offset) * 1099511628211ull;
	}
	return sig ? sig : 1;
}

enum pyh_task_verdict pyh_detect_task(struct pyh_wtask *t, uint64_t sig, int idle, const struct pyh_scan *s)
{
	int was_reported = t->state == PYH_TSK_REPORTED;

	if (!sig || sig != t->sig || !t->since) {
		t->sig = sig;
		t->since = sig ? s->now_ns : 0;
		t->state = PYH_TSK_NONE;
		return was_reported ? PYH_TASK_RESUMED : PYH_TASK_MOVING;
	}
	if (t->state == PYH_TSK_REPORTED)
		return PYH_TASK_HUNG;
	if (t->state == PYH_TSK_IGNORED)
		return PYH_TASK_IDLE;
	if (s->now_ns < t->since || s->now_ns - t->since < s->threshold_ns)
		return PYH_TASK_SAME;
	t->state = idle ? PYH_TSK_IGNORED : PYH_TSK_REPORTED;
	return idle ? PYH_TASK_IDLE : PYH_TASK_REPORT;
}

int pyh_detect_task_due(const struct pyh_wtask *t, uint64_t sig, const struct pyh_scan *s)
{
	return sig && sig == t->sig && t->since && t->state == PYH_TSK_NONE && s->now_ns >= t->since &&
	       s->now_ns - t->since >= s->threshold_ns;
}

int pyh_detect_task_gone(const struct pyh_wtask *t)
{
	return t && t->state == PYH_TSK_REPORTED;
}

/* ---- what is hung now ---------------------------------------------------- */

void pyh_detect_count_hung(const struct pyh_scan *s, uint32_t tgid, const struct pyh_wthreads *tt,
			   struct pyh_hung_count *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < s->ncalls; i++) {
		const struct pyh_wcall *f = &s->calls[i];
		const struct pyh_wthr *t;

		if (f->c.tgid != tgid || !pyh_scan_over(s, &f->c))
			continue;
		out->over++;
		t = pyh_wthreads_find(tt, (pid_t)f->tid);
		if (!t || t->blk.start != f->c.start_ns)
			continue;
		if (t->blk.state == PYH_BLK_REPORTED)
			out->blocked++;
		else if (t->blk.state == PYH_BLK_DEADLOCK)
			out->deadlock++;
	}
}
