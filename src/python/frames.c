/* The C walker, by the frame rule of pyhang/frame.h. */
#include "python/frames.h"

#include <errno.h>
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

int pyh_frames_walk(const struct pyh_target *t, uint64_t top, struct pyh_raw_frame *out,
		    uint64_t *addrs, int max, enum pyh_walk_status *status)
{
	const struct pyh_layout *l = &t->layout;
	uint32_t span = pyh_frame_span(l);
	struct pyh_walk w;

	if (max < 0)
		max = 0;
	if (max > PYH_MAX_FRAMES)
		max = PYH_MAX_FRAMES;
	pyh_walk_begin(&w, top, (uint32_t)max);
	while (pyh_walk_more(&w)) {
		uint8_t win[PYH_FRAME_WINDOW] = { 0 };
		struct pyh_frame_view v;
		uint64_t here = w.frame;
		enum pyh_step step;

		if (pyh_mem_read(t->pid, here, win, span)) {
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
