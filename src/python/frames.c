/* The frame chain of one thread: PyFrameObject (<= 3.10) or _PyInterpreterFrame (3.11+). */
#include "python/frames.h"

#include <string.h>

#include "proc/mem.h"
#include "python/fields.h"

#define FRAME_READ 128	/* every frame field we use is in the first 128 bytes */

static int visited(const uint64_t *seen, int n, uint64_t f)
{
	/* Frames are distinct objects: a repeat means the chain was modified under us. */
	for (int i = n - 1; i >= 0 && i >= n - 64; i--)
		if (seen[i] == f)
			return 1;
	return 0;
}

/* Bytes to read so that the fields the walk uses are inside. */
static size_t frame_span(const struct pyh_layout *l)
{
	const uint32_t offs[] = { l->frame_back, l->frame_code, l->frame_lasti, l->frame_owner };

	return pyh_field_span(offs, sizeof(offs) / sizeof(offs[0]), FRAME_READ);
}

int pyh_frames_walk(const struct pyh_target *t, uint64_t frame, struct pyh_rawframe *out, int max,
		    int *truncated, const char **broken)
{
	const struct pyh_layout *l = &t->layout;
	size_t fsz = frame_span(l);
	uint64_t seen[PYH_MAX_FRAMES];
	int n = 0, steps = 0;

	*truncated = 0;
	*broken = NULL;
	while (frame) {
		uint8_t buf[FRAME_READ] = { 0 };
		struct pyh_mem_iov iov[2];
		uint64_t code, type = 0, next;
		int owner = -1;

		if (steps >= PYH_MAX_FRAMES || n >= max) {
			*truncated = 1;
			break;
		}
		if (visited(seen, steps, frame)) {
			*broken = "cycle in the frame chain";
			break;
		}
		seen[steps++] = frame;
		if (pyh_mem_read(t->pid, frame, buf, fsz)) {
			*broken = "unreadable frame";
			break;
		}
		/* 3.14 tags f_executable (a _PyStackRef) in its low bits; objects are 16-byte aligned. */
		code = pyh_field(buf, FRAME_READ, l->frame_code, 8) & ~(uint64_t)7;
		next = pyh_field(buf, FRAME_READ, l->frame_back, 8);
		if (l->frame_owner != PYH_NO_FIELD)
			owner = (int)(int8_t)pyh_field(buf, FRAME_READ, l->frame_owner, 1);
		if (l->frame_owner_cstack != PYH_NO_FIELD && owner >= (int)l->frame_owner_cstack) {
			frame = next;	/* a shim frame (C stack, interpreter): not Python code */
			continue;
		}
		iov[0] = (struct pyh_mem_iov){ .addr = code + l->object_type, .buf = &type, .len = 8 };
		if (!code || pyh_mem_readv(t->pid, iov, 1) || type != t->code_type) {
			*broken = "not a code object";
			break;
		}
		out[n].code = code;
		out[n].offset_valid = 1;
		switch (l->lasti_kind) {
		case PYH_LASTI_BYTES: {
			int32_t lasti = (int32_t)pyh_field(buf, FRAME_READ, l->frame_lasti, 4);
			out[n].offset = lasti < 0 ? 0 : (uint32_t)lasti;
			break;
		}
		case PYH_LASTI_UNITS: {
			int32_t lasti = (int32_t)pyh_field(buf, FRAME_READ, l->frame_lasti, 4);
			out[n].offset = lasti < 0 ? 0 : (uint32_t)lasti * 2;
			break;
		}
		case PYH_LASTI_PREV_PTR:
		case PYH_LASTI_CUR_PTR: {
			uint64_t ip = pyh_field(buf, FRAME_READ, l->frame_lasti, 8), start = code + l->code_adaptive;

			/* A frame that has not started points one unit before the code. */
			if (ip < start || ip - start > (64u << 20))
				out[n].offset = 0;
			else
				out[n].offset = (uint32_t)(ip - start) & ~1u;
			break;
		}
		default:
			out[n].offset_valid = 0;
		}
		n++;
		frame = next;
	}
	return n;
}
