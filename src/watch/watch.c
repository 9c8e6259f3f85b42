/* The hang detector's user side: lifecycle open -> configure -> load -> attach,
 * then a scan every PYH_WATCH_TICK_MS over what BPF recorded. */
#include "watch/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "host/host.h"
#include "host/proctrack.h"
#include "kernel/bpf_features.h"
#include "kernel/corebtf.h"
#include "kernel/syscalls.h"
#include "kernel/task.h"
#include "log/log.h"
#include "output/source.h"
#include "proc/procfs.h"
#include "pyhang/watch.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "python/threads.h"
#include "watch/metrics.h"
#include "watch.skel.h"

#define PYH_WATCH_TICK_MS 200
#define PYH_WATCH_TRACK_MS 20		/* --all: the tracker's retries and events, this often */
#define PYH_WATCH_THR_SLOTS 16384	/* per process; power of two, > 2 * PYH_MAX_THREADS */
#define PYH_WATCH_SPIN_PER_SCAN 512	/* threads whose CPU time one scan reads, per process */
#define PYH_WATCH_STACK_FRAMES 256	/* frames kept per thread in an event */
#define PYH_WATCH_MAX_LINKS 8
#define PYH_WATCH_CHAIN_MAX 16
#define PYH_NR_FUTEX 202

enum { PYH_BLK_NONE, PYH_BLK_REPORTED, PYH_BLK_IGNORED, PYH_BLK_DEADLOCK, PYH_BLK_SKIPPED };

struct pyh_wthr {
	pid_t tid;			/* 0: free slot */
	uint64_t blk_start;		/* start_ns of the call last looked at */
	int blk_state;
	int blk_acquire;		/* that call is a futex wait in a lock acquire */
	uint64_t blk_lock;
	uint64_t gil_start;		/* GIL wait already reported */
	uint64_t cpu_ns;		/* schedstat run time at cpu_t */
	uint64_t cpu_t;
	uint64_t spin_sig;
	uint64_t spin_since;		/* 0: not spinning */
	int spin_reported;
};

struct pyh_wproc {
	pid_t pid;
	uint64_t start_time;
	struct pyh_target t;
	struct pyh_codecache *cache;
	struct pyh_source *src;
	char cmdline[256];
	char version[32];
	struct pyh_host_proc hp;	/* what /proc said when attached */
	char label[256];
	uint32_t gen;			/* exec generation when attached */
	int stale;			/* exec'd: to be dropped, never read again */
	int exited;			/* its exit event came */
	int gil_hung, spin_hung;	/* threads hung that way in this scan (metrics) */
	struct bpf_link *links[PYH_WATCH_MAX_LINKS];
	int nlinks;
	int lock_probes;		/* lock holders are tracked */
	struct pyh_pythread *py;
	int npy;
	uint64_t gil_tstate;
	int py_fresh;			/* py read in this scan */
	struct pyh_wthr *thr;		/* PYH_WATCH_THR_SLOTS */
	int nthr;
	pid_t *tids;
	int spin_cursor;
	int stuck_reported;
	int possible_reported;
};

#define PYH_WATCH_MAX_BINS 64

struct pyh_wbin {
	dev_t dev;
	ino_t ino;
	struct bpf_link *links[PYH_WATCH_MAX_LINKS];
	int nlinks;
	int lock_probes;
};

struct pyh_inflight {
	uint32_t tid;
	struct pyh_watch_call c;
};

struct pyh_watcher {
	const struct pyh_watch_opts *o;
	struct watch_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *sys_links[2];
	struct pyh_proctrack *pt;	/* exec generations, process events; its `tracked` is `watched` */
	struct pyh_wbin bins[PYH_WATCH_MAX_BINS];	/* --all: probes per interpreter binary */
	int nbins;
	struct pyh_wproc *procs[PYH_WATCH_MAX_PROCS];
	int nprocs;
	uint64_t threshold_ns;
	struct pyh_inflight *infl;	/* snapshot of the inflight map, this scan */
	int ninfl;
	struct pyh_raw_frame *raw;
	uint64_t *raw_addrs;
	int hangs;
	int stop;
	int exit_code;
	int pid_gone;
	int pid_execd;
	struct pyh_host_tracker *tr;	/* --all */
	struct pyh_metrics *metrics;	/* --metrics */
	struct pyh_metrics_snapshot *snap;
	uint64_t nevents[PYH_MK_COUNT];	/* events reported, by kind */
	uint64_t samples;		/* Python stacks read */
	uint64_t rescans;
	uint64_t watched_total;		/* processes ever attached */
	uint64_t *cpuvals;		/* per-CPU counter values, ncpus */
	int ncpus;
};

static volatile sig_atomic_t pyh_watch_interrupted;
static volatile sig_atomic_t pyh_watch_hup;

static void pyh_watch_sig(int sig)
{
	if (sig == SIGHUP)
		pyh_watch_hup = 1;
	else
		pyh_watch_interrupted = sig;
}

static uint64_t pyh_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double pyh_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The slot of tid in p's open-addressing table: its entry, or the free slot
 * where it would go; NULL when the table is full of others. */
static struct pyh_wthr *pyh_thr_slot(struct pyh_wproc *p, pid_t tid)
{
	uint32_t h = ((uint32_t)tid * 2654435761u) & (PYH_WATCH_THR_SLOTS - 1);

	for (int i = 0; i < PYH_WATCH_THR_SLOTS; i++) {
		struct pyh_wthr *t = &p->thr[(h + (uint32_t)i) & (PYH_WATCH_THR_SLOTS - 1)];

		if (t->tid == tid || !t->tid)
			return t;
	}
	return NULL;
}

/* A thread's state, without adding it; NULL when not known. */
static struct pyh_wthr *pyh_thr_find(struct pyh_wproc *p, pid_t tid)
{
	struct pyh_wthr *t = pyh_thr_slot(p, tid);

	return t && t->tid == tid ? t : NULL;
}

/* A thread's state, added when new; NULL past the bound on tracked threads. */
static struct pyh_wthr *pyh_thr_get(struct pyh_wproc *p, pid_t tid)
{
	struct pyh_wthr *t = pyh_thr_slot(p, tid);

	if (!t || t->tid == tid)
		return t;
	if (p->nthr >= PYH_WATCH_THR_SLOTS / 2)
		return NULL;	/* bounded: more threads than we track */
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	p->nthr++;
	return t;
}

/* The lock holders of process tgid, which exited or exec'd: its locks are
 * gone, and their addresses may be another program's. Deleted here, from the
 * user side (the BPF side never sees a lock's owner die). */
static void pyh_forget_holders(struct pyh_watcher *w, uint32_t tgid)
{
	int fd = bpf_map__fd(w->skel->maps.holders), guard = 0, n;
	uint64_t key, next, *prev, dead[256];

	do {
		n = 0;
		prev = NULL;
		while (n < 256 && guard++ < PYH_WATCH_MAX_LOCKS && !bpf_map_get_next_key(fd, prev, &next)) {
			struct pyh_watch_holder h;

			key = next;
			prev = &key;
			if (!bpf_map_lookup_elem(fd, &key, &h) && h.tgid == tgid)
				dead[n++] = key;
		}
		for (int i = 0; i < n; i++)
			bpf_map_delete_elem(fd, &dead[i]);
	} while (n == 256);
}

