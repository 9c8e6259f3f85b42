/* The BPF sampler of `pyhang record`: loads bpf/sampler.bpf.c, attaches it to
 * a cpu-clock perf event on every online CPU (idle excluded), and hands each ring-buffer
 * record (struct pyh_sample) to a callback. */
#ifndef PYH_RECORD_SAMPLER_H
#define PYH_RECORD_SAMPLER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "host/proctrack.h"
#include "pyhang/sample.h"
#include "python/target.h"

struct pyh_sampler_opts {
	unsigned rate_hz;	/* 1 .. PYH_SAMPLER_MAX_HZ */
	size_t ringbuf_bytes;	/* rounded up to a power of two >= page size */
	int gil_only;		/* --gil: only samples whose thread holds the GIL */
	int max_targets;	/* capacity of the targets map */
	/* Snapshots: no per-CPU events (rate_hz unused); each thread to sample
	 * gets an event of its own (pyh_sampler_arm_thread, which also says
	 * where its thread state is), and every sample wakes the poller at
	 * once. Such a sampler counts nothing (pyh_sampler_counters gives 0s). */
	int per_thread;
	/* record --native: each sample also carries the thread's user registers
	 * and a copy of the top of its user stack (struct pyh_sample_native). A
	 * kernel that cannot is not a failure: samples come without, and
	 * pyh_sampler_native_missing() says why. */
	int native;
	/* record --tasks: each sample also names the generators whose runs of
	 * frames could be an asyncio task's step (pyh_sample.task_gens). */
	int tasks;
	/* Host mode: the process tracker, whose exec generations the sampler
	 * checks at every sample and whose events pyh_sampler_poll() delivers.
	 * NULL: generations are all 0 (pyh_sampler_add_target's entries). */
	struct pyh_proctrack *pt;
};

#define PYH_SAMPLER_MAX_HZ 10000

/* Called for every record, from pyh_sampler_poll(). len is the record's
 * length (PYH_SAMPLE_SIZE(depth) when well formed). Return 0 to continue. */
typedef int (*pyh_sample_cb)(const struct pyh_sample *s, size_t len, void *arg);

struct pyh_sampler;

/* Probe what the kernel offers (perf_event programs, ring buffers, bpf_loop),
 * open, configure, load and attach the sampler. Returns 0 with *out, or
 * -errno with a one-line reason in err naming what was attempted (no "pyhang:"
 * prefix); nothing stays attached on failure. A per-thread sampler without
 * the tracker uses the program the store keeps (kernel/bpfpin.h) when it
 * holds one of this build and configuration, else loads one and pins it
 * there: that program stays loaded when s is freed, or open fails after. */
int pyh_sampler_open(const struct pyh_sampler_opts *o, pyh_sample_cb cb, void *arg,
		     struct pyh_sampler **out, char *err, size_t errsz);

/* Start sampling process t->pid. Returns 0 or -errno (err filled). */
int pyh_sampler_add_target(struct pyh_sampler *s, const struct pyh_target *t, char *err,
			   size_t errsz);
/* Like pyh_sampler_add_target, and the entry is used only while the process
 * is the one that started at start_ticks (/proc/PID/stat starttime; 0: not
 * checked) and has exec'd exec_gen times (pyh_proctrack_exec_gen() read
 * BEFORE the target was opened). See struct pyh_sample_target. A per_thread
 * sampler checks neither (use pyh_sampler_add_target). */
int pyh_sampler_add_target_checked(struct pyh_sampler *s, const struct pyh_target *t,
				   uint64_t start_ticks, uint32_t exec_gen, char *err, size_t errsz);

/* per_thread samplers: sample thread tid of target pid every period_ns of
 * its own time on a CPU, from now until disarmed: a thread that is running
 * is sampled within about period_ns, one waiting for a CPU as soon as it gets
 * one and runs that long, a sleeping one not at all. tstate is the thread's
 * PyThreadState as the caller read it: the only one the program tries (it
 * is checked against the thread at every sample: one that no longer matches
 * gives no samples). Returns 0 (also when already armed: tstate then
 * replaces the one given before), -ESRCH when the thread is gone, -E2BIG
 * past PYH_SAMPLER_MAX_ARMED, -EINVAL for a per-CPU sampler or tstate 0,
 * other -errno. */
int pyh_sampler_arm_thread(struct pyh_sampler *s, pid_t pid, pid_t tid, uint64_t tstate,
			   uint64_t period_ns);
/* How long reading a target's thread list to seed the thread-state cache
 * may take (pyh_sampler_add_target, a process of more threads than the BPF
 * walk covers). */
#define PYH_SAMPLER_SEED_DEADLINE_MS 1000
/* Stop sampling tid (no-op when not armed). */
void pyh_sampler_disarm_thread(struct pyh_sampler *s, pid_t tid);
#define PYH_SAMPLER_MAX_ARMED 4096
/* A period short enough that a running thread is caught at once, long
 * enough that the interrupts cost it nothing measurable. */
#define PYH_SAMPLER_SNAPSHOT_PERIOD_NS 200000ull

/* With opts.native: NULL when samples carry native stacks, else a one-line
 * reason why the kernel cannot (valid until pyh_sampler_free). */
const char *pyh_sampler_native_missing(const struct pyh_sampler *s);

/* Stop sampling pid. Returns 0, or -ENOENT when it was not a target. */
int pyh_sampler_remove_target(struct pyh_sampler *s, pid_t pid);

/* Wait up to timeout_ms (0: not at all) for the sampler to wake us (the ring
 * a quarter full, a snapshot's sample, a tracker event) or for wake_fd (-1:
 * none; e.g. a pidfd, readable once its process exits) to be readable, then
 * consume the ring-buffer records that are there. Returns the number of
 * records consumed, or -errno (-EINTR when a signal arrived, which is not an
 * error for the caller). */
int pyh_sampler_poll(struct pyh_sampler *s, int timeout_ms, int wake_fd);

/* Sum of each per-CPU counter (indexes enum pyh_sample_counter). */
void pyh_sampler_counters(struct pyh_sampler *s, uint64_t out[PYH_CNT_MAX]);

/* Number of CPUs a perf event is attached on, and whether bpf_loop is used. */
int pyh_sampler_ncpus(const struct pyh_sampler *s);
int pyh_sampler_uses_bpf_loop(const struct pyh_sampler *s);

/* Detach and unload everything. NULL-safe. */
void pyh_sampler_free(struct pyh_sampler *s);

/* A short human description of a counter ("ring buffer full", ...). */
const char *pyh_sampler_counter_name(int idx);
#endif
