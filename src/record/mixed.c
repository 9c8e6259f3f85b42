/* Mixed Python and native stacks of samples. */
#include "record/mixed.h"

#include <errno.h>
#include <string.h>

int pyh_mixed_build(struct pyh_native *nat, const char *eval_function, const struct pyh_sample *s,
		    size_t len, struct pyh_mixed *m)
{
	const struct pyh_native_limits lim = { .max_frames = PYH_MIXED_MAX_NATIVE, .max_read = 0,
					       .max_ns = PYH_MIXED_MAX_NS };
	const struct pyh_sample_native *sn;
	struct pyh_native_stack in;
	struct pyh_merge_in mi;
	int depth = (int)s->depth, rc;

	m->nmerged = m->nnative = m->mismatch = 0;
	m->stop[0] = '\0';
	if (!(s->flags & PYH_SAMPLE_NATIVE) || depth > PYH_SAMPLE_MAX_DEPTH ||
	    len < PYH_SAMPLE_NATIVE_SIZE(depth, 0))
		return -EINVAL;
	sn = (const struct pyh_sample_native *)((const char *)s + PYH_SAMPLE_SIZE(depth));
	if (sn->stack_len > PYH_SAMPLE_STACK_MAX || len < PYH_SAMPLE_NATIVE_SIZE(depth, sn->stack_len))
		return -EINVAL;
	in = (struct pyh_native_stack){
		.regs = sn->regs,
		.image_addr = sn->stack_addr,
		.image = sn->stack,
		.image_len = sn->stack_len,
		.read = NULL,	/* the thread has moved on: only the copy is true */
	};
	rc = pyh_native_unwind(nat, (pid_t)s->tid, &in, &lim, m->frames, PYH_MIXED_MAX_NATIVE,
			       &m->nnative, m->stop, sizeof(m->stop));
	if (rc)
		return rc;
	for (int i = 0; i < m->nnative; i++) {
		pyh_native_symbolize(nat, &m->frames[i], &m->syms[i]);
		m->eval[i] = pyh_native_is_eval(eval_function, m->syms[i].function);
	}
	for (int i = 0; i < depth; i++)
		m->entry[i] = !!(s->frames[i].flags & PYH_RAWF_ENTRY);
	mi = (struct pyh_merge_in){ .native_eval = m->eval, .nnative = m->nnative,
				    .native_complete = m->stop[0] == '\0',
				    .python_entry = m->entry, .npython = depth };
	m->mismatch = pyh_native_merge(&mi, m->merged, (int)(sizeof(m->merged) / sizeof(m->merged[0])),
				       &m->nmerged);
	return 0;
}
