/* The hang detector's engine (see watch.h): setup, the loop (a scan every
 * PYH_WATCH_TICK_MS, scan.c; the ring buffers and the host tracker in
 * between), the set of watched processes, process events, the metrics
 * snapshot and the summary. */
#include "watch/watcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"
#include "budget/budget.h"
#include "log/log.h"
#include "proc/guard.h"
#include "proc/procfs.h"
#include "python/target.h"
#include "watch/exec.h"
#include "watch/notify.h"

#define PYH_WATCH_TICK_MS 200
#define PYH_WATCH_TRACK_MS 20		/* --all: the tracker's retries and events, this often */
#define PYH_WATCH_PRUNE_MS 5000		/* map entries of threads that ended: the safety net */

/* The --pid process went away: the watch ends. */
static void pyh_target_gone(struct pyh_watcher *w, const char *how)
{
	w->end.stop = 1;
	w->end.why = PYH_WATCH_TARGET_GONE;
	w->end.gone = how;
}

/* ---- the set of processes ------------------------------------------------ */

/* The watched process pid, stale (exec'd, waiting to be dropped) or not; NULL. */
static struct pyh_watched *pyh_proc_find_any(struct pyh_watcher *w, pid_t pid)
{
	for (int i = 0; i < w->procs.n; i++)
		if (w->procs.list[i]->pid == pid)
			return w->procs.list[i];
	return NULL;
}

struct pyh_watched *pyh_watcher_find(struct pyh_watcher *w, pid_t pid)
{
	struct pyh_watched *p = pyh_proc_find_any(w, pid);

	return p && !p->state.stale ? p : NULL;
}

static void pyh_seed_call(void *arg, uint32_t tid, const struct pyh_watch_call *c)
{
	struct pyh_watcher *w = arg;

	pyh_probes_seed_call(w->bpf.pb, tid, c);
}

/* Start watching pid. t: the target already opened (NULL: open it here); hp:
 * what /proc said (NULL: read it here); gen: the exec generation read before
 * t was opened. Returns 0, or -errno with err filled (nothing kept). */
static int pyh_proc_add(struct pyh_watcher *w, pid_t pid, const struct pyh_target *t,
			const struct pyh_host_proc *hp, uint32_t gen, char *err, size_t errsz)
{
	struct pyh_watched *p = NULL;
	const struct pyh_probe_set *bin;
	int rc, stalled = 0;

	if (w->procs.n >= (w->o->max_procs > 0 ? w->o->max_procs : PYH_WATCH_MAX_PROCS)) {
		/* The tracker tries it again when one goes, and counts it once
		 * (pyh_watch_capacity), not once per try. */
		snprintf(err, errsz, "already watching %d processes", w->procs.n);
		return -E2BIG;
	}
	rc = pyh_watched_open(pid, t, hp, gen, &p, err, errsz);
	if (rc)
		return rc;
	rc = pyh_proctrack_follow(w->bpf.pt, pid);
	if (rc) {
		w->stats.capacity[PYH_MC_MAP_UPDATE]++;
		if (rc == -E2BIG || rc == -ENOMEM)
			rc = -E2BIG;	/* the map is full: a capacity refusal, retried */
		snprintf(err, errsz, "adding process %d to the BPF map failed: %s", pid, strerror(-rc));
		pyh_watched_free(p);
		return rc;
	}
	/* Lock holders and GIL waits: uprobes on exported functions of this
	 * interpreter; with --all once per binary, for every process. */
	bin = w->o->all ? pyh_probes_binary(w->bpf.pb, &p->rd.t, &stalled) : NULL;
	if (!bin && !stalled)
		stalled = pyh_probes_attach_interp(w->bpf.pb, pid, &p->rd.t, &p->probes) == -ETIMEDOUT;
	p->bin_probes = bin;
	p->state.bin_stalled = stalled;
	w->stats.bin_stalled += (uint64_t)stalled;
	p->lock_probes = bin ? bin->lock_probes : p->probes.lock_probes;
	/* Calls that started before watch did: from /proc, into the inflight
	 * map (only where BPF has not seen a call of that thread yet). */
	pyh_watched_blocked_calls(p, pyh_mono_ns(), pyh_seed_call, w);
	w->procs.list[w->procs.n++] = p;
	w->stats.watched_total++;
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: watching process %d (Python %s, %d probes)\n", pid, p->id.version,
			p->probes.n);
	return 0;
}

