/* Naming raw frames. */
#include "python/stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/frames.h"

void pyh_frame_name(struct pyh_codecache *c, const struct pyh_raw_frame *r, uint64_t addr,
		    int revalidate, struct pyh_frame *out)
{
	const struct pyh_code_info *ci = r->fp == PYH_CODE_FP_REPLACED ? NULL
					 : r->fp ? pyh_code_get_fp(c, r->code, r->fp)
						 : pyh_code_get(c, r->code, revalidate);

	memset(out, 0, sizeof(*out));
	out->code = r->code;
	out->addr = addr;
	out->offset = r->offset;
	out->flags = r->flags;
	out->line = PYH_LINE_UNKNOWN;
	if (!ci) {
		snprintf(out->unknown, sizeof(out->unknown), "[unknown code 0x%llx]",
			 (unsigned long long)r->code);
		return;
	}
	out->ci = pyh_code_hold(ci);
	if (r->offset == PYH_NO_OFFSET)
		out->line = ci->firstlineno;
	else if (r->offset != PYH_BAD_OFFSET)
		out->line = pyh_code_line(pyh_codecache_target(c), ci, r->offset);
	if (out->line < 0)
		out->line = PYH_LINE_UNKNOWN;
}

void pyh_frame_copy(struct pyh_frame *dst, const struct pyh_frame *src)
{
	*dst = *src;
	pyh_code_hold(dst->ci);
}

void pyh_frame_release(struct pyh_frame *f)
{
	if (!f)
		return;
	pyh_code_release(f->ci);
	memset(f, 0, sizeof(*f));
}

const char *pyh_frame_function(const struct pyh_frame *f)
{
	return f->ci ? f->ci->name : f->unknown;
}

const char *pyh_frame_qualname(const struct pyh_frame *f)
{
	if (!f->ci)
		return f->unknown;
	return f->ci->qualname[0] ? f->ci->qualname : f->ci->name;
}

const char *pyh_frame_file(const struct pyh_frame *f)
{
	return f->ci ? f->ci->file : NULL;
}

const char *pyh_stack_problem(const struct pyh_layout *l, const struct pyh_frame *frames, int n,
			      enum pyh_walk_status status, char *buf, size_t bufsz)
{
	const char *why = pyh_walk_status_text(status);

	if (bufsz)
		buf[0] = '\0';
	if (why) {
		snprintf(buf, bufsz, "%s", why);
		return buf;
	}
	for (int i = 0; i < n; i++) {
		if (!frames[i].ci) {
			snprintf(buf, bufsz, "frame %d is not a readable code object (freed or overwritten)", i);
			return buf;
		}
	}
	if (status == PYH_WALK_END && n > 0 &&
	    !pyh_stack_root_ok(l, frames[n - 1].flags, frames[n - 1].ci->co_flags)) {
		snprintf(buf, bufsz, "the chain ends at %s, a generator's or coroutine's frame, "
			 "whose callers are missing", pyh_frame_qualname(&frames[n - 1]));
		return buf;
	}
	return NULL;
}

int pyh_raw_frame_codes(const struct pyh_raw_frame *raw, int n, uint64_t *out)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (raw[i].fp != PYH_CODE_FP_REPLACED)
			out[k++] = raw[i].code;
	return k;
}

const char *pyh_raw_stack_problem(struct pyh_codecache *c, const struct pyh_raw_frame *raw, int n,
				  enum pyh_walk_status status, char *buf, size_t bufsz)
{
	struct pyh_frame *named = calloc((size_t)(n > 0 ? n : 1), sizeof(*named));
	const char *why;

	if (!named) {
		snprintf(buf, bufsz, "out of memory");
		return buf;
	}
	{
		/* their code objects read together first: one read per code object
		 * here was most of a kernel snapshot's system calls */
		uint64_t *codes = calloc((size_t)(n > 0 ? n : 1), sizeof(*codes));

		if (codes)
			pyh_code_prefetch(c, codes, pyh_raw_frame_codes(raw, n, codes));
		free(codes);
	}
	for (int i = 0; i < n; i++)
		pyh_frame_name(c, &raw[i], 0, 0, &named[i]);
	why = pyh_stack_problem(&pyh_codecache_target(c)->layout, named, n, status, buf, bufsz);
	for (int i = 0; i < n; i++)
		pyh_frame_release(&named[i]);
	free(named);
	return why;
}
