/* dump --native: each blocked thread's kernel, native and Python frames in one list.
 *
 * One BPF task iterator walk records every thread of the process as the
 * kernel holds it (bpf/taskinfo.bpf.c): for a thread that is asleep, the user
 * registers saved when it entered the kernel, its kernel stack and the top of
 * its user stack. Nothing is stopped. A sleeping thread does not move, so its
 * stack is unwound from that record and the rest of its stack read from
 * memory (src/native/), its kernel frames named by /proc/.../stack, and its
 * Python frames read as for any dump; after both, /proc must show it still
 * asleep with the same number of context switches, or it ran in between and
 * is read again. A thread that was running was read in the kernel at an
 * interrupt (src/snapshot/): its registers and stack copy come with that
 * snapshot and are unwound from the copy alone (the thread has moved on). */
#include "dump/dump_native.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kallsyms.h"
#include "kernel/taskinfo.h"
#include "native/merge.h"
#include "native/native.h"
#include "proc/procfs.h"
#include "python/frames.h"
#include "python/threads.h"
#include "snapshot/snapshot.h"

#define PYH_DN_MAX_THREADS PYH_MAX_THREADS	/* threads whose record is kept */
#define PYH_DN_MAX_NATIVE PYH_NATIVE_MAX_FRAMES	/* native frames per thread */
#define PYH_DN_MAX_READ (1u << 20)		/* bytes of stack read per thread beyond the copy */
#define PYH_DN_MAX_NS (50ull * 1000000)		/* time per thread's unwind */

/* One thread as the iterator saw it. */
struct pyh_dn_rec {
	pid_t tid;
	uint32_t flags, state;
	uint64_t switches;
	struct pyh_uregs regs;
	uint32_t kstack_n;
	uint64_t kstack[PYH_TASKINFO_KSTACK_MAX];
	uint8_t *ustack;	/* malloc'd copy, ustack_len bytes */
	uint32_t ustack_len;
};

struct pyh_dump_native {
	pid_t pid;
	struct pyh_dump_opts opts;
	struct pyh_native *nat;
	struct pyh_dn_rec *recs;
	int nrecs, overflow;
	int refresh_failed;		/* the second walk failed: recs may be missing */
	struct pyh_ksym *ksyms;		/* every kernel address of every record, sorted, unique */
	size_t nksyms;
	int ksyms_done;			/* ksyms named (only when /proc/.../stack is not readable) */
	struct pyh_ksym kframes[PYH_TASKINFO_KSTACK_MAX];	/* the thread's kernel frames */
	struct pyh_native_frame frames[PYH_DN_MAX_NATIVE];
	struct pyh_native_sym syms[PYH_DN_MAX_NATIVE];
	int eval[PYH_DN_MAX_NATIVE];
	int entry[PYH_MAX_FRAMES];
	struct pyh_merged merged[PYH_TASKINFO_KSTACK_MAX + PYH_DN_MAX_NATIVE + PYH_MAX_FRAMES + 1];
};

static void free_recs(struct pyh_dump_native *dn)
{
	for (int i = 0; i < dn->nrecs; i++)
		free(dn->recs[i].ustack);
	dn->nrecs = 0;
}

