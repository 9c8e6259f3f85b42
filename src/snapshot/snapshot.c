/* True stacks: memory reads of threads that did not run, kernel samples of
 * threads that did. */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "kernel/task.h"
#include "kernel/taskinfo.h"
#include "log/log.h"
#include "proc/procfs.h"
#include "python/frames.h"
#include "python/stack.h"
#include "python/threads.h"
#include "record/sampler.h"

/* Memory reads of one sleeping thread before it counts as running. */
#define PYH_SNAP_MEMORY_TRIES 3
/* While waiting for kernel samples, look this often whether a thread fell
 * asleep (then it is read from memory). */
#define PYH_SNAP_POLL_MS 5
/* Each dump maps the ring (its pages are all mapped then and unmapped at the
 * end: 2% of a dump's CPU at 256 KiB): room for 10 samples 256 frames deep,
 * 40 of 60 frames; a full ring drops samples, the next one comes a period later. */
#define PYH_SNAP_RINGBUF_BYTES (64u << 10)
#define PYH_SNAP_RINGBUF_NATIVE_BYTES (2u << 20)	/* samples with ~16 KiB of stack each */
#define PYH_SNAP_MAX_TARGETS 1024

struct pyh_snapper {
	struct pyh_sampler *smp;
	int native;			/* samples carry native parts */
	int tried;			/* the sampler was tried (ok or not) */
	char why[256];			/* why it could not be had */
	pid_t added[PYH_SNAP_MAX_TARGETS];	/* targets already in the sampler */
	int nadded;
	int max_targets;		/* how many it may take (pyh_snapper_set_max_targets) */
	/* the take in progress, for the sample callback */
	const struct pyh_target *t;
	struct pyh_codecache *cache;
	struct pyh_snap *th;
	int n, max;
	int *want_kernel;		/* per thread: waiting for a kernel sample */
	int *kernel_partial;		/* per thread: holds a kernel sample that was not whole */
	uint64_t *run0;			/* per thread: its CPU time when armed, ns */
	int *first;			/* per thread: what pyh_snap_memory_first found */
};

struct pyh_snapper *pyh_snapper_new(void)
{
	struct pyh_snapper *s = calloc(1, sizeof(struct pyh_snapper));

	if (s)
		s->max_targets = PYH_SNAP_MAX_TARGETS;
	return s;
}

void pyh_snapper_set_max_targets(struct pyh_snapper *s, int n)
{
	s->max_targets = n < 1 ? 1 : n > PYH_SNAP_MAX_TARGETS ? PYH_SNAP_MAX_TARGETS : n;
}

void pyh_snapper_free(struct pyh_snapper *s)
{
	if (!s)
		return;
	pyh_sampler_free(s->smp);
	free(s);
}

void pyh_snapper_want_native(struct pyh_snapper *s)
{
	s->native = 1;
}

int pyh_snapper_kernel_ok(const struct pyh_snapper *s, const char **why)
{
	if (s->tried && !s->smp) {
		if (why)
			*why = s->why;
		return 0;
	}
	return 1;
}

/* A kernel sample: keep it for its thread when that one waits for one. A
 * whole stack ends the wait; one that is not is kept as the partial stack
 * until a better one comes. */
