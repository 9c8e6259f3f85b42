/* Merging kernel, native and Python frames. */
#include "native/merge.h"

#include <string.h>

static void put(struct pyh_merged *out, int max, int *n, enum pyh_merged_kind kind, int index)
{
	if (*n < max)
		out[(*n)++] = (struct pyh_merged){ .kind = kind, .index = index };
}

int pyh_native_merge(const struct pyh_merge_in *in, struct pyh_merged *out, int max, int *n)
{
	int py = 0, mismatch = 0;

	*n = 0;
	for (int k = 0; k < in->nkernel; k++)
		put(out, max, n, PYH_MERGED_KERNEL, k);
	for (int i = 0; i < in->nnative; i++) {
		if (!in->native_eval || !in->native_eval[i]) {
			put(out, max, n, PYH_MERGED_NATIVE, i);
			continue;
		}
		if (py >= in->npython) {
			mismatch++;	/* an eval call whose Python frames are not in the chain */
			put(out, max, n, PYH_MERGED_NATIVE, i);
			continue;
		}
		/* This eval call's frames: up to and including its entry frame. */
		while (py < in->npython) {
			int entry = !in->python_entry || in->python_entry[py];

			put(out, max, n, PYH_MERGED_PYTHON, py++);
			if (entry)
				break;
		}
	}
	if (!in->native_complete)
		put(out, max, n, PYH_MERGED_GAP, -1);
	else
		mismatch += in->npython - py;
	while (py < in->npython)
		put(out, max, n, PYH_MERGED_PYTHON, py++);
	return mismatch;
}

const char *pyh_native_eval_function(int major)
{
	return major == 2 ? "PyEval_EvalFrameEx" : "_PyEval_EvalFrameDefault";
}

int pyh_native_is_eval(const char *eval_function, const char *function)
{
	size_t len = strlen(eval_function);

	return strncmp(function, eval_function, len) == 0 &&
	       (function[len] == '\0' || function[len] == '.');
}
