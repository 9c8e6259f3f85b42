/* Walking the interpreter and thread-state lists of a live process. */
#include "python/threads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/taskinfo.h"
#include "proc/mem.h"
#include "proc/procfs.h"
#include "python/fields.h"
#include "python/frames.h"

/* The largest struct prefix we read at once; every offset we use must be below it. */
#define TSTATE_READ 512
#define PTHREAD_SCAN 2048	/* bytes of glibc's struct pthread searched for the tid */

static int seen(const uint64_t *list, int n, uint64_t v)
{
	for (int i = 0; i < n; i++)
		if (list[i] == v)
			return 1;
	return 0;
}

/* The offset in glibc's struct pthread (each thread's pthread_t points at
 * its own) where every thread state's thread holds a distinct tid of the
 * process: that is the struct's tid. Fills th[].tid and returns 1 when exactly
 * one such assignment exists; 0 when none or several do, or a struct cannot
 * be read (th untouched). Reads n * PTHREAD_SCAN bytes: no BPF, no /proc
 * beyond the task list. */
static int calibrate_pthreads(const struct pyh_target *t, struct pyh_pythread *th, int n,
			      const pid_t *tids, int ntids)
{
	uint8_t *img = calloc((size_t)n, PTHREAD_SCAN);
	int32_t at = -1;
	int ok = 0;

	if (!img)
		return 0;
	for (int i = 0; i < n; i++)
		if (!th[i].thread_id ||
		    pyh_mem_read(t->pid, th[i].thread_id, img + (size_t)i * PTHREAD_SCAN, PTHREAD_SCAN))
			goto out;
	for (uint32_t off = 0; off + 4 <= PTHREAD_SCAN; off += 4) {
		int all = 1;

		for (int i = 0; i < n && all; i++) {
			int32_t v;
			int found = 0;

			memcpy(&v, img + (size_t)i * PTHREAD_SCAN + off, 4);
			for (int j = 0; j < ntids && !found; j++)
				found = tids[j] == v;
			for (int k = 0; k < i && found; k++)
				found = memcmp(img + (size_t)k * PTHREAD_SCAN + off, &v, 4) != 0;
			all = found;
		}
		if (!all)
			continue;
		if (at >= 0) {
			/* a second candidate: only fine if it tells the same story */
			for (int i = 0; i < n; i++)
				if (memcmp(img + (size_t)i * PTHREAD_SCAN + off,
					   img + (size_t)i * PTHREAD_SCAN + (uint32_t)at, 4))
					goto out;
			continue;
		}
		at = (int32_t)off;
	}
	if (at < 0)
		goto out;
	for (int i = 0; i < n; i++)
		memcpy(&th[i].tid, img + (size_t)i * PTHREAD_SCAN + (uint32_t)at, 4);
	ok = 1;
out:
	free(img);
	return ok;
}

/* 2.7 - 3.10 keep only pthread_t, which on x86_64 glibc is the thread's fs
 * base and points at glibc's struct pthread. A process with one thread and
 * one thread state needs nothing more; else the tid is found inside struct
 * pthread (calibrate_pthreads: memory reads only); when that is not certain,
 * the kernel says each thread's fs base (BPF task iterator: exact, but loading
 * it costs tens of milliseconds, the kernel's BTF first). */
static void match_pthreads(const struct pyh_target *t, struct pyh_pythread *th, int n,
			   const pid_t *tids, int ntids)
{
	struct pyh_fsbase fs[PYH_MAX_THREADS];
	int nfs = 0;

	if (ntids > 0) {
		if (n == 1 && ntids == 1 && th[0].thread_id) {
			th[0].tid = tids[0];
			return;
		}
		if (calibrate_pthreads(t, th, n, tids, ntids))
			return;
	}
	if (pyh_taskinfo_fsbase(t->pid, fs, PYH_MAX_THREADS, &nfs) == 0 && nfs > 0)
		for (int i = 0; i < n; i++)
			for (int j = 0; j < nfs; j++)
				if (th[i].thread_id && fs[j].fsbase == th[i].thread_id)
					th[i].tid = fs[j].tid;
}

