/* The BPF sampler's user side: lifecycle open -> configure -> load -> attach. */
#include "record/sampler.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock/clock.h"
#include "kernel/bpfpin.h"
#include "kernel/corebtf.h"
#include "log/log.h"
#include "proc/guard.h"
#include "proc/procfs.h"
#include "python/threads.h"
#include "sampler.skel.h"

struct pyh_sampler {
	struct sampler_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;	/* one per possible CPU, NULL where offline */
	int *pfds;
	int ncpus_possible;
	int ncpus_attached;
	int bpf_loop;
	int gil_only;
	int tasks;			/* record --tasks */
	int per_thread;			/* no per-CPU events: threads are armed one by one */
	int native;			/* samples carry user registers and stack (record --native) */
	char native_missing[256];	/* --native asked, and why the kernel cannot */
	struct bpf_program *prog;	/* the perf_event program attached (per-CPU) */
	/* The program and the maps the user side uses: the skeleton's, or (warm)
	 * a pinned program's and its maps, which are then s's own to close. */
	int prog_fd;
	int fd_samples, fd_targets, fd_bits, fd_tstates, fd_stats;
	__u32 nbits;			/* target_bits' entries */
	int warm;			/* the program came from the store (kernel/bpfpin.h) */
	int draining;			/* samples an earlier user left: not for cb */
	struct pyh_bpfpin pin;		/* per-thread samplers: the store's entry, held */
	pyh_sample_cb cb;
	void *cb_arg;
	struct pyh_armed *armed;	/* per_thread: threads with a perf event of their own */
	int narmed;
};

static const char *const pyh_counter_names[PYH_CNT_MAX] = {
	[PYH_CNT_TICKS] = "ticks on target threads",
	[PYH_CNT_EMITTED] = "samples",
	[PYH_CNT_NO_TSTATE] = "thread without a Python thread state",
	[PYH_CNT_NO_FRAME] = "thread with no Python frame",
	[PYH_CNT_BAD_FRAME] = "unreadable frame (stack cut)",
	[PYH_CNT_RINGBUF_FULL] = "ring buffer full",
	[PYH_CNT_GIL_FILTERED] = "GIL not held (--gil)",
	[PYH_CNT_READ_ERROR] = "thread state unreadable",
	[PYH_CNT_CACHE_STALE] = "stale thread-state cache entry",
	[PYH_CNT_STALE_TARGET] = "PID reused or program exec'd (entry not used)",
	[PYH_CNT_NATIVE_NO_STACK] = "user stack not copied (no native frames)",
	[PYH_CNT_CEILING] = "samples with the code-version ceiling",
	[PYH_CNT_CALLERS] = "samples sent without their callers (the thread's last whole sample's)",
	[PYH_CNT_CEILING_FALLBACK] = "samples that fingerprinted their frames instead",
};

const char *pyh_sampler_counter_name(int idx)
{
	if (idx < 0 || idx >= PYH_CNT_MAX || !pyh_counter_names[idx])
		return "?";
	return pyh_counter_names[idx];
}

static int pyh_ringbuf_cb(void *ctx, void *data, size_t len)
{
	struct pyh_sampler *s = ctx;

	return s->cb && !s->draining ? s->cb(data, len, s->cb_arg) : 0;
}

static size_t pyh_round_pow2(size_t n)
{
	size_t p = (size_t)sysconf(_SC_PAGESIZE);

	if (p < 4096)
		p = 4096;
	while (p < n && p < ((size_t)1 << 30))
		p <<= 1;
	return p;
}

/* A thread armed for snapshots: its own cpu-clock event, the program attached to it. */
struct pyh_armed {
	pid_t tid;
	__u64 key;		/* its tstate_cache entry, removed when disarmed */
	int pfd;		/* closing it detaches the program */
};

/* A cpu-clock event of one CPU at hz. It does not fire in the idle task: a
 * tick there would only wake the program to find no target (from a cold
 * CPU, ~0.7 us of BPF time per target sample at 999 Hz on this 2-CPU host). */