static void pyh_proc_free(struct pyh_watcher *w, struct pyh_wproc *p)
{
	uint32_t tgid;

	if (!p)
		return;
	for (int i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	if (w && w->skel) {
		tgid = (uint32_t)p->pid;
		pyh_proctrack_unfollow(w->pt, p->pid);
		for (int i = 0; i < w->ninfl; i++)
			if (w->infl[i].c.tgid == tgid)
				bpf_map_delete_elem(bpf_map__fd(w->skel->maps.inflight), &w->infl[i].tid);
		pyh_forget_holders(w, tgid);
	}
	pyh_codecache_free(p->cache);
	pyh_source_free(p->src);
	free(p->py);
	free(p->thr);
	free(p->tids);
	free(p);
}

/* One uprobe on func of the interpreter binary path, for process pid (-1:
 * every process that maps it), into links[*n]. */
static void pyh_attach_probe(struct bpf_link **links, int *n, pid_t pid, const char *path,
			     struct bpf_program *prog, int ret, const char *func)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func, .retprobe = ret);
	struct bpf_link *l;

	if (*n >= PYH_WATCH_MAX_LINKS)
		return;
	l = bpf_program__attach_uprobe_opts(prog, pid, path, 0, &uo);
	if (!l) {
		if (pyh_log_verbosity())
			fprintf(stderr, "pyhang: uprobe on %s in %s: %s\n", func, path, strerror(errno));
		return;
	}
	links[(*n)++] = l;
}

/* Lock holders and GIL waits: uprobes on exported functions of the
 * interpreter at path. Returns 1 when the three lock probes are attached. */
static int pyh_attach_interp(struct pyh_watcher *w, pid_t pid, const char *path, struct bpf_link **links,
			     int *n)
{
	struct pyh_elf *elf = NULL;
	uint64_t v, sz;
	int have_timed = 0, have_take_gil = 0, before = *n, lock_probes;
	const char *acq;

	if (!pyh_elf_open(path, &elf)) {
		have_timed = !pyh_elf_symbol(elf, "PyThread_acquire_lock_timed", &v, &sz);
		have_take_gil = !pyh_elf_symbol(elf, "take_gil", &v, &sz);
	}
	pyh_elf_close(elf);
	acq = have_timed ? "PyThread_acquire_lock_timed" : "PyThread_acquire_lock";
	pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_lock_acquire, 0, acq);
	pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_lock_acquire_ret, 1, acq);
	pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_lock_release, 0, "PyThread_release_lock");
	lock_probes = *n - before == 3;
	if (!w->o->no_gil) {
		pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_gil_wait, 0, "PyEval_RestoreThread");
		pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_gil_got, 1, "PyEval_RestoreThread");
	}
	if (have_take_gil && !w->o->no_gil) {
		pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_gil_wait, 0, "take_gil");
		pyh_attach_probe(links, n, pid, path, w->skel->progs.pyh_gil_got, 1, "take_gil");
	}
	return lock_probes;
}

/* --all: the probes of one interpreter binary, attached once for every
 * process that maps it (the BPF programs look at `watched`). Attaching and
 * above all detaching a uprobe costs the kernel an RCU grace period (tens of
 * ms), which per process would hold up the watcher as processes come and go;
 * and a new process of a known interpreter is probed from its first
 * instruction. NULL when the binary cannot be identified or the table is full. */
static struct pyh_wbin *pyh_bin_probes(struct pyh_watcher *w, const char *path)
{
	struct stat st;
	struct pyh_wbin *b;

	if (stat(path, &st))
		return NULL;
	for (int i = 0; i < w->nbins; i++)
		if (w->bins[i].dev == st.st_dev && w->bins[i].ino == st.st_ino)
			return &w->bins[i];
	if (w->nbins >= PYH_WATCH_MAX_BINS)
		return NULL;
	b = &w->bins[w->nbins++];
	memset(b, 0, sizeof(*b));
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	b->lock_probes = pyh_attach_interp(w, -1, path, b->links, &b->nlinks);
	return b;
}

/* Blocked calls that started before watch did: from /proc, into the inflight
 * map (only where BPF has not seen a call of that thread yet). */
static void pyh_snapshot_blocked(struct pyh_watcher *w, struct pyh_wproc *p)
{
	int n = 0, fd = bpf_map__fd(w->skel->maps.inflight);
	uint64_t now = pyh_now_ns();

	if (pyh_proc_tasks(p->pid, p->tids, PYH_MAX_THREADS, &n) && n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		struct pyh_task_info ti;
		struct pyh_watch_call c = {};
		uint32_t tid = (uint32_t)p->tids[i];

		if (pyh_task_info(p->pid, p->tids[i], &ti) || !ti.in_syscall || ti.offcpu_s <= 0)
			continue;
		if (ti.offcpu_s * 1e9 >= (double)now)
			continue;
		c.start_ns = now - (uint64_t)(ti.offcpu_s * 1e9);
		c.nr = ti.syscall_nr;
		for (int a = 0; a < 3; a++)
			c.args[a] = ti.args[a];
		c.tgid = (uint32_t)p->pid;
		bpf_map_update_elem(fd, &tid, &c, BPF_NOEXIST);
	}
}

/* Start watching pid. t: the target already opened (NULL: open it here); hp:
 * what /proc said (NULL: read it here); gen: the exec generation read before
 * t was opened. */
static int pyh_proc_add(struct pyh_watcher *w, pid_t pid, const struct pyh_target *t,
			const struct pyh_host_proc *hp, uint32_t gen, char *err, size_t errsz)
{
	struct pyh_wproc *p = NULL;
	int rc;

	if (w->nprocs >= PYH_WATCH_MAX_PROCS) {
		snprintf(err, errsz, "already watching %d processes", PYH_WATCH_MAX_PROCS);
		return -E2BIG;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	p->pid = pid;
	p->gen = gen;
	if (t)
		p->t = *t;
	else if ((rc = pyh_target_open(pid, &p->t, err, errsz)))
		goto cleanup;
	if (hp) {
		p->hp = *hp;
	} else if (pyh_host_proc_read(pid, &p->hp)) {
		memset(&p->hp, 0, sizeof(p->hp));
		p->hp.pid = pid;
	}
	pyh_host_start_ticks(pid, &p->start_time);
	pyh_host_cmdline(pid, p->cmdline, sizeof(p->cmdline));
	if (!p->hp.cmdline[0])
		snprintf(p->hp.cmdline, sizeof(p->hp.cmdline), "%.200s", p->cmdline);
	snprintf(p->version, sizeof(p->version), "%d.%d.%d", p->t.ver.major, p->t.ver.minor,
		 p->t.ver.micro);
	pyh_host_label(&p->hp, &p->t.ver, p->label, sizeof(p->label));
	p->cache = pyh_codecache_new(&p->t);
	p->src = pyh_source_new(pid);
	p->py = calloc(PYH_MAX_THREADS, sizeof(*p->py));
	p->thr = calloc(PYH_WATCH_THR_SLOTS, sizeof(*p->thr));
	p->tids = calloc(PYH_MAX_THREADS, sizeof(*p->tids));
	if (!p->cache || !p->py || !p->thr || !p->tids) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = pyh_proctrack_follow(w->pt, pid);
	if (rc) {
		snprintf(err, errsz, "adding process %d to the BPF map failed: %s", pid, strerror(-rc));
		goto cleanup;
	}
	/* Lock holders and GIL waits: uprobes on exported functions of this
	 * interpreter; with --all once per binary, for every process. */
	{
		struct pyh_wbin *b = w->o->all ? pyh_bin_probes(w, p->t.bin.host_path) : NULL;

		if (b)
			p->lock_probes = b->lock_probes;
		else
			p->lock_probes = pyh_attach_interp(w, pid, p->t.bin.host_path, p->links, &p->nlinks);
	}
	pyh_snapshot_blocked(w, p);
	w->procs[w->nprocs++] = p;
	w->watched_total++;
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: watching process %d (Python %s, %d probes)\n", pid, p->version,
			p->nlinks);
	return 0;
cleanup:
	pyh_proc_free(NULL, p);
	return rc;
}

