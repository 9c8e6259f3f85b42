/* `pyhang watch --metrics ADDR:PORT`: Prometheus text exposition on GET /metrics.
 *
 * The watcher publishes a snapshot (a copy, under a mutex) after each scan;
 * a thread of its own serves it. A scrape never blocks the watcher: the
 * server copies the snapshot under the mutex and formats it outside it, its
 * sockets are non-blocking, every connection has a deadline
 * (PYH_METRICS_IO_MS to send the request, as long again to take the answer),
 * requests are bounded (PYH_METRICS_REQ_MAX bytes) and so is the number of
 * connections open at once (PYH_METRICS_MAX_CONNS; when full, the oldest
 * connection that has not sent its request yet is closed for the new one). */
#ifndef PYH_WATCH_METRICS_H
#define PYH_WATCH_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PYH_METRICS_MAX_CONNS 16
#define PYH_METRICS_REQ_MAX 8192
#define PYH_METRICS_IO_MS 2000
#define PYH_METRICS_MAX_PROCS 256
#define PYH_METRICS_ACCEPT_PAUSE_MS 200	/* after accept fails (no fd left): wait, do not spin */

/* The event kinds, in this order: blocked returned spinning gil deadlock
 * stuck, then the asyncio tasks' awaiting resumed (not thread states). */
enum pyh_metrics_kind {
	PYH_MK_BLOCKED = 0,
	PYH_MK_RETURNED,
	PYH_MK_SPINNING,
	PYH_MK_GIL,
	PYH_MK_DEADLOCK,
	PYH_MK_STUCK,
	PYH_MK_AWAITING,
	PYH_MK_RESUMED,
	PYH_MK_COUNT,
};

/* The kind of an event name ("blocked" ...), -1 when unknown. */
int pyh_metrics_kind_of(const char *name);

struct pyh_metrics_proc {
	pid_t pid;
	uint32_t hung[PYH_MK_COUNT];	/* threads in that state now (returned, awaiting,
					 * resumed unused) */
	uint32_t hung_tasks;		/* asyncio tasks reported as awaiting, still there */
	char python[32];
	char cmdline[128];
	char cgroup[128];
};

/* What a limit refused, for pyhang_capacity_refusals_total{what=...}. */
enum pyh_metrics_cap {
	PYH_MC_PROCS = 0,	/* a process that waited for room (the process table was full):
				 * each once, however often it was tried again */
	PYH_MC_THREADS,		/* a thread not tracked: its process's thread table was full */
	PYH_MC_TRACKER,		/* a process not tracked: the host tracker was full */
	PYH_MC_MAP_UPDATE,	/* a BPF map update failed */
	PYH_MC_EXEC,		/* an --exec run not started (rate or concurrency limit) */
	PYH_MC_STALLED,		/* a target whose reads did not finish in time, skipped */
	PYH_MC_COUNT,
};

/* "procs" ...; NULL out of range. */
const char *pyh_metrics_cap_name(int cap);

struct pyh_metrics_snapshot {
	uint64_t events[PYH_MK_COUNT];	/* hang events reported since start (counters) */
	uint64_t samples;		/* Python stacks read */
	uint64_t list_changed;		/* threads judged a scan later: their thread list changed
					 * while it was read (python/threads.h) */
	uint64_t lost_ringbuf;		/* BPF records lost: ring buffer full */
	uint64_t lost_map;		/* BPF records lost: a map full */
	uint64_t rescans;		/* full rescans (SIGHUP) */
	double last_scan;		/* when the last scan ended, seconds since the epoch (0: none yet) */
	uint64_t capacity[PYH_MC_COUNT]; /* refusals by a limit, counters */
	int stalled_now;		/* reads of targets still blocked (proc/guard.h) */
	uint64_t budget_evictions;	/* cache entries dropped for the memory budgets */
	uint64_t budget_refusals;	/* cache entries the budgets could not keep */
	int nprocs;			/* processes watched now */
	struct pyh_metrics_proc procs[PYH_METRICS_MAX_PROCS]; /* the first nprocs */
};

/* Write s in the text exposition format (version 0.0.4) into out (at most
 * outsz bytes, always NUL-terminated). Returns the length, or -ENOSPC when it
 * did not fit (out then holds a prefix). */
int pyh_metrics_render(const struct pyh_metrics_snapshot *s, char *out, size_t outsz);
/* Bytes pyh_metrics_render needs at most for any snapshot. */
size_t pyh_metrics_render_max(void);

/* "HOST:PORT" or "[IPV6]:PORT" (PORT 0..65535; HOST an address or a name).
 * Returns 0 and fills host/port, or -EINVAL with a reason in err. */
int pyh_metrics_parse_addr(const char *s, char *host, size_t hostsz, char *port, size_t portsz,
			   char *err, size_t errsz);

struct pyh_metrics;

/* Bind and listen on addr, then start the serving thread (signals blocked in
 * it). Returns 0 and *out, or -errno with a one-line reason in err
 * ("cannot serve metrics on 127.0.0.1:9464: Address already in use");
 * nothing is left open on failure. */
int pyh_metrics_start(const char *addr, struct pyh_metrics **out, char *err, size_t errsz);

/* The address actually bound ("127.0.0.1:9464"). */
const char *pyh_metrics_bound(const struct pyh_metrics *m);

/* Replace the snapshot served (copied; only the first s->nprocs rows). NULL-safe. */
void pyh_metrics_publish(struct pyh_metrics *m, const struct pyh_metrics_snapshot *s);

/* Stop the thread, close every socket, free. NULL-safe. */
void pyh_metrics_stop(struct pyh_metrics *m);
#endif
