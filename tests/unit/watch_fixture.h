/* A made-up scan for the watch detectors' unit tests: calls threads wait in,
 * GIL waiters and lock holders, as BPF would have recorded them, seen by
 * the detectors through a struct pyh_scan. Times are nanoseconds. */
#ifndef PYH_TEST_WATCH_FIXTURE_H
#define PYH_TEST_WATCH_FIXTURE_H
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "watch/detect.h"

#define NS_PER_S 1000000000ull
#define WORLD_MAX 64

struct world_holder {
	uint64_t lock;
	uint32_t tgid;
	pid_t tid;
};

struct world {
	struct pyh_wcall calls[WORLD_MAX];
	struct pyh_wgil gil[WORLD_MAX];
	struct world_holder holders[WORLD_MAX];
	int nholders;
	struct world_holder acquiring[WORLD_MAX];	/* tid is inside an acquire of lock */
	int nacquiring;
	struct pyh_scan s;
};

/* As the probes: the lock waiter is acquiring (world_acquires) or, when none, the futex word. */
static inline int world_holder_of(void *arg, uint32_t tgid, pid_t waiter, uint64_t futex, uint64_t *lock,
				  pid_t *tid)
{
	const struct world *w = arg;
	uint64_t l = futex;

	for (int i = 0; i < w->nacquiring; i++)
		if (w->acquiring[i].tid == waiter)
			l = w->acquiring[i].lock;
	for (int i = 0; i < w->nholders; i++)
		if (w->holders[i].lock == l && w->holders[i].tgid == tgid) {
			*lock = l;
			*tid = w->holders[i].tid;
			return 0;
		}
	return -ENOENT;
}

/* An empty world at now with a threshold; free with free(). */
static inline struct world *world_new(uint64_t now, uint64_t threshold)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->s.now_ns = now;
	w->s.threshold_ns = threshold;
	w->s.calls = w->calls;
	w->s.gil = w->gil;
	w->s.holder = world_holder_of;
	w->s.holder_arg = w;
	return w;
}

/* Thread tid of process tgid in call nr since start (0: in no call), first argument arg0. */
static inline struct pyh_wcall *world_call(struct world *w, uint32_t tgid, uint32_t tid, long nr,
					   uint64_t start, uint64_t arg0)
{
	struct pyh_wcall *c = &w->calls[w->s.ncalls++];

	memset(c, 0, sizeof(*c));
	c->tid = tid;
	c->c.tgid = tgid;
	c->c.nr = nr;
	c->c.start_ns = start;
	c->c.args[0] = arg0;
	return c;
}

/* Thread tid waits in futex() for lock since start. */
static inline struct pyh_wcall *world_lock_wait(struct world *w, uint32_t tgid, uint32_t tid, uint64_t lock,
						uint64_t start)
{
	return world_call(w, tgid, tid, SYS_futex, start, lock);
}

static inline void world_holds(struct world *w, uint32_t tgid, pid_t tid, uint64_t lock)
{
	w->holders[w->nholders++] = (struct world_holder){ .lock = lock, .tgid = tgid, .tid = tid };
}

/* Thread tid is inside an acquire of lock (the probes saw it enter). */
static inline void world_acquires(struct world *w, uint32_t tgid, pid_t tid, uint64_t lock)
{
	w->acquiring[w->nacquiring++] = (struct world_holder){ .lock = lock, .tgid = tgid, .tid = tid };
}

/* Thread tid waits in futex() since start for lock, which holder holds. */
static inline struct pyh_wcall *world_waits_for(struct world *w, uint32_t tgid, uint32_t tid, uint64_t lock,
						pid_t holder, uint64_t start)
{
	world_holds(w, tgid, holder, lock);
	return world_lock_wait(w, tgid, tid, lock, start);
}

static inline struct pyh_wgil *world_gil_wait(struct world *w, uint32_t tgid, uint32_t tid, uint64_t start)
{
	struct pyh_wgil *g = &w->gil[w->s.ngil++];

	memset(g, 0, sizeof(*g));
	g->tid = tid;
	g->g.tgid = tgid;
	g->g.start_ns = start;
	return g;
}
#endif
