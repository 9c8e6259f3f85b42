/* SPDX-License-Identifier: MIT */
/* Following await chains through suspended generators. See coro.h. */
#include "asyncio/coro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proc/mem.h"
#include "python/frames.h"

/* RESUME's oparg after a `yield from` or an `await` (3.11, 3.12): 0 is the
 * start of the code, 1 after a plain yield. */
#define PYH_RESUME_AFTER_YIELD_FROM 2
/* Bytes from a frame's last instruction to the next one (a code unit). */
#define PYH_CODE_UNIT 2

const char *pyh_chain_end_text(int end)
{
	switch (end) {
	case PYH_CHAIN_LEAF: return NULL;
	case PYH_CHAIN_YIELD: return "suspended at a plain yield";
	case PYH_CHAIN_CREATED: return "not started";
	case PYH_CHAIN_RUNNING: return "running";
	case PYH_CHAIN_DONE: return "finished";
	case PYH_CHAIN_TRUNCATED: return "deeper than the frame limit";
	case PYH_CHAIN_CYCLE: return "the await chain comes back to itself";
	default: return "unreadable";
	}
}

static int pyh_chain_broken(struct pyh_chain *c, const char *what, uint64_t addr)
{
	c->end = PYH_CHAIN_BROKEN;
	snprintf(c->error, sizeof(c->error), "%s (at 0x%llx)", what, (unsigned long long)addr);
	return -1;
}

/* The generator's frame and what its state says: 0 suspended, else the end. */
static int pyh_gen_frame(struct pyh_aio *a, const struct pyh_obj *gen, uint64_t *frame,
			 int *yield_from_state)
{
	const struct pyh_objlayout *l = &a->o->l;
	int8_t state;

	*yield_from_state = 0;
	if (l->gen_frame != PYH_NO_FIELD) {	/* <= 3.10: a PyFrameObject, NULL once finished */
		if (pyh_obj_read(a->o, gen, l->gen_frame, frame, sizeof(*frame)))
			return PYH_CHAIN_BROKEN;
		return *frame ? 0 : PYH_CHAIN_DONE;
	}
	if (l->gen_iframe == PYH_NO_FIELD || l->gen_frame_state == PYH_NO_FIELD ||
	    pyh_obj_read(a->o, gen, l->gen_frame_state, &state, sizeof(state)))
		return PYH_CHAIN_BROKEN;
	*frame = gen->addr + l->gen_iframe;
	if (state == l->gen_state_created)
		return PYH_CHAIN_CREATED;
	if (state >= l->gen_state_completed)
		return PYH_CHAIN_DONE;
	if (state == l->gen_state_yield_from) {
		*yield_from_state = 1;
		return 0;
	}
	return state == l->gen_state_suspended ? 0 : PYH_CHAIN_RUNNING;
}

/* <= 3.12: is the suspended frame in a `yield from` / `await`? 1, 0, -errno. */
static int pyh_in_yield_from(struct pyh_aio *a, const struct pyh_raw_frame *r)
{
	const struct pyh_objlayout *ol = &a->o->l;
	const struct pyh_layout *l = &a->t->layout;
	uint8_t unit[PYH_CODE_UNIT];
	uint64_t at;
	int rc;

	if (r->offset == PYH_NO_OFFSET)
		return 0;	/* not started */
	if (r->offset == PYH_BAD_OFFSET)
		return -EINVAL;
	if (ol->op_yield_from) {	/* <= 3.10: YIELD_FROM follows f_lasti */
		uint64_t co_code = 0;

		if (l->code_code == PYH_NO_FIELD ||
		    pyh_mem_read_u64(a->o->pid, r->code + l->code_code, &co_code) || !co_code)
			return -EFAULT;
		at = co_code + ol->bytes_sval + r->offset + PYH_CODE_UNIT;
	} else if (ol->op_resume && l->code_adaptive != PYH_NO_FIELD) {
		/* 3.11, 3.12: RESUME after prev_instr */
		at = r->code + l->code_adaptive + r->offset + PYH_CODE_UNIT;
	} else {
		return -EINVAL;
	}
	rc = pyh_mem_read(a->o->pid, at, unit, sizeof(unit));
	if (rc)
		return rc;
	if (ol->op_yield_from)
		return unit[0] == ol->op_yield_from;
	return (unit[0] == ol->op_resume || unit[0] == ol->op_resume_alt) &&
	       unit[1] >= PYH_RESUME_AFTER_YIELD_FROM;
}

/* The top of a suspended frame's value stack. Returns 0 with *top, 1 when
 * the frame runs (no stack top kept), or -errno. */
static int pyh_stack_top(struct pyh_aio *a, uint64_t frame, uint64_t *top)
{
	const struct pyh_objlayout *l = &a->o->l;
	pid_t pid = a->o->pid;
	uint64_t p = 0, v = 0;
	int32_t depth = 0;
	int rc;

	switch (l->stack_kind) {
	case PYH_STACK_TOP_PTR:
	case PYH_STACK_POINTER:
		rc = pyh_mem_read_u64(pid, frame + l->frame_stacktop, &p);
		if (rc)
			return rc;
		if (!p)
			return 1;	/* <= 3.9: NULL while the frame runs */
		rc = pyh_mem_read_u64(pid, p - 8, &v);
		if (l->stack_kind == PYH_STACK_POINTER)
			v &= ~(uint64_t)a->t->layout.frame_code_tag_bits;
		break;
	case PYH_STACK_DEPTH:
		rc = pyh_mem_read_u64(pid, frame + l->frame_valuestack, &p);
		if (!rc)
			rc = pyh_mem_read(pid, frame + l->frame_stacktop, &depth, sizeof(depth));
		if (rc)
			return rc;
		if (!p || depth < 1)
			return -EINVAL;
		rc = pyh_mem_read_u64(pid, p + 8 * (uint64_t)(depth - 1), &v);
		break;
	case PYH_STACK_TOP_INDEX:
		rc = pyh_mem_read(pid, frame + l->frame_stacktop, &depth, sizeof(depth));
		if (rc)
			return rc;
		if (depth < 1)
			return -EINVAL;
		rc = pyh_mem_read_u64(pid, frame + l->frame_localsplus + 8 * (uint64_t)(depth - 1), &v);
		break;
	default:
		return -EINVAL;
	}
	if (rc)
		return rc;
	if (!v)
		return -EINVAL;
	*top = v;
	return 0;
}