static int keep_rec(const struct pyh_taskinfo_native_rec *r, void *arg)
{
	struct pyh_dump_native *dn = arg;
	struct pyh_dn_rec *k;

	if (dn->nrecs >= PYH_DN_MAX_THREADS) {
		dn->overflow = 1;
		return 0;
	}
	k = &dn->recs[dn->nrecs];
	memset(k, 0, sizeof(*k));
	k->tid = (pid_t)r->tid;
	k->flags = r->flags;
	k->state = r->state;
	k->switches = r->switches;
	k->regs = r->regs;
	k->kstack_n = r->kstack_n <= PYH_TASKINFO_KSTACK_MAX ? r->kstack_n : PYH_TASKINFO_KSTACK_MAX;
	memcpy(k->kstack, r->kstack, k->kstack_n * sizeof(k->kstack[0]));
	if ((r->flags & PYH_TI_USTACK) && r->ustack_len && r->ustack_len <= sizeof(r->ustack)) {
		k->ustack = malloc(r->ustack_len);
		if (!k->ustack)
			return -ENOMEM;
		memcpy(k->ustack, r->ustack, r->ustack_len);
		k->ustack_len = r->ustack_len;
	}
	dn->nrecs++;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Name every kernel address of every record in one pass over kallsyms. */
static int name_kernel(struct pyh_dump_native *dn)
{
	size_t total = 0, u = 0;
	uint64_t *all;
	int err;

	free(dn->ksyms);
	dn->ksyms = NULL;
	dn->nksyms = 0;
	for (int i = 0; i < dn->nrecs; i++)
		total += dn->recs[i].kstack_n;
	if (!total)
		return 0;
	all = malloc(total * sizeof(*all));
	if (!all)
		return -ENOMEM;
	total = 0;
	for (int i = 0; i < dn->nrecs; i++)
		for (uint32_t k = 0; k < dn->recs[i].kstack_n; k++)
			all[total++] = dn->recs[i].kstack[k];
	qsort(all, total, sizeof(*all), u64_cmp);
	for (size_t i = 0; i < total; i++)
		if (i == 0 || all[i] != all[i - 1])
			all[u++] = all[i];
	dn->ksyms = calloc(u, sizeof(*dn->ksyms));
	if (!dn->ksyms) {
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < u; i++)
		dn->ksyms[i].addr = all[i];
	free(all);
	dn->nksyms = u;
	err = pyh_kallsyms_resolve(dn->ksyms, u, NULL);
	return err == -ENOMEM ? err : 0;	/* unnamed kernel frames still show */
}

static const struct pyh_ksym *ksym(const struct pyh_dump_native *dn, uint64_t addr)
{
	size_t lo = 0, hi = dn->nksyms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dn->ksyms[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < dn->nksyms && dn->ksyms[lo].addr == addr ? &dn->ksyms[lo] : NULL;
}

int pyh_dump_native_refresh(struct pyh_dump_native *dn)
{
	char why[256];
	int rc;

	free_recs(dn);
	dn->overflow = 0;
	rc = pyh_taskinfo_native(dn->pid, keep_rec, dn, NULL, why, sizeof(why));
	dn->ksyms_done = 0;
	dn->refresh_failed = rc != 0;
	return rc;
}

int pyh_dump_native_begin(pid_t pid, const struct pyh_dump_opts *o, struct pyh_dump_native **out,
			  char *why, size_t whysz)
{
	struct pyh_native_opts no = { .no_debug_files = o->no_debug_files };
	struct pyh_dump_native *dn = calloc(1, sizeof(*dn));
	int rc;

	*out = NULL;
	if (!dn || !(dn->recs = calloc(PYH_DN_MAX_THREADS, sizeof(*dn->recs)))) {
		free(dn);
		snprintf(why, whysz, "out of memory");
		return -ENOMEM;
	}
	dn->pid = pid;
	dn->opts = *o;
	rc = pyh_taskinfo_native(pid, keep_rec, dn, NULL, why, whysz);
	if (rc == 0)
		rc = pyh_native_open(pid, &no, &dn->nat, why, whysz);
	if (rc) {
		if (rc == -ESRCH)
			snprintf(why, whysz, "process %d exited", (int)pid);
		pyh_dump_native_end(dn);
		return rc;
	}
	*out = dn;
	return 0;
}

void pyh_dump_native_end(struct pyh_dump_native *dn)
{
	if (!dn)
		return;
	free_recs(dn);
	free(dn->recs);
	free(dn->ksyms);
	pyh_native_close(dn->nat);
	free(dn);
}

static const struct pyh_dn_rec *find_rec(const struct pyh_dump_native *dn, pid_t tid)
{
	for (int i = 0; i < dn->nrecs; i++)
		if (dn->recs[i].tid == tid)
			return &dn->recs[i];
	return NULL;
}

static int set_error(struct pyh_dump_thread *th, const char *why)
{
	free(th->native_error);
	th->native_error = strdup(why);
	return th->native_error ? 0 : -ENOMEM;
}

/* No native stack for th: say why. */
static int no_native(struct pyh_dump_thread *th, const char *why)
{
	th->native = 1;
	return set_error(th, why);
}

void pyh_dump_native_free_thread(struct pyh_dump_thread *th)
{
	for (int i = 0; i < th->nsys; i++) {
		free(th->sys[i].function);
		free(th->sys[i].library);
	}
	free(th->sys);
	free(th->stack);
	free(th->native_error);
	th->sys = NULL;
	th->stack = NULL;
	th->native_error = NULL;
	th->nsys = th->nstack = 0;
}

static int fill_native(struct pyh_dump_native *dn, int i, struct pyh_dump_sysframe *f)
{
	const struct pyh_native_sym *s = &dn->syms[i];

	f->kind = PYH_DUMP_NATIVE;
	f->function = s->function[0] ? strdup(s->function) : NULL;
	f->library = s->library ? strdup(s->library) : NULL;
	f->offset = s->library ? s->offset : dn->frames[i].pc;
	f->function_offset = s->function_offset;
	f->deleted = s->deleted;
	return (s->function[0] && !f->function) || (s->library && !f->library) ? -ENOMEM : 0;
}

static int fill_kernel(const struct pyh_ksym *k, struct pyh_dump_sysframe *f)
{
	f->kind = PYH_DUMP_KERNEL;
	if (!k->name[0]) {
		f->offset = k->addr;
		return 0;
	}
	f->function = strdup(k->name);
	f->offset = k->offset;
	return f->function ? 0 : -ENOMEM;
}

/* The thread's kernel frames into dn->kframes: named by the kernel in
 * /proc/PID/task/TID/stack, else its record's addresses named from kallsyms
 * (one pass for all threads). Returns how many. */
static int kernel_frames(struct pyh_dump_native *dn, const struct pyh_dn_rec *r)
{
	int nk = 0;

	if (pyh_kstack_read(dn->pid, r->tid, dn->kframes, PYH_TASKINFO_KSTACK_MAX, &nk) == 0 &&
	    (nk > 0 || r->kstack_n == 0))
		return nk;
	if (!dn->ksyms_done) {
		dn->ksyms_done = 1;
		if (name_kernel(dn))
			dn->nksyms = 0;
	}
	for (uint32_t i = 0; i < r->kstack_n; i++) {
		const struct pyh_ksym *k = ksym(dn, r->kstack[i]);

		if (k) {
			dn->kframes[i] = *k;
		} else {
			memset(&dn->kframes[i], 0, sizeof(dn->kframes[i]));
			dn->kframes[i].addr = r->kstack[i];
		}
	}
	return (int)r->kstack_n;
}

int pyh_dump_native_thread(struct pyh_dump_native *dn, const struct pyh_target *t, int final,
			   struct pyh_dump_thread *th)
{
	int n = th->nframes;
	const struct pyh_native_limits lim = { .max_frames = PYH_DN_MAX_NATIVE,
					       .max_read = PYH_DN_MAX_READ,
					       .max_ns = PYH_DN_MAX_NS };
	const struct pyh_dn_rec *r = find_rec(dn, th->task.tid);
	const char *eval_name = pyh_native_eval_function(t->ver.major);
	struct pyh_native_stack in;
	struct pyh_merge_in mi;
	char stop[512], why[600], st = '?';
	uint64_t sw = 0;
	int nn = 0, nm = 0, nk, mismatch, rc = 0;

	if (n > PYH_MAX_FRAMES)
		n = PYH_MAX_FRAMES;
	if (th->task.tid <= 0)
		return no_native(th, "its OS thread is not known");
	if (!r)
		return no_native(th, dn->refresh_failed
				 ? "the thread ran while it was read, and reading it again failed"
				 : dn->overflow ? "more threads than the native stack reader keeps"
				 : "the kernel did not list this thread (it started during the dump)");
	if (r->flags & PYH_TI_KTHREAD)
		return no_native(th, "a kernel thread has no user stack");
	if (th->snapshot == PYH_SNAP_KERNEL) {
		/* Read at an interrupt while it ran: its registers and the copy of its
		 * stack are of that moment; nothing else is (the thread moved on). */
		if (!th->knative)
			return no_native(th, "running: its kernel snapshot holds no native stack "
					 "(the kernel could not copy it)");
		in = (struct pyh_native_stack){
			.regs = th->knative->regs,
			.image_addr = th->knative->stack_addr,
			.image = th->knative->stack,
			.image_len = th->knative->stack_len,
			.read = NULL,
		};
		r = NULL;
	} else if (r->flags & (PYH_TI_ON_CPU | PYH_TI_RUNNABLE)) {
		return no_native(th, "running: a native stack is read only from a thread that is "
				 "blocked or from its snapshot at an interrupt");
	} else if (r->flags & PYH_TI_MOVED) {
		return final ? no_native(th, "the thread ran while it was read") : -EAGAIN;
	} else {
		in = (struct pyh_native_stack){
			.regs = r->regs,
			.image_addr = r->regs.r[PYH_UREG_RSP],
			.image = r->ustack,
			.image_len = r->ustack_len,
			.read = pyh_native_proc_read,
			.read_arg = &dn->pid,
		};
	}
	if (pyh_native_unwind(dn->nat, th->task.tid, &in, &lim, dn->frames, PYH_DN_MAX_NATIVE, &nn,
			      stop, sizeof(stop)))
		return no_native(th, "the native unwinder refused its registers");
	for (int i = 0; i < nn; i++) {
		pyh_native_symbolize(dn->nat, &dn->frames[i], &dn->syms[i]);
		dn->eval[i] = n > 0 && pyh_native_is_eval(eval_name, dn->syms[i].function);
	}
	nk = r ? kernel_frames(dn, r) : 0;
	/* Did it move meanwhile? Then nothing read from it is one moment's. */
	if (r && pyh_proc_switches(dn->pid, r->tid, &st, &sw))
		return no_native(th, "the thread exited during the dump");
	if (r && (st == 'R' || sw != r->switches))
		return final ? no_native(th, "the thread ran while it was read") : -EAGAIN;
	for (int i = 0; i < n; i++)
		dn->entry[i] = !!(th->frames[i].flags & PYH_RAWF_ENTRY);
	mi = (struct pyh_merge_in){ .nkernel = nk, .native_eval = dn->eval,
				    .nnative = nn, .native_complete = stop[0] == '\0',
				    .python_entry = dn->entry, .npython = n };
	mismatch = pyh_native_merge(&mi, dn->merged,
				    (int)(sizeof(dn->merged) / sizeof(dn->merged[0])), &nm);

	th->native = 1;
	th->sys = calloc((size_t)(nk + nn + 1), sizeof(*th->sys));
	th->stack = calloc((size_t)(nm + 1), sizeof(*th->stack));
	if (!th->sys || !th->stack)
		return -ENOMEM;
	for (int i = 0; i < nm && !rc; i++) {
		const struct pyh_merged *m = &dn->merged[i];
		struct pyh_dump_entry *e = &th->stack[th->nstack++];

		switch (m->kind) {
		case PYH_MERGED_KERNEL:
			*e = (struct pyh_dump_entry){ .kind = PYH_DUMP_KERNEL, .index = th->nsys };
			rc = fill_kernel(&dn->kframes[m->index], &th->sys[th->nsys++]);
			break;
		case PYH_MERGED_NATIVE:
			*e = (struct pyh_dump_entry){ .kind = PYH_DUMP_NATIVE, .index = th->nsys };
			rc = fill_native(dn, m->index, &th->sys[th->nsys++]);
			break;
		case PYH_MERGED_PYTHON:
			*e = (struct pyh_dump_entry){ .kind = PYH_DUMP_PYTHON, .index = m->index };
			break;
		default:
			*e = (struct pyh_dump_entry){ .kind = PYH_DUMP_GAP, .index = -1 };
		}
	}
	if (rc)
		return rc;
	if (stop[0]) {
		snprintf(why, sizeof(why), "native unwind stopped: %s", stop);
		return set_error(th, why);
	}
	if (mismatch) {
		snprintf(why, sizeof(why),
			 "%d eval call%s and Python frames did not pair up: Python frames may be out "
			 "of place among the native ones", mismatch, mismatch == 1 ? "" : "s");
		return set_error(th, why);
	}
	return 0;
}
