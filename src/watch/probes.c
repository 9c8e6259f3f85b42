/* The hang detector's BPF side: lifecycle open -> configure -> load -> attach,
 * then uprobes per interpreter and reads of the maps. */
#include "watch/probes.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "elf/elfsym.h"
#include "kernel/bpf_features.h"
#include "kernel/corebtf.h"
#include "log/log.h"
#include "proc/guard.h"
#include "proc/maps.h"
#include "proc/procfs.h"
#include "proc/rootfs.h"
#include "python/target.h"
#include "watch.skel.h"

#define PYH_PROBES_FORGET_BATCH 256	/* keys deleted per pass over a map */

struct pyh_probe_bin {
	dev_t dev;
	ino_t ino;
	struct pyh_probe_set set;
	int used;		/* the slot holds a binary */
	int users;		/* watched processes given this set (pyh_probes_binary_put) */
	uint64_t idle_ns;	/* when users last fell to 0 */
};

struct pyh_probes {
	struct watch_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *sys_links[2];
	struct pyh_probes_opts o;
	struct pyh_proctrack *pt;
	pyh_returned_cb cb;
	void *arg;
	struct pyh_probe_bin bins[PYH_PROBES_MAX_BINS];	/* --all: probes per interpreter binary */
	int nbins;
	uint64_t *cpuvals;		/* per-CPU counter values, ncpus */
	int ncpus;
};

static int pyh_probes_ring_cb(void *ctx, void *data, size_t len)
{
	struct pyh_probes *pb = ctx;
	const struct pyh_watch_event *ev = data;

	if (len >= sizeof(*ev) && ev->kind == PYH_WATCH_EV_RETURNED && pb->cb)
		pb->cb(ev, pb->arg);
	return 0;
}

static void pyh_probes_unload(struct pyh_probes *pb)
{
	bpf_link__destroy(pb->sys_links[0]);
	bpf_link__destroy(pb->sys_links[1]);
	pb->sys_links[0] = pb->sys_links[1] = NULL;
	watch_bpf__destroy(pb->skel);
	pb->skel = NULL;
}

/* One attempt at loading with the chosen pair of programs: syscalls (sys_enter
 * + sys_exit) or sched_switch, each as tp_btf (btf = 1) or as a classic
 * tracepoint. Returns 0 or -errno with err filled; pb->skel NULL on failure. */
static int pyh_probes_load(struct pyh_probes *pb, int btf, char *err, size_t errsz)
{
	struct bpf_program *progs[6];
	int rc, want_a, want_b;

	{
		LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = pyh_corebtf_path(PYH_COREBTF_WATCH));

		pb->skel = watch_bpf__open_opts(&oo);
	}
	if (!pb->skel) {
		rc = -errno;
		snprintf(err, errsz, "opening the BPF program failed: %s", strerror(-rc));
		return rc ? rc : -EINVAL;
	}
	rc = pyh_proctrack_share(pb->pt, pb->skel->obj, err, errsz);
	if (rc)
		goto fail;
	progs[0] = pb->skel->progs.pyh_enter_btf;
	progs[1] = pb->skel->progs.pyh_exit_btf;
	progs[2] = pb->skel->progs.pyh_enter_tp;
	progs[3] = pb->skel->progs.pyh_exit_tp;
	progs[4] = pb->skel->progs.pyh_switch_btf;
	progs[5] = pb->skel->progs.pyh_switch_tp;
	if (pb->o.trace_syscalls) {
		want_a = btf ? 0 : 2;
		want_b = want_a + 1;
	} else {
		want_a = want_b = btf ? 4 : 5;
	}
	for (int i = 0; i < 6; i++)
		bpf_program__set_autoload(progs[i], i == want_a || i == want_b);
	pb->skel->rodata->min_report_ns = pb->o.min_report_ns;
	rc = watch_bpf__load(pb->skel);
	if (rc) {
		snprintf(err, errsz, "loading the BPF program failed: %s (root needed; -v shows the verifier log)",
			 strerror(-rc));
		goto fail;
	}
	pb->sys_links[0] = bpf_program__attach(progs[want_a]);
	pb->sys_links[1] = want_b != want_a ? bpf_program__attach(progs[want_b]) : NULL;
	if (!pb->sys_links[0] || (want_b != want_a && !pb->sys_links[1])) {
		rc = -errno;
		snprintf(err, errsz, "attaching to the %s tracepoint failed: %s",
			 pb->o.trace_syscalls ? "raw_syscalls" : "sched_switch", strerror(-rc));
		rc = rc ? rc : -EINVAL;
		goto fail;
	}
	return 0;
