/* The collector of `pyhang record`: turns sampler records (code addresses and
 * instruction offsets) into named stacks in a struct pyh_profile, and adds
 * off-CPU ("idle") samples by walking sleeping threads from user space. */
#ifndef PYH_RECORD_COLLECTOR_H
#define PYH_RECORD_COLLECTOR_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "profile/profile.h"
#include "pyhang/sample.h"
#include "python/target.h"

/* --group: the synthetic root frame each stack gets. */
enum pyh_group {
	PYH_GROUP_NONE = 0,
	PYH_GROUP_PROCESS,	/* the process's label: "python3 app.py [pid 123, 3.12.1]" */
	PYH_GROUP_CGROUP,	/* "cgroup /system.slice/app.service" */
};

struct pyh_collector_opts {
	int threads;	/* root frame "thread TID (name)" per thread */
	int processes;	/* root frame "process PID (name)" per process */
	int gil_only;	/* idle samples only from the GIL holder */
	int group;	/* enum pyh_group: a root frame above all of those */
	int max_targets; /* targets at once, 1 .. PYH_COLLECTOR_MAX_TARGETS (0: that) */
	int native;	/* record --native: a sample that carries a native stack gets its
			 * native frames between the Python frames that called them */
	int tasks;	/* record --tasks: root frame "task NAME (COROUTINE)" for samples
			 * taken in an asyncio task's step (record/taskroots.h) */
	/* Called once when a target is declared stalled (see below), from
	 * whatever call found it (often pyh_collector_on_sample, inside the
	 * sampler's poll), so that the kernel stops sampling it: returns 0 when
	 * it did (counted as stalled_unsampled). NULL: none. */
	int (*on_stalled)(void *arg, pid_t pid);
	void *on_stalled_arg;
};

/* Every read of a target's memory — naming the frames of a stack not seen
 * before (code objects, line tables), an off-CPU walk (its thread list, its
 * sleeping threads' stacks), with --tasks naming a sample's task (its task
 * registries) — runs as a job with this deadline (proc/guard.h): a target
 * whose memory does not answer is said once, counted, not read again, and
 * handed to opts.on_stalled; its samples are dropped (counted), the others'
 * go on. */
#define PYH_COLLECTOR_READ_DEADLINE_MS 1000
/* --native: the native part of a sample (the session: the target's maps and
 * the ELF files libdw reads as frames need them; the unwind; the names) runs
 * as a job with this deadline, longer since the first one reads the
 * libraries' symbols from a cold disk. A target whose files do not answer is
 * said once and counted (native_stalled); its samples from then on get its
 * Python frames only, under a leaf frame "[native frames unreadable]"
 * (native_unreadable), and it is still sampled. */
#define PYH_COLLECTOR_NATIVE_DEADLINE_MS 2000

