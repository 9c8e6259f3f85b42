/* A true stack of each thread of a Python process: never stitched from a
 * target that moved while it was read.
 *
 * A thread that sleeps does not move: its frames are read from memory by the
 * C walker, and the read is kept only when the thread did not run meanwhile
 * (the count of times it was put on a CPU, its state, its innermost frame and
 * that frame's instruction are the same after the walk as before); else it
 * is read again. A thread that runs (or waits for a CPU) is read in the
 * kernel: a cpu-clock perf event of its own fires while it runs, and the BPF
 * sampler walks its frames at that interrupt by the same frame rule
 * (pyhang/frame.h). A sample that is not a whole stack (the walk stopped
 * before the chain's end, a frame names no readable code object, or the chain
 * ends at a generator's frame) is dropped for the next one. A thread that
 * gives no consistent stack by the deadline says so, with the partial stack
 * it had. The target is interrupted for microseconds; it is never stopped
 * or signalled. */
#ifndef PYH_SNAPSHOT_SNAPSHOT_H
#define PYH_SNAPSHOT_SNAPSHOT_H
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/frame.h"
#include "pyhang/sample.h"
#include "python/code.h"
#include "python/target.h"

/* How a thread's stack was read (JSON "snapshot"). */
enum pyh_snap_how {
	PYH_SNAP_NONE = 0,	/* not read (gone, or no stack could be had) */
	PYH_SNAP_MEMORY,	/* from memory while the thread did not run */
	PYH_SNAP_KERNEL,	/* in the kernel, at an interrupt while it ran */
};

/* One thread to read, and what was read. */
struct pyh_snap {
	/* in */
	pid_t tid;			/* host tid; 0 when unknown (memory only) */
	uint64_t tstate;		/* its PyThreadState */
	struct pyh_raw_frame *frames;	/* room for max frames */
	uint64_t *addrs;		/* room for max: each frame's address (0 in kernel samples) */
	struct pyh_sample_native *native; /* NULL, or room for a kernel sample's registers and
					 * stack copy (pyh_snapper_want_native) */
	/* Optional: the thread's schedstat slices, and then (read after them)
	 * its stat state, as the caller already read them (dump's task info):
	 * the first memory read checks against these instead of reading them
	 * again. A thread read since then to be running is read in the kernel. */
	int before_known;
	uint64_t before_slices;
	char before_state;
	/* out */
	int has_native;			/* *native holds the native part of the kernel sample */
	int how;			/* enum pyh_snap_how */
	int n;				/* frames read */
	enum pyh_walk_status status;	/* how the walk ended */
	int gone;			/* the thread exited meanwhile */
	char error[128];		/* "" or what could not be known, e.g.
					 * "running: no consistent snapshot in 50 ms" */
};

struct pyh_snapper;

/* NULL when out of memory. The BPF side is set up on first need and kept
 * (one sampler serves every target the snapper reads). */
struct pyh_snapper *pyh_snapper_new(void);
void pyh_snapper_free(struct pyh_snapper *s); /* NULL-safe */

/* Read th[0..n) of target t, at most max frames each (max <= PYH_MAX_FRAMES;
 * kernel samples hold at most PYH_SAMPLE_MAX_DEPTH). A running thread gets
 * deadline_ms of its own time on a CPU to give a whole sample (time spent
 * waiting for a CPU on a busy machine does not count), and no more than
 * PYH_SNAP_STARVED deadlines in all. cache names frames to check kernel
 * samples. Every thread gets a result (how, or error). Returns 0, or -ENOMEM. */
int pyh_snap_take(struct pyh_snapper *s, const struct pyh_target *t, struct pyh_codecache *cache,
		  struct pyh_snap *th, int n, int max, unsigned deadline_ms);

/* One thread that should be asleep (record --idle: running ones are the
 * sampler's), read from memory and verified as pyh_snap_take does. Returns 1
 * with th filled (how PYH_SNAP_MEMORY) when it did not run while read, 0 when
 * it runs or ran meanwhile (th then holds nothing to use), -ESRCH when gone. */
int pyh_snap_sleeping(const struct pyh_target *t, struct pyh_snap *th, int max);

/* Kernel samples also carry the thread's user registers and a copy of the top
 * of its user stack, for those snaps that give room for it (dump --native).
 * Call before the first pyh_snap_take. */
void pyh_snapper_want_native(struct pyh_snapper *s);

/* How many processes the snapper's kernel side serves (1 to 1024, the
 * default): its map of targets is made that size, and a process past them
 * has its running threads read from memory, said to be unsure. A snapper
 * for one process (dump --pid) says 1: a smaller map loads faster. Call
 * before the first pyh_snap_take. */
void pyh_snapper_set_max_targets(struct pyh_snapper *s, int n);

/* Whether running threads can be read in the kernel: 1, or 0 with why (for
 * a one-line notice) once the snapper tried and failed. */
int pyh_snapper_kernel_ok(const struct pyh_snapper *s, const char **why);

/* The deadline dump gives running threads (issue: a consistent stack or a
 * clear "no snapshot" within this). */
#define PYH_SNAP_DEADLINE_MS 50
/* A thread that gets no CPU is waited for at most this many deadlines. */
#define PYH_SNAP_STARVED 10
#endif
