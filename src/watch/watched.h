/* One process `pyhang watch` watches: who it is (pid, start time, exec
 * generation, labels), how to read it (its layout, code and source caches),
 * its Python threads as read once per scan, and what the detectors remember
 * of it (watch/detect.h). Reads the target and /proc only: its uprobes are
 * kept here (probes) but attached and detached by the BPF side (watch/probes.c). */
#ifndef PYH_WATCH_WATCHED_H
#define PYH_WATCH_WATCHED_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/host.h"
#include "python/target.h"
#include "python/threads.h"
#include "watch/detect.h"
#include "watch/event.h"
#include "watch/probes.h"

#define PYH_WATCH_STACK_FRAMES 256	/* frames kept per thread in an event */
/* A read of a watched process's memory (its thread list, a stack, the code
 * objects it names) runs as a job with this deadline (proc/guard.h: a job
 * that is slow but busy gets more periods): a process whose memory does not
 * answer (a page on a hung FUSE file, a userfaultfd nobody serves) is
 * reported once and not read again, and the other processes go on. */
#define PYH_WATCH_READ_DEADLINE_MS 1000

struct pyh_codecache;
struct pyh_source;

struct pyh_watched {
	pid_t pid;
	int refs;			/* the engine's, and a read abandoned past its deadline */
	struct {			/* which process and program this is */
		uint64_t start_time;	/* /proc/PID/stat starttime */
		uint32_t gen;		/* exec generation when attached */
		struct pyh_host_proc hp; /* what /proc said when attached */
		char cmdline[256];
		char version[32];
		char label[256];
	} id;
	struct {			/* reading it */
		struct pyh_target t;
		struct pyh_codecache *cache;
		struct pyh_source *src;
		struct pyh_raw_frame raw[PYH_WATCH_STACK_FRAMES];
		uint64_t raw_addrs[PYH_WATCH_STACK_FRAMES];
	} rd;
	struct {			/* its Python threads, read at most once per scan */
		struct pyh_pythread *list;	/* cap, grown as needed up to PYH_MAX_THREADS */
		int n, cap;
		uint64_t gil_tstate;
		int fresh;
		int changed;		/* the list changed in every read this scan (python/threads.h:
					 * chk.unmatched): a thread not in it may have a state */
	} py;
	struct {			/* what the detectors remember */
		struct pyh_wthreads *threads;
		int stuck_reported;
		int possible_reported;	/* threads in the possible deadlock reported */
		pid_t *tids;		/* its threads, for the spinning check (pyh_watched_tids) */
		int tids_cap;
		int spin_cursor;	/* where the next spinning check starts */
	} det;
	struct {			/* threads hung in this scan, for the metrics */
		int gil, spin;
	} hung;
	struct {			/* its asyncio tasks (watch/tasks.c) */
		struct pyh_wtask *v;	/* the suspended ones of the last look, by address */
		int n;
		uint64_t next_ns;	/* when to look again */
		int seen;		/* asyncio was loaded at the last look */
		int absent;		/* it was not (0: loaded, or not looked at yet) */
		int hung;		/* reported as awaiting and still there */
		int error_said;		/* a registry read error was said (-v) */
		int cap_said;		/* more tasks than are looked at was said */
	} tasks;
	struct {
		int stale;		/* exec'd: to be dropped, never read again */
		int exited;		/* its exit event came */
		int stalled;		/* a read missed its deadline: never read again */
		int bin_stalled;	/* its interpreter file did not answer in time (said): no
					 * uprobes, and its asyncio tasks (read with the file's
					 * symbols) are not read */
	} state;
	struct pyh_probe_set probes;	/* --pid: its own uprobes (--all: per binary) */
	const struct pyh_probe_set *bin_probes; /* --all: its binary's (pyh_probes_binary), or NULL */
	int lock_probes;		/* lock holders are tracked */
};

/* pyh_target_open(pid, ...) as a job with a deadline (a target whose files
 * or memory do not answer: -ETIMEDOUT, err says so). */
int pyh_watched_target_open(pid_t pid, struct pyh_target *t, char *err, size_t errsz);

/* Start knowing pid: t is its target already opened (NULL: open it here),
 * hp what /proc said (NULL: read it here), gen the exec generation read
 * before t was opened. Returns 0 with *out, or -errno with err filled
 * (nothing kept). Attaches nothing. */
int pyh_watched_open(pid_t pid, const struct pyh_target *t, const struct pyh_host_proc *hp, uint32_t gen,
		     struct pyh_watched **out, char *err, size_t errsz);
/* NULL-safe; the probes must be detached. When a read of p is still blocked
 * past its deadline, that read frees p when it ends. */
void pyh_watched_free(struct pyh_watched *p);
/* Processes whose reads missed their deadline, since the start. */
uint64_t pyh_watched_stalled_total(void);