/* Forget p: not watched, its map entries and lock holders gone (this scan's
 * snapshot names its threads; the prune catches later ones), its probes off. */
static void pyh_proc_release(struct pyh_watcher *w, struct pyh_watched *p)
{
	w->stats.thr_refused_gone += pyh_wthreads_refused(p->det.threads);
	pyh_proctrack_unfollow(w->bpf.pt, p->pid);
	pyh_probes_forget_process(w->bpf.pb, (uint32_t)p->pid, w->scan.calls, w->scan.s.ncalls, w->scan.gil,
				  w->scan.s.ngil);
	pyh_probe_set_detach(&p->probes);
	if (p->bin_probes)
		pyh_probes_binary_put(w->bpf.pb, p->bin_probes, pyh_mono_ns());
	pyh_watched_free(p);
}

static void pyh_proc_drop(struct pyh_watcher *w, struct pyh_watched *p)
{
	for (int i = 0; i < w->procs.n; i++) {
		if (w->procs.list[i] != p)
			continue;
		w->procs.list[i] = w->procs.list[--w->procs.n];
		break;
	}
	pyh_proc_release(w, p);
}

/* Processes whose exec generation moved without our seeing the event (the
 * ring buffer was full): stale now, and the tracker re-attaches them. */
static void pyh_check_gens(struct pyh_watcher *w)
{
	for (int i = 0; i < w->procs.n; i++) {
		struct pyh_watched *p = w->procs.list[i];

		if (p->state.stale || pyh_proctrack_exec_gen(w->bpf.pt, p->pid) == p->id.gen)
			continue;
		p->state.stale = 1;
		if (w->procs.tr)
			pyh_host_tracker_exec(w->procs.tr, p->pid);
		else
			pyh_target_gone(w, "exec'd another program");
	}
}

/* --pid: the process is gone, a zombie, or another process has its pid. */
static void pyh_check_exits(struct pyh_watcher *w)
{
	for (int i = 0; i < w->procs.n; i++) {
		struct pyh_watched *p = w->procs.list[i];
		uint64_t start = 0;

		if (!pyh_host_start_ticks(p->pid, &start) && start == p->id.start_time)
			continue;
		pyh_target_gone(w, "exited");
		pyh_proc_drop(w, p);
		i--;
	}
}

/* 1 when pid is a process (not a thread of another). */
static int pyh_is_process(pid_t pid)
{
	pid_t tgid = 0;

	return !pyh_proc_status_id(pid, 0, "Tgid", &tgid) && tgid == pid;
}

/* exec / exit / fork from the process tracker: into the host tracker
 * (--all); with --pid the process exec'ing ends the watch. An exec makes the
 * process's layout stale at once: it is not read again before it is
 * dropped. A thread's exit removes its map entries here. */
static void pyh_on_proc_event(const struct pyh_proc_event *ev, void *arg)
{
	struct pyh_watcher *w = arg;
	pid_t pid = (pid_t)ev->pid;
	struct pyh_watched *p = pyh_proc_find_any(w, pid);

	if (pyh_log_verbosity() > 2)
		pyh_log_error("process %d: %s", (int)pid,
			ev->kind == PYH_PROC_EXEC ? "exec" : ev->kind == PYH_PROC_EXIT ? "exit" :
			ev->kind == PYH_PROC_FORK ? "fork" : "thread exit");
	switch (ev->kind) {
	case PYH_PROC_THREAD_EXIT:
		pyh_probes_forget_thread(w->bpf.pb, ev->pid, ev->tid, ev->ktime_ns);
		break;
	case PYH_PROC_EXIT:
		pyh_probes_forget_thread(w->bpf.pb, ev->pid, ev->tid, ev->ktime_ns);
		if (p)
			p->state.exited = 1;
		if (w->procs.tr)
			pyh_host_tracker_exit(w->procs.tr, pid);
		break;
	case PYH_PROC_EXEC:
		if (p)
			p->state.stale = 1;
		if (w->procs.tr)
			pyh_host_tracker_exec(w->procs.tr, pid);
		else if (p)
			pyh_target_gone(w, "exec'd another program");
		break;
	case PYH_PROC_FORK:
		if (w->procs.tr && pyh_is_process(pid))
			pyh_host_tracker_exec(w->procs.tr, pid);
		break;
	default:
		break;
	}
}

