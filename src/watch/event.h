/* A hang event of `pyhang watch` and its writers (src/watch/report.c):
 * human text, JSON lines, and the --exec command. */
#ifndef PYH_WATCH_EVENT_H
#define PYH_WATCH_EVENT_H
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "python/stack.h"

#define PYH_WATCH_EV_MAX_THREADS 8
#define PYH_WATCH_MAX_PROCS 256

/* One thread named by an event. */
struct pyh_wthread {
	pid_t tid;
	char comm[17];
	double seconds;			/* how long it has been in this state */
	int has_call;			/* in a system call: nr, args, detail valid */
	long nr;
	uint64_t args[3];
	char detail[512];
	char wchan[64];
	uint64_t lock;			/* deadlock: the lock it waits for, 0 unknown */
	pid_t holder;			/* deadlock: who holds that lock, 0 unknown */
	struct pyh_frame *frames;	/* innermost first; each held */
	int nframes;
};

#define PYH_WATCH_EV_MAX_AWAITERS 8

/* The asyncio task an "awaiting" or "resumed" event is about, or the one
 * whose step a blocked or spinning loop thread runs (has_task). */
struct pyh_wtaskev {
	uint64_t id;			/* the task's address */
	char name[128];			/* "" when it has none (3.6) */
	const char *state;		/* "pending" ...; NULL: not known */
	char await_kind[24];		/* "event", "lock", ... ("" when it awaits nothing) */
	char await_detail[256];
	uint64_t awaited_by[PYH_WATCH_EV_MAX_AWAITERS];
	char awaited_by_name[PYH_WATCH_EV_MAX_AWAITERS][64];
	int nawaited_by;
	int awaited_by_more;		/* awaiters not listed */
	int finished;			/* "resumed": gone from the registries (done and freed) */
};

struct pyh_wevent {
	const char *kind;		/* "blocked" "returned" "spinning" "gil" "deadlock" "stuck"
					 * "awaiting" "resumed" */
	double wall;			/* when it was detected, seconds since the epoch */
	pid_t pid;
	char cmdline[256];
	char version[32];
	pid_t ns_pid;			/* pid in the process's own PID namespace, 0 unknown */
	char label[256];		/* pyh_host_label: "app.py [pid 7 (pid 1 in its namespace), 3.12.1]" */
	char cgroup[256];		/* "/system.slice/app.service", "" unknown */
	double seconds;			/* of th[0]; "returned": the whole call */
	int possible;			/* deadlock inferred from stacks, holders unknown */
	long ret;			/* "returned": the call's return value, when ret_known */
	int ret_known;			/* 0: the thread woke up (sched_switch mode), value unknown */
	char note[256];
	struct pyh_wthread th[PYH_WATCH_EV_MAX_THREADS]; /* th[0] the subject; gil: th[1] the holder;
							  * awaiting, resumed: the loop's thread
							  * with the task's frames */
	int nth;
	int has_task;
	struct pyh_wtaskev task;
};

void pyh_wevent_free(struct pyh_wevent *e); /* frees frames; NULL-safe */

/* Writers (src/watch/report.c). Return 0 or -EIO. */
int pyh_wevent_write_text(const struct pyh_wevent *e, FILE *f);
int pyh_wevent_write_json(const struct pyh_wevent *e, FILE *f);
/* The event as one line of JSON in a malloc'd string (NULL when out of memory). */
char *pyh_wevent_json_string(const struct pyh_wevent *e);
/* Run cmd with /bin/sh -c, PYHANG_EVENT/PID/TID/SECONDS/JSON in its environment,
 * without waiting for it, within the limits of exec.h (src/watch/exec.c; children are
 * reaped by pyh_watch_reap). Returns 0 (also when a limit refused the run: counted) or -errno. */
int pyh_wevent_exec(const struct pyh_wevent *e, const char *cmd);
void pyh_watch_reap(void);
#endif