/* What a leaf is the future of: itself, or the future a FutureIter iterates. */
static uint64_t pyh_leaf_future(struct pyh_aio *a, const struct pyh_obj *leaf)
{
	const char *name = leaf->ti.tp_name;
	size_t len = strlen(name);
	uint64_t fut = 0;
	struct pyh_typeinfo ti;

	if (pyh_aio_impl(a, leaf->ti.addr) != PYH_FUT_NOT)
		return leaf->addr;
	/* _asyncio.FutureIter: a C type of the module that no module global names */
	if (!a->have_c || len < 10 ||
	    strcmp(name + len - 10, "FutureIter") != 0 ||
	    pyh_obj_read(a->o, leaf, a->l.futureiter_future, &fut, sizeof(fut)) || !fut ||
	    pyh_obj_type(a->o, fut, &ti) || pyh_aio_impl(a, ti.addr) == PYH_FUT_NOT)
		return 0;
	return fut;
}

static int pyh_chain_seen(const struct pyh_chain *c, uint64_t gen)
{
	for (int i = 0; i < c->n; i++)
		if (c->frames[i].gen == gen)
			return 1;
	return 0;
}

void pyh_coro_chain(struct pyh_aio *a, uint64_t coro, struct pyh_chain *c)
{
	uint64_t at = coro;

	c->n = 0;
	c->end = PYH_CHAIN_BROKEN;
	c->leaf = c->leaf_future = 0;
	c->error[0] = '\0';
	for (;;) {
		struct pyh_chain_frame *f;
		enum pyh_walk_status st;
		struct pyh_obj ob;
		uint64_t frame = 0, next = 0, faddr = 0;
		int yf_state, end, yf, rc;

		if (pyh_obj_get(a->o, at, &ob)) {
			pyh_chain_broken(c, c->n ? "what a generator awaits is unreadable"
					       : "the coroutine is unreadable", at);
			return;
		}
		if (ob.ti.kind == PYH_OBJ_ASYNC_GEN_ASEND) {
			if (pyh_obj_read(a->o, &ob, a->l.asend_gen, &next, sizeof(next)) || !next ||
			    !a->have_c) {
				pyh_chain_broken(c, "an async generator's asend object without a generator",
						 at);
				return;
			}
			at = next;
			continue;
		}
		if (ob.ti.kind != PYH_OBJ_COROUTINE && ob.ti.kind != PYH_OBJ_GENERATOR &&
		    ob.ti.kind != PYH_OBJ_ASYNC_GEN) {
			if (!c->n) {
				pyh_chain_broken(c, "not a coroutine or generator", at);
				return;
			}
			c->end = PYH_CHAIN_LEAF;
			c->leaf = at;
			c->leaf_future = pyh_leaf_future(a, &ob);
			return;
		}
		if (pyh_chain_seen(c, at)) {
			c->end = PYH_CHAIN_CYCLE;
			snprintf(c->error, sizeof(c->error), "generator 0x%llx awaits itself through "
				 "the chain", (unsigned long long)at);
			return;
		}
		if (c->n >= c->max) {
			c->end = PYH_CHAIN_TRUNCATED;
			return;
		}
		end = pyh_gen_frame(a, &ob, &frame, &yf_state);
		if (end == PYH_CHAIN_BROKEN) {
			pyh_chain_broken(c, "the generator's frame state is unreadable", at);
			return;
		}
		if (end == PYH_CHAIN_DONE) {
			c->end = end;
			return;
		}
		f = &c->frames[c->n];
		if (pyh_frames_walk(a->t, frame, &f->raw, &faddr, 1, &st) != 1) {
			pyh_chain_broken(c, "the generator's frame is unreadable", frame);
			return;
		}
		f->frame = faddr;
		f->gen = at;
		f->gen_kind = ob.ti.kind;
		c->n++;
		if (end) {
			c->end = end;
			return;
		}
		if (st != PYH_WALK_END && a->o->l.gen_frame != PYH_NO_FIELD) {
			/* <= 3.10: a suspended generator's frame has no caller */
			c->end = PYH_CHAIN_RUNNING;
			return;
		}
		yf = yf_state || a->o->l.gen_state_yield_from != PYH_GEN_NO_STATE
			     ? yf_state : pyh_in_yield_from(a, &f->raw);
		if (yf < 0) {
			pyh_chain_broken(c, "the generator's instruction is unreadable", frame);
			return;
		}
		if (!yf) {
			c->end = PYH_CHAIN_YIELD;
			return;
		}
		rc = pyh_stack_top(a, frame, &next);
		if (rc == 1) {
			c->end = PYH_CHAIN_RUNNING;
			return;
		}
		if (rc) {
			pyh_chain_broken(c, "what the generator awaits is not on its stack", frame);
			return;
		}
		at = next;
	}
}
