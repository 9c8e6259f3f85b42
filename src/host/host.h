/* The whole host: which processes run Python, what to call each of them, and
 * a tracker that keeps a set of attached Python processes current as
 * processes start, exec and exit. `dump --all` uses the discovery and the
 * labels; `record --all` and `watch --all` use the tracker, each with its own
 * attach and detach.
 *
 * Everything read here comes from /proc and is treated as data: every file is
 * read with a bounded buffer, every list is bounded. */
#ifndef PYH_HOST_HOST_H
#define PYH_HOST_HOST_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/target.h"
#include "python/version.h"

#define PYH_HOST_CMDLINE_MAX 256
#define PYH_HOST_CGROUP_MAX 256

/* What /proc says about one process. */
struct pyh_host_proc {
	pid_t pid;			/* in pyhang's PID namespace (the host's) */
	pid_t ns_pid;			/* in the process's own PID namespace (last NSpid
					 * field of /proc/PID/status); == pid when not
					 * in a child namespace, 0 when unknown */
	uint64_t start_ticks;		/* /proc/PID/stat starttime (clock ticks since boot) */
	char comm[32];
	char cmdline[PYH_HOST_CMDLINE_MAX]; /* argv joined by spaces, argv[0] by its
					 * base name; control bytes as '?'; truncated
					 * with "..."; comm in brackets when empty */
	char cgroup[PYH_HOST_CGROUP_MAX]; /* the cgroup v2 path ("/system.slice/x.service"),
					 * else the first hierarchy's; "/" when unknown */
};

/* Read pid's /proc entries into *out. Returns 0, -ESRCH when the process is
 * gone (or a zombie), -EACCES/-EPERM; *out is zeroed on failure. */
int pyh_host_proc_read(pid_t pid, struct pyh_host_proc *out);

/* /proc/PID/stat starttime of pid; 0 and -ESRCH when gone or a zombie. */
int pyh_host_start_ticks(pid_t pid, uint64_t *out);

/* The pids in /proc that are processes of user space (kernel threads and
 * pyhang itself left out), ascending, at most max. Returns how many, or
 * -errno when /proc cannot be read. */
int pyh_host_list_pids(pid_t *out, int max);

/* The label a process carries in outputs: "python3 app.py [pid 123, 3.12.1]",
 * with "(pid 7 in its namespace)" after the pid when ns_pid differs. The
 * command line part is cut at 80 bytes. v may be NULL (no version). */
void pyh_host_label(const struct pyh_host_proc *p, const struct pyh_pyversion *v, char *out,
		    size_t outsz);
/* "cgroup /system.slice/x.service" */
void pyh_host_cgroup_label(const struct pyh_host_proc *p, char *out, size_t outsz);

/* The whole command line of pid, arguments joined by spaces, control
 * characters replaced; "" when unreadable (a kernel thread, gone). */
void pyh_host_cmdline(pid_t pid, char *out, size_t outsz);

/* ---- the tracker ------------------------------------------------------ */

/* What the user of the tracker does with processes. */
struct pyh_host_ops {
	/* Called before pyh_target_open; its value is passed to attach
	 * (the sampler's exec generation). May be NULL (0 is passed). */
	uint32_t (*generation)(void *arg, pid_t pid);
	/* A Python process to follow: t is opened, p read just before.
	 * Return 0 when attached, -E2BIG or -ENOSPC when full (the process
	 * waits and is tried again as soon as another one is detached, and
	 * every 5 s), or another -errno to give up on the process (it is not
	 * retried until it execs). */
	int (*attach)(void *arg, const struct pyh_target *t, const struct pyh_host_proc *p,
		      uint32_t generation);
	/* An attached process exited, exec'd or its PID now names another
	 * process: stop following it. Called once per successful attach. */
	void (*detach)(void *arg, pid_t pid);
	unsigned open_flags;	/* PYH_TARGET_OPEN_* (python/target.h) for each pyh_target_open */
};

#define PYH_HOST_MAX_PROCS 8192		/* processes tracked (Python or not) at once; when
					 * full, those known not to be Python make room */
#define PYH_HOST_ATTACH_WINDOW_MS 2000	/* a new program has this long to become Python */
#define PYH_HOST_MAX_EVENTS 4096	/* queued exec/exit events between two ticks */

struct pyh_host_tracker;

/* Returns NULL when out of memory. self is never followed (pass getpid()). */
struct pyh_host_tracker *pyh_host_tracker_new(const struct pyh_host_ops *ops, void *arg,
					      pid_t self);
/* Detaches nothing: the caller tears down what it attached. NULL-safe. */
void pyh_host_tracker_free(struct pyh_host_tracker *tr);

/* Queue an event (cheap; safe from a ring-buffer callback). Exec: pid runs
 * a new program now. Exit: pid is gone. When the queue is full the event is
 * dropped and the next tick rescans /proc instead. */
void pyh_host_tracker_exec(struct pyh_host_tracker *tr, pid_t pid);
void pyh_host_tracker_exit(struct pyh_host_tracker *tr, pid_t pid);

/* Look at every process in /proc: new ones are tried (a process younger
 * than the attach window that is not Python yet is retried), ones whose
 * program changed without an event are re-checked, vanished ones detached.
 * now_ms: a monotonic clock. Returns the number of processes attached. */
int pyh_host_tracker_scan(struct pyh_host_tracker *tr, uint64_t now_ms);

/* Handle queued events, retry pending processes whose time has come
 * (back-off from 2 ms doubling to 256 ms, within the attach window; "no
 * interpreter yet" is the usual reason), and check once a second that each
 * attached process still is the one attached (start time). Rescans when
 * events were dropped. Returns the number of processes newly attached. */
int pyh_host_tracker_tick(struct pyh_host_tracker *tr, uint64_t now_ms);

/* Processes attached now. */
int pyh_host_tracker_attached(const struct pyh_host_tracker *tr);

/* What the tracker could not do, counted (metrics, end summaries). */
struct pyh_host_stats {
	uint64_t refused_capacity;	/* Python processes the user was full for (each once) */
	uint64_t refused_table;		/* processes not tracked: the table was full of live ones */
	uint64_t stalled;		/* processes whose reading did not finish in time: skipped */
	int waiting;			/* Python processes waiting for room now */
};
void pyh_host_tracker_stats(const struct pyh_host_tracker *tr, struct pyh_host_stats *out);

/* Forget every process the tracker decided is not Python, so that the next
 * scan opens each of them again (a full re-read, e.g. on SIGHUP). */
void pyh_host_tracker_forget_not_python(struct pyh_host_tracker *tr);

#endif