static int pyh_ringbuf_event(void *ctx, void *data, size_t len);
static void pyh_proc_event(const struct pyh_proc_event *ev, void *arg);

/* Load with the chosen pair of programs: syscalls (sys_enter + sys_exit) or
 * sched_switch, each as tp_btf or as a classic tracepoint. */
static int pyh_bpf_load(struct pyh_watcher *w, int btf, char *err, size_t errsz)
{
	struct bpf_program *progs[6];
	int rc, want_a, want_b;

	watch_bpf__destroy(w->skel);
	{
		LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = pyh_corebtf_path(PYH_COREBTF_WATCH));

		w->skel = watch_bpf__open_opts(&oo);
	}
	if (!w->skel) {
		rc = -errno;
		snprintf(err, errsz, "opening the BPF program failed: %s", strerror(-rc));
		return rc;
	}
	rc = pyh_proctrack_share(w->pt, w->skel->obj, err, errsz);
	if (rc)
		return rc;
	progs[0] = w->skel->progs.pyh_enter_btf;
	progs[1] = w->skel->progs.pyh_exit_btf;
	progs[2] = w->skel->progs.pyh_enter_tp;
	progs[3] = w->skel->progs.pyh_exit_tp;
	progs[4] = w->skel->progs.pyh_switch_btf;
	progs[5] = w->skel->progs.pyh_switch_tp;
	if (w->o->trace_syscalls) {
		want_a = btf ? 0 : 2;
		want_b = want_a + 1;
	} else {
		want_a = want_b = btf ? 4 : 5;
	}
	for (int i = 0; i < 6; i++)
		bpf_program__set_autoload(progs[i], i == want_a || i == want_b);
	w->skel->rodata->min_report_ns = w->threshold_ns;
	rc = watch_bpf__load(w->skel);
	if (rc) {
		snprintf(err, errsz, "loading the BPF program failed: %s (root needed; -v shows the verifier log)",
			 strerror(-rc));
		return rc;
	}
	w->sys_links[0] = bpf_program__attach(progs[want_a]);
	w->sys_links[1] = want_b != want_a ? bpf_program__attach(progs[want_b]) : NULL;
	if (!w->sys_links[0] || (want_b != want_a && !w->sys_links[1])) {
		rc = -errno;
		snprintf(err, errsz, "attaching to the %s tracepoint failed: %s",
			 w->o->trace_syscalls ? "raw_syscalls" : "sched_switch", strerror(-rc));
		bpf_link__destroy(w->sys_links[0]);
		bpf_link__destroy(w->sys_links[1]);
		w->sys_links[0] = w->sys_links[1] = NULL;
		return rc ? rc : -EINVAL;
	}
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: waits recorded with %s %s\n", btf ? "tp_btf" : "tracepoint",
			w->o->trace_syscalls ? "raw_syscalls sys_enter/sys_exit" : "sched_switch");
	return 0;
}