/* The threads of p from /proc into p->det.tids (grown as needed, up to
 * PYH_MAX_THREADS), *n of them: as proc/procfs.h's pyh_proc_tasks, and
 * -E2BIG also when more room could not be had (the first *n are there). */
int pyh_watched_tids(struct pyh_watched *p, int *n);

/* A new scan: the Python threads are read again when asked, the hung counts restart. */
void pyh_watched_new_scan(struct pyh_watched *p);

/* Its Python thread tid, NULL when tid is not one (or, when
 * pyh_watched_list_changed, not known to be one); the thread holding the
 * GIL, 0 when none or unknown. */
const struct pyh_pythread *pyh_watched_pythread(struct pyh_watched *p, pid_t tid);
pid_t pyh_watched_gil_holder(struct pyh_watched *p);
/* 1 when this scan's thread list of p changed in every read of it
 * (python/threads.h: PYH_THREADS_LIST_READS): a thread missing from it is
 * not to be judged as one without Python state. */
int pyh_watched_list_changed(struct pyh_watched *p);

/* What the spinning check reads true stacks with (one set per watcher):
 * the snapper and room for PYH_WATCH_SPIN_SNAPS threads' stacks. */
#define PYH_WATCH_SPIN_SNAPS 32
struct pyh_spin_bufs {
	struct pyh_snapper *snapper;
	struct pyh_snap *snaps;		/* PYH_WATCH_SPIN_SNAPS */
	struct pyh_raw_frame *raw;	/* PYH_WATCH_SPIN_SNAPS x PYH_WATCH_STACK_FRAMES */
	uint64_t *addrs;		/* as raw */
};
int pyh_spin_bufs_init(struct pyh_spin_bufs *b);	/* 0 or -ENOMEM (nothing kept) */
void pyh_spin_bufs_free(struct pyh_spin_bufs *b);	/* zeroes *b */

/* True stacks of the Python threads b->snaps[0..n) of p (tid and tstate
 * set, frames and addrs pointing into b->raw and b->addrs), by
 * snapshot/snapshot.h: a thread on a CPU is read in the kernel at an
 * interrupt, one asleep from memory while it does not move; each gets how,
 * or an error and a partial stack. A read past its deadline keeps *b (p is
 * stalled; *b is zeroed, to be set up again). Returns 0, -ETIMEDOUT, or
 * -errno. */
int pyh_watched_snap(struct pyh_watched *p, struct pyh_spin_bufs *b, int n);

/* th->frames from th->tid's Python stack, named. Returns 1 when it is a
 * Python thread (frames may still be 0 when memory ran out), 0 when it is
 * not, -1 when that is not known this scan: it is not in the thread list,
 * which changed while it was read (pyh_watched_list_changed). The stack is
 * read from memory: for a thread that is blocked (it does not move). */
int pyh_watched_fill_stack(struct pyh_watched *p, struct pyh_wthread *th);

/* th->frames named from raw[0..n) (addrs: each frame's address, 0 unknown;
 * NULL: all unknown), a stack read already, within the read deadline. */
void pyh_watched_name_stack(struct pyh_watched *p, struct pyh_wthread *th, const struct pyh_raw_frame *raw,
			    const uint64_t *addrs, int n);

/* th's name and wait channel from /proc; with c, the call it is in (and what
 * that call waits for, when /proc still shows it in that call). */
void pyh_watched_fill_task(struct pyh_watched *p, struct pyh_wthread *th, const struct pyh_watch_call *c);

/* e zeroed and set up as an event of kind about p, detected now. */
void pyh_watched_event(struct pyh_watched *p, struct pyh_wevent *e, const char *kind);

/* The source line of frame f into buf; NULL when it cannot be read. */
const char *pyh_watched_source_line(struct pyh_watched *p, const struct pyh_frame *f, char *buf, size_t bufsz);

/* p's asyncio tasks (asyncio/tasks.h: pyh_tasks_read, which reads its
 * memory and its interpreter's file), within the read deadline. Returns 0
 * with *out filled (the caller's: pyh_tasks_free), -ETIMEDOUT (p is stalled
 * from now on, said once), or -errno (*out untouched). */
struct pyh_tasks;
struct pyh_tasks_opts;
int pyh_watched_tasks(struct pyh_watched *p, const struct pyh_tasks_opts *o, struct pyh_tasks *out);

/* The calls its threads were blocked in before watch started, from /proc
 * (now_ns: the monotonic clock now), each handed to found. */
void pyh_watched_blocked_calls(struct pyh_watched *p, uint64_t now_ns,
			       void (*found)(void *arg, uint32_t tid, const struct pyh_watch_call *c), void *arg);
#endif