static int pyh_snap_on_sample(const struct pyh_sample *smp, size_t len, void *arg)
{
	struct pyh_snapper *s = arg;
	char why[128];
	int i;

	if (!s->th || len < PYH_SAMPLE_HDR_SIZE || smp->depth > PYH_SAMPLE_MAX_DEPTH ||
	    len < PYH_SAMPLE_SIZE(smp->depth) || smp->pid != (uint32_t)s->t->pid)
		return 0;
	for (i = 0; i < s->n; i++)
		if (s->want_kernel[i] && s->th[i].tid == (pid_t)smp->tid)
			break;
	if (i == s->n)
		return 0;
	{
		struct pyh_snap *th = &s->th[i];
		int n = (int)smp->depth < s->max ? (int)smp->depth : s->max;
		enum pyh_walk_status status = (enum pyh_walk_status)smp->walk_status;

		if (n < (int)smp->depth)
			status = PYH_WALK_TRUNCATED;
		memcpy(th->frames, smp->frames, (size_t)n * sizeof(*th->frames));
		memset(th->addrs, 0, (size_t)n * sizeof(*th->addrs));
		th->n = n;
		th->status = status;
		th->how = PYH_SNAP_KERNEL;
		th->has_native = 0;
		if (th->native && (smp->flags & PYH_SAMPLE_NATIVE) &&
		    len >= PYH_SAMPLE_NATIVE_SIZE(smp->depth, 0)) {
			const struct pyh_sample_native *sn = (const struct pyh_sample_native *)
				((const char *)smp + PYH_SAMPLE_SIZE(smp->depth));

			if (sn->stack_len <= PYH_SAMPLE_STACK_MAX &&
			    len >= PYH_SAMPLE_NATIVE_SIZE(smp->depth, sn->stack_len)) {
				memcpy(th->native, sn, PYH_SAMPLE_NATIVE_HDR_SIZE + sn->stack_len);
				th->has_native = 1;
			}
		}
		if (pyh_raw_stack_problem(s->cache, th->frames, n, status, why, sizeof(why))) {
			s->kernel_partial[i] = 1;	/* keep waiting for a whole one */
			return 0;
		}
		s->kernel_partial[i] = 0;
		s->want_kernel[i] = 0;
		th->error[0] = '\0';
		/* taken: its event stops now, not when the last thread of the
		 * batch is taken (it fired every PYH_SAMPLER_SNAPSHOT_PERIOD_NS of
		 * the thread's CPU until then, and filled the ring for nothing) */
		pyh_sampler_disarm_thread(s->smp, th->tid);
	}
	return 0;
}

/* Set the sampler up once (per-thread events, samples to our callback) and
 * make t one of its targets. Returns 0 or -errno (s->why says why). */
static int pyh_snap_kernel_ready(struct pyh_snapper *s, const struct pyh_target *t)
{
	struct pyh_sampler_opts o = {
		.rate_hz = 1,
		.ringbuf_bytes = s->native ? PYH_SNAP_RINGBUF_NATIVE_BYTES : PYH_SNAP_RINGBUF_BYTES,
		.max_targets = s->max_targets,
		.per_thread = 1,
		.native = s->native,
	};
	char err[256];
	int rc;

	if (!s->tried) {
		s->tried = 1;
		rc = pyh_sampler_open(&o, pyh_snap_on_sample, s, &s->smp, err, sizeof(err));
		if (rc) {
			s->smp = NULL;
			snprintf(s->why, sizeof(s->why), "%s", err);
			return rc;
		}
	}
	if (!s->smp)
		return -EOPNOTSUPP;
	for (int i = 0; i < s->nadded; i++)
		if (s->added[i] == t->pid)
			return 0;
	if (s->nadded >= s->max_targets)
		return -E2BIG;
	rc = pyh_sampler_add_target(s->smp, t, err, sizeof(err));
	if (rc)
		return rc;
	s->added[s->nadded++] = t->pid;
	return 0;
}

/* A thread's state and CPU slices now. Returns 0, or -ESRCH when gone. */
static int pyh_snap_sched(const struct pyh_target *t, pid_t tid, char *state, uint64_t *slices)
{
	struct pyh_proc_schedstat ss;
	struct pyh_proc_stat st;
	int rc;

	*state = '?';
	*slices = 0;
	if (!tid)
		return 0;
	rc = pyh_proc_schedstat(t->pid, tid, &ss);
	if (!rc)
		rc = pyh_proc_stat(t->pid, tid, &st);
	if (rc == -ESRCH || (!rc && pyh_proc_stat_dead(&st)))
		return -ESRCH;
	if (!rc) {
		*state = st.state;
		*slices = ss.slices;
	}
	return 0;
}

static int pyh_snap_asleep(char state)
{
	return state == 'S' || state == 'D' || state == 'T' || state == 't' || state == 'I';
}

/* The innermost Python frame of a thread whose top frame is top (rc: what
 * reading top returned): its address and offset. */
static void pyh_snap_top(const struct pyh_target *t, int rc, uint64_t top, uint64_t *addr,
			 struct pyh_raw_frame *raw)
{
	enum pyh_walk_status status;

	*addr = 0;
	memset(raw, 0, sizeof(*raw));
	if (!rc && top)
		pyh_frames_walk(t, top, raw, addr, 1, &status);
}

/* Walk th's frames from memory as they are now, whatever the thread does,
 * from its top frame top (rc: what reading top returned). */
static void pyh_snap_walk_from(const struct pyh_target *t, struct pyh_snap *th, int max, int rc,
			       uint64_t top)
{
	th->n = pyh_frames_walk(t, rc ? 0 : top, th->frames, th->addrs, max, &th->status);
	th->how = PYH_SNAP_MEMORY;
	th->has_native = 0;
}