static int pyh_bpf_open(struct pyh_watcher *w, char *err, size_t errsz)
{
	struct pyh_proctrack_opts po = { .all_execs = w->o->all, .forks = w->o->all, .thread_exits = 1 };
	int rc, btf;

	/* Processes: exec and exit always (an exec voids the layout), fork with --all. */
	rc = pyh_proctrack_open(&po, pyh_proc_event, w, &w->pt, err, errsz);
	if (rc)
		return rc;
	/* Probe features, not kernel versions: tp_btf when the kernel can attach it. */
	if (w->o->trace_syscalls)
		btf = pyh_bpf_has_tp_btf("sys_enter") && pyh_bpf_has_tp_btf("sys_exit");
	else
		btf = pyh_bpf_has_tp_btf("sched_switch");
	rc = pyh_bpf_load(w, btf, err, errsz);
	if (rc && btf)
		rc = pyh_bpf_load(w, 0, err, errsz);
	if (rc)
		return rc;
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.events), pyh_ringbuf_event, w, NULL);
	if (!w->rb) {
		rc = -errno;
		snprintf(err, errsz, "opening the BPF ring buffer failed: %s", strerror(-rc));
		return rc ? rc : -EINVAL;
	}
	rc = pyh_proctrack_add_ring(w->pt, w->rb);
	if (rc) {
		snprintf(err, errsz, "polling the process tracker's ring buffer failed: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* The watched process pid, stale (exec'd, waiting to be dropped) or not; NULL. */
static struct pyh_wproc *pyh_proc_find_any(struct pyh_watcher *w, pid_t pid)
{
	for (int i = 0; i < w->nprocs; i++)
		if (w->procs[i]->pid == pid)
			return w->procs[i];
	return NULL;
}

/* The watched process pid whose layout is current; NULL. */
static struct pyh_wproc *pyh_proc_find(struct pyh_watcher *w, pid_t pid)
{
	struct pyh_wproc *p = pyh_proc_find_any(w, pid);

	return p && !p->stale ? p : NULL;
}

static void pyh_read_py(struct pyh_wproc *p)
{
	if (p->py_fresh)
		return;
	p->npy = 0;
	p->gil_tstate = 0;
	if (pyh_threads_read(&p->t, p->py, PYH_MAX_THREADS, &p->npy, &p->gil_tstate))
		p->npy = 0;
	p->py_fresh = 1;
}

static const struct pyh_pythread *pyh_py_of(struct pyh_wproc *p, pid_t tid)
{
	pyh_read_py(p);
	for (int i = 0; i < p->npy; i++)
		if (p->py[i].tid == tid)
			return &p->py[i];
	return NULL;
}

static pid_t pyh_gil_holder_tid(struct pyh_wproc *p)
{
	pyh_read_py(p);
	for (int i = 0; p->gil_tstate && i < p->npy; i++)
		if (p->py[i].tstate == p->gil_tstate)
			return p->py[i].tid;
	return 0;
}

/* Fill th's frames from the thread's Python stack. Returns 1 when it is a Python thread. */
static int pyh_fill_stack(struct pyh_watcher *w, struct pyh_wproc *p, struct pyh_wthread *th)
{
	const struct pyh_pythread *py = pyh_py_of(p, th->tid);
	enum pyh_walk_status status;
	int n;

	if (!py)
		return 0;
	n = pyh_frames_walk(&p->t, py->frame, w->raw, w->raw_addrs, PYH_WATCH_STACK_FRAMES, &status);
	w->samples++;
	th->frames = calloc((size_t)(n > 0 ? n : 1), sizeof(*th->frames));
	if (!th->frames)
		return 1;
	for (int i = 0; i < n; i++)
		pyh_frame_name(p->cache, &w->raw[i], w->raw_addrs[i], 1, &th->frames[i]);
	th->nframes = n;
	return 1;
}

static void pyh_fill_task(struct pyh_wproc *p, struct pyh_wthread *th, const struct pyh_watch_call *c)
{
	struct pyh_task_info ti;

	if (pyh_task_info(p->pid, th->tid, &ti)) {
		snprintf(th->comm, sizeof(th->comm), "?");
		ti.in_syscall = 0;
	} else {
		snprintf(th->comm, sizeof(th->comm), "%s", ti.comm);
		snprintf(th->wchan, sizeof(th->wchan), "%s", ti.wchan);
	}
	if (c) {
		th->has_call = 1;
		th->nr = (long)c->nr;
		for (int a = 0; a < 3; a++)
			th->args[a] = c->args[a];
		if (ti.in_syscall && ti.syscall_nr == c->nr)
			pyh_syscall_detail(p->pid, &ti, th->detail, sizeof(th->detail));
	}
}

static void pyh_event_init(struct pyh_wevent *e, struct pyh_wproc *p, const char *kind)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->wall = pyh_wall();
	e->pid = p->pid;
	snprintf(e->cmdline, sizeof(e->cmdline), "%s", p->cmdline);
	snprintf(e->version, sizeof(e->version), "%s", p->version);
	snprintf(e->label, sizeof(e->label), "%s", p->label);
	snprintf(e->cgroup, sizeof(e->cgroup), "%s", p->hp.cgroup[0] ? p->hp.cgroup : "/");
	e->ns_pid = p->hp.ns_pid;
}

static void pyh_emit(struct pyh_watcher *w, struct pyh_wevent *e)
{
	const struct pyh_watch_opts *o = w->o;
	int kind = pyh_metrics_kind_of(e->kind);

	if (kind >= 0)
		w->nevents[kind]++;
	if (o->json)
		pyh_wevent_write_json(e, o->out);
	else
		pyh_wevent_write_text(e, o->out);
	if (strcmp(e->kind, "returned")) {
		w->hangs++;
		if (o->exec_cmd && pyh_wevent_exec(e, o->exec_cmd))
			fprintf(stderr, "pyhang: running --exec command failed: %s\n", strerror(errno));
		if (o->once) {
			w->stop = 1;
			w->exit_code = 3;
		}
	}
	pyh_wevent_free(e);
}

static const struct pyh_watch_call *pyh_infl_find(struct pyh_watcher *w, uint32_t tid)
{
	for (int i = 0; i < w->ninfl; i++)
		if (w->infl[i].tid == tid)
			return &w->infl[i].c;
	return NULL;
}

static int pyh_holder_of(struct pyh_watcher *w, uint64_t lock, uint32_t tgid, pid_t *holder)
{
	struct pyh_watch_holder h;

	if (bpf_map_lookup_elem(bpf_map__fd(w->skel->maps.holders), &lock, &h) || h.tgid != tgid)
		return -ENOENT;
	*holder = (pid_t)h.tid;
	return 0;
}

/* Does the futex wait of tid start a cycle of lock waits that comes back to it?
 * Fills members (tids) and returns the cycle length, 0 when there is none. */
static int pyh_find_cycle(struct pyh_watcher *w, struct pyh_wproc *p, pid_t tid, pid_t *members,
			  uint64_t *locks)
{
	pid_t cur = tid;
	int n = 0;

	for (int hop = 0; hop < PYH_WATCH_CHAIN_MAX; hop++) {
		const struct pyh_watch_call *c = pyh_infl_find(w, (uint32_t)cur);
		pid_t h = 0;

		if (!c || !c->start_ns || c->nr != PYH_NR_FUTEX)
			return 0;
		if (pyh_holder_of(w, c->args[0], (uint32_t)p->pid, &h) || h == cur)
			return 0;
		members[n] = cur;
		locks[n] = c->args[0];
		n++;
		if (h == tid)
			return n;
		for (int i = 0; i < n; i++)
			if (members[i] == h)
				return 0;	/* a cycle, but not through tid: its own members report it */
		cur = h;
	}
	return 0;
}

static int pyh_in_gilwait(struct pyh_watcher *w, uint32_t tid)
{
	struct pyh_watch_gilwait g;

	return !bpf_map_lookup_elem(bpf_map__fd(w->skel->maps.gilwait), &tid, &g);
}

/* The innermost frame waits in a lock acquire: a function named acquire, or a
 * source line that calls .acquire( or is a `with` statement. */
static int pyh_frames_in_acquire(struct pyh_wproc *p, const struct pyh_wthread *th)
{
	char line[256];
	const struct pyh_frame *f;
	const char *file;

	if (th->nframes <= 0 || !th->frames[0].ci)
		return 0;
	f = &th->frames[0];
	file = pyh_frame_file(f);
	if (!strcmp(pyh_frame_function(f), "acquire") || !strcmp(pyh_frame_function(f), "__enter__"))
		return 1;
	if (strstr(file, "threading.py"))
		return 0;	/* join, Condition.wait: not a lock someone holds */
	if (!p->src || f->line <= 0 || pyh_source_line(p->src, file, f->line, line, sizeof(line)))
		return 0;
	return strstr(line, "acquire(") != NULL || !strncmp(line, "with ", 5);
}

static void pyh_check_blocked(struct pyh_watcher *w, struct pyh_wproc *p, uint32_t tid,
			      const struct pyh_watch_call *c, uint64_t now)
{
	struct pyh_wthr *t = pyh_thr_get(p, (pid_t)tid);
	struct pyh_wevent e;
	pid_t members[PYH_WATCH_CHAIN_MAX];
	uint64_t locks[PYH_WATCH_CHAIN_MAX];
	const char *why = NULL;
	int n;

	if (!t || t->blk_start == c->start_ns)
		return;
	if (pyh_in_gilwait(w, tid))
		return;		/* waiting for the GIL: the GIL check reports it */
	t->blk_start = c->start_ns;
	t->blk_acquire = 0;
	t->blk_lock = 0;
	if (c->nr == PYH_NR_FUTEX && (n = pyh_find_cycle(w, p, (pid_t)tid, members, locks)) >= 2) {
		pyh_event_init(&e, p, "deadlock");
		e.seconds = (double)(now - c->start_ns) / 1e9;
		for (int i = 0; i < n && i < PYH_WATCH_EV_MAX_THREADS; i++) {
			struct pyh_wthread *th = &e.th[i];
			const struct pyh_watch_call *mc = pyh_infl_find(w, (uint32_t)members[i]);
			struct pyh_wthr *mt = pyh_thr_get(p, members[i]);

			th->tid = members[i];
			th->seconds = mc ? (double)(now - mc->start_ns) / 1e9 : -1;
			th->lock = locks[i];
			th->holder = members[(i + 1) % n];
			pyh_fill_task(p, th, mc);
			pyh_fill_stack(w, p, th);
			e.nth = i + 1;
			if (mt && mc) {
				mt->blk_start = mc->start_ns;
				mt->blk_state = PYH_BLK_DEADLOCK;
			}
		}
		pyh_emit(w, &e);
		return;
	}
	pyh_event_init(&e, p, "blocked");
	e.nth = 1;
	e.th[0].tid = (pid_t)tid;
	e.seconds = e.th[0].seconds = (double)(now - c->start_ns) / 1e9;
	if (!pyh_fill_stack(w, p, &e.th[0])) {
		t->blk_state = PYH_BLK_SKIPPED;	/* not a Python thread */
		pyh_wevent_free(&e);
		return;
	}
	if (pyh_ignore_match(&w->o->ignore, e.th[0].frames, e.th[0].nframes, &why)) {
		t->blk_state = PYH_BLK_IGNORED;
		if (pyh_log_verbosity() > 1)
			fprintf(stderr, "pyhang: thread %u idle (%s)\n", tid, why);
		pyh_wevent_free(&e);
		return;
	}
	pyh_fill_task(p, &e.th[0], c);
	if (c->nr == PYH_NR_FUTEX) {
		pid_t h = 0;

		e.th[0].lock = c->args[0];
		if (!pyh_holder_of(w, c->args[0], (uint32_t)p->pid, &h))
			e.th[0].holder = h;
		else
			e.th[0].lock = 0;
		if (!e.th[0].holder && pyh_frames_in_acquire(p, &e.th[0])) {
			t->blk_acquire = 1;
			t->blk_lock = c->args[0];
		}
	}
	t->blk_state = PYH_BLK_REPORTED;
	pyh_emit(w, &e);
}

/* Fallback for locks taken before watch started: two or more threads blocked
 * in lock acquires whose holders are unknown. */
static void pyh_check_possible_deadlock(struct pyh_watcher *w, struct pyh_wproc *p)
{
	pid_t who[PYH_WATCH_EV_MAX_THREADS];
	int n = 0;

	for (int i = 0; i < w->ninfl && n < PYH_WATCH_EV_MAX_THREADS; i++) {
		struct pyh_wthr *t;

		if (w->infl[i].c.tgid != (uint32_t)p->pid || !w->infl[i].c.start_ns)
			continue;
		t = pyh_thr_get(p, (pid_t)w->infl[i].tid);
		if (t && t->blk_acquire && t->blk_start == w->infl[i].c.start_ns)
			who[n++] = t->tid;
	}
	if (n < 2) {
		p->possible_reported = 0;
		return;
	}
	if (p->possible_reported == n)
		return;
	p->possible_reported = n;
	{
		struct pyh_wevent e;
		uint64_t now = pyh_now_ns();

		pyh_event_init(&e, p, "deadlock");
		e.possible = 1;
		snprintf(e.note, sizeof(e.note),
			 "threads wait in lock acquires; who holds the locks is unknown (taken before watch started?)");
		for (int i = 0; i < n; i++) {
			const struct pyh_watch_call *c = pyh_infl_find(w, (uint32_t)who[i]);

			e.th[i].tid = who[i];
			e.th[i].seconds = c ? (double)(now - c->start_ns) / 1e9 : -1;
			e.th[i].lock = c ? c->args[0] : 0;
			pyh_fill_task(p, &e.th[i], c);
			pyh_fill_stack(w, p, &e.th[i]);
			e.nth = i + 1;
		}
		e.seconds = e.th[0].seconds;
		pyh_emit(w, &e);
	}
}

static void pyh_check_stuck(struct pyh_watcher *w, struct pyh_wproc *p, uint64_t now)
{
	struct pyh_proc_stat st;
	long nthreads;
	int nblocked = 0, nreal = 0;
	double least = -1;
	struct pyh_wevent e;

	if (pyh_proc_stat(p->pid, 0, &st) || st.num_threads <= 0)
		return;
	nthreads = st.num_threads;
	for (int i = 0; i < w->ninfl; i++) {
		const struct pyh_inflight *f = &w->infl[i];
		struct pyh_wthr *t;
		double s;

		if (f->c.tgid != (uint32_t)p->pid || !f->c.start_ns || now - f->c.start_ns < w->threshold_ns)
			continue;
		nblocked++;
		s = (double)(now - f->c.start_ns) / 1e9;
		if (least < 0 || s < least)
			least = s;
		t = pyh_thr_get(p, (pid_t)f->tid);
		if (t && t->blk_start == f->c.start_ns &&
		    (t->blk_state == PYH_BLK_REPORTED || t->blk_state == PYH_BLK_DEADLOCK))
			nreal++;
	}
	if (nblocked < nthreads || !nreal) {
		p->stuck_reported = 0;
		return;
	}
	if (p->stuck_reported)
		return;
	p->stuck_reported = 1;
	pyh_event_init(&e, p, "stuck");
	e.seconds = least;
	snprintf(e.note, sizeof(e.note), "no thread of the process is runnable: %ld threads, all blocked",
		 nthreads);
	for (int i = 0; i < w->ninfl && e.nth < PYH_WATCH_EV_MAX_THREADS; i++) {
		const struct pyh_inflight *f = &w->infl[i];
		struct pyh_wthread *th = &e.th[e.nth];

		if (f->c.tgid != (uint32_t)p->pid || !f->c.start_ns || now - f->c.start_ns < w->threshold_ns)
			continue;
		th->tid = (pid_t)f->tid;
		th->seconds = (double)(now - f->c.start_ns) / 1e9;
		pyh_fill_task(p, th, &f->c);
		pyh_fill_stack(w, p, th);
		e.nth++;
	}
	pyh_emit(w, &e);
}

static void pyh_check_gil(struct pyh_watcher *w, uint64_t now)
{
	int fd = bpf_map__fd(w->skel->maps.gilwait);
	uint32_t key, next, *prev = NULL;
	int guard = 0;

	while (!w->stop && guard++ < PYH_WATCH_MAX_TIDS && !bpf_map_get_next_key(fd, prev, &next)) {
		struct pyh_watch_gilwait g;
		struct pyh_wproc *p;
		struct pyh_wthr *t;
		struct pyh_wevent e;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &g) || !g.start_ns || now < g.start_ns ||
		    now - g.start_ns < w->threshold_ns)
			continue;
		p = pyh_proc_find(w, (pid_t)g.tgid);
		if (!p || p->stale)
			continue;
		p->gil_hung++;
		t = pyh_thr_get(p, (pid_t)key);
		if (!t || t->gil_start == g.start_ns)
			continue;
		t->gil_start = g.start_ns;
		pyh_event_init(&e, p, "gil");
		e.seconds = (double)(now - g.start_ns) / 1e9;
		e.th[0].tid = (pid_t)key;
		e.th[0].seconds = e.seconds;
		pyh_fill_task(p, &e.th[0], NULL);
		pyh_fill_stack(w, p, &e.th[0]);
		e.nth = 1;
		e.th[1].tid = pyh_gil_holder_tid(p);
		if (e.th[1].tid && e.th[1].tid != (pid_t)key) {
			e.th[1].seconds = -1;
			pyh_fill_task(p, &e.th[1], NULL);
			pyh_fill_stack(w, p, &e.th[1]);
			e.nth = 2;
		} else {
			snprintf(e.note, sizeof(e.note), "the GIL holder is unknown");
		}
		pyh_emit(w, &e);
	}
}