static int pyh_perf_open_cpu(int cpu, unsigned hz)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.freq = 1;
	attr.sample_freq = hz;
	attr.exclude_idle = 1;
	return (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* A cpu-clock event counting only thread tid's time on a CPU, firing every
 * period_ns of it (cpu-clock periods are nanoseconds). */
static int pyh_perf_open_thread(pid_t tid, uint64_t period_ns)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.sample_period = period_ns;
	return (int)syscall(__NR_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static __u32 pyh_ringbuf_size(const struct pyh_sampler_opts *o)
{
	return (__u32)pyh_round_pow2(o->ringbuf_bytes ? o->ringbuf_bytes : 8u << 20);
}

/* Open the skeleton, configure it (rodata, map sizes, which programs load)
 * and load it into s->skel. Returns 0, or -errno with err filled (s->skel may
 * then be set: the caller destroys it). Whatever it makes of o for a
 * per-thread sampler is also in pyh_sampler_config (the pinned program's
 * name) and checked by pyh_sampler_take_pinned: a setting added here goes
 * there too. */
static int load_skel(struct pyh_sampler *s, const struct pyh_sampler_opts *o, int native,
		     char *err, size_t errsz)
{
	int e;

	{
		LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = pyh_corebtf_path(PYH_COREBTF_SAMPLER));

		s->skel = sampler_bpf__open_opts(&oo);
	}
	if (!s->skel) {
		e = -errno;
		snprintf(err, errsz, "opening the BPF sampler failed: %s", strerror(-e));
		return e;
	}
	bpf_program__set_autoload(s->skel->progs.pyh_on_cpu, !native);
	bpf_program__set_autoload(s->skel->progs.pyh_on_cpu_native, native);
	/* Configure between open and load. */
	s->skel->rodata->use_bpf_loop = s->bpf_loop;
	s->skel->rodata->may_gil_only = !!o->gil_only;
	s->skel->rodata->may_tasks = !!o->tasks;
	s->skel->rodata->per_thread = !!o->per_thread;
	s->skel->rodata->tracked_gens = o->pt != NULL;
	s->skel->rodata->clk_tck_ns = pyh_clock_tick_ns();
	if (o->pt && (e = pyh_proctrack_share(o->pt, s->skel->obj, err, errsz)))
		return e;
	e = bpf_map__set_max_entries(s->skel->maps.samples, pyh_ringbuf_size(o));
	if (!e && o->max_targets > 0)
		e = bpf_map__set_max_entries(s->skel->maps.targets, (__u32)o->max_targets);
	/* Snapshots sample a few armed threads for milliseconds: an LRU map is
	 * allocated whole (4096 entries: ~110 us of a dump), a hash map without
	 * preallocation as it fills, and the user side alone adds to it (one
	 * entry per armed thread: nothing to evict). */
	if (!e && o->per_thread)
		e = bpf_map__set_type(s->skel->maps.tstate_cache, BPF_MAP_TYPE_HASH);
	if (!e && o->per_thread)
		e = bpf_map__set_map_flags(s->skel->maps.tstate_cache, BPF_F_NO_PREALLOC);
	if (!e && o->per_thread)
		e = bpf_map__set_max_entries(s->skel->maps.tstate_cache, PYH_SAMPLER_MAX_ARMED);
	/* Without the tracker its two maps are this object's own: exec_gens is
	 * not looked at (tracked_gens), tracked not used. */
	if (!e && !o->pt)
		e = bpf_map__set_max_entries(s->skel->maps.exec_gens, 1);
	if (!e && !o->pt)
		e = bpf_map__set_max_entries(s->skel->maps.tracked, 1);
	/* Armed threads alone run a per-thread sampler: no other process's ticks to filter. */
	if (!e && o->per_thread)
		e = bpf_map__set_max_entries(s->skel->maps.target_bits, 1);
	if (e) {
		snprintf(err, errsz, "sizing the sampler's maps failed: %s", strerror(-e));
		return e;
	}
	e = sampler_bpf__load(s->skel);
	if (e && native)
		snprintf(err, errsz, "the kernel does not load the sampler that copies user registers "
			 "and stacks (perf_event with bpf_task_pt_regs, Linux 5.15+): %s", strerror(-e));
	else if (e)
		snprintf(err, errsz, "loading the BPF sampler failed: %s (run with -v for the verifier log)",
			 strerror(-e));
	return e;
}

/* Everything load_skel makes of o for a per-thread sampler without the
 * tracker (rodata, map sizes, which program), as one hash: with the object's,
 * the name of its entry in the store. */
static __u64 pyh_sampler_config(const struct pyh_sampler_opts *o)
{
	struct {
		__u32 per_thread, native, gil_only, tasks, bpf_loop, max_targets;
		__u32 ringbuf, target_size, sample_size, max_armed;
		__u64 clk_tck_ns;
	} c;

	memset(&c, 0, sizeof(c));
	c.per_thread = !!o->per_thread;
	c.native = !!o->native;
	c.gil_only = !!o->gil_only;
	c.tasks = !!o->tasks;
	c.bpf_loop = 1;		/* the only one pinned */
	c.max_targets = o->max_targets > 0 ? (__u32)o->max_targets : 0;
	c.ringbuf = pyh_ringbuf_size(o);
	c.target_size = sizeof(struct pyh_sample_target);
	c.sample_size = sizeof(struct pyh_sample);
	c.max_armed = PYH_SAMPLER_MAX_ARMED;
	c.clk_tck_ns = pyh_clock_tick_ns();
	return pyh_bpfpin_hash(0, &c, sizeof(c));
}

/* Delete every entry of map fd (keys of at most 8 bytes, none all zeros:
 * the key after it is the first one), at most bound. */
static void pyh_map_clear(int fd, unsigned bound)
{
	__u64 none = 0, key = 0;

	for (unsigned i = 0; i < bound && !bpf_map_get_next_key(fd, &none, &key); i++)
		bpf_map_delete_elem(fd, &key);
}

/* Take the program pinned in s's entry (held) and the maps the user side
 * uses, checked to be what load_skel makes of o, and clear what an earlier
 * user left in them: it may have died at any point. (Leftovers would not
 * be wrong samples: entries are keyed by process and thread and rewritten
 * when added, and only the threads s arms run the program.) Returns 0 with
 * s warm, or -errno with nothing kept. */
static int pyh_sampler_take_pinned(struct pyh_sampler *s, const struct pyh_sampler_opts *o)
{
	struct pyh_bpf_map_want w[] = {
		{ "samples", BPF_MAP_TYPE_RINGBUF, 0, 0, pyh_ringbuf_size(o), -1 },
		{ "targets", BPF_MAP_TYPE_HASH, 4, sizeof(struct pyh_sample_target),
		  o->max_targets > 0 ? (__u32)o->max_targets : 0, -1 },
		{ "target_bits", BPF_MAP_TYPE_ARRAY, 4, 8, 1, -1 },
		{ "tstate_cache", BPF_MAP_TYPE_HASH, 8, sizeof(struct pyh_tstate_entry), PYH_SAMPLER_MAX_ARMED, -1 },
	};
	__u32 zero = 0;
	__u64 none = 0;
	int fd = pyh_bpfpin_get(&s->pin), e;

	if (fd < 0)
		return fd;
	if (!pyh_bpf_prog_is(fd, BPF_PROG_TYPE_PERF_EVENT, o->native ? "pyh_on_cpu_native" : "pyh_on_cpu"))
		e = -EPROTO;
	else
		e = pyh_bpf_prog_maps(fd, w, (int)(sizeof(w) / sizeof(w[0])));
	if (e) {
		close(fd);
		return e == -ENOENT ? -EPROTO : e;	/* -ENOENT: nothing pinned */
	}
	s->prog_fd = fd;
	s->fd_samples = w[0].fd;
	s->fd_targets = w[1].fd;
	s->fd_bits = w[2].fd;
	s->fd_tstates = w[3].fd;
	s->nbits = 1;
	s->warm = 1;
	pyh_map_clear(s->fd_targets, o->max_targets > 0 ? (unsigned)o->max_targets + 1 : 1025);
	pyh_map_clear(s->fd_tstates, PYH_SAMPLER_MAX_ARMED + 1);
	bpf_map_update_elem(s->fd_bits, &zero, &none, BPF_ANY);
	return 0;
}

/* A per-thread sampler without the tracker: hold its entry in the store and
 * take the program pinned there, when there is one. */
static void pyh_sampler_try_pinned(struct pyh_sampler *s, const struct pyh_sampler_opts *o)
{
	int e = pyh_bpfpin_acquire(&s->pin, "snap", PYH_BPF_OBJ_ID_sampler, pyh_sampler_config(o));

	if (e) {
		if (pyh_log_verbosity() && e != -EPERM)
			pyh_log_error("snapshot sampler: no pinned program to use (%s): loading one",
				      e == -ENOENT ? "no bpf filesystem at " PYH_BPFPIN_ROOT :
				      e == -EWOULDBLOCK ? "another pyhang uses it" : strerror(-e));
		return;
	}
	e = pyh_sampler_take_pinned(s, o);
	if (e == -ENOENT)
		return;		/* none pinned yet: the load pins one */
	if (e == -EPROTO) {
		pyh_bpfpin_drop(&s->pin);	/* not what this build loads: replaced */
		if (pyh_log_verbosity())
			pyh_log_error("snapshot sampler: the program pinned at %s is not usable (not the "
				      "program and maps this build loads): loading it anew", s->pin.path);
		return;
	}
	if (e) {	/* e.g. no CAP_BPF: it may be fine for others; left alone */
		if (pyh_log_verbosity())
			pyh_log_error("snapshot sampler: the program pinned at %s could not be opened (%s): "
				      "loading one", s->pin.path, strerror(-e));
		pyh_bpfpin_release(&s->pin);	/* and so not pinned over */
		return;
	}
	if (pyh_log_verbosity())
		pyh_log_error("snapshot sampler: using the program pinned at %s", s->pin.path);
}

int pyh_sampler_open(const struct pyh_sampler_opts *o, pyh_sample_cb cb, void *arg,
		     struct pyh_sampler **out, char *err, size_t errsz)
{
	struct pyh_sampler *s = NULL;
	int e = 0, cpu, n;

	if (!o || !out || o->rate_hz < 1 || o->rate_hz > PYH_SAMPLER_MAX_HZ) {
		snprintf(err, errsz, "invalid sampler options");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		e = -ENOMEM;
		snprintf(err, errsz, "out of memory");
		goto cleanup;
	}
	s->cb = cb;
	s->cb_arg = arg;
	s->gil_only = o->gil_only;
	s->tasks = o->tasks;
	s->per_thread = o->per_thread;
	s->prog_fd = s->fd_samples = s->fd_targets = s->fd_bits = s->fd_tstates = s->fd_stats = -1;
	s->pin.dirfd = -1;
	if (o->per_thread && !o->pt)
		pyh_sampler_try_pinned(s, o);
	if (s->warm) {
		s->native = !!o->native;
		goto loaded;
	}
	/* Loaded first, probed after: the kernel's features are asked for
	 * (features, not versions) only when the sampler does not load, to say
	 * what is missing, and, where bpf_loop is missing (Linux < 5.17), to load it
	 * without. Three probes fewer (two programs and a map) on every dump of
	 * a running thread. */
	s->bpf_loop = 1;
	e = load_skel(s, o, o->native, err, errsz);
	if (e) {
		if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, NULL) != 1) {
			snprintf(err, errsz, "the kernel cannot run BPF perf_event programs "
					     "(BPF missing, or not root / no CAP_BPF+CAP_PERFMON)");
			e = -EOPNOTSUPP;
			goto cleanup;
		}
		if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
			snprintf(err, errsz, "the kernel has no BPF ring buffer (needs BPF_MAP_TYPE_RINGBUF)");
			e = -EOPNOTSUPP;
			goto cleanup;
		}
		if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL) != 1) {
			s->bpf_loop = 0;
			sampler_bpf__destroy(s->skel);
			s->skel = NULL;
			e = load_skel(s, o, o->native, err, errsz);
		}
	}
	if (e && o->native) {
		/* No native stacks on this kernel: say why, and sample without them. */
		snprintf(s->native_missing, sizeof(s->native_missing), "%s", err);
		sampler_bpf__destroy(s->skel);
		s->skel = NULL;
		e = load_skel(s, o, 0, err, errsz);
	}
	if (e)
		goto cleanup;
	s->native = o->native && !s->native_missing[0];
	s->prog = s->native ? s->skel->progs.pyh_on_cpu_native : s->skel->progs.pyh_on_cpu;
	s->prog_fd = bpf_program__fd(s->prog);
	s->fd_samples = bpf_map__fd(s->skel->maps.samples);
	s->fd_targets = bpf_map__fd(s->skel->maps.targets);
	s->fd_bits = bpf_map__fd(s->skel->maps.target_bits);
	s->fd_tstates = bpf_map__fd(s->skel->maps.tstate_cache);
	s->fd_stats = bpf_map__fd(s->skel->maps.stats);
	s->nbits = bpf_map__max_entries(s->skel->maps.target_bits);
	/* Keep it for the next run, as loaded for what it was asked. */
	if (s->pin.dirfd >= 0 && s->bpf_loop && s->native == !!o->native) {
		e = pyh_bpfpin_put(&s->pin, s->prog_fd);
		if (pyh_log_verbosity() && e)
			pyh_log_error("snapshot sampler: pinning it at %s failed: %s", s->pin.path, strerror(-e));
		else if (pyh_log_verbosity())
			pyh_log_error("snapshot sampler: pinned at %s", s->pin.path);
		e = 0;
	}

