/* Taking a snapshot of every thread of a Python process. */
#include "dump/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump/dump_native.h"
#include "host/host.h"
#include "kernel/sockets.h"
#include "kernel/syscalls.h"
#include "kernel/taskinfo.h"
#include "proc/procfs.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "python/threads.h"
#include "snapshot/snapshot.h"

void pyh_dump_version(const struct pyh_dump *d, char *out, size_t outsz)
{
	snprintf(out, outsz, "%d.%d.%d", d->target.ver.major, d->target.ver.minor,
		 d->target.ver.micro);
}

/* Name the frames of a snapshot into th. */
static int name_stack(struct pyh_codecache *cache, const struct pyh_target *t,
		      const struct pyh_snap *sn, struct pyh_dump_thread *th)
{
	th->frames = calloc((size_t)(sn->n ? sn->n : 1), sizeof(*th->frames));
	if (!th->frames)
		return -ENOMEM;
	for (int i = 0; i < sn->n; i++)
		pyh_frame_name(cache, &sn->frames[i], sn->addrs[i], 0, &th->frames[i]);
	th->nframes = sn->n;
	th->snapshot = sn->how;
	th->gone = sn->gone;
	th->truncated = sn->status == PYH_WALK_TRUNCATED;
	if (sn->error[0])
		snprintf(th->broken, sizeof(th->broken), "%s", sn->error);
	else
		pyh_stack_problem(&t->layout, th->frames, sn->n, sn->status, th->broken,
				  sizeof(th->broken));
	return 0;
}

/* Keep the registers and stack copy of a running thread's kernel sample
 * (dump --native unwinds them). Returns 0 or -ENOMEM. */
static int keep_native(struct pyh_dump_thread *th, const struct pyh_sample_native *sn)
{
	size_t len = PYH_SAMPLE_NATIVE_HDR_SIZE + sn->stack_len;

	free(th->knative);
	th->knative = malloc(len);
	if (!th->knative)
		return -ENOMEM;
	memcpy(th->knative, sn, len);
	return 0;
}

/* Read the code objects of every frame of sn[0..n) at once (python/code.h,
 * pyh_code_prefetch) before the frames are named one by one. */
static void prefetch_codes(struct pyh_codecache *cache, const struct pyh_snap *sn, int n)
{
	uint64_t *codes;
	int total = 0, k = 0;

	for (int i = 0; i < n; i++)
		total += sn[i].n;
	codes = total ? malloc((size_t)total * sizeof(*codes)) : NULL;
	if (!codes)
		return;		/* each is read as it is named */
	for (int i = 0; i < n; i++)
		k += pyh_raw_frame_codes(sn[i].frames, sn[i].n, codes + k);
	pyh_code_prefetch(cache, codes, k);
	free(codes);
}

/* Read the stacks of the Python threads py[0..npy) (each matched to its
 * entry in d->threads by where[]), PYH_DUMP_SNAP_BATCH at a time. */
static int read_stacks(const struct pyh_dump_opts *o, struct pyh_dump *d, struct pyh_codecache *cache,
		       const struct pyh_pythread *py, struct pyh_dump_thread **where, int npy)
{
	struct pyh_snap *sn = calloc(PYH_DUMP_SNAP_BATCH, sizeof(*sn));
	struct pyh_raw_frame *raw = calloc((size_t)PYH_DUMP_SNAP_BATCH * (size_t)o->max_frames, sizeof(*raw));
	uint64_t *addrs = calloc((size_t)PYH_DUMP_SNAP_BATCH * (size_t)o->max_frames, sizeof(*addrs));
	struct pyh_sample_native *native = o->native ? calloc(PYH_DUMP_SNAP_BATCH, sizeof(*native)) : NULL;
	int rc = 0;

	if (!sn || !raw || !addrs || (o->native && !native)) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (int b = 0; b < npy && !rc; b += PYH_DUMP_SNAP_BATCH) {
		int n = npy - b < PYH_DUMP_SNAP_BATCH ? npy - b : PYH_DUMP_SNAP_BATCH;

		for (int k = 0; k < n; k++) {
			struct pyh_dump_thread *th = where[b + k];

			memset(&sn[k], 0, sizeof(sn[k]));
			sn[k].tid = py[b + k].tid;
			sn[k].tstate = py[b + k].tstate;
			if (th->slices_known && th->task_known && th->task.tid == sn[k].tid) {
				sn[k].before_known = 1;	/* read once, for the task info too */
				sn[k].before_slices = th->slices;
				sn[k].before_state = th->task.state;
				th->slices_known = 0;	/* a second pass (--native) reads anew */
			}
			sn[k].frames = raw + (size_t)k * (size_t)o->max_frames;
			sn[k].addrs = addrs + (size_t)k * (size_t)o->max_frames;
			sn[k].native = native ? &native[k] : NULL;
		}
		rc = pyh_snap_take(o->snapper, &d->target, cache, sn, n, o->max_frames,
				   PYH_SNAP_DEADLINE_MS);
		if (!rc)
			prefetch_codes(cache, sn, n);
		for (int k = 0; k < n && !rc; k++) {
			rc = name_stack(cache, &d->target, &sn[k], where[b + k]);
			if (!rc && sn[k].has_native)
				rc = keep_native(where[b + k], sn[k].native);
		}
	}
cleanup:
	free(native);
	free(addrs);
	free(raw);
	free(sn);
	return rc;
}

