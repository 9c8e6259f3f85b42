/* The hang detectors: pure functions from what BPF recorded (a scan's
 * snapshot of the calls threads wait in, the GIL waiters, who holds which
 * lock) and what watch remembers of each thread, to the events to report.
 * No BPF, no /proc, no clock, no target memory here: the engine
 * (src/watch/watch.c) gathers the inputs, these decide, and unit tests
 * (tests/unit/test_watch_detect*.c) feed them synthetic ones.
 *
 * Every detector reports a hang once: the thread's state (struct pyh_wthr)
 * remembers what was reported, and a new wait (another start time), new
 * frames or a process that was not stuck in between starts it again.
 * "For the threshold" means now - start >= threshold: exactly at it counts. */
#ifndef PYH_WATCH_DETECT_H
#define PYH_WATCH_DETECT_H
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/frame.h"
#include "pyhang/watch.h"
#include "watch/event.h"

#define PYH_WATCH_CHAIN_MAX 16		/* lock waits followed looking for a cycle */
#define PYH_WATCH_THR_SLOTS 16384	/* threads remembered per process: a power of two; half are used */
/* Spinning: a thread counts as on the CPU for an interval when its run time
 * grew by at least this share of it (being preempted on a busy machine does
 * not count against it) and no wait started or ended in it. */
#define PYH_SPIN_MIN_CPU_PERCENT 5
/* A loop on the CPU goes round at most this many distinct stacks (one more:
 * the thread is doing changing work, not spinning). */
#define PYH_SPIN_MAX_STACKS 16

/* One entry of the inflight map: the call thread tid waits in (start_ns 0: none). */
struct pyh_wcall {
	uint32_t tid;
	struct pyh_watch_call c;
};

/* One entry of the gilwait map: thread tid waits for the GIL. */
struct pyh_wgil {
	uint32_t tid;
	struct pyh_watch_gilwait g;
};

/* What the detectors see of one scan. */
struct pyh_scan {
	uint64_t now_ns;		/* CLOCK_MONOTONIC, as bpf_ktime_get_ns() */
	uint64_t threshold_ns;
	const struct pyh_wcall *calls;	/* every watched thread's call */
	int ncalls;
	const struct pyh_wgil *gil;	/* every thread waiting for the GIL */
	int ngil;
	/* Who holds the lock thread waiter of process tgid waits for in a futex
	 * wait on futex: the lock is the one the probes saw waiter start to
	 * acquire, else the futex word itself (3.14's PyMutex waiters park on
	 * a futex of their own, older locks are the futex word). 0 with *lock
	 * and *tid, or -ENOENT when unknown. */
	int (*holder)(void *arg, uint32_t tgid, pid_t waiter, uint64_t futex, uint64_t *lock, pid_t *tid);
	void *holder_arg;
};

/* The call of tid in this scan, NULL when none was recorded. */
const struct pyh_watch_call *pyh_scan_call(const struct pyh_scan *s, pid_t tid);
/* 1 when c is a call in progress that has lasted the threshold. */
int pyh_scan_over(const struct pyh_scan *s, const struct pyh_watch_call *c);
/* Seconds from start_ns to now (0 when start_ns is later). */
double pyh_scan_seconds(const struct pyh_scan *s, uint64_t start_ns);

/* ---- what watch remembers of each thread --------------------------------- */

/* struct pyh_wthr.blk.state: how the blocked detector judged a wait. */
enum pyh_blk {
	PYH_BLK_NONE = 0,	/* not judged, or its end was reported */
	PYH_BLK_REPORTED,	/* reported as blocked */
	PYH_BLK_IGNORED,	/* an idle wait (watch/ignore.h) */
	PYH_BLK_DEADLOCK,	/* reported in a deadlock cycle */
	PYH_BLK_SKIPPED,	/* not a Python thread */
};

struct pyh_wthr {
	pid_t tid;			/* 0: a free slot */
	struct {			/* the blocked and deadlock detectors */
		uint64_t start;		/* start_ns of the wait last judged */
		enum pyh_blk state;
		int acquire;		/* a futex wait in a lock acquire whose holder is unknown */
	} blk;
	struct {			/* the GIL detector */
		uint64_t start;		/* start_ns of the GIL wait reported */
	} gil;
	struct {			/* the spinning detector */
		uint64_t cpu_ns;	/* the thread's run time at cpu_t */
		uint64_t cpu_t;		/* when it was last looked at; 0: never */
		uint64_t sig[PYH_SPIN_MAX_STACKS]; /* the stacks seen since (pyh_spin_signature) */
		int nsig;
		uint64_t since;		/* on the CPU in those stacks since; 0: not */
		uint64_t last_new;	/* when the last of them was first seen */
		int reported;
	} spin;
};

