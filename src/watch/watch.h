/* The hang detector's engine: watch Python processes and report, as it
 * happens, threads blocked in one call, deadlocked on Python locks, spinning
 * in one place or starved of the GIL.
 *
 * Who does what:
 *   watch/probes.c   the BPF side (bpf/watch.bpf.c): records calls, lock
 *                    holders and GIL waits; uprobes per interpreter binary
 *   host/proctrack.c exec generations and process events (shared by record)
 *   watch/detect.c   the detectors: pure decisions on what was recorded
 *   watch/watched.c  one watched process: identity, readers, threads
 *   watch/watch.c    this engine: setup, the loop, the set of processes, the
 *                    process events and host tracker's callbacks, metrics
 *   watch/scan.c     each scan (every 200 ms): the maps read, the detectors
 *                    fed, their decisions turned into events
 *                    (watch/watcher.h: the state these two share)
 *   watch/report.c   the events' writers and --exec */
#ifndef PYH_WATCH_WATCH_H
#define PYH_WATCH_WATCH_H
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "watch/ignore.h"

#define PYH_WATCH_MAX_PROCS 256
#define PYH_WATCH_DEFAULT_THRESHOLD_S 5.0

struct pyh_watch_opts {
	pid_t pid;			/* 0 with all */
	int all;
	double threshold_s;		/* 0.1 .. 86400 */
	double duration_s;		/* 0: until *stop */
	int once;
	int json;
	const char *exec_cmd;
	int trace_syscalls;		/* raw_syscalls enter/exit instead of sched_switch */
	int no_gil;			/* no GIL uprobes (no "gil" events; cheaper blocking calls) */
	long max_procs;			/* --all: watched at once, 1 .. PYH_WATCH_MAX_PROCS (0: that);
					 * others wait for room, counted once each */
	struct pyh_ignore ignore;
	const char *metrics_addr;	/* --metrics ADDR:PORT, NULL: no server */
	FILE *out;
	/* Set asynchronously (the command's signal handlers). *stop non-zero
	 * ends the watch; its value, a signal number, is named in the summary.
	 * *rescan non-zero asks for the set of processes to be read again (a
	 * full rescan of /proc with --all), said on stderr; the engine clears it. */
	volatile sig_atomic_t *stop;
	volatile sig_atomic_t *rescan;
};

/* How a watch ended, when it did not fail. */
enum pyh_watch_end {
	PYH_WATCH_DONE = 0,		/* the duration ended, or *stop */
	PYH_WATCH_HANG_SEEN,		/* --once: the first hang was reported */
	PYH_WATCH_TARGET_GONE,		/* the --pid process exited or exec'd (err says which) */
};

/* Watch until the duration ends, *stop, --once's first hang, or (with pid)
 * the process exits or execs. At the end, except when the --pid process went
 * away, one summary line goes to stderr. Returns an enum pyh_watch_end, or
 * -errno with a one-line reason (without "pyhang:") in err: the process is
 * not Python, the metrics address cannot be served, BPF cannot be loaded,
 * the ring buffer cannot be read. Everything is torn down when it returns. */
int pyh_watch_run(const struct pyh_watch_opts *o, char *err, size_t errsz);
#endif
