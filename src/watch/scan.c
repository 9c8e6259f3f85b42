/* Each scan of the hang detector's engine: the maps read into one snapshot,
 * every detector fed from it (watch/detect.h), and what they decide turned
 * into events with the threads' stacks and calls. */
#include "watch/watcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "log/log.h"
#include "proc/procfs.h"
#include "watch/event.h"

#define PYH_WATCH_SPIN_PER_SCAN 512	/* threads whose CPU time one scan reads, per process */

/* ---- reporting ----------------------------------------------------------- */

void pyh_watcher_emit(struct pyh_watcher *w, struct pyh_wevent *e)
{
	const struct pyh_watch_opts *o = w->o;
	int kind = pyh_metrics_kind_of(e->kind), rc;

	if (kind >= 0)
		w->stats.events[kind]++;
	if (o->json)
		pyh_wevent_write_json(e, o->out);
	else
		pyh_wevent_write_text(e, o->out);
	if (kind != PYH_MK_RETURNED && kind != PYH_MK_RESUMED) {
		if (o->exec_cmd && (rc = pyh_wevent_exec(e, o->exec_cmd)))
			fprintf(stderr, "pyhang: running --exec command failed: %s\n", strerror(-rc));
		if (o->once) {
			w->end.stop = 1;
			w->end.why = PYH_WATCH_HANG_SEEN;
		}
	}
	pyh_wevent_free(e);
}

#define PYH_NOTE_LIST_CHANGED "the thread list changed while it was read: a thread shown without " \
	"Python frames may have them"

/* th's frames from its Python stack. Returns 1 when it is a Python thread,
 * 0 when not, -1 when not known (its process's thread list changed while it
 * was read: counted; the caller does not judge the thread as without Python
 * state, or says so). */
static int pyh_fill_stack(struct pyh_watcher *w, struct pyh_watched *p, struct pyh_wthread *th)
{
	int rc = pyh_watched_fill_stack(p, th);

	if (rc < 0)
		w->stats.list_changed++;
	if (rc <= 0)
		return rc;
	w->stats.samples++;
	return 1;
}

/* One thread of an event e: its call in this scan (c, NULL: none), task
 * and stack. Returns pyh_fill_stack's answer; when not known, e's note says so. */
static int pyh_fill_thread(struct pyh_watcher *w, struct pyh_watched *p, struct pyh_wevent *e,
			   struct pyh_wthread *th, pid_t tid, const struct pyh_watch_call *c)
{
	int rc;

	th->tid = tid;
	th->seconds = c ? pyh_scan_seconds(&w->scan.s, c->start_ns) : -1;
	pyh_watched_fill_task(p, th, c);
	rc = pyh_fill_stack(w, p, th);
	if (rc < 0 && !e->note[0])
		snprintf(e->note, sizeof(e->note), "%s", PYH_NOTE_LIST_CHANGED);
	return rc;
}

static void pyh_report_deadlock(struct pyh_watcher *w, struct pyh_watched *p, const struct pyh_cycle *cy,
				const struct pyh_wcall *f)
{
	struct pyh_wevent e;

	pyh_watched_event(p, &e, "deadlock");
	e.seconds = pyh_scan_seconds(&w->scan.s, f->c.start_ns);
	for (int i = 0; i < cy->n && i < PYH_WATCH_EV_MAX_THREADS; i++) {
		e.th[i].lock = cy->lock[i];
		e.th[i].holder = cy->tid[(i + 1) % cy->n];
		pyh_fill_thread(w, p, &e, &e.th[i], cy->tid[i], pyh_scan_call(&w->scan.s, cy->tid[i]));
		e.nth = i + 1;
	}
	pyh_watcher_emit(w, &e);
}

/* ---- feeding the detectors ----------------------------------------------- */

