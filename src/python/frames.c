/* The C walker, by the frame rule of pyhang/frame.h. */
#include "python/frames.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"

/* Where a frame's bytecode starts (see pyh_frame_in_tlbc); 0 when unreadable. */
static uint64_t bytecode_of(const struct pyh_target *t, const struct pyh_frame_view *v)
{
	const struct pyh_layout *l = &t->layout;
	uint64_t arr = 0, size = 0, base = 0;

	if (!pyh_frame_in_tlbc(l, v))
		return pyh_frame_bytecode(l, v);
	if (pyh_mem_read_u64(t->pid, v->code + l->code_tlbc, &arr) ||
	    pyh_mem_read_u64(t->pid, arr, &size) || (uint64_t)v->tlbc_index >= size ||
	    pyh_mem_read_u64(t->pid, pyh_tlbc_entry_addr(arr, v->tlbc_index), &base))
		return 0;
	return base;
}

/* What a walk read last: the window of frame f is in it when f's span is. */
struct frames_read {
	uint64_t base;
	uint32_t len;
	/* PYH_FRAME_WINDOW past the end, zero: a window never leaves the buffer */
	uint8_t buf[PYH_FRAME_BULK + PYH_FRAME_WINDOW];
};

/* The window of the frame at f (span bytes): from what was read when it is
 * there, else read now, in bulk where the layout allows it (pyhang/frame.h;
 * the sampler reads the same way), or the frame alone when that bulk read
 * fails. NULL when unreadable. */
static const uint8_t *frame_window(const struct pyh_target *t, struct frames_read *r, uint64_t f,
				   uint32_t span, int bulk)
{
	if (pyh_frame_in_read(r->base, r->len, f, span))
		return r->buf + (f - r->base);
	if (f > UINT64_MAX - span)
		return NULL;	/* no frame ends past the top of the address space */
	if (bulk) {
		uint64_t start = pyh_frame_bulk_start(f, span);
		uint32_t len = (uint32_t)(f + span - start);

		if (len >= span && len <= PYH_FRAME_BULK && !pyh_mem_read(t->pid, start, r->buf, len)) {
			r->base = start;
			r->len = len;
			return r->buf + (f - start);
		}
	}
	r->len = 0;
	memset(r->buf, 0, PYH_FRAME_WINDOW);
	if (pyh_mem_read(t->pid, f, r->buf, span))
		return NULL;
	r->base = f;
	r->len = span;
	return r->buf;
}

int pyh_frames_walk(const struct pyh_target *t, uint64_t top, struct pyh_raw_frame *out,
		    uint64_t *addrs, int max, enum pyh_walk_status *status)
{
	const struct pyh_layout *l = &t->layout;
	uint32_t span = pyh_frame_span(l);
	struct frames_read *r;
	struct pyh_walk w;
	int bulk;

	if (max < 0)
		max = 0;
	if (max > PYH_MAX_FRAMES)
		max = PYH_MAX_FRAMES;
	pyh_walk_begin(&w, top, (uint32_t)max);
	if (span < 8 || span > PYH_FRAME_WINDOW || !(r = calloc(1, sizeof(*r)))) {
		pyh_walk_unreadable(&w);
		*status = (enum pyh_walk_status)w.status;
		return 0;
	}
	/* one frame wanted (a check of the top): no use reading its callers */
	bulk = pyh_frame_bulk_ok(l) && max > 1;
	while (pyh_walk_more(&w)) {
		struct pyh_frame_view v;
		uint64_t here = w.frame;
		const uint8_t *win = frame_window(t, r, here, span, bulk);
		enum pyh_step step;

		if (!win) {
			pyh_walk_unreadable(&w);
			break;
		}
		step = pyh_walk_step(l, &w, win, &v);
		if (step == PYH_STEP_SHIM) {
			if (w.depth > 0)
				out[w.depth - 1].flags |= PYH_RAWF_ENTRY;
			continue;
		}
		if (step != PYH_STEP_PYTHON)
			break;
		out[w.depth] = (struct pyh_raw_frame){
			.code = v.code,
			.offset = pyh_frame_offset(l, &v, bytecode_of(t, &v)),
			.flags = v.flags,
		};
		if (addrs)
			addrs[w.depth] = here;
		pyh_walk_took(&w);
	}
	free(r);
	*status = (enum pyh_walk_status)w.status;
	return (int)w.depth;
}

const char *pyh_walk_status_text(enum pyh_walk_status s)
{
	switch (s) {
	case PYH_WALK_MORE:
	case PYH_WALK_END:
	case PYH_WALK_TRUNCATED:
		return NULL;
	case PYH_WALK_UNREADABLE:
		return "unreadable frame";
	case PYH_WALK_NO_CODE:
		return "frame without a code object";
	case PYH_WALK_CYCLE:
		return "cycle in the frame chain";
	case PYH_WALK_TOO_LONG:
		return "frame chain longer than any real one";
	}
	return "frame chain unreadable";
}

int pyh_frames_top(const struct pyh_target *t, uint64_t tstate_field, uint64_t *top)
{
	uint64_t cur = 0;
	int rc;

	*top = tstate_field;
	if (!pyh_tstate_frame_indirect(&t->layout) || !tstate_field)
		return 0;
	rc = pyh_mem_read_u64(t->pid, tstate_field + t->layout.cframe_current_frame, &cur);
	*top = rc ? 0 : cur;
	return rc;
}
