/* Taking a snapshot of every thread of a Python process. */
#include "dump/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "kernel/syscalls.h"
#include "proc/procfs.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "python/threads.h"

void pyh_dump_version(const struct pyh_dump *d, char *out, size_t outsz)
{
	snprintf(out, outsz, "%d.%d.%d", d->target.ver.major, d->target.ver.minor,
		 d->target.ver.micro);
}

/* Walk the thread whose innermost frame is top and name its frames. */
static int read_stack(struct pyh_codecache *cache, const struct pyh_target *t, uint64_t top,
		      struct pyh_raw_frame *raw, uint64_t *addrs, int max, struct pyh_dump_thread *th)
{
	enum pyh_walk_status status;
	int n = pyh_frames_walk(t, top, raw, addrs, max, &status);

	th->frames = calloc((size_t)(n ? n : 1), sizeof(*th->frames));
	if (!th->frames)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		pyh_frame_name(cache, &raw[i], addrs[i], 0, &th->frames[i]);
	th->nframes = n;
	th->truncated = status == PYH_WALK_TRUNCATED;
	pyh_stack_problem(&t->layout, th->frames, n, status, th->broken, sizeof(th->broken));
	return 0;
}

static int cmp_thread(const void *a, const void *b)
{
	const struct pyh_dump_thread *x = a, *y = b;

	if (x->task.tid != y->task.tid)
		return x->task.tid < y->task.tid ? -1 : 1;
	return y->python - x->python;
}

int pyh_dump_take(pid_t pid, int max_frames, struct pyh_dump *d, char *err, size_t errsz)
{
	struct pyh_pythread *py = NULL;
	struct pyh_raw_frame *raw = NULL;
	uint64_t *addrs = NULL;
	struct pyh_codecache *cache = NULL;
	pid_t *tids = NULL;
	uint64_t gil = 0;
	int npy = 0, ntids = 0, rc;

	memset(d, 0, sizeof(*d));
	rc = pyh_target_open(pid, &d->target, err, errsz);
	if (rc)
		return rc;
	pyh_host_cmdline(pid, d->cmdline, sizeof(d->cmdline));
	py = calloc(PYH_MAX_THREADS, sizeof(*py));
	tids = calloc(PYH_MAX_THREADS, sizeof(*tids));
	raw = calloc((size_t)max_frames, sizeof(*raw));
	addrs = calloc((size_t)max_frames, sizeof(*addrs));
	cache = pyh_codecache_new(&d->target);
	if (!py || !tids || !raw || !addrs || !cache) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = pyh_threads_read(&d->target, py, PYH_MAX_THREADS, &npy, &gil);
	if (rc) {
		snprintf(err, errsz, rc == -ESRCH ? "process %d exited during the dump"
						  : "cannot read the thread list of process %d",
			 pid);
		goto cleanup;
	}
	d->gil_known = d->target.layout.gil_kind == PYH_GIL_INTERP_PTR || d->target.tstate_current_ptr;
	rc = pyh_proc_tasks(pid, tids, PYH_MAX_THREADS, &ntids);
	if (rc && rc != -E2BIG) {
		snprintf(err, errsz, "process %d exited during the dump", pid);
		goto cleanup;
	}
	/* One entry per OS thread, plus Python threads whose OS thread is unknown. */
	d->threads = calloc((size_t)(ntids + npy + 1), sizeof(*d->threads));
	if (!d->threads) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < ntids; i++) {
		struct pyh_dump_thread *th = &d->threads[d->nthreads];

		if (pyh_task_info(pid, tids[i], &th->task)) {
			memset(th, 0, sizeof(*th));	/* the thread ended meanwhile */
			continue;
		}
		th->task_known = 1;
		if (th->task.in_syscall)
			pyh_syscall_detail(pid, &th->task, th->detail, sizeof(th->detail));
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
		rc = read_stack(cache, &d->target, py[p].frame, raw, addrs, max_frames, th);
		if (rc) {
			snprintf(err, errsz, "out of memory");
			goto cleanup;
		}
	}
	rc = 0;
	qsort(d->threads, (size_t)d->nthreads, sizeof(*d->threads), cmp_thread);
	{
		char st = '?';
		int kthread = 0;

		if (pyh_proc_state(pid, &st, &kthread) || st == 'Z' || st == 'X')
			rc = -ESRCH;
	}
	if (rc == -ESRCH) {
		snprintf(err, errsz, "process %d exited during the dump", pid);
		rc = -ESRCH;
		goto cleanup;
	}
	rc = 0;
cleanup:
	pyh_codecache_free(cache);
	free(addrs);
	free(raw);
	free(tids);
	free(py);
	if (rc)
		pyh_dump_free(d);
	return rc;
}

void pyh_dump_free(struct pyh_dump *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nthreads; i++) {
		for (int j = 0; j < d->threads[i].nframes; j++)
			pyh_frame_release(&d->threads[i].frames[j]);
		free(d->threads[i].frames);
	}
	free(d->threads);
	d->threads = NULL;
	d->nthreads = 0;
}