fail:
	pyh_probes_unload(pb);
	return rc;
}

int pyh_probes_open(const struct pyh_probes_opts *o, struct pyh_proctrack *pt, pyh_returned_cb cb,
		    void *arg, struct pyh_probes **out, char *err, size_t errsz)
{
	struct pyh_probes *pb = NULL;
	int rc, btf;

	pb = calloc(1, sizeof(*pb));
	if (!pb) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	pb->o = *o;
	pb->pt = pt;
	pb->cb = cb;
	pb->arg = arg;
	pb->ncpus = libbpf_num_possible_cpus();
	pb->cpuvals = pb->ncpus > 0 ? calloc((size_t)pb->ncpus, sizeof(*pb->cpuvals)) : NULL;
	/* Probe features, not kernel versions: tp_btf when the kernel can attach it. */
	if (o->trace_syscalls)
		btf = pyh_bpf_has_tp_btf("sys_enter") && pyh_bpf_has_tp_btf("sys_exit");
	else
		btf = pyh_bpf_has_tp_btf("sched_switch");
	rc = pyh_probes_load(pb, btf, err, errsz);
	if (rc && btf)
		rc = pyh_probes_load(pb, 0, err, errsz);
	if (rc)
		goto fail;
	pb->rb = ring_buffer__new(bpf_map__fd(pb->skel->maps.events), pyh_probes_ring_cb, pb, NULL);
	if (!pb->rb) {
		rc = -errno;
		snprintf(err, errsz, "opening the BPF ring buffer failed: %s", strerror(-rc));
		rc = rc ? rc : -EINVAL;
		goto fail;
	}
	rc = pyh_proctrack_add_ring(pt, pb->rb);
	if (rc) {
		snprintf(err, errsz, "polling the process tracker's ring buffer failed: %s", strerror(-rc));
		goto fail;
	}
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: waits recorded with %s %s\n", btf ? "tp_btf" : "tracepoint",
			o->trace_syscalls ? "raw_syscalls sys_enter/sys_exit" : "sched_switch");
	*out = pb;
	return 0;
fail:
	pyh_probes_free(pb);
	return rc;
}

int pyh_probes_poll(struct pyh_probes *pb, int timeout_ms)
{
	return ring_buffer__poll(pb->rb, timeout_ms);
}

void pyh_probes_free(struct pyh_probes *pb)
{
	if (!pb)
		return;
	ring_buffer__free(pb->rb);
	for (int i = 0; i < pb->nbins; i++)
		pyh_probe_set_detach(&pb->bins[i].set);
	pyh_probes_unload(pb);
	free(pb->cpuvals);
	free(pb);
}

/* ---- uprobes on interpreters -------------------------------------------- */

/* The interpreter file of a watched process, opened once and checked to be
 * the mapped one (proc/maps.h: pyh_pybinary_open): uprobes go on
 * "/proc/self/fd/N", that very inode, at offsets resolved here, so neither
 * libbpf nor the kernel resolves a path a target controls, and libbpf never
 * parses the file. */
struct pyh_ibin {
	int fd;
	char path[32];			/* "/proc/self/fd/N" */
	struct pyh_elf *elf;		/* NULL until pyh_ibin_parse */
	struct stat st;
	const char *served;		/* parsed: the file system its pages come from when a
					 * server may stop answering (pyh_rootfs_served_fs) */
};

/* Open t's interpreter file. Returns 0 or -errno (b->fd -1). */
static int pyh_ibin_open(const struct pyh_target *t, struct pyh_ibin *b)
{
	int fd = pyh_pybinary_open(t->pid, &t->bin);

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if (fd < 0)
		return fd;
	if (fstat(fd, &b->st)) {
		int e = -errno;

		close(fd);
		return e;
	}
	b->fd = fd;
	snprintf(b->path, sizeof(b->path), "/proc/self/fd/%d", fd);
	return 0;
}