/* A call of p that lasted the threshold: blocked, part of a deadlock cycle, idle, or not Python. */
static void pyh_on_blocked(struct pyh_watcher *w, struct pyh_watched *p, const struct pyh_wcall *f)
{
	const struct pyh_scan *s = &w->scan.s;
	struct pyh_wthr *t = pyh_wthreads_get(p->det.threads, (pid_t)f->tid);
	struct pyh_blocked_facts facts = { .futex = f->c.nr == SYS_futex };
	struct pyh_wthread *th;
	struct pyh_cycle cy;
	struct pyh_wevent e;
	const char *why = NULL;
	char line[256];

	if (!t || !pyh_detect_blocked_due(t, f, s))
		return;
	if (facts.futex && pyh_detect_cycle(s, (uint32_t)p->pid, (pid_t)f->tid, &cy)) {
		pyh_detect_cycle_mark(p->det.threads, s, &cy);
		pyh_report_deadlock(w, p, &cy, f);
		return;
	}
	pyh_watched_event(p, &e, "blocked");
	th = &e.th[0];
	e.nth = 1;
	th->tid = (pid_t)f->tid;
	e.seconds = th->seconds = pyh_scan_seconds(s, f->c.start_ns);
	facts.python = pyh_fill_stack(w, p, th);
	if (facts.python < 0) {
		/* not in a thread list that changed while it was read: not judged
		 * as a thread without Python (that verdict would stand for the
		 * whole wait); judged at the next scan */
		pyh_detect_blocked_defer(t);
		if (pyh_log_verbosity() > 1)
			pyh_log_error("thread %u of process %d: its wait judged at the next scan (the "
				      "thread list changed while it was read)", f->tid, (int)p->pid);
		pyh_wevent_free(&e);
		return;
	}
	facts.ignored = facts.python && pyh_ignore_match(&w->o->ignore, th->frames, th->nframes, &why);
	if (facts.python && !facts.ignored) {
		pyh_watched_fill_task(p, th, &f->c);
		uint64_t lock;

		if (facts.futex && !pyh_probes_holder(w->bpf.pb, (uint32_t)p->pid, (pid_t)f->tid, f->c.args[0],
						      &lock, &facts.holder)) {
			th->lock = lock;
			th->holder = facts.holder;
		} else if (facts.futex && th->nframes > 0) {
			facts.in_acquire = pyh_detect_in_acquire(
				&th->frames[0], pyh_watched_source_line(p, &th->frames[0], line, sizeof(line)));
		}
	}
	if (pyh_detect_blocked_verdict(t, &facts) == PYH_BLK_REPORTED) {
		pyh_watcher_running_task(w, p, th->tid, &e);
		pyh_watcher_emit(w, &e);
		return;
	}
	if (facts.ignored && pyh_log_verbosity() > 1)
		pyh_log_error("thread %u idle (%s)", f->tid, why);
	pyh_wevent_free(&e);
}

static void pyh_on_gil(struct pyh_watcher *w, const struct pyh_wgil *g)
{
	const struct pyh_scan *s = &w->scan.s;
	struct pyh_watched *p;
	struct pyh_wevent e;
	enum pyh_gil_verdict v;

	if (pyh_detect_gil(NULL, g, s) == PYH_GIL_NO)	/* not waiting for the threshold yet */
		return;
	p = pyh_watcher_find(w, (pid_t)g->g.tgid);
	if (!p)
		return;
	v = pyh_detect_gil(pyh_wthreads_get(p->det.threads, (pid_t)g->tid), g, s);
	p->hung.gil++;
	if (v != PYH_GIL_REPORT)
		return;
	pyh_watched_event(p, &e, "gil");
	e.seconds = pyh_scan_seconds(s, g->g.start_ns);
	e.nth = 1;
	if (pyh_fill_thread(w, p, &e, &e.th[0], (pid_t)g->tid, NULL) < 0) {
		/* its stack is not known this scan (the thread list changed while
		 * it was read): reported at the next, with it */
		pyh_detect_gil_defer(pyh_wthreads_get(p->det.threads, (pid_t)g->tid));
		pyh_wevent_free(&e);
		return;
	}
	e.th[0].seconds = e.seconds;
	e.th[1].tid = pyh_watched_gil_holder(p);
	if (e.th[1].tid && e.th[1].tid != (pid_t)g->tid) {
		pyh_fill_thread(w, p, &e, &e.th[1], e.th[1].tid, NULL);
		e.nth = 2;
	} else {
		snprintf(e.note, sizeof(e.note), "the GIL holder is unknown%s",
			 pyh_watched_list_changed(p) ? " (the thread list changed while it was read)" : "");
	}
	pyh_watcher_emit(w, &e);
}