/* The same Python frames (code objects, and call sites of all but the
 * innermost frame) on the CPU for longer than the threshold. */
static void pyh_check_spin(struct pyh_watcher *w, struct pyh_wproc *p, uint64_t now)
{
	int n = 0, todo;

	if (pyh_proc_tasks(p->pid, p->tids, PYH_MAX_THREADS, &n) && n <= 0)
		return;
	todo = n < PYH_WATCH_SPIN_PER_SCAN ? n : PYH_WATCH_SPIN_PER_SCAN;
	for (int k = 0; k < todo && !w->stop; k++) {
		pid_t tid = p->tids[(p->spin_cursor + k) % n];
		struct pyh_wthr *t = pyh_thr_get(p, tid);
		const struct pyh_pythread *py;
		const struct pyh_watch_call *c;
		uint64_t run = 0, sig = 1469598103934665603ull, dt;
		enum pyh_walk_status status = PYH_WALK_END;
		int nf;

		if (!t || pyh_proc_run_ns(p->pid, tid, &run))
			continue;
		dt = now - t->cpu_t;
		c = pyh_infl_find(w, (uint32_t)tid);
		/* Spinning: it ran in this interval and never went to sleep (being
		 * preempted on a busy machine does not count against it). */
		if (!t->cpu_t || run < t->cpu_ns || (run - t->cpu_ns) * 20 < dt ||
		    (c && (c->start_ns || c->end_ns > t->cpu_t))) {
			if (pyh_log_verbosity() > 1 && t->spin_since)
				fprintf(stderr, "pyhang: thread %d off the CPU\n", (int)tid);
			t->cpu_t = now;
			t->cpu_ns = run;
			t->spin_since = 0;
			t->spin_reported = 0;
			continue;
		}
		py = pyh_py_of(p, tid);
		nf = py ? pyh_frames_walk(&p->t, py->frame, w->raw, NULL, PYH_WATCH_STACK_FRAMES,
					  &status) : 0;
		if (py)
			w->samples++;
		for (int i = 0; i < nf; i++) {
			sig = (sig ^ w->raw[i].code) * 1099511628211ull;
			if (i > 0)
				sig = (sig ^ w->raw[i].offset) * 1099511628211ull;
		}
		if (nf <= 0 || pyh_walk_status_text(status)) {
			/* a torn read of a running stack: judge on the next sample */
		} else if (!t->spin_since || t->spin_sig != sig) {
			if (pyh_log_verbosity() > 1)
				fprintf(stderr, "pyhang: thread %d on CPU in new frames (%d deep)\n", (int)tid, nf);
			t->spin_since = t->cpu_t;
			t->spin_sig = sig;
			t->spin_reported = 0;
		} else if (t->spin_reported) {
			p->spin_hung++;
		} else if (now - t->spin_since >= w->threshold_ns) {
			struct pyh_wevent e;

			t->spin_reported = 1;
			p->spin_hung++;
			pyh_event_init(&e, p, "spinning");
			e.seconds = e.th[0].seconds = (double)(now - t->spin_since) / 1e9;
			e.th[0].tid = tid;
			e.nth = 1;
			pyh_fill_task(p, &e.th[0], NULL);
			pyh_fill_stack(w, p, &e.th[0]);
			pyh_emit(w, &e);
		}
		t->cpu_t = now;
		t->cpu_ns = run;
	}
	if (n)
		p->spin_cursor = (p->spin_cursor + todo) % n;
}