loaded:

	n = libbpf_num_possible_cpus();
	if (n <= 0) {
		e = n < 0 ? n : -EINVAL;
		snprintf(err, errsz, "counting possible CPUs failed: %s", strerror(-e));
		goto cleanup;
	}
	s->ncpus_possible = n;
	s->links = calloc((size_t)n, sizeof(*s->links));
	s->pfds = malloc((size_t)n * sizeof(*s->pfds));
	for (cpu = 0; s->pfds && cpu < n; cpu++)
		s->pfds[cpu] = -1;
	if (!s->links || !s->pfds) {
		e = -ENOMEM;
		snprintf(err, errsz, "out of memory");
		goto cleanup;
	}
	for (cpu = 0; cpu < n && !o->per_thread; cpu++) {
		int fd = pyh_perf_open_cpu(cpu, o->rate_hz);

		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* possible but offline */
			e = -errno;
			if (e == -ENOENT || e == -EOPNOTSUPP)
				snprintf(err, errsz, "the kernel has no cpu-clock perf event on CPU %d: %s",
					 cpu, strerror(-e));
			else
				snprintf(err, errsz, "perf_event_open(cpu-clock, %u Hz) on CPU %d failed: %s%s",
					 o->rate_hz, cpu, strerror(-e),
					 (e == -EACCES || e == -EPERM) ? " (needs root or CAP_PERFMON)" :
					 e == -EINVAL ? " (rate above kernel.perf_event_max_sample_rate?)" : "");
			goto cleanup;
		}
		s->pfds[cpu] = fd;
		s->links[cpu] = bpf_program__attach_perf_event(s->prog, fd);
		if (!s->links[cpu]) {
			e = -errno;
			snprintf(err, errsz, "attaching the sampler to CPU %d's perf event failed: %s", cpu,
				 strerror(-e));
			goto cleanup;
		}
		s->pfds[cpu] = -1; /* the link owns (and closes) it now */
		s->ncpus_attached++;
	}
	if (o->per_thread && !s->warm) {
		/* perf events come later, one per armed thread: check now that the
		 * kernel gives a thread one (and that we may open it). A warm
		 * sampler's store is root's: this run may (an event fewer, ~4%
		 * of a dump of a running thread). */
		int fd = pyh_perf_open_thread(getpid(), PYH_SAMPLER_SNAPSHOT_PERIOD_NS);

		if (fd < 0) {
			e = -errno;
			snprintf(err, errsz, "perf_event_open(cpu-clock) of a thread failed: %s%s",
				 strerror(-e), (e == -EACCES || e == -EPERM) ? " (needs root or CAP_PERFMON)" : "");
			goto cleanup;
		}
		close(fd);
	} else if (!o->per_thread && !s->ncpus_attached) {
		e = -ENODEV;
		snprintf(err, errsz, "no online CPU accepted a perf event");
		goto cleanup;
	}
	s->rb = ring_buffer__new(s->fd_samples, pyh_ringbuf_cb, s, NULL);
	if (!s->rb) {
		e = -errno;
		snprintf(err, errsz, "opening the sample ring buffer failed: %s", strerror(-e));
		goto cleanup;
	}
	if (s->warm) {		/* what an earlier user did not take */
		s->draining = 1;
		ring_buffer__consume(s->rb);
		s->draining = 0;
	}
	if (o->pt && (e = pyh_proctrack_add_ring(o->pt, s->rb))) {
		snprintf(err, errsz, "polling the process tracker's ring buffer failed: %s", strerror(-e));
		goto cleanup;
	}
	*out = s;
	return 0;