static int cmp_thread(const void *a, const void *b)
{
	const struct pyh_dump_thread *x = a, *y = b;

	if (x->task.tid != y->task.tid)
		return x->task.tid < y->task.tid ? -1 : 1;
	return y->python - x->python;
}

static void release_frames(struct pyh_dump_thread *th)
{
	free(th->knative);
	th->knative = NULL;
	for (int j = 0; j < th->nframes; j++)
		pyh_frame_release(&th->frames[j]);
	free(th->frames);
	th->frames = NULL;
	th->nframes = 0;
}

/* --native: the kernel and native frames of every thread (Python or not)
 * merged with its Python frames, read since dn's record of the threads. A
 * thread that ran meanwhile is read once more, its Python frames too, after
 * a new record; the second time it says so instead. Returns 0 or -ENOMEM. */
static int native_stacks(const struct pyh_dump_opts *o, struct pyh_dump *d,
			 struct pyh_codecache *cache, struct pyh_dump_native *dn,
			 const struct pyh_pythread *py, struct pyh_dump_thread **where, int npy)
{
	struct pyh_pythread *again_py = calloc((size_t)(npy ? npy : 1), sizeof(*again_py));
	struct pyh_dump_thread **again_where = calloc((size_t)(npy ? npy : 1), sizeof(*again_where));
	int *again = calloc((size_t)(d->nthreads ? d->nthreads : 1), sizeof(*again));
	int rc = 0, nagain = 0, nagain_py = 0;

	if (!again_py || !again_where || !again) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (int pass = 0; pass < 2 && !rc; pass++) {
		if (pass == 1) {
			if (!nagain)
				break;
			pyh_dump_native_refresh(dn);	/* on failure the second pass says so */
			rc = read_stacks(o, d, cache, again_py, again_where, nagain_py);
		}
		for (int i = 0; i < d->nthreads && !rc; i++) {
			struct pyh_dump_thread *th = &d->threads[i];

			if ((pass == 1 && !again[i]) || (!th->python && !th->task_known))
				continue;
			rc = pyh_dump_native_thread(dn, &d->target, pass == 1, th);
			if (rc != -EAGAIN)
				continue;
			rc = 0;
			again[i] = 1;
			nagain++;
			for (int p = 0; p < npy; p++) {
				if (where[p] != th)
					continue;
				release_frames(th);
				again_py[nagain_py] = py[p];
				again_where[nagain_py++] = th;
			}
		}
	}
cleanup:
	free(again);
	free(again_where);
	free(again_py);
	return rc;
}

/* A process whose symbols say CPython but whose thread states match none of
 * its threads and whose frames hold not one readable code object is not a
 * live CPython (a forged _PyRuntime, or state overwritten wholesale): there
 * is nothing true to show. */
static int implausible(const struct pyh_dump *d, const struct pyh_pythread *py, int npy)
{
	if (npy == 0)
		return 0;
	for (int p = 0; p < npy; p++)
		if (py[p].tid)
			return 0;
	for (int i = 0; i < d->nthreads; i++)
		for (int j = 0; j < d->threads[i].nframes; j++)
			if (d->threads[i].frames[j].ci)
				return 0;
	return 1;
}

/* A task whose step runs has its frames on its loop's thread, which were read
 * as one true snapshot: its frames are that stack's, from the innermost to
 * the task's own coroutine (found by its frame's address, or, where the
 * snapshot has no addresses, as the outermost frame running its code). */