/* A thread of tgid exited (at ktime_ns): its entries go (its tid may come
 * back in another process), unless a new thread with that tid made them
 * after the exit. Done here from the tracker's exit events; pyh_prune_maps
 * catches the threads whose event was lost. */
static void pyh_forget_thread(struct pyh_watcher *w, uint32_t tgid, uint32_t tid, uint64_t ktime_ns)
{
	int ifd = bpf_map__fd(w->skel->maps.inflight), gfd = bpf_map__fd(w->skel->maps.gilwait);
	struct pyh_watch_call c;
	struct pyh_watch_gilwait g;

	if (!bpf_map_lookup_elem(ifd, &tid, &c) && c.tgid == tgid && c.start_ns <= ktime_ns)
		bpf_map_delete_elem(ifd, &tid);
	if (!bpf_map_lookup_elem(gfd, &tid, &g) && g.tgid == tgid && g.start_ns <= ktime_ns)
		bpf_map_delete_elem(gfd, &tid);
	bpf_map_delete_elem(bpf_map__fd(w->skel->maps.lockacq), &tid);
}

/* 1 when pid is a process (not a thread of another). */
static int pyh_is_process(pid_t pid)
{
	pid_t tgid = 0;

	return !pyh_proc_status_id(pid, 0, "Tgid", &tgid) && tgid == pid;
}

/* exec / exit / fork from BPF: into the tracker (--all); with --pid the
 * process exec'ing ends the watch. An exec makes the process's layout stale
 * at once: it is not read again before the tracker drops it. */
static void pyh_proc_event(const struct pyh_proc_event *ev, void *arg)
{
	struct pyh_watcher *w = arg;
	pid_t pid = (pid_t)ev->pid;
	struct pyh_wproc *p = pyh_proc_find_any(w, pid);

	if (pyh_log_verbosity() > 2)
		fprintf(stderr, "pyhang: process %d: %s\n", (int)pid,
			ev->kind == PYH_PROC_EXEC ? "exec" : ev->kind == PYH_PROC_EXIT ? "exit" :
			ev->kind == PYH_PROC_FORK ? "fork" : "thread exit");
	if (ev->kind == PYH_PROC_EXIT || ev->kind == PYH_PROC_THREAD_EXIT)
		pyh_forget_thread(w, ev->pid, ev->tid, ev->ktime_ns);
	if (ev->kind == PYH_PROC_THREAD_EXIT)
		return;
	if (ev->kind == PYH_PROC_EXEC && p)
		p->stale = 1;
	if (ev->kind == PYH_PROC_EXIT && p)
		p->exited = 1;
	if (!w->tr) {
		if (ev->kind == PYH_PROC_EXEC && p) {
			w->pid_execd = 1;
			w->stop = 1;
		}
		return;
	}
	switch (ev->kind) {
	case PYH_PROC_EXEC:
		pyh_host_tracker_exec(w->tr, pid);
		break;
	case PYH_PROC_FORK:
		if (pyh_is_process(pid))
			pyh_host_tracker_exec(w->tr, pid);
		break;
	case PYH_PROC_EXIT:
		pyh_host_tracker_exit(w->tr, pid);
		break;
	default:
		break;
	}
}

static int pyh_ringbuf_event(void *ctx, void *data, size_t len)
{
	struct pyh_watcher *w = ctx;
	const struct pyh_watch_event *ev = data;
	struct pyh_wproc *p;
	struct pyh_wthr *t;
	struct pyh_wevent e;

	if (len < sizeof(*ev) || ev->kind != PYH_WATCH_EV_RETURNED)
		return 0;
	p = pyh_proc_find(w, (pid_t)ev->tgid);
	if (!p)
		return 0;
	t = pyh_thr_get(p, (pid_t)ev->tid);
	if (!t || t->blk_start != ev->start_ns ||
	    (t->blk_state != PYH_BLK_REPORTED && t->blk_state != PYH_BLK_DEADLOCK))
		return 0;
	t->blk_state = PYH_BLK_NONE;
	t->blk_acquire = 0;
	pyh_event_init(&e, p, "returned");
	e.nth = 1;
	e.th[0].tid = (pid_t)ev->tid;
	e.seconds = e.th[0].seconds = (double)(ev->end_ns - ev->start_ns) / 1e9;
	e.ret = (long)ev->ret;
	e.ret_known = w->o->trace_syscalls;
	e.th[0].has_call = 1;
	e.th[0].nr = (long)ev->nr;
	pyh_fill_task(p, &e.th[0], NULL);
	e.th[0].has_call = 1;
	pyh_fill_stack(w, p, &e.th[0]);
	pyh_emit(w, &e);
	return 0;
}

/* Snapshot the inflight map: every thread of every watched process. */
static void pyh_read_inflight(struct pyh_watcher *w)
{
	int fd = bpf_map__fd(w->skel->maps.inflight);
	uint32_t key, next, *prev = NULL;

	w->ninfl = 0;
	while (w->ninfl < PYH_WATCH_MAX_TIDS && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &w->infl[w->ninfl].c))
			continue;
		w->infl[w->ninfl].tid = key;
		w->ninfl++;
	}
}

/* Remove inflight and gilwait entries of threads that ended (their tids may
 * come back for another process; a thread that died waiting for the GIL never
 * ran its uretprobe). */
static void pyh_prune_maps(struct pyh_watcher *w)
{
	int fd = bpf_map__fd(w->skel->maps.inflight), gfd = bpf_map__fd(w->skel->maps.gilwait);
	uint32_t key, next, *prev = NULL, dead[256];
	int ndead = 0, guard = 0;

	for (int i = 0; i < w->ninfl; i++) {
		if (!pyh_proc_exists((pid_t)w->infl[i].c.tgid, (pid_t)w->infl[i].tid))
			bpf_map_delete_elem(fd, &w->infl[i].tid);
	}
	while (ndead < 256 && guard++ < PYH_WATCH_MAX_TIDS && !bpf_map_get_next_key(gfd, prev, &next)) {
		struct pyh_watch_gilwait g;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(gfd, &key, &g))
			continue;
		if (!pyh_proc_exists((pid_t)g.tgid, (pid_t)key))
			dead[ndead++] = key;
	}
	for (int i = 0; i < ndead; i++)
		bpf_map_delete_elem(gfd, &dead[i]);
}

static uint32_t pyh_exec_gen(struct pyh_watcher *w, pid_t pid)
{
	return pyh_proctrack_exec_gen(w->pt, pid);
}

/* ---- --all: the host tracker's callbacks ---- */

static uint32_t pyh_trk_generation(void *arg, pid_t pid)
{
	return pyh_exec_gen(arg, pid);
}