/* The threads of one process: an open-addressing table of PYH_WATCH_THR_MIN
 * slots at first, doubled when half full, up to PYH_WATCH_THR_SLOTS; each
 * thread's state in an entry of its own, so that a struct pyh_wthr * stays
 * valid until a prune drops that thread or the table is freed. */
#define PYH_WATCH_THR_MIN 16
struct pyh_wthreads;

/* NULL when out of memory. free is NULL-safe. */
struct pyh_wthreads *pyh_wthreads_new(void);
void pyh_wthreads_free(struct pyh_wthreads *tt);
/* tid's state; NULL when not known. */
struct pyh_wthr *pyh_wthreads_find(const struct pyh_wthreads *tt, pid_t tid);
/* tid's state, added (zeroed) when new; NULL past PYH_WATCH_THR_SLOTS / 2 threads
 * or out of memory (each such refusal counted: pyh_wthreads_refused). */
struct pyh_wthr *pyh_wthreads_get(struct pyh_wthreads *tt, pid_t tid);
/* Threads refused so far because the table was full; 0 for NULL. */
uint64_t pyh_wthreads_refused(const struct pyh_wthreads *tt);
/* Threads remembered now, and the bytes the table holds (its slots and
 * entries); 0 for NULL. */
int pyh_wthreads_count(const struct pyh_wthreads *tt);
size_t pyh_wthreads_bytes(const struct pyh_wthreads *tt);
/* Threads that ended leave the table: those not in live (nlive tids, the
 * whole of /proc's list now: a partial list would drop live threads) are
 * dropped and the table rebuilt, shrunk to be a quarter full at most. At
 * most every PYH_WATCH_THR_PRUNE_NS, and only when some thread ended. Out
 * of memory: nothing changes (tried again next period). */
#define PYH_WATCH_THR_PRUNE_NS 5000000000ull
void pyh_wthreads_prune(struct pyh_wthreads *tt, const pid_t *live, int nlive, uint64_t now_ns);

/* ---- blocked ------------------------------------------------------------- */

/* Is call c (of thread t) a wait to judge now? 1 once per wait: it has lasted
 * the threshold, was not judged yet, and the thread does not wait for the GIL
 * (the GIL detector reports that). t then remembers the wait, as not judged
 * (PYH_BLK_NONE) until pyh_detect_blocked_verdict or a deadlock says. */
int pyh_detect_blocked_due(struct pyh_wthr *t, const struct pyh_wcall *c, const struct pyh_scan *s);

/* What the engine found out about a thread whose wait is due. */
struct pyh_blocked_facts {
	int python;		/* it has a Python stack */
	int ignored;		/* that stack waits in an idle place (pyh_ignore_match) */
	int futex;		/* the call is futex(): it may wait for a Python lock */
	pid_t holder;		/* futex: who holds that lock, 0 unknown */
	int in_acquire;		/* futex: the innermost frame acquires a lock (pyh_detect_in_acquire) */
};

/* The verdict on a due wait, also kept in t->blk.state: SKIPPED (not
 * Python), IGNORED (idle) or REPORTED. A reported futex wait whose holder is
 * unknown and that sits in a lock acquire is marked for the possible-deadlock
 * detector (t->blk.acquire). */
enum pyh_blk pyh_detect_blocked_verdict(struct pyh_wthr *t, const struct pyh_blocked_facts *f);

/* The wait pyh_detect_blocked_due just made due is not judged in this scan
 * (whether its thread runs Python could not be known): it is due again at
 * the next, as if never looked at. */
void pyh_detect_blocked_defer(struct pyh_wthr *t);

/* Does the innermost frame wait in a lock acquire? A function named acquire
 * or __enter__, or a source line (line, NULL when unknown) that calls
 * .acquire( or is a `with` statement; never in threading.py (join and
 * Condition.wait wait there for no lock anyone holds). f may be NULL. */
int pyh_detect_in_acquire(const struct pyh_frame *f, const char *line);

/* Did the call that began at start_ns (it has now ended) get reported as
 * blocked or in a deadlock? 1 once (report its end), then t forgets it. */
int pyh_detect_returned(struct pyh_wthr *t, uint64_t start_ns);

/* ---- deadlock ------------------------------------------------------------ */