static void pyh_snap_walk(const struct pyh_target *t, struct pyh_snap *th, int max)
{
	uint64_t top = 0;
	int rc = pyh_thread_top(t, th->tstate, &top);

	pyh_snap_walk_from(t, th, max, rc, top);
}

/* After th was walked (slices0 its slices before, then st1 and slices1 its
 * state and slices after, then its top frame read again: rc1, top1): 1 when
 * it did not run meanwhile, the stack read then a snapshot: its slices the
 * same, still asleep, and its innermost frame the one the walk began with. */
static int pyh_snap_unmoved(const struct pyh_target *t, const struct pyh_snap *th, uint64_t slices0,
			    char st1, uint64_t slices1, int rc1, uint64_t top1)
{
	struct pyh_raw_frame raw1;
	uint64_t addr1;

	pyh_snap_top(t, rc1, top1, &addr1, &raw1);
	if (slices1 != slices0 || !pyh_snap_asleep(st1))
		return 0;
	if (th->n == 0)
		return addr1 == 0;
	return addr1 == th->addrs[0] && raw1.code == th->frames[0].code &&
	       raw1.offset == th->frames[0].offset;
}

/* One memory read of th. Returns 1 when the thread did not run while it was
 * read (the result is then a snapshot), 0 when it did or might have, -ESRCH
 * when it is gone. Without a tid nothing can be checked: 1 after one read.
 * *running (may be NULL): 1 when the thread was not asleep to begin with (0
 * returned, nothing walked: another read at once finds it the same). */
static int pyh_snap_memory(const struct pyh_target *t, struct pyh_snap *th, int max, int *running)
{
	uint64_t slices0, slices1, top1 = 0;
	char st0, st1;
	int rc1;

	if (th->before_known && th->tid) {
		st0 = th->before_state;	/* read by the caller: slices, then state */
		slices0 = th->before_slices;
		th->before_known = 0;	/* once: a retry reads them anew */
	} else if (pyh_snap_sched(t, th->tid, &st0, &slices0)) {
		return -ESRCH;
	}
	if (running)
		*running = th->tid && !pyh_snap_asleep(st0);
	if (th->tid && !pyh_snap_asleep(st0))
		return 0;
	pyh_snap_walk(t, th, max);
	if (!th->tid)
		return 1;
	if (pyh_snap_sched(t, th->tid, &st1, &slices1))
		return -ESRCH;
	rc1 = pyh_thread_top(t, th->tstate, &top1);
	return pyh_snap_unmoved(t, th, slices0, st1, slices1, rc1, top1);
}

/* pyh_snap_memory's first read of every thread the caller saw asleep
 * (before_known), all walked first and then checked by one run of the
 * kernel's task iterator (kernel/taskinfo.h) instead of two /proc files a
 * thread (the same order for each thread: its walk, its state and slices,
 * its innermost frame again). got[i]: 1, 0 or -ESRCH as pyh_snap_memory
 * returns; 2 for a thread not read here. A thread the iterator did not see
 * (or every thread, where it cannot run) is checked from /proc. */