cleanup:
	pyh_sampler_free(s);
	return e ? e : -EINVAL;
}

static void pyh_sampler_seed_threads(struct pyh_sampler *s, const struct pyh_target *t);

int pyh_sampler_add_target(struct pyh_sampler *s, const struct pyh_target *t, char *err,
			   size_t errsz)
{
	return pyh_sampler_add_target_checked(s, t, 0, 0, err, errsz);
}

/* Set (on) or clear bit pid of target_bits. Returns 0, also for a pid past
 * the map's end (BPF looks those up in targets), or -errno. */
static int pyh_target_bit(struct pyh_sampler *s, pid_t pid, int on)
{
	int fd = s->fd_bits;
	__u32 word = (__u32)pid / 64;
	__u64 w, bit = 1ull << ((__u32)pid % 64);

	if (word >= s->nbits)
		return 0;
	if (bpf_map_lookup_elem(fd, &word, &w))
		return -errno;
	w = on ? w | bit : w & ~bit;
	return bpf_map_update_elem(fd, &word, &w, BPF_ANY) ? -errno : 0;
}

int pyh_sampler_add_target_checked(struct pyh_sampler *s, const struct pyh_target *t,
				   uint64_t start_ticks, uint32_t exec_gen, char *err, size_t errsz)
{
	struct pyh_sample_target v;
	const struct pyh_layout *l = &t->layout;
	__u32 key = (__u32)t->pid;
	int e;

	memset(&v, 0, sizeof(v));
	v.layout = *l;
	v.interp_head_ptr = t->interp_head_ptr;
	v.frame_span = pyh_frame_span(l);
	pyh_code_fp_span(l, &v.code_fp_off, &v.code_fp_len);
	v.tstate_current_ptr = l->gil_kind == PYH_GIL_TSTATE_CURRENT ? t->tstate_current_ptr : 0;
	if (l->tstate_native_thread_id != PYH_NO_FIELD)
		v.flags |= PYH_TARGET_MATCH_NATIVE_TID;
	if (s->gil_only)
		v.flags |= PYH_TARGET_GIL_ONLY;
	if (s->per_thread)
		v.flags |= PYH_TARGET_WAKEUP;
	if (s->native)
		v.flags |= PYH_TARGET_NATIVE;
	if (s->tasks)
		v.flags |= PYH_TARGET_TASKS;
	v.start_ticks = start_ticks;
	v.exec_gen = exec_gen;
	/* record's collector names ceiling samples (record/ceiling.h); a snapshot's
	 * reader wants the fingerprints */
	if (!s->per_thread) {
		v.code_counter_ptr = t->code_counter_ptr;
		v.interp_next_id_ptr = t->interp_next_id_ptr;
	}
	if (s->gil_only && l->gil_kind == PYH_GIL_NONE) {
		snprintf(err, errsz, "process %d runs a free-threaded Python %d.%d.%d: there is no GIL "
			 "to hold, so --gil does not apply", (int)t->pid, t->ver.major, t->ver.minor,
			 t->ver.micro);
		return -EOPNOTSUPP;
	}
	if (!t->interp_head_ptr || !pyh_frame_layout_ok(l)) {
		snprintf(err, errsz, "process %d: layout not usable by the BPF sampler", (int)t->pid);
		return -EINVAL;
	}
	/* The bit first: an entry without it would never be sampled. */
	if ((e = pyh_target_bit(s, t->pid, 1))) {
		snprintf(err, errsz, "adding process %d to the sampler's target bitmap failed: %s",
			 (int)t->pid, strerror(-e));
		return e;
	}
	if (bpf_map_update_elem(s->fd_targets, &key, &v, BPF_ANY)) {
		e = -errno;
		snprintf(err, errsz, "adding process %d to the sampler's targets failed: %s%s",
			 (int)t->pid, strerror(-e), e == -E2BIG ? " (too many processes)" : "");
		return e;
	}
	if (!s->per_thread)	/* a per_thread sampler is told each thread's state when armed */
		pyh_sampler_seed_threads(s, t);
	return 0;
}

