/* The engine of `pyhang record`: which processes are profiled (one --pid, a
 * command it starts, its children with --subprocesses, or every Python
 * process with --all), the loop that feeds the sampler's records to the
 * collector, and the profile written at the end.
 *
 * Design choices:
 * - On-CPU samples come from bpf/sampler.bpf.c (cpu-clock perf event per CPU,
 *   stacks walked in BPF, named by the collector as they arrive).
 * - GIL (--gil and the per-sample flag): BPF reads the GIL state itself at
 *   sample time (2.7-3.11: the current-tstate pointer; 3.12+: the interpreter's
 *   GIL struct, locked && last_holder == tstate). That is exact at the instant
 *   of the sample and needs no uprobes on PyEval_SaveThread/RestoreThread.
 * - Off-CPU samples (--idle): the loop, at the sampling rate (batched to at
 *   most 100 Hz, each stack weighted by the periods it stands for), walks from
 *   user space the stacks of Python threads that /proc reports as not
 *   running. Running threads are the perf event's; nothing extra runs in the
 *   kernel when --idle is off.
 * - --subprocesses: /proc is polled every PYH_REC_SCAN_MS for descendants of
 *   the main process; one that is not Python is retried after it execs.
 * - --all: the host tracker (src/host/) finds every Python process already
 *   running, and the process tracker (bpf/proctrack.bpf.c) reports new and
 *   departed ones; the host tracker attaches new ones as soon as their
 *   interpreter exists. One sampler (a perf event per CPU, a hash map of
 *   targets) serves them all. A process that exits or execs is detached after
 *   its last samples are read; the BPF side already ignores it (see sample.h).
 */
#ifndef PYH_RECORD_ENGINE_H
#define PYH_RECORD_ENGINE_H
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "profile/profile.h"
#include "record/sampler.h"

#define PYH_REC_MAX_HZ PYH_SAMPLER_MAX_HZ
#define PYH_REC_DEFAULT_HZ 99
#define PYH_REC_DEFAULT_RINGBUF_MB 8
#define PYH_REC_SCAN_MS 100	/* --subprocesses / liveness / attach retry period */

struct pyh_record_opts {
	pid_t pid;		/* the process to profile; 0 with cmd or all */
	char **cmd;		/* `-- CMD ARGS...`: started, profiled until it exits; NULL */
	int all;		/* every Python process on the host, also those started later */
	double duration;	/* seconds; 0: until the target exits or *stop */
	long rate;		/* Hz, 1 .. PYH_SAMPLER_MAX_HZ */
	const char *output;	/* "-" is stdout; NULL: pyhang-PID.EXT (pyhang-all.EXT with all) */
	enum pyh_format fmt;
	int threads;		/* a root frame per thread */
	int idle;		/* also off-CPU samples */
	int subprocs;		/* follow child processes */
	int gil;		/* only samples of the GIL holder */
	int native;		/* native frames between the Python ones */
	int tasks;		/* a root frame per asyncio task (record/taskroots.h) */
	int group;		/* enum pyh_group (record/collector.h) */
	long ringbuf_mb;	/* the sampler's ring buffer, MiB */
	long max_procs;		/* --all: processes sampled at once, 1 .. PYH_COLLECTOR_MAX_TARGETS
				 * (0: that); others wait for room */
	int as_root;		/* under sudo, run cmd as root (default: as SUDO_UID/SUDO_GID) */
	/* Set asynchronously (the command's SIGINT/SIGTERM handler): stop, write
	 * the profile; a command pyhang started is given time to exit on its own
	 * (the signal reached it too) before it gets SIGTERM. */
	volatile sig_atomic_t *stop;
};

/* Check the target and the output path, load the sampler, profile until the
 * duration ends, the target exits or *stop is set, and write the profile.
 * On stderr: what was attached (-v), a progress line on a terminal, and the
 * summary. Returns 0 when the profile was written; -errno with a one-line
 * reason in err (no "pyhang:" prefix) otherwise, and also when the profile
 * was written but the target never ran Python (-ESRCH). A command it started
 * has exited or been sent SIGTERM and reaped when it returns. */
int pyh_record_run(const struct pyh_record_opts *o, char *err, size_t errsz);
#endif
