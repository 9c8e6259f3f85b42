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
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cmd/cmd.h"
#include "kernel/syscalls.h"
#include "kernel/task.h"
#include "output/source.h"
#include "pyhang/watch.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/threads.h"
#include "watch.skel.h"

#define PYH_WATCH_TICK_MS 200
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

struct pyh_inflight {
	uint32_t tid;
	struct pyh_watch_call c;
};

struct pyh_watcher {
	const struct pyh_watch_opts *o;
	struct watch_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *sys_links[2];
	struct pyh_wproc *procs[PYH_WATCH_MAX_PROCS];
	int nprocs;
	uint64_t threshold_ns;
	struct pyh_inflight *infl;	/* snapshot of the inflight map, this scan */
	int ninfl;
	struct pyh_rawframe *raw;
	int hangs;
	int stop;
	int exit_code;
	int pid_gone;
	struct { pid_t pid; uint64_t start; } rejected[4096];
	int nrejected;
};

static volatile sig_atomic_t pyh_watch_interrupted;

static void pyh_watch_sig(int sig)
{
	(void)sig;
	pyh_watch_interrupted = 1;
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

/* stat field 22 (start time) and 20 (threads), 0 when unreadable. */
static int pyh_proc_stat(pid_t pid, uint64_t *start_time, long *nthreads)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	long nt = 0;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -ESRCH;
	buf[len] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	/* after ") ": field 3 is state; 20 num_threads; 22 starttime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld %*d %llu",
		   &nt, &st) != 2)
		return -EINVAL;
	if (start_time)
		*start_time = st;
	if (nthreads)
		*nthreads = nt;
	return 0;
}

static void pyh_read_cmdline(pid_t pid, char *out, size_t outsz)
{
	char path[64];
	ssize_t len;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = read(fd, out, outsz - 1);
	close(fd);
	if (len <= 0)
		return;
	for (ssize_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';
	while (len > 0 && out[len - 1] == ' ')
		len--;
	out[len] = '\0';
}

static struct pyh_wthr *pyh_thr_get(struct pyh_wproc *p, pid_t tid)
{
	uint32_t h = ((uint32_t)tid * 2654435761u) & (PYH_WATCH_THR_SLOTS - 1);

	for (int i = 0; i < PYH_WATCH_THR_SLOTS; i++) {
		struct pyh_wthr *t = &p->thr[(h + (uint32_t)i) & (PYH_WATCH_THR_SLOTS - 1)];

		if (t->tid == tid)
			return t;
		if (!t->tid) {
			if (p->nthr >= PYH_WATCH_THR_SLOTS / 2)
				return NULL;	/* bounded: more threads than we track */
			memset(t, 0, sizeof(*t));
			t->tid = tid;
			p->nthr++;
			return t;
		}
	}
	return NULL;
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
		bpf_map_delete_elem(bpf_map__fd(w->skel->maps.watched), &tgid);
		for (int i = 0; i < w->ninfl; i++)
			if (w->infl[i].c.tgid == tgid)
				bpf_map_delete_elem(bpf_map__fd(w->skel->maps.inflight), &w->infl[i].tid);
	}
	pyh_codecache_free(p->cache);
	pyh_source_free(p->src);
	free(p->py);
	free(p->thr);
	free(p->tids);
	free(p);
}

static void pyh_attach_probe(struct pyh_wproc *p, struct bpf_program *prog, int ret, const char *func)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func, .retprobe = ret);
	struct bpf_link *l;

	if (p->nlinks >= PYH_WATCH_MAX_LINKS)
		return;
	l = bpf_program__attach_uprobe_opts(prog, p->pid, p->t.bin.host_path, 0, &uo);
	if (!l) {
		if (pyh_verbose)
			fprintf(stderr, "pyhang: uprobe on %s in %s: %s\n", func, p->t.bin.host_path,
				strerror(errno));
		return;
	}
	p->links[p->nlinks++] = l;
}

/* Blocked calls that started before watch did: from /proc, into the inflight
 * map (only where BPF has not seen a call of that thread yet). */