/* Its symbols (read with pread from a descriptor of its own). 0 or -errno. */
static int pyh_ibin_parse(struct pyh_ibin *b)
{
	int efd = dup(b->fd);

	if (efd < 0)
		return -errno;
	return pyh_elf_open_fd(efd, &b->elf) ? -EINVAL : 0;
}

static void pyh_ibin_close(struct pyh_ibin *b)
{
	pyh_elf_close(b->elf);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->elf = NULL;
}

/* Every function a uprobe may go on (pyh_attach_ibin). */
static const char *const pyh_probed[] = {
	"lock_PyThread_acquire_lock", "rlock_acquire", "_PyMutex_LockTimed", "_PyMutex_TryUnlock",
	"_PyRecursiveMutex_TryUnlock", "PyThread_acquire_lock_timed", "PyThread_acquire_lock",
	"PyThread_release_lock", "PyEval_RestoreThread", "take_gil", NULL
};

/* Opening the interpreter file, reading its symbols, and the pages the
 * uprobes go on (the kernel reads the instruction there when it attaches
 * one: read here first, those pages are then in the page cache) all read a
 * file the target may serve (FUSE) and stall: done as a job with a deadline
 * (proc/guard.h). The job owns its copy of t and b until it returns in time.
 *
 * The attach itself cannot be guarded so. Registering a uprobe
 * (perf_event_open of a uprobe event, bpf_link_create) installs it in every
 * process mapping the file, holding the host-wide dup_mmap_sem for writing
 * and each such process's mmap lock: reading the instruction (the page
 * cache, else the file) and writing the breakpoint (faulting the page in).
 * The page read first may be gone by then: memory pressure, or a FUSE
 * server dropping it on purpose (FUSE_NOTIFY_INVAL_INODE), after which it
 * stalls. Then the registration blocks in the kernel with that lock held:
 * every fork() on the host and every other uprobe attach or detach (ours on
 * the main loop too) waits for it, so a worker thread with a deadline would
 * leak a thread and still hang the host's forks. A file on a local file
 * system is read again and the attach ends; a file whose pages come from a
 * server that may stop answering (FUSE, NFS, SMB, ...: pyh_rootfs_served_fs)
 * gets no uprobes at all, said once: lock holders and GIL waits of its
 * processes are not seen (their hangs are reported from what the threads
 * block in, as for any process without uprobes). */
#define PYH_PROBES_OPEN_DEADLINE_MS 1000

struct pyh_ibin_job {
	struct pyh_target t;
	struct pyh_ibin b;
	int parse;
};

static int pyh_ibin_job_run(void *arg)
{
	struct pyh_ibin_job *j = arg;
	int e = pyh_ibin_open(&j->t, &j->b);

	if (e || !j->parse)
		return e;
	if ((e = pyh_ibin_parse(&j->b)))
		return e;
	if ((j->b.served = pyh_rootfs_served_fs(j->b.fd)))
		return 0;	/* no uprobes: its pages need not be read */
	for (const char *const *f = pyh_probed; *f; f++) {
		uint64_t v, off;
		char c;

		if (!pyh_elf_symbol(j->b.elf, *f, &v, NULL) && !pyh_elf_file_offset(j->b.elf, v, &off))
			(void)!pread(j->b.fd, &c, 1, (off_t)off);
	}
	return 0;
}

static void pyh_ibin_job_free(void *arg)
{
	struct pyh_ibin_job *j = arg;

	pyh_ibin_close(&j->b);
	free(j);
}

/* Close b with a deadline too: closing a file of a FUSE mount asks its
 * server (FLUSH), which may not answer. b is closed (or left to a job, or
 * leaked when none can run: never waited for) and reset. */
static void pyh_ibin_close_guarded(struct pyh_ibin *b)
{
	struct pyh_ibin_job *j;

	if (b->fd < 0 && !b->elf)
		return;
	j = calloc(1, sizeof(*j));
	if (j) {
		j->b = *b;
		if (pyh_guard_release(pyh_ibin_job_free, j, PYH_PROBES_OPEN_DEADLINE_MS) == -ETIMEDOUT)
			pyh_log_error("closing the interpreter file %s did not finish in time", b->path);
	}
	b->fd = -1;
	b->elf = NULL;
}