/* The thread list of a target, read as a job with a deadline (proc/guard.h):
 * the job owns a copy of the target and the list. */
struct pyh_seed_job {
	struct pyh_target t;
	struct pyh_pythread list[PYH_MAX_THREADS];
	int n;
	pid_t tids[PYH_MAX_THREADS];
	struct pyh_threads_check chk;
};

static int pyh_seed_read(void *arg)
{
	struct pyh_seed_job *j = arg;
	uint64_t gil = 0;

	j->chk = (struct pyh_threads_check){ .tids = j->tids, .max_tids = PYH_MAX_THREADS };
	return pyh_threads_read(&j->t, j->list, PYH_MAX_THREADS, &j->n, &gil, &j->chk);
}

static void pyh_seed_free(void *arg)
{
	free(arg);
}

/* The BPF side finds a thread's PyThreadState by walking at most
 * PYH_SAMPLE_MAX_THREADS of each interpreter's list from its head, where new
 * threads go: in a process with more threads than that, the oldest would
 * never be found. So when there may be more, user space reads the whole list
 * once and puts every thread it matched into tstate_cache (each entry is
 * checked at every sample, as the program's own). */
static void pyh_sampler_seed_threads(struct pyh_sampler *s, const struct pyh_target *t)
{
	pid_t tids[PYH_SAMPLE_MAX_THREADS + 1];
	struct pyh_seed_job *j;
	int n = 0, rc, result = 0;

	if (pyh_proc_tasks(t->pid, tids, PYH_SAMPLE_MAX_THREADS + 1, &n) != -E2BIG)
		return;		/* at most that many threads: the walk finds them all */
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->t = *t;
	rc = pyh_guard_run(pyh_seed_read, j, pyh_seed_free, PYH_SAMPLER_SEED_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT)
		return;		/* the job's now; its samples say "thread without a Python thread state" */
	/* Only states of threads listed now: when the list changed while it was
	 * read (a state freed under the walk), one naming no live thread is not
	 * any thread's, and the threads it cut off are found by the program's
	 * own walk or counted as without a Python thread state. */
	for (int i = 0; !rc && !result && i < j->n; i++) {
		__u64 key = (__u64)(__u32)t->pid << 32 | (__u32)j->list[i].tid;
		struct pyh_tstate_entry ts = { .tstate = j->list[i].tstate };

		if (ts.tstate && pyh_threads_listed(&j->list[i], j->tids, j->chk.ntids))
			bpf_map_update_elem(s->fd_tstates, &key, &ts, BPF_ANY);
	}
	if (!rc && !result && j->chk.unmatched && pyh_log_verbosity())
		pyh_log_error("process %d: its thread list changed while it was read (%d states named no "
			      "thread in %d reads): the threads missing from it are not seeded", (int)t->pid,
			      j->chk.unmatched, j->chk.reads);
	free(j);
}

