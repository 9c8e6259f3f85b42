/* One watched process: its identity, its readers, its threads. See watched.h. */
#include "watch/watched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asyncio/tasks.h"
#include "kernel/syscalls.h"
#include "log/log.h"
#include "proc/guard.h"
#include "kernel/task.h"
#include "output/source.h"
#include "proc/procfs.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "snapshot/snapshot.h"

/* Room for this many threads at first in each per-process thread list; a
 * list that comes back full is doubled and read again, up to PYH_MAX_THREADS. */
#define PYH_WATCHED_THREADS_MIN 16

/* What watching a process first reads of it — its interpreter (maps, ELF
 * files, memory), /proc/PID/stat and status, its command line (its memory:
 * /proc/PID/cmdline reads the target's pages) — as a job with a deadline
 * (proc/guard.h): a process whose files or memory do not answer is refused,
 * not waited for. The job owns itself until it returns in time. */
struct pyh_open_job {
	pid_t pid;
	int want_t, want_hp;
	int rc;
	struct pyh_target t;
	struct pyh_host_proc hp;
	int hp_rc;
	uint64_t start_time;
	char cmdline[sizeof(((struct pyh_watched *)0)->id.cmdline)];
	char err[512];
};

static int pyh_open_job_run(void *arg)
{
	struct pyh_open_job *j = arg;

	if (j->want_t && (j->rc = pyh_target_open(j->pid, &j->t, j->err, sizeof(j->err))))
		return 0;
	if (j->want_hp)
		j->hp_rc = pyh_host_proc_read(j->pid, &j->hp);
	pyh_host_start_ticks(j->pid, &j->start_time);
	pyh_host_cmdline(j->pid, j->cmdline, sizeof(j->cmdline));
	return 0;
}

/* Run j within PYH_WATCH_READ_DEADLINE_MS. 0 (j filled), or -errno with err
 * filled (j freed, or the job's). */
static int pyh_open_guarded(struct pyh_open_job *j, char *err, size_t errsz)
{
	int rc = pyh_guard_run(pyh_open_job_run, j, free, PYH_WATCH_READ_DEADLINE_MS, NULL);

	if (rc == -ETIMEDOUT) {
		snprintf(err, errsz, "process %d: reading its files or memory did not finish in time",
			 (int)j->pid);
		return rc;	/* j is the job's */
	}
	if (rc) {
		snprintf(err, errsz, "process %d: reading it: %s", (int)j->pid, strerror(-rc));
		free(j);
		return rc;
	}
	if (j->rc) {
		snprintf(err, errsz, "%s", j->err);
		rc = j->rc;
		free(j);
		return rc;
	}
	return 0;
}

int pyh_watched_target_open(pid_t pid, struct pyh_target *t, char *err, size_t errsz)
{
	struct pyh_open_job *j = calloc(1, sizeof(*j));
	int rc;

	if (!j) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	j->pid = pid;
	j->want_t = 1;
	if ((rc = pyh_open_guarded(j, err, errsz)))
		return rc;
	*t = j->t;
	free(j);
	return 0;
}

int pyh_watched_open(pid_t pid, const struct pyh_target *t, const struct pyh_host_proc *hp, uint32_t gen,
		     struct pyh_watched **out, char *err, size_t errsz)
{
	struct pyh_watched *p = NULL;
	struct pyh_open_job *j = NULL;
	int rc;