static void pyh_on_possible_deadlock(struct pyh_watcher *w, struct pyh_watched *p)
{
	pid_t who[PYH_WATCH_EV_MAX_THREADS];
	struct pyh_wevent e;
	int n = pyh_detect_possible_deadlock(&w->scan.s, (uint32_t)p->pid, p->det.threads,
					     &p->det.possible_reported, who);

	if (!n)
		return;
	pyh_watched_event(p, &e, "deadlock");
	e.possible = 1;
	snprintf(e.note, sizeof(e.note),
		 "threads wait in lock acquires; who holds the locks is unknown (taken before watch started?)");
	for (int i = 0; i < n; i++) {
		const struct pyh_watch_call *c = pyh_scan_call(&w->scan.s, who[i]);

		e.th[i].lock = c ? c->args[0] : 0;
		pyh_fill_thread(w, p, &e, &e.th[i], who[i], c);
		e.nth = i + 1;
	}
	e.seconds = e.th[0].seconds;
	pyh_watcher_emit(w, &e);
}

static void pyh_on_stuck(struct pyh_watcher *w, struct pyh_watched *p)
{
	const struct pyh_scan *s = &w->scan.s;
	struct pyh_proc_stat st;
	struct pyh_wevent e;
	double least;

	if (pyh_proc_stat(p->pid, 0, &st) || st.num_threads <= 0)
		return;
	if (!pyh_detect_stuck(s, (uint32_t)p->pid, st.num_threads, p->det.threads, &p->det.stuck_reported,
			      &least))
		return;
	pyh_watched_event(p, &e, "stuck");
	e.seconds = least;
	snprintf(e.note, sizeof(e.note), "no thread of the process is runnable: %ld threads, all blocked",
		 st.num_threads);
	for (int i = 0; i < s->ncalls && e.nth < PYH_WATCH_EV_MAX_THREADS; i++) {
		const struct pyh_wcall *f = &s->calls[i];

		if (f->c.tgid != (uint32_t)p->pid || !pyh_scan_over(s, &f->c))
			continue;
		pyh_fill_thread(w, p, &e, &e.th[e.nth], (pid_t)f->tid, &f->c);
		e.nth++;
	}
	pyh_watcher_emit(w, &e);
}

/* One thread of p looked at by the spinning check. */
struct pyh_spin_look {
	pid_t tid;
	struct pyh_wthr *t;
	const struct pyh_watch_call *c;
	uint64_t run;
	int ran;		/* it stayed on the CPU: its stack is wanted */
	struct pyh_snap *sn;	/* its snapshot, when taken */
};

/* The snapshots of the threads of look[0..n) that stayed on the CPU, in one
 * batch: true stacks (snapshot/snapshot.h), never a walk of a moving stack. */