/* native_thread_id is the tid in the process's own PID namespace: inside a
 * container it differs from the host tid /proc lists. Translate. */
static void map_ns_tids(const struct pyh_target *t, struct pyh_pythread *th, int n,
			const pid_t *tids, int ntids)
{
	pid_t *ns;
	pid_t ns_main;

	if (pyh_proc_status_id(t->pid, 0, "NSpid", &ns_main) || ns_main == t->pid)
		return;	/* same namespace as ours (or unknown): tids are host tids */
	if (ntids <= 0 || !(ns = calloc((size_t)ntids, sizeof(*ns))))
		return;
	for (int j = 0; j < ntids; j++)
		if (pyh_proc_status_id(t->pid, tids[j], "NSpid", &ns[j]))
			ns[j] = 0;
	for (int i = 0; i < n; i++) {
		pid_t host = 0;

		for (int j = 0; j < ntids && th[i].tid; j++)
			if (ns[j] == th[i].tid)
				host = tids[j];
		th[i].tid = host;
	}
	free(ns);
}

static uint64_t gil_holder(const struct pyh_target *t, uint64_t first_interp)
{
	const struct pyh_layout *l = &t->layout;
	uint64_t holder = 0, gil = 0;
	int32_t locked = 0;

	if (l->gil_kind == PYH_GIL_TSTATE_CURRENT) {
		/* The holder sets it to NULL for the moment it drops and takes the
		 * GIL again, every 100 bytecodes while other threads exist (2.7's
		 * check interval): a NULL is read twice more (a read is a few
		 * microseconds) before it says nobody holds it. */
		for (int i = 0; i < 3 && !holder; i++)
			if (!t->tstate_current_ptr ||
			    pyh_mem_read_u64(t->pid, t->tstate_current_ptr, &holder))
				return 0;
		return holder;
	}
	if (l->gil_kind != PYH_GIL_INTERP_PTR || l->interp_gil_ptr == PYH_NO_FIELD)
		return 0;
	if (pyh_mem_read_u64(t->pid, first_interp + l->interp_gil_ptr, &gil) || !gil)
		return 0;
	if (pyh_mem_read(t->pid, gil + l->gil_locked, &locked, sizeof(locked)) || locked != 1)
		return 0;
	if (pyh_mem_read_u64(t->pid, gil + l->gil_holder, &holder))
		return 0;
	return holder;
}

int pyh_thread_top(const struct pyh_target *t, uint64_t tstate, uint64_t *top)
{
	uint64_t field = 0;
	int rc = pyh_mem_read_u64(t->pid, tstate + t->layout.tstate_frame, &field);

	*top = 0;
	return rc ? rc : pyh_frames_top(t, field, top);
}

/* One level of pyh_thread_tops: out[i] the 8 bytes at from[i] + off for
 * each from[i] != 0 (else 0, rc untouched), rcs[i] set where a read failed. */
static void tops_level(pid_t pid, const uint64_t *from, uint32_t off, int n, uint64_t *out, int *rcs)
{
	struct pyh_mem_iov iov[64];
	int idx[64];

	for (int b = 0; b < n; b += 64) {
		int m = 0;

		for (int k = b; k < n && k < b + 64; k++) {
			out[k] = 0;
			if (rcs[k] || !from[k])
				continue;
			iov[m] = (struct pyh_mem_iov){ from[k] + off, &out[k], 8 };
			idx[m++] = k;
		}
		if (!m || pyh_mem_readv(pid, iov, m) == 0)
			continue;
		for (int j = 0; j < m; j++)	/* one of them failed: each alone, to know which */
			rcs[idx[j]] = pyh_mem_read_u64(pid, from[idx[j]] + off, &out[idx[j]]);
	}
}

