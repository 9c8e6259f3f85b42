/* SPDX-License-Identifier: MIT */
/*
 * tasks.h - every asyncio task of a process, read from outside without
 * running any of its code: name, id (address), state, its coroutine stack
 * innermost first (named by the one frame rule), what the innermost await
 * waits on, which tasks await it, and the thread whose event loop runs it.
 *
 * Bounded: at most opts->max_tasks tasks (the rest counted, "truncated"),
 * opts->max_frames frames per task; a registry that is corrupt or changing
 * gives the tasks read so far and says so in `error`; the awaiter graph is
 * walked once, cycles reported, never followed.
 */
#ifndef PYH_ASYNCIO_TASKS_H
#define PYH_ASYNCIO_TASKS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asyncio/aio.h"
#include "asyncio/awaiting.h"
#include "asyncio/graph.h"
#include "python/code.h"
#include "python/stack.h"
#include "python/target.h"

struct pyh_task {
	uint64_t addr;			/* its id */
	char name[PYH_TASK_NAME_MAX];	/* "" when it has none (3.6) or it is unreadable */
	int state;			/* enum pyh_fut_state */
	int running;			/* its step runs now (its loop's current task) */
	uint64_t loop;
	uint64_t fut_waiter;		/* the future it is blocked on; 0: none */
	pid_t tid;			/* the thread running its loop; 0: not known */
	struct pyh_frame *frames;	/* its await chain, innermost first; each held */
	int nframes;
	int frames_truncated;		/* deeper than max_frames */
	int frames_from_thread;		/* a running task's frames, taken from its thread's stack */
	uint64_t coro_frame, coro_code;	/* its coroutine's own frame and code (0: unknown) */
	char stack_error[192];		/* "" when the stack is whole */
	struct pyh_await await;		/* what it waits on; kind PYH_AWAIT_NONE when nothing */
};

/* One event loop the tasks belong to. */
struct pyh_task_loop {
	uint64_t loop;
	pid_t tid;			/* the thread running it; 0: not running, or not known */
	uint64_t current;		/* the task whose step runs now; 0: none */
};

struct pyh_tasks {
	int present;			/* asyncio is imported: dump writes "tasks" (maybe []) */
	struct pyh_task *v;		/* in registry order */
	int n;
	size_t total;			/* tasks the registries hold (>= n) */
	int truncated;			/* total > n: some were left out (max_tasks) */
	char error[512];		/* "tasks_error": what could not be read; "" */
	struct pyh_agraph graph;	/* node i is v[i] */
	struct pyh_task_loop *loops;
	int nloops;
	int *by_addr;			/* indexes of v sorted by address (pyh_tasks_find) */
};

struct pyh_tasks_opts {
	size_t max_tasks;		/* 1 .. PYH_TASKS_MAX */
	int max_frames;			/* per task, 1 .. PYH_MAX_FRAMES */
};

#define PYH_TASKS_DEFAULT_MAX 10000
#define PYH_TASKS_MAX 1000000
#define PYH_TASK_DEFAULT_FRAMES 64

/* Read the tasks of t. cache names the frames (NULL: one of its own).
 * Returns 0 with *out filled (out->error says what could not be read; no
 * asyncio: present 0), or -ENOMEM (*out holds nothing to free). */
int pyh_tasks_read(const struct pyh_target *t, struct pyh_codecache *cache,
		   const struct pyh_tasks_opts *opts, struct pyh_tasks *out);
void pyh_tasks_free(struct pyh_tasks *ts);	/* NULL-safe, idempotent */

/* "pending", "cancelled", "done". */
const char *pyh_task_state_text(int state);

/* The task at addr, or NULL. */
const struct pyh_task *pyh_tasks_find(const struct pyh_tasks *ts, uint64_t addr);
#endif