	p = calloc(1, sizeof(*p));
	j = calloc(1, sizeof(*j));
	if (!p || !j) {
		free(p);
		free(j);
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	p->pid = pid;
	p->refs = 1;
	p->id.gen = gen;
	j->pid = pid;
	j->want_t = !t;
	j->want_hp = !hp;
	if ((rc = pyh_open_guarded(j, err, errsz))) {
		free(p);
		return rc;
	}
	p->rd.t = t ? *t : j->t;
	if (hp) {
		p->id.hp = *hp;
	} else if (j->hp_rc) {
		memset(&p->id.hp, 0, sizeof(p->id.hp));
		p->id.hp.pid = pid;
	} else {
		p->id.hp = j->hp;
	}
	p->id.start_time = j->start_time;
	snprintf(p->id.cmdline, sizeof(p->id.cmdline), "%s", j->cmdline);
	free(j);
	if (!p->id.hp.cmdline[0])
		snprintf(p->id.hp.cmdline, sizeof(p->id.hp.cmdline), "%.200s", p->id.cmdline);
	snprintf(p->id.version, sizeof(p->id.version), "%d.%d.%d", p->rd.t.ver.major, p->rd.t.ver.minor,
		 p->rd.t.ver.micro);
	pyh_host_label(&p->id.hp, &p->rd.t.ver, p->id.label, sizeof(p->id.label));
	p->rd.cache = pyh_codecache_new(&p->rd.t);
	p->rd.src = pyh_source_new(pid);
	p->py.list = calloc(PYH_WATCHED_THREADS_MIN, sizeof(*p->py.list));
	p->py.cap = PYH_WATCHED_THREADS_MIN;
	p->det.threads = pyh_wthreads_new();
	p->det.tids = calloc(PYH_WATCHED_THREADS_MIN, sizeof(*p->det.tids));
	p->det.tids_cap = PYH_WATCHED_THREADS_MIN;
	if (!p->rd.cache || !p->py.list || !p->det.threads || !p->det.tids) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	*out = p;
	return 0;
fail:
	pyh_watched_free(p);
	return rc;
}

/* What p owns, freed by whoever lets go of p last: the engine, or a read
 * abandoned past its deadline when it ends at last. */
static void pyh_watched_destroy(struct pyh_watched *p)
{
	pyh_codecache_free(p->rd.cache);
	pyh_source_free(p->rd.src);
	free(p->py.list);
	pyh_wthreads_free(p->det.threads);
	free(p->det.tids);
	free(p->tasks.v);
	free(p);
}

void pyh_watched_free(struct pyh_watched *p)
{
	if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		pyh_watched_destroy(p);
}

/* ---- thread lists, sized to the threads there are ------------------------ */

/* *v (*cap elements of each bytes) twice as long, at most PYH_MAX_THREADS.
 * 0, or -E2BIG (at the most already) or -ENOMEM (*v and *cap unchanged). */
static int pyh_watched_grow(void *v, int *cap, size_t each)
{
	int ncap = *cap * 2 > PYH_MAX_THREADS ? PYH_MAX_THREADS : *cap * 2;
	void *nv;

	if (*cap >= PYH_MAX_THREADS)
		return -E2BIG;
	if (!(nv = realloc(*(void **)v, (size_t)ncap * each)))
		return -ENOMEM;
	*(void **)v = nv;
	*cap = ncap;
	return 0;
}

/* pyh_proc_tasks into *tids (*cap of them, grown as needed). */
static int pyh_watched_tids_into(pid_t pid, pid_t **tids, int *cap, int *n)
{
	int rc;

	while ((rc = pyh_proc_tasks(pid, *tids, *cap, n)) == -E2BIG)
		if (pyh_watched_grow(tids, cap, sizeof(**tids)))
			break;
	return rc;
}

int pyh_watched_tids(struct pyh_watched *p, int *n)
{
	return pyh_watched_tids_into(p->pid, &p->det.tids, &p->det.tids_cap, n);
}

/* ---- reads of the target, with a deadline -------------------------------- */

/* A read of p's memory, run as a job (proc/guard.h). The job touches p->rd
 * and p->py only, and writes what it read there or into the job; the engine
 * reads them only after the job returned in time. A job past its deadline
 * keeps a reference to p: p->state.stalled is set, nothing reads p again,
 * and the job frees p if the engine let go of it first. */
enum pyh_wjob_kind {
	PYH_WJOB_THREADS,	/* the thread list into p->py */
	PYH_WJOB_NAMED,		/* walk from frame, name the frames */
	PYH_WJOB_SNAP,		/* true stacks of bufs.snaps[0..nsnap) (the buffers are the job's if it stalls) */
	PYH_WJOB_NAME,		/* name raw[0..n) (its own copies) */
	PYH_WJOB_TASK,		/* /proc of thread tid into ti, and the detail of call nr */
	PYH_WJOB_CALLS,		/* /proc: calls blocked now, into calls/ctids (its own arrays) */
	PYH_WJOB_TASKS,		/* asyncio tasks into ts (its own; the interpreter's file is read too) */
};

struct pyh_wjob {
	struct pyh_watched *p;
	enum pyh_wjob_kind kind;
	uint64_t frame;			/* RAW, NAMED: the innermost frame */
	int n;				/* frames read */
	enum pyh_walk_status status;
	struct pyh_frame *frames;	/* NAMED, NAME: n named frames (the job's until taken) */
	struct pyh_spin_bufs bufs;	/* SNAP */
	int nsnap;
	struct pyh_raw_frame *raw;	/* NAME: n frames and their addresses */
	uint64_t *addrs;
	pid_t tid;			/* TASK */
	int task_rc, want_detail;
	long nr;
	struct pyh_task_info ti;
	char detail[512];
	uint64_t now_ns;		/* CALLS: n found */
	struct pyh_watch_call *calls;
	pid_t *ctids;
	const struct pyh_tasks_opts *topts;	/* TASKS */
	struct pyh_tasks *ts;
	int tasks_rc;
};

/* Calls of p's threads blocked now, from /proc: into j->calls, j->ctids. */
static int pyh_wjob_calls(struct pyh_watched *p, struct pyh_wjob *j)
{
	int n = 0, cap = PYH_WATCHED_THREADS_MIN;

	j->n = 0;
	if (!(j->ctids = calloc((size_t)cap, sizeof(*j->ctids))))
		return -ENOMEM;
	if (pyh_watched_tids_into(p->pid, &j->ctids, &cap, &n) && n <= 0)
		return 0;
	if (!(j->calls = calloc((size_t)n, sizeof(*j->calls))))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct pyh_task_info ti;
		struct pyh_watch_call *c = &j->calls[j->n];

		if (pyh_task_info(p->pid, j->ctids[i], &ti) || !ti.in_syscall || ti.offcpu_s <= 0)
			continue;
		if (ti.offcpu_s * 1e9 >= (double)j->now_ns)
			continue;
		memset(c, 0, sizeof(*c));
		c->start_ns = j->now_ns - (uint64_t)(ti.offcpu_s * 1e9);
		c->nr = ti.syscall_nr;
		for (int a = 0; a < 3; a++)
			c->args[a] = ti.args[a];
		c->tgid = (uint32_t)p->pid;
		j->ctids[j->n++] = j->ctids[i];	/* j->n <= i */
	}
	return 0;
}