static void pyh_snapshot_blocked(struct pyh_watcher *w, struct pyh_wproc *p)
{
	int n = 0, fd = bpf_map__fd(w->skel->maps.inflight);
	uint64_t now = pyh_now_ns();

	if (pyh_task_list(p->pid, p->tids, PYH_MAX_THREADS, &n) && n <= 0)
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

static int pyh_proc_add(struct pyh_watcher *w, pid_t pid, char *err, size_t errsz)
{
	struct pyh_wproc *p = NULL;
	struct pyh_elf *elf = NULL;
	uint32_t tgid = (uint32_t)pid, one = 1;
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
	rc = pyh_target_open(pid, &p->t, err, errsz);
	if (rc)
		goto cleanup;
	pyh_proc_stat(pid, &p->start_time, NULL);
	pyh_read_cmdline(pid, p->cmdline, sizeof(p->cmdline));
	snprintf(p->version, sizeof(p->version), "%d.%d.%d", p->t.ver.major, p->t.ver.minor,
		 p->t.ver.micro);
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
	rc = bpf_map_update_elem(bpf_map__fd(w->skel->maps.watched), &tgid, &one, BPF_ANY);
	if (rc) {
		rc = -errno;
		snprintf(err, errsz, "adding process %d to the BPF map failed: %s", pid, strerror(-rc));
		goto cleanup;
	}
	/* Lock holders and GIL waits: uprobes on exported functions of this interpreter. */
	{
		uint64_t v, sz;
		int have_timed = 0, have_take_gil = 0;

		if (!pyh_elf_open(p->t.bin.host_path, &elf)) {
			have_timed = !pyh_elf_symbol(elf, "PyThread_acquire_lock_timed", &v, &sz);
			have_take_gil = !pyh_elf_symbol(elf, "take_gil", &v, &sz);
		}
		const char *acq = have_timed ? "PyThread_acquire_lock_timed" : "PyThread_acquire_lock";
		int before = p->nlinks;

		pyh_attach_probe(p, w->skel->progs.pyh_lock_acquire, 0, acq);
		pyh_attach_probe(p, w->skel->progs.pyh_lock_acquire_ret, 1, acq);
		pyh_attach_probe(p, w->skel->progs.pyh_lock_release, 0, "PyThread_release_lock");
		p->lock_probes = p->nlinks - before == 3;
		if (!w->o->no_gil) {
			pyh_attach_probe(p, w->skel->progs.pyh_gil_wait, 0, "PyEval_RestoreThread");
			pyh_attach_probe(p, w->skel->progs.pyh_gil_got, 1, "PyEval_RestoreThread");
		}
		if (have_take_gil && !w->o->no_gil) {
			pyh_attach_probe(p, w->skel->progs.pyh_gil_wait, 0, "take_gil");
			pyh_attach_probe(p, w->skel->progs.pyh_gil_got, 1, "take_gil");
		}
	}
	pyh_elf_close(elf);
	elf = NULL;
	pyh_snapshot_blocked(w, p);
	w->procs[w->nprocs++] = p;
	if (pyh_verbose)
		fprintf(stderr, "pyhang: watching process %d (Python %s, %d probes)\n", pid, p->version,
			p->nlinks);
	return 0;
cleanup:
	pyh_elf_close(elf);
	pyh_proc_free(NULL, p);
	return rc;
}

/* tp_btf needs BTF for the raw tracepoint: try loading a two-instruction
 * program against it (bcc runqslower's probe_tp_btf). */
static int pyh_probe_tp_btf(const char *name)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_TRACE_RAW_TP);
	int fd, id = libbpf_find_vmlinux_btf_id(name, BPF_TRACE_RAW_TP);

	if (id <= 0)
		return 0;
	lo.attach_btf_id = (__u32)id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &lo);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int pyh_ringbuf_event(void *ctx, void *data, size_t len);

/* Load with the chosen pair of programs: syscalls (sys_enter + sys_exit) or
 * sched_switch, each as tp_btf or as a classic tracepoint. */
static int pyh_bpf_load(struct pyh_watcher *w, int btf, char *err, size_t errsz)
{
	struct bpf_program *progs[6];
	int rc, want_a, want_b;

	watch_bpf__destroy(w->skel);
	w->skel = watch_bpf__open();
	if (!w->skel) {
		rc = -errno;
		snprintf(err, errsz, "opening the BPF program failed: %s", strerror(-rc));
		return rc;
	}
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
	if (pyh_verbose)
		fprintf(stderr, "pyhang: waits recorded with %s %s\n", btf ? "tp_btf" : "tracepoint",
			w->o->trace_syscalls ? "raw_syscalls sys_enter/sys_exit" : "sched_switch");
	return 0;
}