/* pyh_ibin_open (and pyh_ibin_parse when parse) of t's interpreter, with a
 * deadline. Returns 0 (b filled: the caller's to close) or -errno (b->fd -1):
 * -ETIMEDOUT when the file did not answer in time (said on stderr). */
static int pyh_ibin_open_guarded(const struct pyh_target *t, struct pyh_ibin *b, int parse)
{
	struct pyh_ibin_job *j = calloc(1, sizeof(*j));
	int rc, result = 0;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if (!j)
		return -ENOMEM;
	j->t = *t;
	j->b.fd = -1;
	j->parse = parse;
	rc = pyh_guard_run(pyh_ibin_job_run, j, pyh_ibin_job_free, PYH_PROBES_OPEN_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT) {
		pyh_log_error("process %d: its interpreter file did not answer in time: no uprobes in it, "
			      "its asyncio tasks not read", (int)t->pid);
		return rc;	/* j is the job's now */
	}
	if (!rc && !result) {
		*b = j->b;
		j->b.fd = -1;
		j->b.elf = NULL;
	}
	pyh_ibin_job_free(j);
	return rc ? rc : result;
}

/* One uprobe on func of the interpreter b, for process pid (-1: every
 * process that maps it), into set. */
static void pyh_attach_one(struct pyh_probe_set *set, pid_t pid, const struct pyh_ibin *b,
			   struct bpf_program *prog, int ret, const char *func)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret);
	struct bpf_link *l;
	uint64_t v, off;

	if (set->n >= PYH_PROBES_MAX_LINKS)
		return;
	if (pyh_elf_symbol(b->elf, func, &v, NULL) || pyh_elf_file_offset(b->elf, v, &off)) {
		if (pyh_log_verbosity())
			pyh_log_error("uprobe on %s: no such function", func);
		return;
	}
	l = bpf_program__attach_uprobe_opts(prog, pid, b->path, (size_t)off, &uo);
	if (!l) {
		int e = errno;

		if (pyh_log_verbosity())
			pyh_log_error("uprobe on %s: %s", func, strerror(e));
		return;
	}
	set->links[set->n++] = l;
}

/* 1 when every name is a symbol of elf. */
static int pyh_has_symbols(struct pyh_elf *elf, const char *const *names)
{
	uint64_t v, sz;

	for (; *names; names++)
		if (!elf || pyh_elf_symbol(elf, *names, &v, &sz))
			return 0;
	return 1;
}

static void pyh_attach_ibin(struct pyh_probes *pb, pid_t pid, const struct pyh_ibin *b,
			    struct pyh_probe_set *set)
{
	static const char *const timed[] = { "PyThread_acquire_lock_timed", NULL };
	static const char *const take_gil[] = { "take_gil", NULL };
	/* 3.14's PyMutex locks (watch.bpf.c, "lock holders") */
	static const char *const mutex[] = { "lock_PyThread_acquire_lock", "rlock_acquire", "_PyMutex_LockTimed",
					     "_PyMutex_TryUnlock", "_PyRecursiveMutex_TryUnlock", NULL };
	int have_timed, have_take_gil, have_mutex, before = set->n;
	const char *acq;

