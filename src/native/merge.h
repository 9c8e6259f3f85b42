/* One list per thread: kernel frames, then native frames with each
 * interpreter eval frame replaced by the Python frames it runs. Pure. */
#ifndef PYH_NATIVE_MERGE_H
#define PYH_NATIVE_MERGE_H

enum pyh_merged_kind {
	PYH_MERGED_KERNEL = 1,
	PYH_MERGED_NATIVE,	/* index: into the native frames */
	PYH_MERGED_PYTHON,	/* index: into the Python frames */
	PYH_MERGED_GAP,		/* the native unwind stopped here (it did not reach the
				 * outermost frame): what follows is outer, the native frames
				 * between are not known */
};

struct pyh_merged {
	enum pyh_merged_kind kind;
	int index;		/* into the list of that kind; -1 for a gap */
};

struct pyh_merge_in {
	int nkernel;		/* kernel frames, innermost first */
	const int *native_eval;	/* per native frame (innermost first): 1 if it is an
				 * interpreter eval call, which runs Python frames */
	int nnative;
	int native_complete;	/* the native unwind reached the outermost frame */
	const int *python_entry;/* per Python frame (innermost first): 1 if it is the first
				 * frame its eval call ran (the outermost of that call's
				 * frames; every frame on 2.7-3.10) */
	int npython;
};

/* Merge into out[0..*n) (at most max; cut there, the innermost kept). Each
 * eval frame takes the Python frames up to and including the next entry
 * frame. Returns the number of mismatches: eval frames left with no Python
 * frame (kept as native frames) plus Python frames left with no eval frame
 * although the native unwind was complete (appended after the last native
 * frame). An incomplete unwind ends its native frames with one
 * PYH_MERGED_GAP, followed by the Python frames left over (no mismatch). */
int pyh_native_merge(const struct pyh_merge_in *in, struct pyh_merged *out, int max, int *n);

/* The function the interpreter of Python major.x runs Python frames in:
 * "PyEval_EvalFrameEx" (2.7), "_PyEval_EvalFrameDefault" (3.6+). */
const char *pyh_native_eval_function(int major);

/* 1 when function (a symbol name) is eval_function or a part split off it
 * by the compiler ("_PyEval_EvalFrameDefault.cold"). */
int pyh_native_is_eval(const char *eval_function, const char *function);
#endif