int pyh_sampler_remove_target(struct pyh_sampler *s, pid_t pid)
{
	__u32 key = (__u32)pid;

	if (bpf_map_delete_elem(s->fd_targets, &key))
		return -errno;
	/* A bit left set (if this fails) only sends that tgid's ticks to the lookup. */
	pyh_target_bit(s, pid, 0);
	return 0;
}

int pyh_sampler_poll(struct pyh_sampler *s, int timeout_ms, int wake_fd)
{
	/* The ring's epoll set (every ring of s->rb) and wake_fd, in one wait:
	 * poll() of an epoll fd says whether any fd in its set is ready. */
	struct pollfd pfd[2] = { { .fd = ring_buffer__epoll_fd(s->rb), .events = POLLIN },
				 { .fd = wake_fd, .events = POLLIN } };
	int m;

	/* The BPF side does not wake us per sample (BPF_RB_NO_WAKEUP, except when
	 * the ring is a quarter full): wait, then take whatever is there. */
	if (timeout_ms > 0 && poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms) < 0)
		return -errno;
	m = ring_buffer__consume(s->rb);
	return m;
}

void pyh_sampler_counters(struct pyh_sampler *s, uint64_t out[PYH_CNT_MAX])
{
	int n = s->ncpus_possible, fd = s->fd_stats;
	uint64_t *vals;
	__u32 i;

	memset(out, 0, sizeof(uint64_t) * PYH_CNT_MAX);
	if (fd < 0)		/* a pinned per-thread sampler's: it counts nothing */
		return;
	vals = calloc((size_t)(n > 0 ? n : 1), sizeof(*vals));
	if (!vals)
		return;
	for (i = 0; i < PYH_CNT_MAX; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < n; c++)
			out[i] += vals[c];
	}
	free(vals);
}