	if (b->served)
		return;		/* attaching could hang the host's forks: see pyh_ibin_job_run */
	have_timed = pyh_has_symbols(b->elf, timed);
	have_take_gil = pyh_has_symbols(b->elf, take_gil);
	have_mutex = pyh_has_symbols(b->elf, mutex);
	if (have_mutex) {
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_pylock_enter, 0, "lock_PyThread_acquire_lock");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_pylock_leave, 1, "lock_PyThread_acquire_lock");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_pylock_enter, 0, "rlock_acquire");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_pylock_leave, 1, "rlock_acquire");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_mutex_lock, 0, "_PyMutex_LockTimed");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_mutex_lock_ret, 1, "_PyMutex_LockTimed");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_lock_release, 0, "_PyMutex_TryUnlock");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_rmutex_unlock, 0, "_PyRecursiveMutex_TryUnlock");
		set->lock_probes = set->n - before == 8;
	} else if (have_timed) {
		/* PyThread_acquire_lock_timed(lock, microseconds, intr_flag), 3.2 - 3.13.
		 * Not on 2.7 (no _timed variant): its GIL is a PyThread lock too, taken
		 * and dropped every 100 bytecodes of a busy thread while another exists,
		 * and a uprobe pair there ran such a loop 5 times slower. 2.7's
		 * deadlocks are inferred from the stacks ("possible"). */
		acq = "PyThread_acquire_lock_timed";
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_lock_acquire, 0, acq);
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_lock_acquire_ret, 1, acq);
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_lock_release, 0, "PyThread_release_lock");
		set->lock_probes = set->n - before == 3;
	}
	if (!pb->o.no_gil) {
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_gil_wait, 0, "PyEval_RestoreThread");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_gil_got, 1, "PyEval_RestoreThread");
	}
	if (have_take_gil && !pb->o.no_gil) {
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_gil_wait, 0, "take_gil");
		pyh_attach_one(set, pid, b, pb->skel->progs.pyh_gil_got, 1, "take_gil");
	}
}

/* Said once per interpreter file (with --all its processes share it). */
static void pyh_served_said(const struct pyh_target *t, const char *fs)
{
	pyh_log_error("process %d: its interpreter file is on a %s file system, whose server may stop "
		      "answering: no uprobes in it (registering one would wait for it, holding a lock "
		      "every fork() on the host needs): lock holders and GIL waits not seen",
		      (int)t->pid, fs);
}

int pyh_probes_attach_interp(struct pyh_probes *pb, pid_t pid, const struct pyh_target *t,
			     struct pyh_probe_set *set)
{
	struct pyh_ibin b;
	int e = pyh_ibin_open_guarded(t, &b, 1);

	if (e == -ETIMEDOUT)
		return e;
	if (e) {
		if (pyh_log_verbosity())
			pyh_log_error("no uprobes in process %d: its interpreter file: %s", (int)t->pid,
				      strerror(-e));
	} else {
		if (b.served)
			pyh_served_said(t, b.served);
		pyh_attach_ibin(pb, pid, &b, set);
	}
	pyh_ibin_close_guarded(&b);	/* the probes hold the inode */
	return 0;
}

void pyh_probe_set_detach(struct pyh_probe_set *set)
{
	for (int i = 0; i < set->n; i++)
		bpf_link__destroy(set->links[i]);
	set->n = 0;
	set->lock_probes = 0;
}

/* A slot for a new binary: a free one, else the one idle longest (its probes
 * go), else NULL. */
static struct pyh_probe_bin *pyh_bin_slot(struct pyh_probes *pb)
{
	struct pyh_probe_bin *idle = NULL;

	for (int i = 0; i < pb->nbins; i++) {
		struct pyh_probe_bin *b = &pb->bins[i];

		if (!b->used)
			return b;
		if (!b->users && (!idle || b->idle_ns < idle->idle_ns))
			idle = b;
	}
	if (pb->nbins < PYH_PROBES_MAX_BINS)
		return &pb->bins[pb->nbins++];
	if (idle)
		pyh_probe_set_detach(&idle->set);
	return idle;
}

const struct pyh_probe_set *pyh_probes_binary(struct pyh_probes *pb, const struct pyh_target *t, int *stalled)
{
	struct pyh_probe_bin *b = NULL;
	struct pyh_ibin ib;
	int e;

	*stalled = 0;
	if ((e = pyh_ibin_open_guarded(t, &ib, 0))) {
		*stalled = e == -ETIMEDOUT;
		return NULL;
	}
	for (int i = 0; i < pb->nbins && !b; i++)
		if (pb->bins[i].used && pb->bins[i].dev == ib.st.st_dev && pb->bins[i].ino == ib.st.st_ino)
			b = &pb->bins[i];
	if (!b && (b = pyh_bin_slot(pb))) {
		/* a new binary: its symbols and probed pages, read with a deadline too */
		pyh_ibin_close_guarded(&ib);
		if ((e = pyh_ibin_open_guarded(t, &ib, 1))) {
			*stalled = e == -ETIMEDOUT;
			memset(b, 0, sizeof(*b));	/* the slot stays free */
			return NULL;
		}
		memset(b, 0, sizeof(*b));
		b->dev = ib.st.st_dev;
		b->ino = ib.st.st_ino;
		b->used = 1;
		if (ib.served)
			pyh_served_said(t, ib.served);	/* the next processes of this file get the empty set */
		pyh_attach_ibin(pb, -1, &ib, &b->set);
	}
	pyh_ibin_close_guarded(&ib);
	if (b)
		b->users++;
	return b ? &b->set : NULL;
}