/* j->frames: raw[0..j->n) named (addrs: each frame's address). 0 or -ENOMEM (n 0). */
static int pyh_wjob_name(struct pyh_wjob *j, const struct pyh_raw_frame *raw, const uint64_t *addrs)
{
	j->frames = calloc((size_t)(j->n > 0 ? j->n : 1), sizeof(*j->frames));
	if (!j->frames) {
		j->n = 0;
		return -ENOMEM;
	}
	for (int i = 0; i < j->n; i++)
		pyh_frame_name(j->p->rd.cache, &raw[i], addrs[i], 1, &j->frames[i]);
	return 0;
}

static int pyh_wjob_run(void *arg)
{
	struct pyh_wjob *j = arg;
	struct pyh_watched *p = j->p;

	switch (j->kind) {
	case PYH_WJOB_THREADS:
		/* a full list may have more: read again into twice the room */
		do {
			struct pyh_threads_check chk = { 0 };

			p->py.n = 0;
			p->py.gil_tstate = 0;
			p->py.changed = 0;
			if (pyh_threads_read(&p->rd.t, p->py.list, p->py.cap, &p->py.n, &p->py.gil_tstate, &chk)) {
				p->py.n = 0;
				break;
			}
			p->py.changed = chk.unmatched > 0;
		} while (p->py.n == p->py.cap && !pyh_watched_grow(&p->py.list, &p->py.cap, sizeof(*p->py.list)));
		return 0;
	case PYH_WJOB_SNAP:
		return pyh_snap_take(j->bufs.snapper, &p->rd.t, p->rd.cache, j->bufs.snaps, j->nsnap,
				     PYH_WATCH_STACK_FRAMES, PYH_SNAP_DEADLINE_MS);
	case PYH_WJOB_NAME:
		return pyh_wjob_name(j, j->raw, j->addrs);
	case PYH_WJOB_TASK:
		j->task_rc = pyh_task_info(p->pid, j->tid, &j->ti);
		if (!j->task_rc && j->want_detail && j->ti.in_syscall && j->ti.syscall_nr == j->nr)
			pyh_syscall_detail(p->pid, &j->ti, j->detail, sizeof(j->detail));
		return 0;
	case PYH_WJOB_CALLS:
		return pyh_wjob_calls(p, j);
	case PYH_WJOB_TASKS:
		j->tasks_rc = pyh_tasks_read(&p->rd.t, p->rd.cache, j->topts, j->ts);
		return 0;
	case PYH_WJOB_NAMED:
		j->n = pyh_frames_walk(&p->rd.t, j->frame, p->rd.raw, p->rd.raw_addrs, PYH_WATCH_STACK_FRAMES,
				       &j->status);
		return pyh_wjob_name(j, p->rd.raw, p->rd.raw_addrs);
	}
	return -EINVAL;
}