int pyh_sampler_ncpus(const struct pyh_sampler *s)
{
	return s->ncpus_attached;
}

int pyh_sampler_uses_bpf_loop(const struct pyh_sampler *s)
{
	return s->bpf_loop;
}

int pyh_sampler_arm_thread(struct pyh_sampler *s, pid_t pid, pid_t tid, uint64_t tstate,
			   uint64_t period_ns)
{
	__u64 key = (__u64)(__u32)pid << 32 | (__u32)tid;
	struct pyh_tstate_entry ts = { .tstate = tstate };
	struct pyh_armed *grown;
	int fd, e;

	if (!s->per_thread || !tstate)
		return -EINVAL;
	for (int i = 0; i < s->narmed; i++)
		if (s->armed[i].tid == tid)
			return bpf_map_update_elem(s->fd_tstates, &key, &ts,
						   BPF_ANY) ? -errno : 0;
	if (s->narmed >= PYH_SAMPLER_MAX_ARMED)
		return -E2BIG;
	grown = realloc(s->armed, (size_t)(s->narmed + 1) * sizeof(*s->armed));
	if (!grown)
		return -ENOMEM;
	s->armed = grown;
	if (bpf_map_update_elem(s->fd_tstates, &key, &ts, BPF_ANY))
		return -errno;
	fd = pyh_perf_open_thread(tid, period_ns);
	if (fd < 0) {
		e = errno == ESRCH ? -ESRCH : -errno;
		bpf_map_delete_elem(s->fd_tstates, &key);
		return e;
	}
	/* What libbpf does without BPF links; closing fd detaches. */
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, s->prog_fd) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		e = -errno;
		close(fd);
		bpf_map_delete_elem(s->fd_tstates, &key);
		return e;
	}
	s->armed[s->narmed++] = (struct pyh_armed){ .tid = tid, .key = key, .pfd = fd };
	return 0;
}