static int splice_running(struct pyh_dump *d)
{
	for (int i = 0; i < d->tasks.n; i++) {
		struct pyh_task *k = &d->tasks.v[i];
		const struct pyh_dump_thread *th = NULL;
		struct pyh_frame *frames;
		int at = -1;

		if (!k->running || !k->tid || !k->coro_code)
			continue;
		for (int j = 0; j < d->nthreads && !th; j++)
			if (d->threads[j].task.tid == k->tid && d->threads[j].python)
				th = &d->threads[j];
		if (!th || th->broken[0])
			continue;
		for (int f = 0; f < th->nframes && at < 0; f++)
			if (k->coro_frame && th->frames[f].addr == k->coro_frame)
				at = f;
		for (int f = th->nframes - 1; f >= 0 && at < 0; f--)
			if (!th->frames[f].addr && th->frames[f].code == k->coro_code)
				at = f;
		if (at < 0)
			continue;
		frames = calloc((size_t)at + 1, sizeof(*frames));
		if (!frames)
			return -ENOMEM;
		for (int f = 0; f <= at; f++)
			pyh_frame_copy(&frames[f], &th->frames[f]);
		for (int f = 0; f < k->nframes; f++)
			pyh_frame_release(&k->frames[f]);
		free(k->frames);
		k->frames = frames;
		k->nframes = at + 1;
		k->frames_truncated = 0;
		k->frames_from_thread = 1;
		k->stack_error[0] = '\0';
	}
	return 0;
}

int pyh_dump_take(const struct pyh_dump_opts *o, pid_t pid, struct pyh_dump *d, char *err,
		  size_t errsz)
{
	struct pyh_pythread *py = NULL;
	struct pyh_dump_thread **where = NULL;
	struct pyh_codecache *cache = NULL;
	struct pyh_dump_native *dn = NULL;
	struct pyh_sockets *socks = NULL;
	struct pyh_taskinfo_thread_rec *kt = NULL;
	pid_t *tids = NULL;
	uint64_t gil = 0;
	int npy = 0, ntids = 0, nkt = 0, rc;

	memset(d, 0, sizeof(*d));
	rc = pyh_target_open(pid, &d->target, err, errsz);
	if (rc)
		return rc;
	pyh_host_cmdline(pid, d->cmdline, sizeof(d->cmdline));
	py = calloc(PYH_MAX_THREADS, sizeof(*py));
	tids = calloc(PYH_MAX_THREADS, sizeof(*tids));
	where = calloc(PYH_MAX_THREADS, sizeof(*where));
	cache = pyh_codecache_new(&d->target);
	socks = pyh_sockets_new(pid);	/* one scan of /proc/net for every thread */
	if (!py || !tids || !where || !cache || !socks) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto cleanup;
	}
	/* The thread states against the OS threads (python/threads.h: read
	 * again while they disagree; past that the dump says so). */
	{
		struct pyh_threads_check chk = { .tids = tids, .max_tids = PYH_MAX_THREADS };

		rc = pyh_threads_read(&d->target, py, PYH_MAX_THREADS, &npy, &gil, &chk);
		if (rc) {
			snprintf(err, errsz, rc == -ESRCH ? "process %d exited during the dump"
					     : rc == -EPROTO ? "process %d: unreadable: its interpreter's "
							       "first thread state is not linked to it (not a "
							       "live CPython, or its state is overwritten)"
					     : "cannot read the thread list of process %d",
				 pid);
			goto cleanup;
		}
		ntids = chk.ntids;
		d->threads_unmatched = chk.unmatched;
	}
	d->gil_known = d->target.layout.gil_kind == PYH_GIL_INTERP_PTR || d->target.tstate_current_ptr;
	/* One entry per OS thread, plus Python threads whose OS thread is unknown. */
	d->threads = calloc((size_t)(ntids + npy + 1), sizeof(*d->threads));
	if (!d->threads) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto cleanup;
	}
	/* Every thread's kernel side in one run of a BPF task iterator where
	 * the store keeps it (kernel/taskinfo.h); a thread it did not see (it
	 * began since), and every thread without it, from /proc. */
	kt = ntids > 0 ? calloc((size_t)ntids, sizeof(*kt)) : NULL;
	if (!kt || pyh_taskinfo_threads(pid, kt, ntids, &nkt))
		nkt = 0;
	for (int i = 0; i < ntids; i++) {
		struct pyh_dump_thread *th = &d->threads[d->nthreads];
		const struct pyh_taskinfo_thread_rec *r = pyh_taskinfo_thread_find(kt, nkt, tids[i]);
		struct pyh_proc_schedstat ss;
		int slices_known;

		/* Its slices before its state: together, the state of its stack
		 * read's first check (snapshot/snapshot.h), read once for both
		 * (the iterator reads them in that order too). */
		if (r) {
			pyh_task_info_from(r, &th->task);
			slices_known = 1;
			ss.slices = r->slices;
		} else {
			slices_known = pyh_proc_schedstat(pid, tids[i], &ss) == 0;
			if (pyh_task_info(pid, tids[i], &th->task)) {
				memset(th, 0, sizeof(*th));	/* the thread ended meanwhile */
				continue;
			}
		}
		th->task_known = 1;
		th->slices_known = slices_known;
		th->slices = slices_known ? ss.slices : 0;
		if (th->task.in_syscall)
			pyh_syscall_detail_cached(pid, &th->task, socks, th->detail, sizeof(th->detail));
		d->nthreads++;
	}
	for (int p = 0; p < npy; p++) {
		struct pyh_dump_thread *th = NULL;

		for (int i = 0; i < d->nthreads && py[p].tid; i++)
			if (d->threads[i].task.tid == py[p].tid && !d->threads[i].python)
				th = &d->threads[i];
		if (!th) {
			th = &d->threads[d->nthreads++];
			th->task.tid = py[p].tid;
			th->task.state = '?';
			th->task.syscall_nr = -1;
			th->task.offcpu_s = -1;
		}
		th->python = 1;
		th->gil = gil && gil == py[p].tstate;
		th->tstate = py[p].tstate;
		where[p] = th;
	}
	if (o->native) {
		/* The kernel's record first: a thread found not to have run since
		 * is still then when its Python frames are read. */
		rc = pyh_dump_native_begin(pid, o, &dn, d->native_missing,
					   sizeof(d->native_missing));
		if (rc == -ESRCH) {
			snprintf(err, errsz, "process %d exited during the dump", pid);
			goto cleanup;
		}
		if (rc && !d->native_missing[0])
			snprintf(d->native_missing, sizeof(d->native_missing), "%s", strerror(-rc));
	}
	rc = read_stacks(o, d, cache, py, where, npy);
	if (!rc && dn)
		rc = native_stacks(o, d, cache, dn, py, where, npy);
	if (rc) {
		snprintf(err, errsz, "out of memory");
		goto cleanup;
	}
	if (implausible(d, py, npy)) {
		snprintf(err, errsz, "process %d: unreadable: its %d Python thread states match none of "
			 "its threads and name no code object (not a live CPython, or its state is "
			 "overwritten)", pid, npy);
		rc = -EINVAL;
		goto cleanup;
	}
	if (!o->no_tasks) {
		struct pyh_tasks_opts to = {
			.max_tasks = o->max_tasks ? o->max_tasks : PYH_TASKS_DEFAULT_MAX,
			.max_frames = o->max_frames,
		};

		rc = pyh_tasks_read(&d->target, cache, &to, &d->tasks);
		if (!rc)
			rc = splice_running(d);
	}
	if (rc) {
		snprintf(err, errsz, "out of memory");
		goto cleanup;
	}
	qsort(d->threads, (size_t)d->nthreads, sizeof(*d->threads), cmp_thread);
	{
		char st = '?';
		int kthread = 0;

		if (pyh_proc_state(pid, &st, &kthread) || pyh_state_dead(st))
			rc = -ESRCH;
	}
	if (rc == -ESRCH) {
		snprintf(err, errsz, "process %d exited during the dump", pid);
		rc = -ESRCH;
		goto cleanup;
	}
	rc = 0;