/* ---- --all: the host tracker's callbacks --------------------------------- */

static uint32_t pyh_trk_generation(void *arg, pid_t pid)
{
	struct pyh_watcher *w = arg;

	return pyh_proctrack_exec_gen(w->bpf.pt, pid);
}

static int pyh_trk_attach(void *arg, const struct pyh_target *t, const struct pyh_host_proc *hp, uint32_t gen)
{
	struct pyh_watcher *w = arg;
	char err[512], cg[PYH_HOST_CGROUP_MAX + 8];
	int rc;

	if (pyh_proc_find_any(w, t->pid))
		return -EEXIST;	/* cannot happen: the tracker detached it first */
	rc = pyh_proc_add(w, t->pid, t, hp, gen, err, sizeof(err));
	if (rc) {
		if (pyh_log_verbosity())
			pyh_log_error("not watching process %d: %s", (int)t->pid, err);
		return rc;
	}
	pyh_host_cgroup_label(hp, cg, sizeof(cg));
	if (!w->o->json || pyh_log_verbosity())
		pyh_log_error("watching %s, %s", w->procs.list[w->procs.n - 1]->id.label, cg);
	return 0;
}

static void pyh_trk_detach(void *arg, pid_t pid)
{
	struct pyh_watcher *w = arg;
	struct pyh_watched *p = pyh_proc_find_any(w, pid);
	uint64_t start = 0;

	if (!p)
		return;
	if (!w->o->json || pyh_log_verbosity()) {
		if (!p->state.exited && !pyh_host_start_ticks(pid, &start) && start == p->id.start_time)
			pyh_log_error("process %d exec'd another program: no longer watched as %s", (int)pid,
				      p->id.label);
		else
			pyh_log_error("process %d exited (%s)", (int)pid, p->id.label);
	}
	pyh_proc_drop(w, p);
}

/* ---- metrics, rescans, the summary --------------------------------------- */

/* Records lost: the ring buffers or a map were full. */
static uint64_t pyh_lost(struct pyh_watcher *w, int with_map)
{
	uint64_t pc[PYH_PTCNT_MAX];

	pyh_proctrack_counters(w->bpf.pt, pc);
	return pyh_probes_counter(w->bpf.pb, PYH_WCNT_RB_FULL) + pc[PYH_PTCNT_LOST] +
	       (with_map ? pyh_probes_counter(w->bpf.pb, PYH_WCNT_MAP_FULL) : 0);
}

/* Every refusal by a limit so far, by limit (enum pyh_metrics_cap). */
static void pyh_watch_capacity(const struct pyh_watcher *w, uint64_t *cap)
{
	struct pyh_exec_stats xs;

	memcpy(cap, w->stats.capacity, sizeof(w->stats.capacity));
	for (int i = 0; i < w->procs.n; i++)
		cap[PYH_MC_THREADS] += pyh_wthreads_refused(w->procs.list[i]->det.threads);
	cap[PYH_MC_THREADS] += w->stats.thr_refused_gone;
	if (w->procs.tr) {
		struct pyh_host_stats hs;

		pyh_host_tracker_stats(w->procs.tr, &hs);
		cap[PYH_MC_PROCS] += hs.refused_capacity;	/* each process once, however often tried */
		cap[PYH_MC_TRACKER] += hs.refused_table;
		cap[PYH_MC_STALLED] += hs.stalled;
	}
	cap[PYH_MC_STALLED] += pyh_watched_stalled_total() + w->stats.bin_stalled;
	pyh_exec_stats(&xs);
	cap[PYH_MC_EXEC] += xs.limited + xs.busy;
}