void pyh_thread_tops(const struct pyh_target *t, const uint64_t *tstates, int n, uint64_t *tops,
		     int *rcs)
{
	uint64_t *field = calloc((size_t)(n > 0 ? n : 1), sizeof(*field));

	for (int i = 0; i < n; i++)
		rcs[i] = 0;
	if (!field) {	/* out of memory: one by one */
		for (int i = 0; i < n; i++)
			rcs[i] = pyh_thread_top(t, tstates[i], &tops[i]);
		return;
	}
	/* as pyh_thread_top: the tstate's frame field, then pyh_frames_top (a
	 * null thread state has no field to read) */
	for (int i = 0; i < n; i++)
		if (!tstates[i])
			rcs[i] = -EFAULT;
	tops_level(t->pid, tstates, t->layout.tstate_frame, n, field, rcs);
	if (pyh_tstate_frame_indirect(&t->layout))
		tops_level(t->pid, field, t->layout.cframe_current_frame, n, tops, rcs);
	else
		for (int i = 0; i < n; i++)
			tops[i] = rcs[i] ? 0 : field[i];
	for (int i = 0; i < n; i++)
		if (rcs[i])
			tops[i] = 0;
	free(field);
}

int pyh_threads_linked(const struct pyh_layout *l, const uint8_t *tb, size_t len, uint64_t interp,
		       uint64_t from)
{
	if (pyh_field(tb, len, l->tstate_interp, 8) != interp)
		return 0;
	if (l->tstate_prev != PYH_NO_FIELD && !pyh_field(tb, len, l->tstate_next, 8) &&
	    !pyh_field(tb, len, l->tstate_thread_id, 8))
		return 0;	/* a list's last state is its oldest: its thread runs */
	return !from || l->tstate_prev == PYH_NO_FIELD || pyh_field(tb, len, l->tstate_prev, 8) == from;
}

/* One walk of the lists: out[0..*n) with their tids from the states alone
 * (3.11+: native_thread_id, in the target's PID namespace), *need_pthread
 * when they have none (2.7 - 3.10), *cut 1 when a state was not linked where
 * the walk found it (pyh_threads_linked; the walk of that list ends there,
 * the state left out). Returns 0 or -errno, as pyh_threads_read. */
static int threads_walk(const struct pyh_target *t, struct pyh_pythread *out, int max, int *n,
			uint64_t *gil, int *need_pthread, int *cut)
{
	const struct pyh_layout *l = &t->layout;
	uint64_t interps[PYH_MAX_INTERPS];
	uint64_t *tseen = NULL;
	uint64_t interp = 0;
	int ninterp = 0, count = 0, rc;

	*n = 0;
	*need_pthread = 0;
	*cut = 0;
	*gil = 0;
	rc = pyh_mem_read_u64(t->pid, t->interp_head_ptr, &interp);
	if (rc)
		return rc;
	if (!interp)
		return -EAGAIN;
	const uint32_t toffs[] = { l->tstate_next, l->tstate_prev, l->tstate_interp,
				   l->tstate_thread_id, l->tstate_frame, l->tstate_native_thread_id };
	size_t tsz = pyh_field_span(toffs, 6, TSTATE_READ);

	if (max <= 0)
		return -EINVAL;
	tseen = calloc((size_t)max, sizeof(*tseen));
	if (!tseen)
		return -ENOMEM;
	*gil = gil_holder(t, interp);

	while (interp && ninterp < PYH_MAX_INTERPS && !seen(interps, ninterp, interp)) {
		uint64_t ts = 0, inext = 0;
		struct pyh_mem_iov iov[2] = {
			{ .addr = interp + l->interp_tstate_head, .buf = &ts, .len = 8 },
			{ .addr = interp + l->interp_next, .buf = &inext, .len = 8 },
		};

		interps[ninterp++] = interp;
		/* PyInterpreterState is large (the thread list is 7 KiB in on 3.13): read the two fields. */
		if (pyh_mem_readv(t->pid, iov, 2))
			break;
		for (uint64_t from = 0; ts && count < max && !seen(tseen, count, ts); ) {
			uint8_t tb[TSTATE_READ];
			struct pyh_pythread *th = &out[count];

			if (pyh_mem_read(t->pid, ts, tb, tsz))
				break;
			if (!pyh_threads_linked(l, tb, tsz, interp, from)) {
				*cut = 1;
				break;
			}
			from = ts;
			memset(th, 0, sizeof(*th));
			tseen[count++] = ts;
			th->tstate = ts;
			th->interp = interp;
			th->thread_id = pyh_field(tb, tsz, l->tstate_thread_id, 8);
			pyh_frames_top(t, pyh_field(tb, tsz, l->tstate_frame, 8), &th->frame);
			if (l->tstate_native_thread_id != PYH_NO_FIELD) {
				uint64_t nid = pyh_field(tb, tsz, l->tstate_native_thread_id, 8);

				th->tid = nid > 0 && nid < (1u << 30) ? (pid_t)nid : 0;
			} else {
				*need_pthread = 1;
			}
			ts = pyh_field(tb, tsz, l->tstate_next, 8);
		}
		interp = inext;
	}
	free(tseen);
	*n = count;
	return 0;
}