static int pyh_bpf_open(struct pyh_watcher *w, char *err, size_t errsz)
{
	int rc, btf;

	/* Probe features, not kernel versions: tp_btf when the kernel can attach it. */
	if (w->o->trace_syscalls)
		btf = pyh_probe_tp_btf("sys_enter") && pyh_probe_tp_btf("sys_exit");
	else
		btf = pyh_probe_tp_btf("sched_switch");
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
	return 0;
}

static struct pyh_wproc *pyh_proc_find(struct pyh_watcher *w, pid_t pid)
{
	for (int i = 0; i < w->nprocs; i++)
		if (w->procs[i]->pid == pid)
			return w->procs[i];
	return NULL;
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
	int truncated = 0, n;
	const char *broken = NULL;

	if (!py)
		return 0;
	n = pyh_frames_walk(&p->t, py->frame, w->raw, PYH_WATCH_STACK_FRAMES, &truncated, &broken);
	th->frames = calloc((size_t)(n > 0 ? n : 1), sizeof(*th->frames));
	if (!th->frames)
		return 1;
	for (int i = 0; i < n; i++) {
		const struct pyh_code_info *ci = pyh_code_get(p->cache, w->raw[i].code, 1);
		struct pyh_dump_frame *f = &th->frames[i];

		f->function = strdup(ci ? ci->name : "<unreadable code object>");
		f->qualname = strdup(ci ? ci->qualname : "<unreadable code object>");
		f->file = strdup(ci ? ci->file : "?");
		f->line = ci && w->raw[i].offset_valid ? pyh_code_line(&p->t, ci, w->raw[i].offset) : -1;
		th->nframes = i + 1;
		if (!f->function || !f->qualname || !f->file)
			break;
	}
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
}