struct pyh_collector_stats {
	uint64_t samples;	/* records turned into profile stacks (on-CPU) */
	uint64_t idle_samples;	/* off-CPU samples added by pyh_collector_idle_tick */
	uint64_t truncated;	/* samples deeper than the depth limit */
	uint64_t broken;	/* samples whose walk stopped at an unreadable frame */
	uint64_t unknown_code;	/* frames whose code object could not be read/named */
	uint64_t unknown_pid;	/* records from a process not (or no longer) known */
	uint64_t malformed;	/* records with a bad length or depth */
	uint64_t oom;		/* samples dropped: out of memory */
	uint64_t idle_errors;	/* off-CPU walks that failed */
	uint64_t idle_list_changed; /* off-CPU ticks of a process dropped: its thread list
				     * changed in every read (python/threads.h) */
	uint64_t stalled;	/* targets whose read (naming a stack, or an off-CPU walk) missed
				 * PYH_COLLECTOR_READ_DEADLINE_MS: not read again */
	uint64_t stalled_samples; /* samples of those dropped (the one being named, and later ones) */
	uint64_t stalled_unsampled; /* of the stalled targets, those opts.on_stalled took out of
				     * the kernel's sampling */
	uint64_t not_named;	/* samples dropped: too many reads stalled at once to name them */
	uint64_t seen;		/* samples of a stack seen before: counted without naming */
	uint64_t native;	/* --native: samples with their native frames */
	uint64_t native_cut;	/* of those, unwinds that stopped before the outermost frame
				 * (a "[native unwind stopped]" frame marks where) */
	uint64_t native_none;	/* samples that carried no native stack, or whose process
				 * could not be read for one (Python frames only) */
	uint64_t native_stalled; /* processes whose native job missed its deadline */
	uint64_t native_unreadable; /* samples of those after that: Python frames only, marked */
	uint64_t native_unpaired; /* samples whose eval calls and Python frames did not pair
				   * up (a frame entered or left just then): Python frames only */
	uint64_t task_samples;	/* --tasks: samples given a task's root frame */
	uint64_t task_unknown;	/* of those, PYH_TASKROOTS_UNKNOWN: a coroutine no task held
				 * when the registries were read */
	uint64_t task_rescans;	/* task registries read */
	uint64_t task_list_changed; /* of those, reads whose thread list changed while it was
				     * read (3.14+: tasks of threads missing from it not named) */
	uint64_t ceiling_samples; /* samples that carried the code-version ceiling instead of
				   * fingerprints (record/ceiling.h) */
	uint64_t ceiling_reads;	/* reads of code objects for those (one process_vm_readv each) */
	uint64_t ceiling_objects; /* code objects those reads read */
	uint64_t ceiling_replaced; /* frames of those samples whose code object was replaced
				    * or unreadable: named as unknown code (also unknown_code) */
	uint64_t callers_given;	/* records sent without their callers (PYH_SAMPLE_CALLERS)
				 * given their thread's last whole ones (record/callers.h) */
	uint64_t callers_lost;	/* such records dropped: their thread's callers not held */
};

struct pyh_collector;

/* The collector adds to p (not owned). Returns NULL when out of memory. */
struct pyh_collector *pyh_collector_new(struct pyh_profile *p, const struct pyh_collector_opts *o);
void pyh_collector_free(struct pyh_collector *c); /* NULL-safe; frees the targets' code caches */

/* Know process t->pid (t is copied). Returns 0, -EEXIST when known, -ENOMEM,
 * -E2BIG past PYH_COLLECTOR_MAX_TARGETS. */
int pyh_collector_add_target(struct pyh_collector *c, const struct pyh_target *t);
int pyh_collector_has_target(const struct pyh_collector *c, pid_t pid);
#define PYH_COLLECTOR_MAX_TARGETS 1024

/* The texts --group uses for process pid (copied, cut to 255 bytes; NULL
 * keeps the current one). Until set, the process label is "process PID (comm)"
 * and the cgroup label "cgroup ?". Returns 0 or -ENOENT. */
int pyh_collector_set_labels(struct pyh_collector *c, pid_t pid, const char *process_label,
			     const char *cgroup_label);

/* Forget process pid altogether (its code cache and labels; its samples so
 * far stay in the profile): for a process that exited or exec'd, once its
 * last records were consumed. A later record of pid counts as unknown_pid.
 * No-op when pid is unknown. */
void pyh_collector_forget(struct pyh_collector *c, pid_t pid);

/* The process has exited: its remaining records are named from the code
 * cache without re-reading (no address can be reused in a dead process),
 * and idle ticks skip it. */
void pyh_collector_mark_gone(struct pyh_collector *c, pid_t pid);

/* The sampler callback (pyh_sample_cb): arg is the collector. Resolves the
 * record's frames at once (the code objects may be freed later) and adds one
 * stack, root first. Never fails the poll: problems are counted. Returns 0. */
int pyh_collector_on_sample(const struct pyh_sample *s, size_t len, void *arg);

/* Off-CPU sampling (--idle): for every known process, every Python thread
 * that is not running (per /proc/PID/task/TID/stat) gets its stack walked
 * from user space and added with weight `ticks` (the number of sampling
 * periods since the last call). Returns the number of stacks added. */
int pyh_collector_idle_tick(struct pyh_collector *c, uint64_t ticks);

void pyh_collector_stats(const struct pyh_collector *c, struct pyh_collector_stats *out);
#endif