/* A cycle of lock waits: tid[i] waits (futex) for lock[i], which tid[(i+1) % n] holds. */
struct pyh_cycle {
	int n;
	pid_t tid[PYH_WATCH_CHAIN_MAX];
	uint64_t lock[PYH_WATCH_CHAIN_MAX];
};

/* Does the futex wait of thread tid of process tgid start a cycle of lock
 * waits that comes back to it? Returns the cycle's length (>= 2) with *cy
 * filled from tid on, or 0: tid or a holder on the way is not in a futex
 * wait, a holder is unknown or holds the lock it waits for, the chain is
 * longer than PYH_WATCH_CHAIN_MAX, or the cycle does not pass through tid
 * (then its own members report it). */
int pyh_detect_cycle(const struct pyh_scan *s, uint32_t tgid, pid_t tid, struct pyh_cycle *cy);

/* The members of a reported cycle: their waits are judged (PYH_BLK_DEADLOCK)
 * and not reported again as blocked. */
void pyh_detect_cycle_mark(struct pyh_wthreads *tt, const struct pyh_scan *s, const struct pyh_cycle *cy);

/* The fallback for locks taken before watch started: 2 or more threads of
 * tgid still in waits that the blocked detector reported in a lock acquire
 * with an unknown holder. Returns how many (at most PYH_WATCH_EV_MAX_THREADS,
 * tids in who[]) when that number was not reported yet, else 0. *reported
 * keeps the number reported (0 when fewer than 2 wait). */
int pyh_detect_possible_deadlock(const struct pyh_scan *s, uint32_t tgid, const struct pyh_wthreads *tt,
				 int *reported, pid_t who[PYH_WATCH_EV_MAX_THREADS]);

/* ---- stuck --------------------------------------------------------------- */

/* Is process tgid stuck: as many of its threads as it has (nthreads, from
 * /proc) in calls that lasted the threshold, and at least one of those waits
 * reported (as blocked or in a deadlock, not all idle)? Returns 1 the first
 * scan it is (report it; *least: the shortest of those waits, in seconds),
 * else 0. *reported remembers it until the process is not stuck. */
int pyh_detect_stuck(const struct pyh_scan *s, uint32_t tgid, long nthreads, const struct pyh_wthreads *tt,
		     int *reported, double *least);

/* ---- GIL starvation ------------------------------------------------------ */

enum pyh_gil_verdict {
	PYH_GIL_NO = 0,		/* waiting less than the threshold */
	PYH_GIL_HUNG,		/* waiting for the threshold, reported already (or t NULL) */
	PYH_GIL_REPORT,		/* waiting for the threshold: report it (once per wait) */
};

/* A thread (t, NULL when it cannot be remembered) waiting for the GIL since
 * g->g.start_ns. A holder that releases it in time ends the wait: the entry
 * is gone before the threshold, and the next wait starts again. */
enum pyh_gil_verdict pyh_detect_gil(struct pyh_wthr *t, const struct pyh_wgil *g, const struct pyh_scan *s);
/* The wait pyh_detect_gil said to report is not reported in this scan (its
 * thread's stack could not be known): REPORT again at the next. t may be NULL. */
void pyh_detect_gil_defer(struct pyh_wthr *t);

/* ---- spinning ------------------------------------------------------------ */

/* Spinning: on the CPU without a pause, going round a bounded set of stacks
 * (one stack, for a loop in one function; a few, for a loop that calls
 * others) for the threshold, no new one among them for the last half of it.
 * A thread doing changing work keeps reaching stacks it has not been in: past
 * PYH_SPIN_MAX_STACKS the clock starts again. */
enum pyh_spin {
	PYH_SPIN_OFF_CPU = 0,	/* not on the CPU all the interval (or first look): nothing to judge */
	PYH_SPIN_LEFT,		/* the same, and it was spinning until now */
	PYH_SPIN_TORN,		/* its stack could not be read whole: judged at the next look */
	PYH_SPIN_NEW,		/* the first look on the CPU, or past the bound of stacks: the clock starts */
	PYH_SPIN_SAME,		/* within the stacks seen since, for less than the threshold */
	PYH_SPIN_REPORT,	/* within them for the threshold: report it */
	PYH_SPIN_HUNG,		/* still within them, reported already */
};

/* The same frames: the code objects, and the call sites (instruction offsets)
 * of all but the innermost frame, which may loop. */
uint64_t pyh_spin_signature(const struct pyh_raw_frame *f, int n);