static void pyh_spin_snap(struct pyh_watcher *w, struct pyh_watched *p, struct pyh_spin_look *look, int n)
{
	int ns = 0;

	for (int i = 0; i < n; i++)
		look[i].sn = NULL;
	if (!w->spin.snapper && pyh_spin_bufs_init(&w->spin))
		return;		/* out of memory: judged at the next scan */
	for (int i = 0; i < n; i++) {
		struct pyh_snap *sn = &w->spin.snaps[ns];
		const struct pyh_pythread *py;

		if (!look[i].ran)
			continue;
		if (!(py = pyh_watched_pythread(p, look[i].tid))) {
			/* no stack: judged at its next look (PYH_SPIN_TORN) */
			w->stats.list_changed += (uint64_t)pyh_watched_list_changed(p);
			continue;
		}
		memset(sn, 0, sizeof(*sn));
		sn->tid = look[i].tid;
		sn->tstate = py->tstate;
		sn->frames = w->spin.raw + (size_t)ns * PYH_WATCH_STACK_FRAMES;
		sn->addrs = w->spin.addrs + (size_t)ns * PYH_WATCH_STACK_FRAMES;
		look[i].sn = sn;
		ns++;
	}
	if (ns && pyh_watched_snap(p, &w->spin, ns))
		for (int i = 0; i < n; i++)
			look[i].sn = NULL;	/* nothing read this scan (stalled: nor ever) */
	w->stats.samples += (uint64_t)ns;
}

/* Up to PYH_WATCH_SPIN_PER_SCAN threads of p per scan, round robin, of which
 * up to PYH_WATCH_SPIN_SNAPS that stayed on the CPU have their true stacks
 * taken (in the kernel while they run) and judged by the spinning detector;
 * the next scan goes on from where this one stopped. */
static void pyh_on_spin(struct pyh_watcher *w, struct pyh_watched *p)
{
	const struct pyh_scan *s = &w->scan.s;
	struct pyh_spin_look look[PYH_WATCH_SPIN_SNAPS];
	struct pyh_ignore user_ignores = w->o->ignore;
	int n = 0, todo, k, nl = 0, nran = 0, rc;

	user_ignores.defaults = 0;

	if ((rc = pyh_watched_tids(p, &n)) && n <= 0)
		return;
	if (!rc)	/* the whole list: threads not in it have ended */
		pyh_wthreads_prune(p->det.threads, p->det.tids, n, s->now_ns);
	todo = n < PYH_WATCH_SPIN_PER_SCAN ? n : PYH_WATCH_SPIN_PER_SCAN;
	for (k = 0; k < todo && nran < PYH_WATCH_SPIN_SNAPS && nl < PYH_WATCH_SPIN_SNAPS; k++) {
		struct pyh_spin_look *l = &look[nl];

		l->tid = p->det.tids[(p->det.spin_cursor + k) % n];
		l->t = pyh_wthreads_get(p->det.threads, l->tid);
		l->c = pyh_scan_call(s, l->tid);
		l->run = 0;
		if (!l->t || pyh_proc_run_ns(p->pid, l->tid, &l->run))
			continue;
		l->ran = pyh_detect_spin_ran(l->t, l->run, l->c, s->now_ns);
		nran += l->ran;
		nl++;
	}
	if (n)
		p->det.spin_cursor = (p->det.spin_cursor + k) % n;
	pyh_spin_snap(w, p, look, nl);
	for (int i = 0; i < nl && !pyh_stopped(w); i++) {
		const struct pyh_spin_look *l = &look[i];
		const struct pyh_snap *sn = l->sn;
		int nf = sn ? sn->n : 0, whole = sn && sn->how != PYH_SNAP_NONE && !sn->error[0];
		const char *why = NULL;
		struct pyh_wevent e;

		switch (pyh_detect_spin(l->t, l->run, l->c, sn ? sn->frames : NULL, nf, whole, s)) {
		case PYH_SPIN_LEFT:
			if (pyh_log_verbosity() > 1)
				fprintf(stderr, "pyhang: thread %d off the CPU\n", (int)l->tid);
			break;
		case PYH_SPIN_NEW:
			if (pyh_log_verbosity() > 1)
				fprintf(stderr, "pyhang: thread %d on CPU in new frames (%d deep)\n", (int)l->tid, nf);
			break;
		case PYH_SPIN_HUNG:
			p->hung.spin++;
			break;
		case PYH_SPIN_REPORT:
			p->hung.spin++;
			if (!sn)
				break;	/* cannot be: a report needs a stack */
			pyh_watched_event(p, &e, "spinning");
			e.th[0].tid = l->tid;
			pyh_watched_fill_task(p, &e.th[0], NULL);
			pyh_watched_name_stack(p, &e.th[0], sn->frames, sn->addrs, nf);	/* the stack judged */
			e.seconds = e.th[0].seconds = pyh_scan_seconds(s, l->t->spin.since);
			e.nth = 1;
			/* --ignore patterns only: the built-in list names idle waits, not loops */
			if (pyh_ignore_match(&user_ignores, e.th[0].frames, e.th[0].nframes, &why)) {
				if (pyh_log_verbosity() > 1)
					fprintf(stderr, "pyhang: thread %d spinning, ignored (%s)\n", (int)l->tid, why);
				pyh_wevent_free(&e);
				break;
			}
			pyh_watcher_running_task(w, p, l->tid, &e);
			pyh_watcher_emit(w, &e);
			break;
		default:
			break;
		}
	}
}

