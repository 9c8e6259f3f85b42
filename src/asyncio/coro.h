/* SPDX-License-Identifier: MIT */
/*
 * coro.h - a coroutine's await chain: from a task's coroutine down through
 * what each suspended coroutine, generator or async generator awaits (what
 * Python calls cr_await, gi_yieldfrom, ag_await), to the object at the bottom.
 *
 * Each link is read as CPython's own _PyGen_yf() decides it, without running
 * it: the generator's frame (gi_frame up to 3.10, the embedded gi_iframe
 * since) is suspended in a `yield from` / `await` when the instruction after
 * the one it stopped at is YIELD_FROM (<= 3.10), a RESUME whose oparg says
 * "after yield from / await" (3.11, 3.12), or when gi_frame_state says so
 * (3.13+); then what it awaits is the top of its value stack. Each frame is
 * taken by the one frame rule (pyhang/frame.h, through pyh_frames_walk), so
 * it names the same code and instruction a thread's stack would. An async
 * generator's asend object is followed to its generator. Bounded: at most
 * c->max frames, a generator met twice ends the chain as a cycle.
 */
#ifndef PYH_ASYNCIO_CORO_H
#define PYH_ASYNCIO_CORO_H
#include <stdint.h>

#include "asyncio/aio.h"
#include "pyhang/frame.h"

/* How a chain ends (pyh_chain.end). */
enum pyh_chain_end {
	PYH_CHAIN_LEAF = 0,	/* the innermost generator awaits c->leaf, no generator itself
				 * (a Future, a Future's iterator, another awaitable) */
	PYH_CHAIN_YIELD,	/* the innermost generator is suspended at a plain `yield`
				 * (asyncio.sleep(0), a pure-Python Future's __await__) */
	PYH_CHAIN_CREATED,	/* the innermost coroutine has not started */
	PYH_CHAIN_RUNNING,	/* a generator of the chain is running now: its frames move */
	PYH_CHAIN_DONE,		/* the innermost coroutine has finished (or was closed) */
	PYH_CHAIN_TRUNCATED,	/* c->max frames taken, the chain goes on */
	PYH_CHAIN_CYCLE,	/* a generator awaits one the chain passed already */
	PYH_CHAIN_BROKEN,	/* something could not be read or is not what it must be:
				 * c->error says what */
};

struct pyh_chain_frame {
	struct pyh_raw_frame raw;	/* by the frame rule */
	uint64_t frame;			/* the frame's address */
	uint64_t gen;			/* the generator, coroutine or async generator owning it */
	int gen_kind;			/* PYH_OBJ_GENERATOR, _COROUTINE, _ASYNC_GEN */
};

struct pyh_chain {
	/* in */
	struct pyh_chain_frame *frames;	/* room for max frames */
	int max;
	/* out */
	int n;				/* frames taken, OUTERMOST (the task's coroutine) first */
	int end;			/* enum pyh_chain_end */
	uint64_t leaf;			/* PYH_CHAIN_LEAF: the object awaited */
	uint64_t leaf_future;		/* the asyncio future the leaf is, or that it iterates
					 * (a FutureIter: `await fut`); 0 when neither */
	char error[128];		/* PYH_CHAIN_BROKEN / _CYCLE: what; else "" */
};

/* Follow the chain from coro (a task's coroutine, or any generator). Never
 * fails: what could not be read ends the chain as PYH_CHAIN_BROKEN with the
 * frames read so far. */
void pyh_coro_chain(struct pyh_aio *a, uint64_t coro, struct pyh_chain *c);

/* "suspended at a plain yield", "not started", ...: the end of a chain, for
 * people; NULL for PYH_CHAIN_LEAF. */
const char *pyh_chain_end_text(int end);
#endif