void pyh_probes_binary_put(struct pyh_probes *pb, const struct pyh_probe_set *set, uint64_t now_ns)
{
	for (int i = 0; i < pb->nbins; i++) {
		struct pyh_probe_bin *b = &pb->bins[i];

		if (b->used && &b->set == set && b->users > 0 && --b->users == 0)
			b->idle_ns = now_ns;
	}
}

void pyh_probes_idle(struct pyh_probes *pb, uint64_t now_ns)
{
	for (int i = 0; i < pb->nbins; i++) {
		struct pyh_probe_bin *b = &pb->bins[i];

		if (b->used && !b->users && now_ns - b->idle_ns >= PYH_PROBES_BIN_IDLE_NS) {
			pyh_probe_set_detach(&b->set);
			memset(b, 0, sizeof(*b));
		}
	}
}

/* ---- the maps ------------------------------------------------------------ */

/* Every entry of the tid-keyed map fd, at most max, into records of recsz
 * bytes: the tid first, the value at voff. Returns how many. */
static int pyh_read_tid_map(int fd, void *out, size_t recsz, size_t voff, int max)
{
	uint32_t key, next, *prev = NULL;
	int n = 0, guard = 0;

	while (n < max && guard++ < PYH_WATCH_MAX_TIDS && !bpf_map_get_next_key(fd, prev, &next)) {
		char *rec = (char *)out + (size_t)n * recsz;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, rec + voff))
			continue;
		memcpy(rec, &key, sizeof(key));
		n++;
	}
	return n;
}

int pyh_probes_read_calls(struct pyh_probes *pb, struct pyh_wcall *out, int max)
{
	_Static_assert(offsetof(struct pyh_wcall, tid) == 0, "tid first");
	return pyh_read_tid_map(bpf_map__fd(pb->skel->maps.inflight), out, sizeof(*out),
				offsetof(struct pyh_wcall, c), max);
}

int pyh_probes_read_gil(struct pyh_probes *pb, struct pyh_wgil *out, int max)
{
	_Static_assert(offsetof(struct pyh_wgil, tid) == 0, "tid first");
	return pyh_read_tid_map(bpf_map__fd(pb->skel->maps.gilwait), out, sizeof(*out),
				offsetof(struct pyh_wgil, g), max);
}

int pyh_probes_holder(void *arg, uint32_t tgid, pid_t waiter, uint64_t futex, uint64_t *lock, pid_t *tid)
{
	struct pyh_probes *pb = arg;
	struct pyh_watch_lock_key k = { .tgid = tgid };
	struct pyh_watch_holder h;
	uint32_t key = (uint32_t)waiter;
	uint64_t l;

	if (bpf_map_lookup_elem(bpf_map__fd(pb->skel->maps.lockacq), &key, &l))
		l = futex;
	k.lock = l;
	if (bpf_map_lookup_elem(bpf_map__fd(pb->skel->maps.holders), &k, &h) || h.tgid != tgid)
		return -ENOENT;
	*lock = l;
	*tid = (pid_t)h.tid;
	return 0;
}

void pyh_probes_seed_call(struct pyh_probes *pb, uint32_t tid, const struct pyh_watch_call *c)
{
	bpf_map_update_elem(bpf_map__fd(pb->skel->maps.inflight), &tid, c, BPF_NOEXIST);
}