static void pyh_wjob_free(void *arg)
{
	struct pyh_wjob *j = arg;

	for (int i = 0; j->frames && i < j->n; i++)	/* frames are NAMED's and NAME's only */
		pyh_frame_release(&j->frames[i]);
	free(j->frames);
	if (j->kind == PYH_WJOB_SNAP)
		pyh_spin_bufs_free(&j->bufs);
	free(j->raw);
	free(j->addrs);
	free(j->calls);
	free(j->ctids);
	if (j->ts && !j->tasks_rc)
		pyh_tasks_free(j->ts);
	free(j->ts);
	pyh_watched_free(j->p);	/* the job's reference */
	free(j);
}

static uint64_t pyh_watched_stalls;

uint64_t pyh_watched_stalled_total(void)
{
	return pyh_watched_stalls;
}

/* Run j on p within PYH_WATCH_READ_DEADLINE_MS. Returns 0 (j filled),
 * -ETIMEDOUT (p is stalled from now on; j is the job's), or -errno (not run). */
static int pyh_watched_guarded(struct pyh_watched *p, struct pyh_wjob *j)
{
	struct pyh_wjob *copy;
	int rc, result = 0;

	if (p->state.stalled)
		return -ETIMEDOUT;
	copy = malloc(sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	*copy = *j;
	copy->p = p;
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	rc = pyh_guard_run(pyh_wjob_run, copy, pyh_wjob_free, PYH_WATCH_READ_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT) {
		p->state.stalled = 1;
		pyh_watched_stalls++;
		pyh_log_error("process %d (%s): reading its memory or /proc files did not finish in time: no "
			      "longer read (still listed; its hangs are not reported)", (int)p->pid, p->id.label);
		return rc;
	}
	__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);	/* the engine holds one still */
	if (rc) {
		free(copy);
		return rc;
	}
	*j = *copy;
	free(copy);
	return result;
}