static int pyh_trk_attach(void *arg, const struct pyh_target *t, const struct pyh_host_proc *hp,
			  uint32_t gen)
{
	struct pyh_watcher *w = arg;
	char err[512], cg[PYH_HOST_CGROUP_MAX + 8];
	int rc;

	if (pyh_proc_find_any(w, t->pid))
		return -EEXIST;	/* cannot happen: the tracker detached it first */
	rc = pyh_proc_add(w, t->pid, t, hp, gen, err, sizeof(err));
	if (rc) {
		if (pyh_log_verbosity())
			fprintf(stderr, "pyhang: not watching process %d: %s\n", (int)t->pid, err);
		return rc;
	}
	pyh_host_cgroup_label(hp, cg, sizeof(cg));
	if (!w->o->json || pyh_log_verbosity())
		fprintf(stderr, "pyhang: watching %s, %s\n", w->procs[w->nprocs - 1]->label, cg);
	return 0;
}

static void pyh_proc_drop(struct pyh_watcher *w, struct pyh_wproc *p)
{
	for (int i = 0; i < w->nprocs; i++) {
		if (w->procs[i] != p)
			continue;
		w->procs[i] = w->procs[--w->nprocs];
		break;
	}
	pyh_proc_free(w, p);
}

static void pyh_trk_detach(void *arg, pid_t pid)
{
	struct pyh_watcher *w = arg;
	struct pyh_wproc *p = pyh_proc_find_any(w, pid);
	uint64_t start = 0;

	if (!p)
		return;
	if (!w->o->json || pyh_log_verbosity()) {
		if (!p->exited && !pyh_host_start_ticks(pid, &start) && start == p->start_time)
			fprintf(stderr, "pyhang: process %d exec'd another program: no longer watched as %s\n",
				(int)pid, p->label);
		else
			fprintf(stderr, "pyhang: process %d exited (%s)\n", (int)pid, p->label);
	}
	pyh_proc_drop(w, p);
}

/* Processes whose exec generation moved without our seeing the event (the
 * ring buffer was full): stale now, and the tracker re-attaches them. */
static void pyh_check_gens(struct pyh_watcher *w)
{
	for (int i = 0; i < w->nprocs; i++) {
		struct pyh_wproc *p = w->procs[i];

		if (p->stale || pyh_exec_gen(w, p->pid) == p->gen)
			continue;
		p->stale = 1;
		if (w->tr) {
			pyh_host_tracker_exec(w->tr, p->pid);
		} else {
			w->pid_execd = 1;
			w->stop = 1;
		}
	}
}

static void pyh_check_exits(struct pyh_watcher *w)
{
	for (int i = 0; i < w->nprocs; i++) {
		struct pyh_wproc *p = w->procs[i];
		uint64_t start = 0;

		/* gone, a zombie, or another process with its pid */
		if (!pyh_host_start_ticks(p->pid, &start) && start == p->start_time)
			continue;
		w->pid_gone = 1;
		w->stop = 1;
		pyh_proc_free(w, p);
		w->procs[i] = w->procs[--w->nprocs];
		i--;
	}
}

static void pyh_scan(struct pyh_watcher *w, uint64_t now)
{
	for (int i = 0; i < w->nprocs; i++) {
		w->procs[i]->py_fresh = 0;
		w->procs[i]->gil_hung = 0;
		w->procs[i]->spin_hung = 0;
	}
	pyh_read_inflight(w);
	for (int i = 0; i < w->ninfl && !w->stop; i++) {
		const struct pyh_inflight *f = &w->infl[i];
		struct pyh_wproc *p;

		if (!f->c.start_ns || now < f->c.start_ns || now - f->c.start_ns < w->threshold_ns)
			continue;
		p = pyh_proc_find(w, (pid_t)f->c.tgid);
		if (p)
			pyh_check_blocked(w, p, f->tid, &f->c, now);
	}
	if (!w->stop)
		pyh_check_gil(w, now);
	for (int i = 0; i < w->nprocs && !w->stop; i++) {
		if (w->procs[i]->stale)
			continue;
		pyh_check_possible_deadlock(w, w->procs[i]);
		if (!w->stop)
			pyh_check_stuck(w, w->procs[i], now);
		if (!w->stop)
			pyh_check_spin(w, w->procs[i], now);
	}
}

/* Sum of a per-CPU counter of the BPF side; 0 when unreadable. */
static uint64_t pyh_bpf_counter(struct pyh_watcher *w, uint32_t idx)
{
	uint64_t sum = 0;

	if (!w->cpuvals || bpf_map_lookup_elem(bpf_map__fd(w->skel->maps.stats), &idx, w->cpuvals))
		return 0;
	for (int c = 0; c < w->ncpus; c++)
		sum += w->cpuvals[c];
	return sum;
}

/* Process events lost (the tracker's ring buffer was full). */
static uint64_t pyh_proc_lost(struct pyh_watcher *w)
{
	uint64_t c[PYH_PTCNT_MAX];

	pyh_proctrack_counters(w->pt, c);
	return c[PYH_PTCNT_LOST];
}

/* The metrics snapshot after a scan (w->infl is this scan's). */
static void pyh_publish(struct pyh_watcher *w, uint64_t now)
{
	struct pyh_metrics_snapshot *s = w->snap;
	int np = 0;

	for (int i = 0; i < w->nprocs && np < PYH_METRICS_MAX_PROCS; i++) {
		struct pyh_wproc *p = w->procs[i];
		struct pyh_metrics_proc *mp = &s->procs[np];
		uint32_t over = 0;

		if (p->stale)
			continue;
		np++;
		memset(mp, 0, sizeof(*mp));
		mp->pid = p->pid;
		snprintf(mp->python, sizeof(mp->python), "%s", p->version);
		snprintf(mp->cmdline, sizeof(mp->cmdline), "%.127s", p->hp.cmdline);
		snprintf(mp->cgroup, sizeof(mp->cgroup), "%.127s", p->hp.cgroup[0] ? p->hp.cgroup : "/");
		for (int k = 0; k < w->ninfl; k++) {
			const struct pyh_inflight *f = &w->infl[k];
			struct pyh_wthr *t;

			if (f->c.tgid != (uint32_t)p->pid || !f->c.start_ns || now < f->c.start_ns ||
			    now - f->c.start_ns < w->threshold_ns)
				continue;
			over++;
			t = pyh_thr_find(p, (pid_t)f->tid);
			if (!t || t->blk_start != f->c.start_ns)
				continue;
			if (t->blk_state == PYH_BLK_REPORTED)
				mp->hung[PYH_MK_BLOCKED]++;
			else if (t->blk_state == PYH_BLK_DEADLOCK)
				mp->hung[PYH_MK_DEADLOCK]++;
		}
		mp->hung[PYH_MK_STUCK] = p->stuck_reported ? over : 0;
		mp->hung[PYH_MK_GIL] = (uint32_t)p->gil_hung;
		mp->hung[PYH_MK_SPINNING] = (uint32_t)p->spin_hung;
	}
	s->nprocs = np;
	memcpy(s->events, w->nevents, sizeof(s->events));
	s->samples = w->samples;
	s->lost_ringbuf = pyh_bpf_counter(w, PYH_WCNT_RB_FULL) + pyh_proc_lost(w);
	s->lost_map = pyh_bpf_counter(w, PYH_WCNT_MAP_FULL);
	s->rescans = w->rescans;
	pyh_metrics_publish(w->metrics, s);
}

static void pyh_rescan(struct pyh_watcher *w)
{
	w->rescans++;
	if (w->tr) {
		pyh_host_tracker_forget_not_python(w->tr);
		pyh_host_tracker_scan(w->tr, pyh_host_now_ms());
		fprintf(stderr, "pyhang: SIGHUP: rescanned every process: watching %d Python processes\n",
			pyh_host_tracker_attached(w->tr));
	} else {
		pyh_check_exits(w);
		fprintf(stderr, "pyhang: SIGHUP: re-checked process %d: %s\n", (int)w->o->pid,
			w->pid_gone ? "exited" : "still running");
	}
}

