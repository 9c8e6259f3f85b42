/* Named frames: the one way dump, watch and record turn a raw frame (from
 * the BPF sampler or the C walker, pyhang/frame.h) into function, file, line. */
#ifndef PYH_PYTHON_STACK_H
#define PYH_PYTHON_STACK_H
#include <stddef.h>
#include <stdint.h>

#include "pyhang/frame.h"
#include "python/code.h"

/* pyh_frame.line when the line is not known (JSON: null). */
#define PYH_LINE_UNKNOWN (-1)

struct pyh_frame {
	const struct pyh_code_info *ci;	/* held; NULL when the code object could not be read */
	uint64_t code;			/* the code object's address */
	uint64_t addr;			/* the frame's own address; 0 when not known */
	uint32_t offset;		/* as in struct pyh_raw_frame */
	uint32_t flags;			/* PYH_RAWF_* */
	int line;			/* PYH_LINE_UNKNOWN when not known */
	char unknown[40];		/* ci == NULL: "[unknown code 0x…]" */
};

/* Name raw frame r (whose own address is addr, 0 when unknown) with the code
 * cache c into *out, which then holds a reference on the code info (release
 * it with pyh_frame_release). A frame with a fingerprint (r->fp, from the BPF
 * sampler) is named as the object that had it (pyh_code_get_fp), one with
 * PYH_CODE_FP_REPLACED as unreadable without a read; without,
 * revalidate says whether to check that the code object at that address is
 * still the one the cache named (see pyh_code_get). The line: from
 * the line table at r->offset; co_firstlineno for a frame that has not started
 * (PYH_NO_OFFSET); PYH_LINE_UNKNOWN for PYH_BAD_OFFSET or where the table has
 * no line. Never fails: an unreadable code object gives ci NULL. */
void pyh_frame_name(struct pyh_codecache *c, const struct pyh_raw_frame *r, uint64_t addr,
		    int revalidate, struct pyh_frame *out);

/* *dst becomes a second holder of src's code info. */
void pyh_frame_copy(struct pyh_frame *dst, const struct pyh_frame *src);
void pyh_frame_release(struct pyh_frame *f); /* NULL-safe; leaves *f empty */

/* co_name / co_qualname (co_name before 3.11), or "[unknown code 0x…]" for
 * an unreadable code object; the file, NULL when not known. */
const char *pyh_frame_function(const struct pyh_frame *f);
const char *pyh_frame_qualname(const struct pyh_frame *f);
const char *pyh_frame_file(const struct pyh_frame *f);

/* What a named stack (frames[0..n), innermost first, whose walk ended with
 * status) lacks, as a reason for people written into buf: the walk stopped
 * before the chain's end, a frame's code object could not be read, or the
 * chain ends at a generator's or coroutine's frame (which runs only with a
 * caller: the frames below it are missing). Returns buf, or NULL (and buf
 * "") when the stack is whole or was cut on purpose (PYH_WALK_TRUNCATED). */
const char *pyh_stack_problem(const struct pyh_layout *l, const struct pyh_frame *frames, int n,
			      enum pyh_walk_status status, char *buf, size_t bufsz);

/* The code objects of raw[0..n) worth reading ahead of naming them (for
 * pyh_code_prefetch): every frame's but one whose object is known to be gone
 * (PYH_CODE_FP_REPLACED). Writes them to out (room for n), returns how many. */
int pyh_raw_frame_codes(const struct pyh_raw_frame *raw, int n, uint64_t *out);

/* The same judgement on raw frames, named with the code cache c for it.
 * Returns buf or NULL as pyh_stack_problem; NULL also when out of memory is
 * never a pass: then buf says "out of memory". */
const char *pyh_raw_stack_problem(struct pyh_codecache *c, const struct pyh_raw_frame *raw, int n,
				  enum pyh_walk_status status, char *buf, size_t bufsz);
#endif