int pyh_watched_tasks(struct pyh_watched *p, const struct pyh_tasks_opts *o, struct pyh_tasks *out)
{
	struct pyh_wjob j = { .kind = PYH_WJOB_TASKS, .topts = o, .tasks_rc = -EIO };
	int rc;

	j.ts = calloc(1, sizeof(*j.ts));
	if (!j.ts)
		return -ENOMEM;
	rc = pyh_watched_guarded(p, &j);
	if (rc == -ETIMEDOUT)
		return rc;	/* j.ts is the job's */
	if (!rc && !j.tasks_rc)
		*out = *j.ts;	/* the caller's to free */
	else if (!rc)
		rc = j.tasks_rc;
	free(j.ts);
	return rc;
}

void pyh_watched_new_scan(struct pyh_watched *p)
{
	p->py.fresh = 0;
	p->hung.gil = 0;
	p->hung.spin = 0;
}

static void pyh_watched_read_py(struct pyh_watched *p)
{
	struct pyh_wjob j = { .kind = PYH_WJOB_THREADS };

	if (p->py.fresh || p->state.stalled)
		return;
	p->py.fresh = 1;
	if (pyh_watched_guarded(p, &j)) {
		p->py.n = 0;	/* not read: no Python thread this scan */
		p->py.changed = 0;
	}
}

int pyh_watched_list_changed(struct pyh_watched *p)
{
	pyh_watched_read_py(p);
	return !p->state.stalled && p->py.changed;
}

const struct pyh_pythread *pyh_watched_pythread(struct pyh_watched *p, pid_t tid)
{
	pyh_watched_read_py(p);
	for (int i = 0; !p->state.stalled && i < p->py.n; i++)
		if (p->py.list[i].tid == tid)
			return &p->py.list[i];
	return NULL;
}

pid_t pyh_watched_gil_holder(struct pyh_watched *p)
{
	pyh_watched_read_py(p);
	for (int i = 0; !p->state.stalled && p->py.gil_tstate && i < p->py.n; i++)
		if (p->py.list[i].tstate == p->py.gil_tstate)
			return p->py.list[i].tid;
	return 0;
}

int pyh_spin_bufs_init(struct pyh_spin_bufs *b)
{
	b->snapper = pyh_snapper_new();
	b->snaps = calloc(PYH_WATCH_SPIN_SNAPS, sizeof(*b->snaps));
	b->raw = calloc((size_t)PYH_WATCH_SPIN_SNAPS * PYH_WATCH_STACK_FRAMES, sizeof(*b->raw));
	b->addrs = calloc((size_t)PYH_WATCH_SPIN_SNAPS * PYH_WATCH_STACK_FRAMES, sizeof(*b->addrs));
	if (b->snapper && b->snaps && b->raw && b->addrs)
		return 0;
	pyh_spin_bufs_free(b);
	return -ENOMEM;
}

void pyh_spin_bufs_free(struct pyh_spin_bufs *b)
{
	pyh_snapper_free(b->snapper);
	free(b->snaps);
	free(b->raw);
	free(b->addrs);
	memset(b, 0, sizeof(*b));
}

int pyh_watched_snap(struct pyh_watched *p, struct pyh_spin_bufs *b, int n)
{
	struct pyh_wjob j = { .kind = PYH_WJOB_SNAP, .bufs = *b, .nsnap = n };
	int rc = pyh_watched_guarded(p, &j);

	if (rc == -ETIMEDOUT)
		memset(b, 0, sizeof(*b));	/* the job's now: new ones at the next need */
	return rc;
}

void pyh_watched_name_stack(struct pyh_watched *p, struct pyh_wthread *th, const struct pyh_raw_frame *raw,
			    const uint64_t *addrs, int n)
{
	struct pyh_wjob j = { .kind = PYH_WJOB_NAME, .n = n > 0 ? n : 0 };
	int rc;

	j.raw = malloc(sizeof(*j.raw) * (size_t)(j.n ? j.n : 1));
	j.addrs = calloc((size_t)(j.n ? j.n : 1), sizeof(*j.addrs));
	if (!j.raw || !j.addrs) {
		free(j.raw);
		free(j.addrs);
		return;
	}
	memcpy(j.raw, raw, sizeof(*j.raw) * (size_t)j.n);
	if (addrs)
		memcpy(j.addrs, addrs, sizeof(*j.addrs) * (size_t)j.n);
	rc = pyh_watched_guarded(p, &j);
	if (rc == -ETIMEDOUT)
		return;		/* stalled: the copies are the job's */
	free(j.raw);
	free(j.addrs);
	if (rc)
		return;		/* out of memory, or too many reads stalled */
	th->frames = j.frames;
	th->nframes = j.frames ? j.n : 0;
}

