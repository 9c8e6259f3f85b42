/* The state of the hang detector's engine, shared by its two halves:
 * watch/watch.c (setup, the loop, the set of processes, process events,
 * metrics) and watch/scan.c (each scan: feeding the detectors and reporting
 * what they decide). Not for other modules: they use watch/watch.h. */
#ifndef PYH_WATCH_WATCHER_H
#define PYH_WATCH_WATCHER_H
#include <stdint.h>
#include <sys/types.h>

#include "host/host.h"
#include "host/proctrack.h"
#include "snapshot/snapshot.h"
#include "watch/detect.h"
#include "watch/metrics.h"
#include "watch/probes.h"
#include "watch/watch.h"
#include "watch/watched.h"

struct pyh_watcher {
	const struct pyh_watch_opts *o;
	struct {			/* the kernel side */
		struct pyh_proctrack *pt;	/* exec generations, process events; `tracked` is who is watched */
		struct pyh_probes *pb;		/* calls, lock holders, GIL waits */
	} bpf;
	struct {			/* the processes watched */
		struct pyh_watched *list[PYH_WATCH_MAX_PROCS];
		int n;
		struct pyh_host_tracker *tr;	/* --all */
	} procs;
	struct {			/* this scan's snapshot of the maps, as the detectors see it */
		struct pyh_scan s;
		struct pyh_wcall *calls;	/* PYH_WATCH_MAX_TIDS */
		struct pyh_wgil *gil;		/* PYH_WATCH_MAX_TIDS */
		uint64_t tasks_ns;		/* spent on asyncio tasks in this scan (tasks.c) */
	} scan;
	struct pyh_spin_bufs spin;	/* the spinning check's true stacks; set up on first need */
	struct {			/* --metrics */
		struct pyh_metrics *srv;
		struct pyh_metrics_snapshot *snap;
	} metrics;
	struct {			/* for the summary and the metrics */
		uint64_t events[PYH_MK_COUNT];	/* events reported, by kind */
		uint64_t samples;		/* Python stacks read */
		uint64_t list_changed;		/* threads not judged in a scan (or shown without
						 * frames, said in the event): not in a thread list
						 * that changed in every read (python/threads.h) */
		uint64_t rescans;
		uint64_t watched_total;		/* processes ever attached */
		uint64_t capacity[PYH_MC_COUNT]; /* refusals by a limit (metrics, the summary) */
		uint64_t thr_refused_gone;	/* thread-table refusals of processes no longer watched */
		uint64_t bin_stalled;		/* processes whose interpreter file did not answer at attach */
	} stats;
	struct {			/* how it ends */
		int stop;
		enum pyh_watch_end why;
		const char *gone;		/* PYH_WATCH_TARGET_GONE: "exited" or "exec'd another program" */
	} end;
};

/* The watch is to end: --once saw a hang, the --pid process went away, or *o->stop. */
static inline int pyh_stopped(const struct pyh_watcher *w)
{
	return w->end.stop || (w->o->stop && *w->o->stop);
}

/* The watched process pid whose layout is current (not exec'd since); NULL. */
struct pyh_watched *pyh_watcher_find(struct pyh_watcher *w, pid_t pid);

/* One scan at now (CLOCK_MONOTONIC ns): read the maps into w->scan, feed
 * every detector, report what they decide (scan.c). */
void pyh_watcher_scan(struct pyh_watcher *w, uint64_t now);

/* Write event e (text or JSON, --exec, --once) and free it (scan.c). */
void pyh_watcher_emit(struct pyh_watcher *w, struct pyh_wevent *e);

/* The asyncio tasks of p looked at, when it is time (every half threshold,
 * 0.2 s to 1 s, or 10 times as long as the last look took when longer; 5 s
 * while p has no asyncio; the first 2 s (or a period) after p was first seen; none
 * once the scan spent 50 ms on tasks): "awaiting" for a task at the
 * same await point for the threshold, "resumed" when it moves on (tasks.c). */
void pyh_watcher_tasks(struct pyh_watcher *w, struct pyh_watched *p);

/* e names the asyncio task whose step thread tid of p runs, when p has
 * asyncio and one does (has_task). */
void pyh_watcher_running_task(struct pyh_watcher *w, struct pyh_watched *p, pid_t tid, struct pyh_wevent *e);

/* A "returned" record of the BPF side (struct pyh_probes' callback; arg is w). */
void pyh_watcher_on_returned(const struct pyh_watch_event *ev, void *arg);
#endif