static void pyh_snap_memory_first(const struct pyh_target *t, struct pyh_snap *th, int n, int max,
				  int *got)
{
	struct pyh_taskinfo_thread_rec *kt = NULL;
	uint64_t *tstates = calloc((size_t)n, sizeof(*tstates)), *tops = calloc((size_t)n, sizeof(*tops));
	int *rcs = calloc((size_t)n, sizeof(*rcs));
	int walked = 0, nkt = 0, room = 2 * n + 64;

	for (int i = 0; i < n; i++)
		got[i] = 2;
	if (!tstates || !tops || !rcs)
		goto out;	/* out of memory: each thread the per-thread way */
	/* Their top frames, then their frames: the top frames' pointer chains
	 * read for all of them at once (pyh_thread_tops), not two reads each. */
	for (int i = 0; i < n; i++) {
		if (!th[i].tid || !th[i].before_known || !pyh_snap_asleep(th[i].before_state))
			continue;
		th[i].before_known = 0;	/* once: a retry reads them anew */
		tstates[walked++] = th[i].tstate;
		got[i] = 0;
	}
	if (!walked)
		goto out;
	pyh_thread_tops(t, tstates, walked, tops, rcs);
	for (int i = 0, w = 0; i < n; i++) {
		if (got[i] == 0) {
			pyh_snap_walk_from(t, &th[i], max, rcs[w], tops[w]);
			w++;
		}
	}
	/* Room for the threads read and as many others (a thread not in it is
	 * read from /proc): kept below malloc's mmap threshold, since a munmap
	 * in this process of several threads costs a TLB shootdown (18% of a
	 * dump's CPU with room for PYH_MAX_THREADS). */
	kt = calloc((size_t)room, sizeof(*kt));
	if (!kt || pyh_taskinfo_threads(t->pid, kt, room, &nkt))
		nkt = 0;
	/* then their states and slices (the iterator, just read), then their top
	 * frames again (a thread the iterator missed: its state and slices from
	 * /proc after that, which checks the same: a run between its walk and
	 * either read changes one of them) */
	pyh_thread_tops(t, tstates, walked, tops, rcs);
	for (int i = 0, w = -1; i < n; i++) {
		const struct pyh_taskinfo_thread_rec *r;
		uint64_t slices1;
		char st1;

		if (got[i] == 2)
			continue;
		w++;
		r = pyh_taskinfo_thread_find(kt, nkt, th[i].tid);
		if (r) {
			st1 = pyh_task_state_letter(r->state, r->exit_state);
			slices1 = r->slices;
			if (pyh_state_dead(st1)) {
				got[i] = -ESRCH;
				continue;
			}
		} else if (pyh_snap_sched(t, th[i].tid, &st1, &slices1)) {
			got[i] = -ESRCH;
			continue;
		}
		got[i] = pyh_snap_unmoved(t, &th[i], th[i].before_slices, st1, slices1, rcs[w], tops[w]);
	}
out:
	free(kt);
	free(rcs);
	free(tops);
	free(tstates);
}

/* No whole stack of a running thread by its deadline: keep the partial one
 * (the last kernel sample, else memory as it is) and say why. */
static void pyh_snap_give_up(const struct pyh_target *t, struct pyh_snap *th, int max,
			     unsigned deadline_ms, uint64_t ran_ms, uint64_t waited_ms)
{
	if (th->how != PYH_SNAP_KERNEL)
		pyh_snap_walk(t, th, max);
	if (ran_ms >= deadline_ms)
		snprintf(th->error, sizeof(th->error),
			 "running: no consistent snapshot in %u ms (the stack shown is partial)",
			 deadline_ms);
	else
		snprintf(th->error, sizeof(th->error),
			 "running: no consistent snapshot: it had %llu ms on a CPU in %llu ms "
			 "(the stack shown is partial)", (unsigned long long)ran_ms,
			 (unsigned long long)waited_ms);
}

int pyh_snap_sleeping(const struct pyh_target *t, struct pyh_snap *th, int max)
{
	int got;

	th->how = PYH_SNAP_NONE;
	th->n = 0;
	th->gone = 0;
	th->error[0] = '\0';
	if (!th->tid)
		return 0;	/* nothing to check it by */
	got = pyh_snap_memory(t, th, max > PYH_MAX_FRAMES ? PYH_MAX_FRAMES : max, NULL);
	if (got <= 0) {
		th->how = PYH_SNAP_NONE;
		th->n = 0;
		th->gone = got < 0;
	}
	return got;
}

int pyh_snap_take(struct pyh_snapper *s, const struct pyh_target *t, struct pyh_codecache *cache,
		  struct pyh_snap *th, int n, int max, unsigned deadline_ms)
{
	uint64_t start;
	int pending = 0, rc = 0;

