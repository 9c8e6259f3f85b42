/* SPDX-License-Identifier: MIT */
/*
 * awaiting.h - what a suspended task waits on, and which tasks it awaits.
 *
 * The task's own fut_waiter is the future it is blocked on. What that future
 * is for comes from the task itself (a future that is a task, gather's
 * _GatheringFuture) or from the innermost frame of its await chain that the
 * standard library's asyncio owns: Event.wait, Lock.acquire, Condition.wait,
 * Semaphore.acquire, Barrier.wait, Queue.get / put, asyncio.sleep (with the
 * time left on its timer), asyncio.wait, wait_for, TaskGroup's exit, a
 * stream's read or drain and the loop's sock_* calls (the fd, whether the
 * loop's selector watches it, and the socket's peer), Server.serve_forever,
 * to_thread, a subprocess's wait. Frames are recognised by file, function
 * and the class of their `self` (by the class object's address, looked up in
 * asyncio's modules), never by a name alone. Anything else is a plain
 * "future", named by the frame that awaits it and the object that frame
 * belongs to. A value that cannot be read is said so in the detail.
 */
#ifndef PYH_ASYNCIO_AWAITING_H
#define PYH_ASYNCIO_AWAITING_H
#include <stdint.h>

#include "asyncio/aio.h"
#include "asyncio/coro.h"
#include "python/locals.h"
#include "python/stack.h"

enum pyh_await_kind {
	PYH_AWAIT_NONE = 0,	/* not waiting: done, running, or ready to run */
	PYH_AWAIT_FUTURE,	/* a future of no known owner */
	PYH_AWAIT_TASK,		/* another task */
	PYH_AWAIT_GATHER,
	PYH_AWAIT_WAIT,		/* asyncio.wait */
	PYH_AWAIT_WAIT_FOR,	/* asyncio.wait_for (before 3.12; since, it awaits the task) */
	PYH_AWAIT_TASKGROUP,
	PYH_AWAIT_EVENT,
	PYH_AWAIT_LOCK,
	PYH_AWAIT_CONDITION,
	PYH_AWAIT_SEMAPHORE,
	PYH_AWAIT_BARRIER,
	PYH_AWAIT_QUEUE,
	PYH_AWAIT_SLEEP,
	PYH_AWAIT_IO,		/* a socket read, write, connect or accept */
	PYH_AWAIT_SERVER,	/* Server.serve_forever: accepting connections */
	PYH_AWAIT_THREAD,	/* asyncio.to_thread */
	PYH_AWAIT_SUBPROCESS,
	PYH_AWAIT_UNKNOWN,	/* it waits, but on what could not be read (detail: why) */
	PYH_AWAIT_NKINDS
};

/* "future", "task", "gather", ... (JSON "kind"); NULL for PYH_AWAIT_NONE. */
const char *pyh_await_kind_name(int kind);

#define PYH_AWAIT_DETAIL 256
#define PYH_AWAIT_MAX_EDGES 4096	/* tasks one task is said to await, at most */
#define PYH_AWAIT_FIRST_EDGES 4		/* room for edges first allocated */
#define PYH_AWAIT_LOCALS 64		/* locals of one frame looked at */

struct pyh_await {
	int kind;			/* enum pyh_await_kind */
	char detail[PYH_AWAIT_DETAIL];	/* for people: "Event 0x7f… (not set, 3 waiters)" */
	uint64_t *awaits;		/* tasks it awaits (malloc'd; NULL when none) */
	int nawaits, cap;
	int awaits_cut;			/* more than PYH_AWAIT_MAX_EDGES */
};

/* A future that a callback of a loop's selector will complete: a reader or
 * writer handle's argument (the loop's sock_* methods register them so). */
struct pyh_await_watch {
	uint64_t fut;
	int64_t fd;
	int events;		/* selectors.EVENT_READ / EVENT_WRITE */
};

/* What a classification needs besides the task: reused across tasks. */
struct pyh_await_ctx {
	struct pyh_aio *a;
	double now;			/* the target's loop.time() (CLOCK_MONOTONIC) now */
	struct pyh_local *locals;	/* scratch of PYH_AWAIT_LOCALS */
	uint64_t cls[16];		/* asyncio classes looked up so far (0: not yet) */
	int cls_done[16];
	struct pyh_await_watch *watched;	/* the futures one loop's selector callbacks are
						 * for (built on first need, for one loop) */
	int nwatched;
	uint64_t watched_loop;		/* whose (0: none built yet) */
};

/* Returns 0, or -ENOMEM. */
int pyh_await_ctx_init(struct pyh_await_ctx *c, struct pyh_aio *a, double now);
void pyh_await_ctx_free(struct pyh_await_ctx *c);

/* Classify the pending task `task` whose await chain is ch, named[i] being
 * the name of ch->frames[ch->n - 1 - i] (innermost first). Fills *out
 * (free it with pyh_await_free). Returns 0, or -ENOMEM. */
int pyh_await_classify(struct pyh_await_ctx *c, const struct pyh_fut *task,
		       const struct pyh_chain *ch, const struct pyh_frame *named,
		       struct pyh_await *out);
void pyh_await_free(struct pyh_await *w);	/* NULL-safe, leaves it empty */

/* One more task w awaits (not checked for duplicates); past
 * PYH_AWAIT_MAX_EDGES only awaits_cut is set. Returns 0 or -ENOMEM. */
int pyh_await_add_edge(struct pyh_await *w, uint64_t task);

/* The target's CLOCK_MONOTONIC in seconds (what its loop.time() says), the
 * offset of its time namespace applied. */
double pyh_await_target_now(pid_t pid);
#endif