/* Was thread t on the CPU all the while since it was last looked at (run_ns:
 * its run time now; c: its call, NULL when none)? Only then is its stack
 * worth reading for pyh_detect_spin. */
int pyh_detect_spin_ran(const struct pyh_wthr *t, uint64_t run_ns, const struct pyh_watch_call *c,
			uint64_t now_ns);

/* The spinning detector at one look at thread t: run_ns and c as for
 * pyh_detect_spin_ran; frames[0..n) its stack, innermost first (whole: the
 * walk reached the chain's end or cut it on purpose; n <= 0: no stack, as
 * for a thread without Python), read only when it ran. Takes the stack as
 * given, from whichever source read it. */
enum pyh_spin pyh_detect_spin(struct pyh_wthr *t, uint64_t run_ns, const struct pyh_watch_call *c,
			      const struct pyh_raw_frame *frames, int n, int whole, const struct pyh_scan *s);

/* ---- asyncio tasks ------------------------------------------------------- */

/* struct pyh_wtask.state: how the awaiting detector judged an await point. */
enum pyh_tsk {
	PYH_TSK_NONE = 0,	/* not judged yet */
	PYH_TSK_REPORTED,	/* reported as awaiting */
	PYH_TSK_IGNORED,	/* an idle wait (asyncio.sleep, a server's accept loop, --ignore) */
};

/* What watch remembers of one asyncio task between two looks at it. */
struct pyh_wtask {
	uint64_t addr;		/* the task (its id) */
	uint64_t sig;		/* its await point at the last look (pyh_task_signature); 0: none */
	uint64_t since;		/* when it was first seen at that await point (ns) */
	enum pyh_tsk state;
	pid_t tid;		/* its loop's thread, 0 unknown (for a "resumed" once it is gone) */
	char name[64];		/* its name, cut (the same) */
};

enum pyh_task_verdict {
	PYH_TASK_MOVING = 0,	/* not suspended (running, ready, done) or at a new await point */
	PYH_TASK_SAME,		/* at the same await point for less than the threshold */
	PYH_TASK_REPORT,	/* at the same await point for the threshold: report it */
	PYH_TASK_HUNG,		/* still there, reported already */
	PYH_TASK_IDLE,		/* there for the threshold, but an idle wait: not reported */
	PYH_TASK_RESUMED,	/* it was reported and has moved on: report that */
};

/* A task's await point: the code objects and instruction offsets of its
 * coroutine frames frames[0..n), the future it waits for (fut_waiter: a new
 * wait at the same place is a new future) and salt, what else tells this
 * wait from another (pyh_task_salt of the task's name and of the names of
 * the tasks it awaits: 3.8+ names tasks "Task-N" from a counter, so a task
 * freed and another made at its address, or a new task awaited at the same
 * address, is another wait). 0 when it waits for nothing (not suspended);
 * never 0 otherwise. Without names (3.6, 3.7) a task and future freed and
 * others made at the same addresses between two looks cannot be told apart. */
uint64_t pyh_task_signature(const struct pyh_frame *frames, int n, uint64_t fut_waiter, uint64_t salt);
/* salt with the string s mixed in (s NULL or "": salt unchanged). */
uint64_t pyh_task_salt(uint64_t salt, const char *s);

/* One look at task t (its memory; zeroed for a task seen for the first
 * time) whose await point is now sig (0: not suspended); idle: that wait is
 * an idle one. The clock starts when a point is first seen, so a task found
 * already hung is reported a threshold after watch first saw it. */
enum pyh_task_verdict pyh_detect_task(struct pyh_wtask *t, uint64_t sig, int idle, const struct pyh_scan *s);

/* Would pyh_detect_task judge that look (the same await point for the
 * threshold, not judged yet)? Only then does whether it is idle matter. */
int pyh_detect_task_due(const struct pyh_wtask *t, uint64_t sig, const struct pyh_scan *s);

/* A task remembered from the last look is no longer in the registries
 * (finished and freed): 1 when it had been reported (report it resumed). */
int pyh_detect_task_gone(const struct pyh_wtask *t);

/* ---- what is hung now (metrics) ------------------------------------------ */

struct pyh_hung_count {
	uint32_t over;		/* threads in calls that lasted the threshold */
	uint32_t blocked;	/* of those, reported as blocked */
	uint32_t deadlock;	/* of those, reported in a deadlock */
};

void pyh_detect_count_hung(const struct pyh_scan *s, uint32_t tgid, const struct pyh_wthreads *tt,
			   struct pyh_hung_count *out);
#endif