static void pyh_emit(struct pyh_watcher *w, struct pyh_wevent *e)
{
	const struct pyh_watch_opts *o = w->o;

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
	const struct pyh_dump_frame *f;

	if (th->nframes <= 0)
		return 0;
	f = &th->frames[0];
	if (!strcmp(f->function, "acquire") || !strcmp(f->function, "__enter__"))
		return 1;
	if (strstr(f->file, "threading.py"))
		return 0;	/* join, Condition.wait: not a lock someone holds */
	if (!p->src || f->line <= 0 || pyh_source_line(p->src, f->file, f->line, line, sizeof(line)))
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
		if (pyh_verbose > 1)
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
	long nthreads = 0;
	int nblocked = 0, nreal = 0;
	double least = -1;
	struct pyh_wevent e;

	if (pyh_proc_stat(p->pid, NULL, &nthreads) || nthreads <= 0)
		return;
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
		if (!p)
			continue;
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

static int pyh_read_schedstat(pid_t pid, pid_t tid, uint64_t *run_ns)
{
	char path[96], buf[128];
	unsigned long long v;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -ESRCH;
	buf[len] = '\0';
	if (sscanf(buf, "%llu", &v) != 1)
		return -EINVAL;
	*run_ns = v;
	return 0;
}

/* The same Python frames (code objects, and call sites of all but the
 * innermost frame) on the CPU for longer than the threshold. */
static void pyh_check_spin(struct pyh_watcher *w, struct pyh_wproc *p, uint64_t now)
{
	int n = 0, todo;

	if (pyh_task_list(p->pid, p->tids, PYH_MAX_THREADS, &n) && n <= 0)
		return;
	todo = n < PYH_WATCH_SPIN_PER_SCAN ? n : PYH_WATCH_SPIN_PER_SCAN;
	for (int k = 0; k < todo && !w->stop; k++) {
		pid_t tid = p->tids[(p->spin_cursor + k) % n];
		struct pyh_wthr *t = pyh_thr_get(p, tid);
		const struct pyh_pythread *py;
		const struct pyh_watch_call *c;
		uint64_t run = 0, sig = 1469598103934665603ull, dt;
		int truncated = 0, nf;
		const char *broken = NULL;

		if (!t || pyh_read_schedstat(p->pid, tid, &run))
			continue;
		dt = now - t->cpu_t;
		c = pyh_infl_find(w, (uint32_t)tid);
		/* Spinning: it ran in this interval and never went to sleep (being
		 * preempted on a busy machine does not count against it). */
		if (!t->cpu_t || run < t->cpu_ns || (run - t->cpu_ns) * 20 < dt ||
		    (c && (c->start_ns || c->end_ns > t->cpu_t))) {
			if (pyh_verbose > 1 && t->spin_since)
				fprintf(stderr, "pyhang: thread %d off the CPU\n", (int)tid);
			t->cpu_t = now;
			t->cpu_ns = run;
			t->spin_since = 0;
			t->spin_reported = 0;
			continue;
		}
		py = pyh_py_of(p, tid);
		nf = py ? pyh_frames_walk(&p->t, py->frame, w->raw, PYH_WATCH_STACK_FRAMES, &truncated,
					  &broken) : 0;
		for (int i = 0; i < nf; i++) {
			sig = (sig ^ w->raw[i].code) * 1099511628211ull;
			if (i > 0)
				sig = (sig ^ w->raw[i].offset) * 1099511628211ull;
		}
		if (nf <= 0 || broken) {
			/* a torn read of a running stack: judge on the next sample */
		} else if (!t->spin_since || t->spin_sig != sig) {
			if (pyh_verbose > 1)
				fprintf(stderr, "pyhang: thread %d on CPU in new frames (%d deep)\n", (int)tid, nf);
			t->spin_since = t->cpu_t;
			t->spin_sig = sig;
			t->spin_reported = 0;
		} else if (!t->spin_reported && now - t->spin_since >= w->threshold_ns) {
			struct pyh_wevent e;

			t->spin_reported = 1;
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
	char path[96];

	for (int i = 0; i < w->ninfl; i++) {
		snprintf(path, sizeof(path), "/proc/%u/task/%u", w->infl[i].c.tgid, w->infl[i].tid);
		if (access(path, F_OK))
			bpf_map_delete_elem(fd, &w->infl[i].tid);
	}
	while (ndead < 256 && guard++ < PYH_WATCH_MAX_TIDS && !bpf_map_get_next_key(gfd, prev, &next)) {
		struct pyh_watch_gilwait g;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(gfd, &key, &g))
			continue;
		snprintf(path, sizeof(path), "/proc/%u/task/%u", g.tgid, key);
		if (access(path, F_OK))
			dead[ndead++] = key;
	}
	for (int i = 0; i < ndead; i++)
		bpf_map_delete_elem(gfd, &dead[i]);
}

static int pyh_is_rejected(struct pyh_watcher *w, pid_t pid, uint64_t start)
{
	for (int i = 0; i < w->nrejected; i++)
		if (w->rejected[i].pid == pid && w->rejected[i].start == start)
			return 1;
	return 0;
}

/* --all: find Python processes not yet watched. */
static void pyh_scan_all(struct pyh_watcher *w)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t self = getpid();
	int seen = 0;

	if (!d)
		return;
	while ((de = readdir(d)) && seen++ < 1000000) {
		char *end = NULL, err[256], st = '?';
		long v = strtol(de->d_name, &end, 10);
		uint64_t start = 0;
		int kthread = 0;

		if (!end || *end || v <= 0 || v == self || pyh_proc_find(w, (pid_t)v))
			continue;
		if (pyh_proc_stat((pid_t)v, &start, NULL) || pyh_is_rejected(w, (pid_t)v, start))
			continue;
		if (pyh_proc_state((pid_t)v, &st, &kthread) || kthread || st == 'Z' ||
		    pyh_proc_add(w, (pid_t)v, err, sizeof(err))) {
			int slot = w->nrejected < (int)(sizeof(w->rejected) / sizeof(w->rejected[0]))
					   ? w->nrejected++ : (int)(v % (long)(sizeof(w->rejected) / sizeof(w->rejected[0])));

			w->rejected[slot].pid = (pid_t)v;
			w->rejected[slot].start = start;
			continue;
		}
		if (!w->o->json)
			fprintf(stderr, "pyhang: watching process %ld (Python %s): %s\n", v,
				w->procs[w->nprocs - 1]->version, w->procs[w->nprocs - 1]->cmdline);
	}
	closedir(d);
}

static void pyh_check_exits(struct pyh_watcher *w)
{
	for (int i = 0; i < w->nprocs; i++) {
		struct pyh_wproc *p = w->procs[i];
		uint64_t start = 0;
		char st = '?';
		int kthread = 0;

		if (!pyh_proc_stat(p->pid, &start, NULL) && start == p->start_time &&
		    !pyh_proc_state(p->pid, &st, &kthread) && st != 'Z' && st != 'X')
			continue;
		if (!w->o->all) {
			w->pid_gone = 1;
			w->stop = 1;
		} else {
			fprintf(stderr, "pyhang: process %d exited\n", (int)p->pid);
		}
		pyh_proc_free(w, p);
		w->procs[i] = w->procs[--w->nprocs];
		i--;
	}
}

static void pyh_scan(struct pyh_watcher *w, uint64_t now)
{
	for (int i = 0; i < w->nprocs; i++)
		w->procs[i]->py_fresh = 0;
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
		pyh_check_possible_deadlock(w, w->procs[i]);
		if (!w->stop)
			pyh_check_stuck(w, w->procs[i], now);
		if (!w->stop)
			pyh_check_spin(w, w->procs[i], now);
	}
}