int pyh_threads_listed(const struct pyh_pythread *th, const pid_t *tids, int ntids)
{
	for (int i = 0; i < ntids && th->tid; i++)
		if (tids[i] == th->tid)
			return 1;
	return 0;
}

int pyh_threads_unmatched(const struct pyh_pythread *py, int npy, const pid_t *tids, int ntids)
{
	int unmatched = 0;

	for (int p = 0; p < npy; p++)
		unmatched += !pyh_threads_listed(&py[p], tids, ntids) && (py[p].tid || py[p].frame);
	return unmatched;
}

int pyh_threads_read(const struct pyh_target *t, struct pyh_pythread *out, int max, int *n,
		     uint64_t *gil, struct pyh_threads_check *chk)
{
	pid_t *own = NULL, *tids = chk->tids;
	int max_tids = chk->max_tids, rc = 0, heads_cut = 0;

	chk->ntids = chk->reads = chk->unmatched = 0;
	if (!tids || max_tids <= 0) {
		if (!(own = calloc(PYH_MAX_THREADS, sizeof(*own))))
			return -ENOMEM;
		tids = own;
		max_tids = PYH_MAX_THREADS;
	}
	/* The states first, then the OS threads: a thread started between the
	 * two has its OS thread listed; one that ended between is read again. */
	while (chk->reads < PYH_THREADS_LIST_READS) {
		int need_pthread = 0, ntids = 0, cut = 0;

		chk->reads++;
		rc = threads_walk(t, out, max, n, gil, &need_pthread, &cut);
		if (rc)
			break;
		rc = pyh_proc_tasks(t->pid, tids, max_tids, &ntids);
		if (rc && rc != -E2BIG) {
			*n = 0;
			break;
		}
		ntids = ntids < max_tids ? ntids : max_tids;
		if (need_pthread && *n > 0)	/* calibrated against the whole list only */
			match_pthreads(t, out, *n, tids, rc ? 0 : ntids);
		else if (*n > 0)
			map_ns_tids(t, out, *n, tids, ntids);
		rc = 0;
		chk->ntids = ntids;
		chk->unmatched = pyh_threads_unmatched(out, *n, tids, ntids) + cut;
		if (!chk->unmatched)
			break;
		heads_cut += cut && !*n;
		if (heads_cut == PYH_THREADS_LIST_READS)
			rc = -EPROTO;	/* no read found even one linked state */
	}
	if (rc)
		chk->unmatched = 0;
	free(own);
	return rc;
}