void pyh_sampler_disarm_thread(struct pyh_sampler *s, pid_t tid)
{
	for (int i = 0; i < s->narmed; i++) {
		if (s->armed[i].tid != tid)
			continue;
		close(s->armed[i].pfd);	/* detaches the program */
		/* the cache then holds armed threads only: an LRU map that never
		 * fills evicts none of them */
		bpf_map_delete_elem(s->fd_tstates, &s->armed[i].key);
		s->armed[i] = s->armed[--s->narmed];
		return;
	}
}

void pyh_sampler_free(struct pyh_sampler *s)
{
	if (!s)
		return;
	while (s->narmed > 0)
		pyh_sampler_disarm_thread(s, s->armed[0].tid);
	free(s->armed);
	ring_buffer__free(s->rb);
	for (int i = 0; s->links && i < s->ncpus_possible; i++)
		bpf_link__destroy(s->links[i]);
	for (int i = 0; s->pfds && i < s->ncpus_possible; i++)
		if (s->pfds[i] >= 0)
			close(s->pfds[i]);
	free(s->links);
	free(s->pfds);
	if (s->warm) {
		int fds[] = { s->prog_fd, s->fd_samples, s->fd_targets, s->fd_bits, s->fd_tstates };

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	sampler_bpf__destroy(s->skel);
	pyh_bpfpin_release(&s->pin);	/* last: nothing of s uses its maps now */
	free(s);
}

const char *pyh_sampler_native_missing(const struct pyh_sampler *s)
{
	return s->native_missing[0] ? s->native_missing : NULL;
}