int pyh_watched_fill_stack(struct pyh_watched *p, struct pyh_wthread *th)
{
	const struct pyh_pythread *py = pyh_watched_pythread(p, th->tid);
	struct pyh_wjob j = { .kind = PYH_WJOB_NAMED };
	int rc;

	if (!py)
		return pyh_watched_list_changed(p) ? -1 : 0;
	j.frame = py->frame;
	rc = pyh_watched_guarded(p, &j);
	if (rc == -ETIMEDOUT)
		return 0;	/* said once; not judged as Python */
	if (rc)
		return 1;	/* out of memory: a Python thread, no frames */
	th->frames = j.frames;
	th->nframes = j.n > 0 ? j.n : 0;
	return 1;
}

void pyh_watched_fill_task(struct pyh_watched *p, struct pyh_wthread *th, const struct pyh_watch_call *c)
{
	struct pyh_wjob j = { .kind = PYH_WJOB_TASK, .tid = th->tid, .want_detail = c != NULL,
			      .nr = c ? (long)c->nr : -1 };

	/* /proc of a process stuck in a fault on a file it serves can block too */
	if (pyh_watched_guarded(p, &j) || j.task_rc) {
		snprintf(th->comm, sizeof(th->comm), "?");
	} else {
		snprintf(th->comm, sizeof(th->comm), "%s", j.ti.comm);
		snprintf(th->wchan, sizeof(th->wchan), "%s", j.ti.wchan);
	}
	if (c) {
		th->has_call = 1;
		th->nr = (long)c->nr;
		for (int a = 0; a < 3; a++)
			th->args[a] = c->args[a];
		if (j.detail[0])
			snprintf(th->detail, sizeof(th->detail), "%s", j.detail);
	}
}

void pyh_watched_event(struct pyh_watched *p, struct pyh_wevent *e, const char *kind)
{
	struct timespec ts;

	memset(e, 0, sizeof(*e));
	clock_gettime(CLOCK_REALTIME, &ts);
	e->kind = kind;
	e->wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	e->pid = p->pid;
	snprintf(e->cmdline, sizeof(e->cmdline), "%s", p->id.cmdline);
	snprintf(e->version, sizeof(e->version), "%s", p->id.version);
	snprintf(e->label, sizeof(e->label), "%s", p->id.label);
	snprintf(e->cgroup, sizeof(e->cgroup), "%s", p->id.hp.cgroup[0] ? p->id.hp.cgroup : "/");
	e->ns_pid = p->id.hp.ns_pid;
}

const char *pyh_watched_source_line(struct pyh_watched *p, const struct pyh_frame *f, char *buf, size_t bufsz)
{
	const char *file = f ? pyh_frame_file(f) : NULL;

	if (!p->rd.src || !file || f->line <= 0 || pyh_source_line(p->rd.src, file, f->line, buf, bufsz))
		return NULL;
	return buf;
}

void pyh_watched_blocked_calls(struct pyh_watched *p, uint64_t now_ns,
			       void (*found)(void *arg, uint32_t tid, const struct pyh_watch_call *c), void *arg)
{
	struct pyh_wjob j = { .kind = PYH_WJOB_CALLS, .now_ns = now_ns };
	int rc = pyh_watched_guarded(p, &j);

	if (rc == -ETIMEDOUT)
		return;		/* the arrays are the job's */
	for (int i = 0; !rc && i < j.n; i++)
		found(arg, (uint32_t)j.ctids[i], &j.calls[i]);
	free(j.calls);
	free(j.ctids);
}