void pyh_watcher_scan(struct pyh_watcher *w, uint64_t now)
{
	struct pyh_scan *s = &w->scan.s;

	for (int i = 0; i < w->procs.n; i++)
		pyh_watched_new_scan(w->procs.list[i]);
	s->now_ns = now;
	w->scan.tasks_ns = 0;
	s->ncalls = pyh_probes_read_calls(w->bpf.pb, w->scan.calls, PYH_WATCH_MAX_TIDS);
	s->ngil = pyh_probes_read_gil(w->bpf.pb, w->scan.gil, PYH_WATCH_MAX_TIDS);
	for (int i = 0; i < s->ncalls && !pyh_stopped(w); i++) {
		const struct pyh_wcall *f = &s->calls[i];
		struct pyh_watched *p;

		if (!pyh_scan_over(s, &f->c) || !(p = pyh_watcher_find(w, (pid_t)f->c.tgid)))
			continue;
		pyh_on_blocked(w, p, f);
	}
	for (int i = 0; i < s->ngil && !pyh_stopped(w); i++)
		pyh_on_gil(w, &s->gil[i]);
	for (int i = 0; i < w->procs.n && !pyh_stopped(w); i++) {
		struct pyh_watched *p = w->procs.list[i];

		if (p->state.stale)
			continue;
		pyh_on_possible_deadlock(w, p);
		if (!pyh_stopped(w))
			pyh_on_stuck(w, p);
		if (!pyh_stopped(w))
			pyh_on_spin(w, p);
		if (!pyh_stopped(w))
			pyh_watcher_tasks(w, p);
	}
}

/* ---- between scans ------------------------------------------------------- */

/* A reported call ended (the BPF side sends every call that lasted min_report_ns). */
void pyh_watcher_on_returned(const struct pyh_watch_event *ev, void *arg)
{
	struct pyh_watcher *w = arg;
	struct pyh_watched *p = pyh_watcher_find(w, (pid_t)ev->tgid);
	struct pyh_wthr *t;
	struct pyh_wevent e;

	if (!p || !(t = pyh_wthreads_get(p->det.threads, (pid_t)ev->tid)) ||
	    !pyh_detect_returned(t, ev->start_ns))
		return;
	pyh_watched_event(p, &e, "returned");
	e.nth = 1;
	e.th[0].tid = (pid_t)ev->tid;
	e.seconds = e.th[0].seconds = (double)(ev->end_ns - ev->start_ns) / 1e9;
	e.ret = (long)ev->ret;
	e.ret_known = w->o->trace_syscalls;
	e.th[0].has_call = 1;
	e.th[0].nr = (long)ev->nr;
	pyh_watched_fill_task(p, &e.th[0], NULL);
	if (pyh_fill_stack(w, p, &e.th[0]) < 0)
		snprintf(e.note, sizeof(e.note), "%s", PYH_NOTE_LIST_CHANGED);
	pyh_watcher_emit(w, &e);
}