static double pyh_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The metrics snapshot after a scan (from that scan's snapshot of the maps). */
static void pyh_publish(struct pyh_watcher *w)
{
	struct pyh_metrics_snapshot *s = w->metrics.snap;
	int np = 0;

	for (int i = 0; i < w->procs.n && np < PYH_METRICS_MAX_PROCS; i++) {
		struct pyh_watched *p = w->procs.list[i];
		struct pyh_metrics_proc *mp = &s->procs[np];
		struct pyh_hung_count hc;

		if (p->state.stale)
			continue;
		np++;
		memset(mp, 0, sizeof(*mp));
		mp->pid = p->pid;
		snprintf(mp->python, sizeof(mp->python), "%s", p->id.version);
		snprintf(mp->cmdline, sizeof(mp->cmdline), "%.127s", p->id.hp.cmdline);
		snprintf(mp->cgroup, sizeof(mp->cgroup), "%.127s", p->id.hp.cgroup[0] ? p->id.hp.cgroup : "/");
		pyh_detect_count_hung(&w->scan.s, (uint32_t)p->pid, p->det.threads, &hc);
		mp->hung[PYH_MK_BLOCKED] = hc.blocked;
		mp->hung[PYH_MK_DEADLOCK] = hc.deadlock;
		mp->hung[PYH_MK_STUCK] = p->det.stuck_reported ? hc.over : 0;
		mp->hung[PYH_MK_GIL] = (uint32_t)p->hung.gil;
		mp->hung[PYH_MK_SPINNING] = (uint32_t)p->hung.spin;
		mp->hung_tasks = (uint32_t)p->tasks.hung;
	}
	s->nprocs = np;
	memcpy(s->events, w->stats.events, sizeof(s->events));
	s->samples = w->stats.samples;
	s->list_changed = w->stats.list_changed;
	s->lost_ringbuf = pyh_lost(w, 0);
	s->lost_map = pyh_probes_counter(w->bpf.pb, PYH_WCNT_MAP_FULL);
	s->rescans = w->stats.rescans;
	s->last_scan = pyh_wall();
	pyh_watch_capacity(w, s->capacity);
	s->stalled_now = pyh_guard_stalled_now();
	{
		struct pyh_budget code, src;

		pyh_budget_snapshot(pyh_budget_code(), &code);
		pyh_budget_snapshot(pyh_budget_source(), &src);
		s->budget_evictions = code.evictions + src.evictions;
		s->budget_refusals = code.refusals + src.refusals;
	}
	pyh_metrics_publish(w->metrics.srv, s);
}

static void pyh_rescan(struct pyh_watcher *w)
{
	w->stats.rescans++;
	if (w->procs.tr) {
		pyh_host_tracker_forget_not_python(w->procs.tr);
		pyh_host_tracker_scan(w->procs.tr, pyh_mono_ms());
		fprintf(stderr, "pyhang: SIGHUP: rescanned every process: watching %d Python processes\n",
			pyh_host_tracker_attached(w->procs.tr));
	} else {
		pyh_check_exits(w);
		fprintf(stderr, "pyhang: SIGHUP: re-checked process %d: %s\n", (int)w->o->pid,
			w->end.why == PYH_WATCH_TARGET_GONE ? "exited" : "still running");
	}
}

static void pyh_summary(struct pyh_watcher *w)
{
	int sig = w->o->stop ? (int)*w->o->stop : 0;
	uint64_t hangs = 0, cap[PYH_MC_COUNT];
	char limits[256] = "";

	if (pyh_log_verbosity()) {
		uint64_t pc[PYH_PTCNT_MAX];

		for (uint32_t k = 0; k < PYH_WCNT_MAX; k++)
			fprintf(stderr, "pyhang: counter %u: %llu\n", k,
				(unsigned long long)pyh_probes_counter(w->bpf.pb, k));
		pyh_proctrack_counters(w->bpf.pt, pc);
		fprintf(stderr, "pyhang: process events: %llu sent, %llu lost\n",
			(unsigned long long)pc[PYH_PTCNT_SENT], (unsigned long long)pc[PYH_PTCNT_LOST]);
		if (w->stats.list_changed)
			fprintf(stderr, "pyhang: %llu threads judged a scan later (or shown without Python "
				"frames, said in the event): their thread list changed while it was read\n",
				(unsigned long long)w->stats.list_changed);
	}
	if (w->end.why == PYH_WATCH_TARGET_GONE)
		return;
	for (int k = 0; k < PYH_MK_COUNT; k++)
		if (k != PYH_MK_RETURNED && k != PYH_MK_RESUMED)
			hangs += w->stats.events[k];
	pyh_watch_capacity(w, cap);
	for (int c = 0; c < PYH_MC_COUNT; c++)
		if (cap[c])
			snprintf(limits + strlen(limits), sizeof(limits) - strlen(limits), "%s%s %llu",
				 limits[0] ? ", " : "; refused by limits: ", pyh_metrics_cap_name(c),
				 (unsigned long long)cap[c]);
	if (w->procs.tr) {
		struct pyh_host_stats hs;

		pyh_host_tracker_stats(w->procs.tr, &hs);
		if (hs.waiting > 0)
			snprintf(limits + strlen(limits), sizeof(limits) - strlen(limits),
				 "; %d waiting for room at the end", hs.waiting);
	}
	fprintf(stderr,
		"pyhang: watch stopped%s: %llu processes watched (%d at the end), %llu hang events, "
		"%llu stacks read, %llu records lost%s\n",
		sig == SIGTERM ? " (SIGTERM)" : sig == SIGINT ? " (SIGINT)" : "",
		(unsigned long long)w->stats.watched_total, w->procs.n, (unsigned long long)hangs,
		(unsigned long long)w->stats.samples, (unsigned long long)pyh_lost(w, 1), limits);
}

/* ---- the run ------------------------------------------------------------- */

/* Everything before the loop: the checks that need nothing loaded, the
 * metrics server, BPF, the processes. Returns 0 or -errno (err filled). */
static int pyh_watch_setup(struct pyh_watcher *w, char *err, size_t errsz)
{
	const struct pyh_watch_opts *o = w->o;
	struct pyh_proctrack_opts po = { .all_execs = o->all, .forks = o->all, .thread_exits = 1 };
	struct pyh_probes_opts bo = { .trace_syscalls = o->trace_syscalls, .no_gil = o->no_gil };
	int rc;

	w->scan.s.threshold_ns = (uint64_t)(o->threshold_s * 1e9);
	w->scan.s.holder = pyh_probes_holder;
	w->scan.calls = calloc(PYH_WATCH_MAX_TIDS, sizeof(*w->scan.calls));
	w->scan.gil = calloc(PYH_WATCH_MAX_TIDS, sizeof(*w->scan.gil));
	w->scan.s.calls = w->scan.calls;
	w->scan.s.gil = w->scan.gil;
	if (!w->scan.calls || !w->scan.gil || pyh_spin_bufs_init(&w->spin)) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	if (!o->all) {
		/* Refuse a missing or non-Python PID before touching BPF: the clearer error. */
		struct pyh_target t;

		if (kill(o->pid, 0) && errno == ESRCH) {
			snprintf(err, errsz, "no process with PID %d", (int)o->pid);
			return -ESRCH;
		}
		if ((rc = pyh_watched_target_open(o->pid, &t, err, errsz)))
			return rc;
	}
	/* A port in use is a mistake to report before anything is loaded. */
	if (o->metrics_addr) {
		w->metrics.snap = calloc(1, sizeof(*w->metrics.snap));
		if (!w->metrics.snap) {
			snprintf(err, errsz, "out of memory");
			return -ENOMEM;
		}
		if ((rc = pyh_metrics_start(o->metrics_addr, &w->metrics.srv, err, errsz)))
			return rc;
	}
	pyh_log_libbpf();
	/* Processes: exec and exit always (an exec voids the layout), fork with --all. */
	if ((rc = pyh_proctrack_open(&po, pyh_on_proc_event, w, &w->bpf.pt, err, errsz)))
		return rc;
	bo.min_report_ns = w->scan.s.threshold_ns;
	if ((rc = pyh_probes_open(&bo, w->bpf.pt, pyh_watcher_on_returned, w, &w->bpf.pb, err, errsz)))
		return rc;
	w->scan.s.holder_arg = w->bpf.pb;
	if (o->all) {
		struct pyh_host_ops ops = { .generation = pyh_trk_generation,
					    .attach = pyh_trk_attach,
					    .detach = pyh_trk_detach };

		w->procs.tr = pyh_host_tracker_new(&ops, w, getpid());
		if (!w->procs.tr) {
			snprintf(err, errsz, "out of memory");
			return -ENOMEM;
		}
		if (!o->json)
			fprintf(stderr, "pyhang: watching every Python process (threshold %.1f s)\n", o->threshold_s);
		pyh_host_tracker_scan(w->procs.tr, pyh_mono_ms());
	} else {
		rc = pyh_proc_add(w, o->pid, NULL, NULL, pyh_proctrack_exec_gen(w->bpf.pt, o->pid), err, errsz);
		if (rc)
			return rc;
		if (!o->json)
			fprintf(stderr, "pyhang: watching process %d (Python %s, threshold %.1f s)%s\n", o->pid,
				w->procs.list[0]->id.version, o->threshold_s,
				w->procs.list[0]->lock_probes ? "" : "; lock holders not tracked");
	}
	if (w->metrics.srv)
		fprintf(stderr, "pyhang: serving metrics on http://%s/metrics\n", pyh_metrics_bound(w->metrics.srv));
	return 0;
}

/* Scan every PYH_WATCH_TICK_MS; in between, the ring buffers and (--all) the
 * host tracker. Returns 0 or -errno (err filled). */
static int pyh_watch_loop(struct pyh_watcher *w, char *err, size_t errsz)
{
	const struct pyh_watch_opts *o = w->o;
	uint64_t t0 = pyh_mono_ns(), next_tick = t0, last_prune = t0;

	pyh_notify_init();
	pyh_notify_ready();
	while (!pyh_stopped(w)) {
		uint64_t now = pyh_mono_ns();
		int ms, rc;

		if (o->duration_s > 0 && (double)(now - t0) / 1e9 >= o->duration_s)
			break;
		if (o->rescan && *o->rescan) {
			*o->rescan = 0;
			pyh_rescan(w);
			if (pyh_stopped(w))
				break;
		}
		if (w->procs.tr)
			pyh_host_tracker_tick(w->procs.tr, pyh_mono_ms());
		if (now >= next_tick) {
			pyh_check_gens(w);
			if (!w->procs.tr)
				pyh_check_exits(w);
			if (pyh_stopped(w))
				break;
			pyh_watcher_scan(w, now);
			if (w->metrics.srv)
				pyh_publish(w);
			if (now - last_prune >= PYH_WATCH_PRUNE_MS * 1000000ull) {
				pyh_probes_prune(w->bpf.pb, w->scan.calls, w->scan.s.ncalls, w->scan.gil,
						 w->scan.s.ngil);
				pyh_probes_idle(w->bpf.pb, now);
				last_prune = now;
			}
			pyh_watch_reap();
			pyh_notify_alive(now / 1000000ull);	/* the heartbeat: a scan ended */
			next_tick = now + PYH_WATCH_TICK_MS * 1000000ull;
			continue;
		}
		ms = (int)((next_tick - now) / 1000000ull) + 1;
		if (w->procs.tr && ms > PYH_WATCH_TRACK_MS)
			ms = PYH_WATCH_TRACK_MS;
		rc = pyh_probes_poll(w->bpf.pb, ms);
		if (rc < 0 && rc != -EINTR) {
			snprintf(err, errsz, "reading the BPF ring buffer failed: %s", strerror(-rc));
			return rc;
		}
	}
	pyh_notify_stopping();
	pyh_probes_poll(w->bpf.pb, 0);
	return 0;
}

int pyh_watch_run(const struct pyh_watch_opts *o, char *err, size_t errsz)
{
	struct pyh_watcher *w = NULL;
	int rc;

	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	w->o = o;
	rc = pyh_watch_setup(w, err, errsz);
	if (!rc)
		rc = pyh_watch_loop(w, err, errsz);
	if (!rc) {
		pyh_summary(w);
		if (w->end.why == PYH_WATCH_TARGET_GONE)
			snprintf(err, errsz, "process %d %s", (int)o->pid, w->end.gone);
		rc = (int)w->end.why;
	}
	/* The metrics server first: no scrape sees a half-torn-down watcher. */
	pyh_metrics_stop(w->metrics.srv);
	pyh_host_tracker_free(w->procs.tr);
	for (int i = 0; w->bpf.pb && i < w->procs.n; i++)
		pyh_proc_release(w, w->procs.list[i]);
	pyh_probes_free(w->bpf.pb);
	pyh_proctrack_free(w->bpf.pt);
	free(w->scan.calls);
	free(w->scan.gil);
	pyh_spin_bufs_free(&w->spin);
	free(w->metrics.snap);
	free(w);
	pyh_watch_reap();
	return rc;
}