	if (max > PYH_MAX_FRAMES)
		max = PYH_MAX_FRAMES;
	s->want_kernel = calloc((size_t)(n > 0 ? n : 1), sizeof(*s->want_kernel));
	s->kernel_partial = calloc((size_t)(n > 0 ? n : 1), sizeof(*s->kernel_partial));
	s->run0 = calloc((size_t)(n > 0 ? n : 1), sizeof(*s->run0));
	s->first = calloc((size_t)(n > 0 ? n : 1), sizeof(*s->first));
	if (!s->want_kernel || !s->kernel_partial || !s->run0 || !s->first) {
		rc = -ENOMEM;
		goto cleanup;
	}
	/* Sleeping threads from memory; the others (and those that woke while
	 * read) in the kernel. */
	for (int i = 0; i < n; i++) {
		th[i].how = PYH_SNAP_NONE;
		th[i].n = 0;
		th[i].status = PYH_WALK_END;
		th[i].gone = 0;
		th[i].has_native = 0;
		th[i].error[0] = '\0';
	}
	pyh_snap_memory_first(t, th, n, max, s->first);
	for (int i = 0; i < n; i++) {
		int got = s->first[i] == 2 ? 0 : s->first[i], running = 0;

		/* tries while it moves as it is read; one found running is the
		 * kernel's at once (the wait for its sample reads memory again
		 * should it fall asleep) */
		for (int k = s->first[i] == 2 ? 0 : 1; k < PYH_SNAP_MEMORY_TRIES && !got && !running; k++)
			got = pyh_snap_memory(t, &th[i], max, &running);
		if (got < 0) {
			th[i].gone = 1;
			th[i].how = PYH_SNAP_NONE;
			th[i].n = 0;
		} else if (!got && th[i].tid) {
			s->want_kernel[i] = 1;
			pending++;
		}
	}
	if (pending && pyh_snap_kernel_ready(s, t) == 0) {
		s->t = t;
		s->cache = cache;
		s->th = th;
		s->n = n;
		s->max = max < PYH_SAMPLE_MAX_DEPTH ? max : PYH_SAMPLE_MAX_DEPTH;
		for (int i = 0; i < n; i++) {
			int e;

			if (!s->want_kernel[i])
				continue;
			e = pyh_sampler_arm_thread(s->smp, t->pid, th[i].tid, th[i].tstate,
						   PYH_SAMPLER_SNAPSHOT_PERIOD_NS);
			if (e == -ESRCH) {
				th[i].gone = 1;
				th[i].how = PYH_SNAP_NONE;
				th[i].n = 0;
				s->want_kernel[i] = 0;
			} else if (e) {
				snprintf(th[i].error, sizeof(th[i].error),
					 "running: no kernel snapshot (arming its perf event: %s)", strerror(-e));
				s->want_kernel[i] = 0;
			}
		}
		start = pyh_mono_ms();
		for (int i = 0; i < n; i++)
			if (s->want_kernel[i] && pyh_proc_run_ns(t->pid, th[i].tid, &s->run0[i]))
				s->run0[i] = 0;
		for (;;) {
			uint64_t now = pyh_mono_ms();
			int left = 0;

			for (int i = 0; i < n; i++) {
				uint64_t run = 0;
				int got;

				if (!s->want_kernel[i])
					continue;
				/* fell asleep before a whole sample came: it no longer moves */
				got = pyh_snap_memory(t, &th[i], max, NULL);
				if (got < 0) {
					th[i].gone = 1;
					th[i].how = PYH_SNAP_NONE;
					th[i].n = 0;
				}
				if (got) {
					s->want_kernel[i] = 0;
					continue;
				}
				/* The deadline is the thread's own: deadline_ms on a CPU
				 * (waiting for one on a busy machine does not count), and
				 * PYH_SNAP_STARVED times that in all. */
				if (now >= start + deadline_ms &&
				    (pyh_proc_run_ns(t->pid, th[i].tid, &run) ||
				     run - s->run0[i] >= (uint64_t)deadline_ms * 1000000u ||
				     now >= start + (uint64_t)deadline_ms * PYH_SNAP_STARVED)) {
					pyh_snap_give_up(t, &th[i], max, deadline_ms,
							 (run - s->run0[i]) / 1000000u, now - start);
					s->want_kernel[i] = 0;
					continue;
				}
				left++;
			}
			if (!left)
				break;
			pyh_sampler_poll(s->smp, PYH_SNAP_POLL_MS, -1);
		}
		for (int i = 0; i < n; i++)
			pyh_sampler_disarm_thread(s->smp, th[i].tid);
		s->th = NULL;
	} else if (pending) {
		/* No kernel side: what memory gives, said to be unsure. */
		for (int i = 0; i < n; i++) {
			if (!s->want_kernel[i] || th[i].gone)
				continue;
			pyh_snap_walk(t, &th[i], max);
			snprintf(th[i].error, sizeof(th[i].error),
				 "running: read from memory while it ran (no kernel snapshot): "
				 "may be inconsistent");
		}
	}
cleanup:
	free(s->want_kernel);
	free(s->kernel_partial);
	free(s->run0);
	free(s->first);
	s->want_kernel = s->kernel_partial = s->first = NULL;
	s->run0 = NULL;
	return rc;
}