int pyh_watch_run(const struct pyh_watch_opts *o, char *err, size_t errsz)
{
	struct pyh_watcher *w = NULL;
	struct sigaction sa;
	uint64_t t0, next_tick, last_all = 0, last_prune;
	int rc = 1;

	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errsz, "out of memory");
		return 1;
	}
	w->o = o;
	w->threshold_ns = (uint64_t)(o->threshold_s * 1e9);
	w->infl = calloc(PYH_WATCH_MAX_TIDS, sizeof(*w->infl));
	w->raw = calloc(PYH_WATCH_STACK_FRAMES, sizeof(*w->raw));
	if (!w->infl || !w->raw) {
		snprintf(err, errsz, "out of memory");
		goto cleanup;
	}
	if (!o->all) {
		/* Refuse a non-Python PID before touching BPF: the clearer error. */
		struct pyh_target t;

		if (pyh_target_open(o->pid, &t, err, errsz))
			goto cleanup;
	}
	if (pyh_bpf_open(w, err, errsz))
		goto cleanup;
	if (!o->all && pyh_proc_add(w, o->pid, err, errsz))
		goto cleanup;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pyh_watch_sig;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!o->json) {
		if (o->all)
			fprintf(stderr, "pyhang: watching every Python process (threshold %.1f s)\n", o->threshold_s);
		else
			fprintf(stderr, "pyhang: watching process %d (Python %s, threshold %.1f s)%s\n", o->pid,
				w->procs[0]->version, o->threshold_s,
				w->procs[0]->lock_probes ? "" : "; lock holders not tracked");
	}
	t0 = pyh_now_ns();
	next_tick = t0;
	last_prune = t0;
	w->exit_code = 0;
	while (!w->stop && !pyh_watch_interrupted) {
		uint64_t now = pyh_now_ns();

		if (o->duration_s > 0 && (double)(now - t0) / 1e9 >= o->duration_s)
			break;
		if (now >= next_tick) {
			if (o->all && now - last_all >= 1000000000ull) {
				pyh_scan_all(w);
				last_all = now;
			}
			pyh_check_exits(w);
			if (w->stop)
				break;
			pyh_scan(w, now);
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
			int e = ring_buffer__poll(w->rb, ms);

			if (e < 0 && e != -EINTR) {
				snprintf(err, errsz, "reading the BPF ring buffer failed: %s", strerror(-e));
				goto cleanup;
			}
		}
	}
	ring_buffer__consume(w->rb);
	if (pyh_verbose) {
		__u64 vals[256];
		int ncpu = libbpf_num_possible_cpus();

		for (__u32 k = 0; k < PYH_WCNT_MAX && ncpu > 0 && ncpu <= 256; k++) {
			__u64 sum = 0;

			if (bpf_map_lookup_elem(bpf_map__fd(w->skel->maps.stats), &k, vals))
				continue;
			for (int c = 0; c < ncpu; c++)
				sum += vals[c];
			fprintf(stderr, "pyhang: counter %u: %llu\n", k, (unsigned long long)sum);
		}
	}
	if (w->pid_gone) {
		snprintf(err, errsz, "process %d exited", o->pid);
		rc = 1;
		goto cleanup;
	}
	rc = w->exit_code;
cleanup:
	for (int i = 0; i < w->nprocs; i++)
		pyh_proc_free(w, w->procs[i]);
	ring_buffer__free(w->rb);
	bpf_link__destroy(w->sys_links[0]);
	bpf_link__destroy(w->sys_links[1]);
	watch_bpf__destroy(w->skel);
	free(w->infl);
	free(w->raw);
	free(w);
	pyh_watch_reap();
	return rc;
}