cleanup:
	pyh_dump_native_end(dn);
	if (cache) {
		struct pyh_code_stats cst;

		pyh_codecache_stats(cache, &cst);
		d->budget_evictions = cst.evictions;
		d->budget_refusals = cst.refusals;
	}
	pyh_sockets_free(socks);
	pyh_codecache_free(cache);
	free(kt);
	free(where);
	free(tids);
	free(py);
	if (rc)
		pyh_dump_free(d);
	return rc;
}

const struct pyh_dump_thread *pyh_dump_thread_by_tid(const struct pyh_dump *d, pid_t tid)
{
	for (int i = 0; i < d->nthreads; i++)
		if (d->threads[i].task.tid == tid && tid)
			return &d->threads[i];
	return NULL;
}

void pyh_dump_free(struct pyh_dump *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nthreads; i++) {
		struct pyh_dump_thread *th = &d->threads[i];

		if (th->locals)
			for (int j = 0; j < th->nframes; j++)
				pyh_dump_locals_clear(&th->locals[j]);
		free(th->locals);
		th->locals = NULL;
		release_frames(th);
		pyh_dump_native_free_thread(th);
	}
	free(d->threads);
	d->threads = NULL;
	d->nthreads = 0;
	pyh_tasks_free(&d->tasks);
}
