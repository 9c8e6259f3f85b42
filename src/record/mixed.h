/* record --native: a sample's native frames, unwound from the registers and
 * the copy of the stack it carries, between the Python frames that called
 * them. Nothing of the target is read: it has run on since the sample. */
#ifndef PYH_RECORD_MIXED_H
#define PYH_RECORD_MIXED_H
#include <stddef.h>

#include "native/merge.h"
#include "native/native.h"
#include "pyhang/sample.h"

/* Native frames a profile keeps per sample, innermost first, and the time
 * one sample's unwind may take. */
#define PYH_MIXED_MAX_NATIVE 256
#define PYH_MIXED_MAX_NS (5ull * 1000000)

/* One sample's merged stack, innermost first: merged[i].kind says whether
 * it is Python (index into the sample's frames), native (index into
 * syms), or the gap where the native unwind stopped (PYH_MERGED_GAP; kernel
 * frames are not sampled). */
struct pyh_mixed {
	struct pyh_native_frame frames[PYH_MIXED_MAX_NATIVE];
	struct pyh_native_sym syms[PYH_MIXED_MAX_NATIVE];
	int eval[PYH_MIXED_MAX_NATIVE];
	int entry[PYH_SAMPLE_MAX_DEPTH];
	struct pyh_merged merged[PYH_MIXED_MAX_NATIVE + PYH_SAMPLE_MAX_DEPTH + 1];
	int nmerged;
	int nnative;
	char stop[512];		/* why the unwind stopped before the outermost frame, "" if not */
	int mismatch;		/* eval calls and Python frames that did not pair up */
};

/* Unwind the native part of sample s (len bytes; PYH_SAMPLE_NATIVE set) with
 * nat and merge it with the sample's Python frames, eval_function being the
 * interpreter's (pyh_native_eval_function). Returns 0 with m filled, or
 * -EINVAL when the record is malformed (its native part shorter than it says). */
int pyh_mixed_build(struct pyh_native *nat, const char *eval_function, const struct pyh_sample *s,
		    size_t len, struct pyh_mixed *m);
#endif