void pyh_probes_forget_thread(struct pyh_probes *pb, uint32_t tgid, uint32_t tid, uint64_t ktime_ns)
{
	int ifd = bpf_map__fd(pb->skel->maps.inflight), gfd = bpf_map__fd(pb->skel->maps.gilwait);
	struct pyh_watch_call c;
	struct pyh_watch_gilwait g;

	if (!bpf_map_lookup_elem(ifd, &tid, &c) && c.tgid == tgid && c.start_ns <= ktime_ns)
		bpf_map_delete_elem(ifd, &tid);
	if (!bpf_map_lookup_elem(gfd, &tid, &g) && g.tgid == tgid && g.start_ns <= ktime_ns)
		bpf_map_delete_elem(gfd, &tid);
	bpf_map_delete_elem(bpf_map__fd(pb->skel->maps.lockacq), &tid);
}

/* The locks held by the processes keep() says no to. Keys are gathered a
 * batch at a time and deleted after each pass: deleting under
 * bpf_map_get_next_key would restart its walk. */
static void pyh_forget_holders(struct pyh_probes *pb, int (*keep)(uint32_t tgid, void *arg), void *arg)
{
	int fd = bpf_map__fd(pb->skel->maps.holders), guard = 0, n;
	struct pyh_watch_lock_key key, next, *prev, dead[PYH_PROBES_FORGET_BATCH];

	do {
		n = 0;
		prev = NULL;
		while (n < PYH_PROBES_FORGET_BATCH && guard++ < PYH_WATCH_MAX_LOCKS &&
		       !bpf_map_get_next_key(fd, prev, &next)) {
			key = next;
			prev = &key;
			if (!keep(key.tgid, arg))
				dead[n++] = key;
		}
		for (int i = 0; i < n; i++)
			bpf_map_delete_elem(fd, &dead[i]);
	} while (n == PYH_PROBES_FORGET_BATCH);
}

static int pyh_not_tgid(uint32_t tgid, void *arg)
{
	return tgid != *(const uint32_t *)arg;
}

static int pyh_tgid_alive(uint32_t tgid, void *arg)
{
	(void)arg;
	return pyh_proc_exists((pid_t)tgid, 0);
}

void pyh_probes_forget_process(struct pyh_probes *pb, uint32_t tgid, const struct pyh_wcall *calls,
			       int ncalls, const struct pyh_wgil *gil, int ngil)
{
	for (int i = 0; i < ncalls; i++)
		if (calls[i].c.tgid == tgid)
			bpf_map_delete_elem(bpf_map__fd(pb->skel->maps.inflight), &calls[i].tid);
	for (int i = 0; i < ngil; i++)
		if (gil[i].g.tgid == tgid)
			bpf_map_delete_elem(bpf_map__fd(pb->skel->maps.gilwait), &gil[i].tid);
	pyh_forget_holders(pb, pyh_not_tgid, &tgid);
}

void pyh_probes_prune(struct pyh_probes *pb, const struct pyh_wcall *calls, int ncalls,
		      const struct pyh_wgil *gil, int ngil)
{
	for (int i = 0; i < ncalls; i++)
		if (!pyh_proc_exists((pid_t)calls[i].c.tgid, (pid_t)calls[i].tid))
			bpf_map_delete_elem(bpf_map__fd(pb->skel->maps.inflight), &calls[i].tid);
	/* a thread that died waiting for the GIL never ran its uretprobe */
	for (int i = 0; i < ngil; i++)
		if (!pyh_proc_exists((pid_t)gil[i].g.tgid, (pid_t)gil[i].tid))
			bpf_map_delete_elem(bpf_map__fd(pb->skel->maps.gilwait), &gil[i].tid);
	/* locks of processes that ended without their exit event being seen */
	pyh_forget_holders(pb, pyh_tgid_alive, NULL);
}

uint64_t pyh_probes_counter(struct pyh_probes *pb, uint32_t idx)
{
	uint64_t sum = 0;

	if (!pb->cpuvals || bpf_map_lookup_elem(bpf_map__fd(pb->skel->maps.stats), &idx, pb->cpuvals))
		return 0;
	for (int c = 0; c < pb->ncpus; c++)
		sum += pb->cpuvals[c];
	return sum;
}
