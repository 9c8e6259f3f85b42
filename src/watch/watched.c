/* One watched process: its identity, its readers, its threads. See watched.h. */
#include "watch/watched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/syscalls.h"
#include "kernel/task.h"
#include "output/source.h"
#include "proc/procfs.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "snapshot/snapshot.h"

int pyh_watched_open(pid_t pid, const struct pyh_target *t, const struct pyh_host_proc *hp, uint32_t gen,
		     struct pyh_watched **out, char *err, size_t errsz)
{
	struct pyh_watched *p = NULL;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	p->pid = pid;
	p->id.gen = gen;
	if (t)
		p->rd.t = *t;
	else if ((rc = pyh_target_open(pid, &p->rd.t, err, errsz)))
		goto fail;
	if (hp) {
		p->id.hp = *hp;
	} else if (pyh_host_proc_read(pid, &p->id.hp)) {
		memset(&p->id.hp, 0, sizeof(p->id.hp));
		p->id.hp.pid = pid;
	}
	pyh_host_start_ticks(pid, &p->id.start_time);
	pyh_host_cmdline(pid, p->id.cmdline, sizeof(p->id.cmdline));
	if (!p->id.hp.cmdline[0])
		snprintf(p->id.hp.cmdline, sizeof(p->id.hp.cmdline), "%.200s", p->id.cmdline);
	snprintf(p->id.version, sizeof(p->id.version), "%d.%d.%d", p->rd.t.ver.major, p->rd.t.ver.minor,
		 p->rd.t.ver.micro);
	pyh_host_label(&p->id.hp, &p->rd.t.ver, p->id.label, sizeof(p->id.label));
	p->rd.cache = pyh_codecache_new(&p->rd.t);
	p->rd.src = pyh_source_new(pid);
	p->py.list = calloc(PYH_MAX_THREADS, sizeof(*p->py.list));
	p->det.threads = pyh_wthreads_new();
	p->det.tids = calloc(PYH_MAX_THREADS, sizeof(*p->det.tids));
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

void pyh_watched_free(struct pyh_watched *p)
{
	if (!p)
		return;
	pyh_codecache_free(p->rd.cache);
	pyh_source_free(p->rd.src);
	free(p->py.list);
	pyh_wthreads_free(p->det.threads);
	free(p->det.tids);
	free(p);
}

void pyh_watched_new_scan(struct pyh_watched *p)
{
	p->py.fresh = 0;
	p->hung.gil = 0;
	p->hung.spin = 0;
}

static void pyh_watched_read_py(struct pyh_watched *p)
{
	if (p->py.fresh)
		return;
	p->py.n = 0;
	p->py.gil_tstate = 0;
	if (pyh_threads_read(&p->rd.t, p->py.list, PYH_MAX_THREADS, &p->py.n, &p->py.gil_tstate))
		p->py.n = 0;
	p->py.fresh = 1;
}

const struct pyh_pythread *pyh_watched_pythread(struct pyh_watched *p, pid_t tid)
{
	pyh_watched_read_py(p);
	for (int i = 0; i < p->py.n; i++)
		if (p->py.list[i].tid == tid)
			return &p->py.list[i];
	return NULL;
}

pid_t pyh_watched_gil_holder(struct pyh_watched *p)
{
	pyh_watched_read_py(p);
	for (int i = 0; p->py.gil_tstate && i < p->py.n; i++)
		if (p->py.list[i].tstate == p->py.gil_tstate)
			return p->py.list[i].tid;
	return 0;
}

int pyh_watched_snap(struct pyh_watched *p, struct pyh_snapper *snapper, struct pyh_snap *sn, int n)
{
	return pyh_snap_take(snapper, &p->rd.t, p->rd.cache, sn, n, PYH_WATCH_STACK_FRAMES, PYH_SNAP_DEADLINE_MS);
}

void pyh_watched_name_stack(struct pyh_watched *p, struct pyh_wthread *th, const struct pyh_raw_frame *raw,
			    const uint64_t *addrs, int n)
{
	th->frames = calloc((size_t)(n > 0 ? n : 1), sizeof(*th->frames));
	if (!th->frames)
		return;
	for (int i = 0; i < n; i++)
		pyh_frame_name(p->rd.cache, &raw[i], addrs ? addrs[i] : 0, 1, &th->frames[i]);
	th->nframes = n > 0 ? n : 0;
}

int pyh_watched_fill_stack(struct pyh_watched *p, struct pyh_wthread *th)
{
	const struct pyh_pythread *py = pyh_watched_pythread(p, th->tid);
	enum pyh_walk_status status;
	int n;

	if (!py)
		return 0;
	n = pyh_frames_walk(&p->rd.t, py->frame, p->rd.raw, p->rd.raw_addrs, PYH_WATCH_STACK_FRAMES, &status);
	pyh_watched_name_stack(p, th, p->rd.raw, p->rd.raw_addrs, n);
	return 1;
}

void pyh_watched_fill_task(struct pyh_watched *p, struct pyh_wthread *th, const struct pyh_watch_call *c)
{
	struct pyh_task_info ti;

	if (pyh_task_info(p->pid, th->tid, &ti)) {
		snprintf(th->comm, sizeof(th->comm), "?");
		ti.in_syscall = 0;
	} else {
		snprintf(th->comm, sizeof(th->comm), "%s", ti.comm);
		snprintf(th->wchan, sizeof(th->wchan), "%s", ti.wchan);
	}
	if (c) {
		th->has_call = 1;
		th->nr = (long)c->nr;
		for (int a = 0; a < 3; a++)
			th->args[a] = c->args[a];
		if (ti.in_syscall && ti.syscall_nr == c->nr)
			pyh_syscall_detail(p->pid, &ti, th->detail, sizeof(th->detail));
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
	int n = 0;

	if (pyh_proc_tasks(p->pid, p->det.tids, PYH_MAX_THREADS, &n) && n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		struct pyh_task_info ti;
		struct pyh_watch_call c = {};

		if (pyh_task_info(p->pid, p->det.tids[i], &ti) || !ti.in_syscall || ti.offcpu_s <= 0)
			continue;
		if (ti.offcpu_s * 1e9 >= (double)now_ns)
			continue;
		c.start_ns = now_ns - (uint64_t)(ti.offcpu_s * 1e9);
		c.nr = ti.syscall_nr;
		for (int a = 0; a < 3; a++)
			c.args[a] = ti.args[a];
		c.tgid = (uint32_t)p->pid;
		found(arg, (uint32_t)p->det.tids[i], &c);
	}
}