int pyh_watch_run(const struct pyh_watch_opts *o, char *err, size_t errsz)
{
	struct pyh_watcher *w = NULL;
	struct sigaction sa, old_int, old_term, old_hup;
	uint64_t t0, next_tick, last_prune;
	int rc = 1, sigs_set = 0;

	pyh_watch_interrupted = 0;
	pyh_watch_hup = 0;
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errsz, "out of memory");
		return 1;
	}
	w->o = o;
	w->threshold_ns = (uint64_t)(o->threshold_s * 1e9);
	w->infl = calloc(PYH_WATCH_MAX_TIDS, sizeof(*w->infl));
	w->raw = calloc(PYH_WATCH_STACK_FRAMES, sizeof(*w->raw));
	w->raw_addrs = calloc(PYH_WATCH_STACK_FRAMES, sizeof(*w->raw_addrs));
	w->ncpus = libbpf_num_possible_cpus();
	w->cpuvals = w->ncpus > 0 ? calloc((size_t)w->ncpus, sizeof(*w->cpuvals)) : NULL;
	if (!w->infl || !w->raw || !w->raw_addrs) {
		snprintf(err, errsz, "out of memory");
		goto cleanup;
	}
	if (!o->all) {
		/* Refuse a non-Python PID before touching BPF: the clearer error. */
		struct pyh_target t;

		if (pyh_target_open(o->pid, &t, err, errsz))
			goto cleanup;
	}
	/* A port in use is a mistake to report before anything is loaded. */
	if (o->metrics_addr) {
		w->snap = calloc(1, sizeof(*w->snap));
		if (!w->snap) {
			snprintf(err, errsz, "out of memory");
			goto cleanup;
		}
		if (pyh_metrics_start(o->metrics_addr, &w->metrics, err, errsz))
			goto cleanup;
	}
	if (pyh_bpf_open(w, err, errsz))
		goto cleanup;
	if (!o->all && pyh_proc_add(w, o->pid, NULL, NULL, pyh_exec_gen(w, o->pid), err, errsz))
		goto cleanup;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pyh_watch_sig;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigs_set = 1;
	if (o->all) {
		struct pyh_host_ops ops = { .generation = pyh_trk_generation,
					    .attach = pyh_trk_attach,
					    .detach = pyh_trk_detach };

		w->tr = pyh_host_tracker_new(&ops, w, getpid());
		if (!w->tr) {
			snprintf(err, errsz, "out of memory");
			goto cleanup;
		}
		if (!o->json)
			fprintf(stderr, "pyhang: watching every Python process (threshold %.1f s)\n", o->threshold_s);
		pyh_host_tracker_scan(w->tr, pyh_host_now_ms());
	} else if (!o->json) {
		fprintf(stderr, "pyhang: watching process %d (Python %s, threshold %.1f s)%s\n", o->pid,
			w->procs[0]->version, o->threshold_s,
			w->procs[0]->lock_probes ? "" : "; lock holders not tracked");
	}
	if (w->metrics)
		fprintf(stderr, "pyhang: serving metrics on http://%s/metrics\n", pyh_metrics_bound(w->metrics));
	t0 = pyh_now_ns();
	next_tick = t0;
	last_prune = t0;
	w->exit_code = 0;
	while (!w->stop && !pyh_watch_interrupted) {
		uint64_t now = pyh_now_ns();

		if (o->duration_s > 0 && (double)(now - t0) / 1e9 >= o->duration_s)
			break;
		if (pyh_watch_hup) {
			pyh_watch_hup = 0;
			pyh_rescan(w);
			if (w->stop)
				break;
		}
		if (w->tr)
			pyh_host_tracker_tick(w->tr, pyh_host_now_ms());
		if (now >= next_tick) {
			pyh_check_gens(w);
			if (!w->tr)
				pyh_check_exits(w);
			if (w->stop)
				break;
			pyh_scan(w, now);
			if (w->metrics)
				pyh_publish(w, now);
			if (now - last_prune >= 5000000000ull) {
				pyh_prune_maps(w);
				last_prune = now;
			}
			pyh_watch_reap();
			next_tick = now + PYH_WATCH_TICK_MS * 1000000ull;
			continue;
		}
		{
			int ms = (int)((next_tick - now) / 1000000ull) + 1;
			int e;

			if (w->tr && ms > PYH_WATCH_TRACK_MS)
				ms = PYH_WATCH_TRACK_MS;
			e = ring_buffer__poll(w->rb, ms);
			if (e < 0 && e != -EINTR) {
				snprintf(err, errsz, "reading the BPF ring buffer failed: %s", strerror(-e));
				goto cleanup;
			}
		}
	}
	ring_buffer__consume(w->rb);
	if (pyh_log_verbosity()) {
		uint64_t pc[PYH_PTCNT_MAX];

		for (__u32 k = 0; k < PYH_WCNT_MAX; k++)
			fprintf(stderr, "pyhang: counter %u: %llu\n", k,
				(unsigned long long)pyh_bpf_counter(w, k));
		pyh_proctrack_counters(w->pt, pc);
		fprintf(stderr, "pyhang: process events: %llu sent, %llu lost\n",
			(unsigned long long)pc[PYH_PTCNT_SENT], (unsigned long long)pc[PYH_PTCNT_LOST]);
	}
	if (w->pid_gone) {
		snprintf(err, errsz, "process %d exited", o->pid);
		rc = 1;
		goto cleanup;
	}
	if (w->pid_execd) {
		snprintf(err, errsz, "process %d exec'd another program", o->pid);
		rc = 1;
		goto cleanup;
	}
	{
		uint64_t hangs = 0;

		for (int k = 0; k < PYH_MK_COUNT; k++)
			if (k != PYH_MK_RETURNED)
				hangs += w->nevents[k];
		fprintf(stderr,
			"pyhang: watch stopped%s: %llu processes watched (%d at the end), %llu hang events, "
			"%llu stacks read, %llu records lost\n",
			pyh_watch_interrupted == SIGTERM ? " (SIGTERM)" :
			pyh_watch_interrupted == SIGINT ? " (SIGINT)" : "",
			(unsigned long long)w->watched_total, w->nprocs, (unsigned long long)hangs,
			(unsigned long long)w->samples,
			(unsigned long long)(pyh_bpf_counter(w, PYH_WCNT_RB_FULL) +
					     pyh_proc_lost(w) +
					     pyh_bpf_counter(w, PYH_WCNT_MAP_FULL)));
	}
	rc = w->exit_code;
cleanup:
	/* The metrics server first: no scrape sees a half-torn-down watcher. */
	pyh_metrics_stop(w->metrics);
	w->metrics = NULL;
	pyh_host_tracker_free(w->tr);
	for (int i = 0; i < w->nprocs; i++)
		pyh_proc_free(w, w->procs[i]);
	for (int i = 0; i < w->nbins; i++)
		for (int k = 0; k < w->bins[i].nlinks; k++)
			bpf_link__destroy(w->bins[i].links[k]);
	ring_buffer__free(w->rb);
	bpf_link__destroy(w->sys_links[0]);
	bpf_link__destroy(w->sys_links[1]);
	watch_bpf__destroy(w->skel);
	pyh_proctrack_free(w->pt);
	if (sigs_set) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
	}
	free(w->infl);
	free(w->raw);
	free(w->raw_addrs);
	free(w->snap);
	free(w->cpuvals);
	free(w);
	pyh_watch_reap();
	return rc;
}
