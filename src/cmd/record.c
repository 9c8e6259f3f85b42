/* `pyhang record`: the sampling profiler's command line and main loop.
 *
 * Design choices:
 * - On-CPU samples come from bpf/sampler.bpf.c (cpu-clock perf event per CPU,
 *   stacks walked in BPF, named here by the collector as they arrive).
 * - GIL (--gil and the per-sample flag): BPF reads the GIL state itself at
 *   sample time (2.7-3.11: the current-tstate pointer; 3.12+: the interpreter's
 *   GIL struct, locked && last_holder == tstate). That is exact at the instant
 *   of the sample and needs no uprobes on PyEval_SaveThread/RestoreThread.
 * - Off-CPU samples (--idle): the main loop, at the sampling rate (batched to
 *   at most 100 Hz, each stack weighted by the periods it stands for), walks
 *   from user space the stacks of Python threads that /proc reports as not
 *   running. Running threads are the perf event's; no sched_switch program is
 *   needed and nothing extra runs in the kernel when --idle is off.
 * - --subprocesses: /proc is polled every PYH_REC_SCAN_MS for descendants of
 *   the main process; one that is not Python is retried after it execs.
 * - --all: the host tracker (src/host/) finds every Python process already
 *   running, and the sampler's exec/fork/exit tracepoints report new and
 *   departed ones; the tracker attaches new ones as soon as their interpreter
 *   exists. One sampler (a perf event per CPU, a hash map of targets) serves
 *   them all. A process that exits or execs is detached after its last
 *   samples are read; the BPF side already ignores it (see sample.h).
 */
#include "cmd/cmd.h"
#include "log/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"
#include "proc/procfs.h"
#include "profile/profile.h"
#include "python/target.h"
#include "record/collector.h"
#include "record/sampler.h"

#define PYH_REC_DEFAULT_HZ 99
#define PYH_REC_MAX_DURATION (365.0 * 86400)
#define PYH_REC_SCAN_MS 100	/* --subprocesses / liveness / attach retry period */
/* How often samples are taken from the ring buffer and named: often enough that a
 * process's code objects are read while it lives, rarely enough to cost nothing
 * (the BPF side does not wake us per sample). */
#define PYH_REC_POLL_MS 20
#define PYH_REC_MAX_PROCS 1024	/* pids examined per /proc scan for descendants */

struct pyh_recopts {
	pid_t pid;
	double duration;	/* 0: until Ctrl-C or the target exits */
	long rate;
	const char *output;
	enum pyh_format fmt;
	int threads, idle, subprocs, gil;
	int native;		/* --native: native frames between the Python ones */
	int all;		/* --all: every Python process on the host */
	int group;		/* enum pyh_group */
	long ringbuf_mb;
	char **cmd;		/* NULL unless `-- CMD ARGS...` */
};

struct pyh_recstate {
	const struct pyh_recopts *o;
	struct pyh_sampler *smp;
	struct pyh_collector *col;
	struct pyh_profile *prof;
	pid_t main_pid;
	pid_t child;		/* spawned command, 0 if --pid */
	int child_status;
	int child_reaped;
	int attached;		/* main process added as a target */
	/* --subprocesses: pids looked at, with the exe they had (to retry after exec). */
	pid_t seen_pid[PYH_REC_MAX_PROCS];
	char seen_exe[PYH_REC_MAX_PROCS][64];
	int nseen;
	struct pyh_host_tracker *tr;	/* --all */
	struct pyh_proctrack *pt;	/* --all */
	int host_attached;		/* --all: processes attached so far */
};

static volatile sig_atomic_t pyh_rec_stop;

static void pyh_rec_on_signal(int sig)
{
	(void)sig;
	pyh_rec_stop = 1;
}

static void pyh_rec_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang record [options] --pid PID\n"
		"       pyhang record [options] --all\n"
		"       pyhang record [options] -- COMMAND [ARGS...]\n"
		"\n"
		"Sample the Python stacks of a running process (or of a command pyhang starts)\n"
		"with a BPF sampler and write a flame graph or profile. Needs root (CAP_BPF, CAP_PERFMON).\n"
		"\n"
		"options:\n"
		"  -p, --pid PID          profile this running process\n"
		"  -a, --all              profile every Python process on the host, those running and\n"
		"                         those that start while recording (containers included)\n"
		"      --group HOW        root frames: process (\"python3 app.py [pid 123, 3.12.1]\"),\n"
		"                         cgroup (\"cgroup /system.slice/app.service\") or none\n"
		"                         (default: process with --all, else none)\n"
		"  -d, --duration SECS    stop after SECS seconds (default: when the target exits or Ctrl-C;\n"
		"                         a COMMAND pyhang started gets SIGTERM when SECS end)\n"
		"  -r, --rate HZ          samples per second of CPU time, 1..%d (default %d)\n"
		"  -o, --output FILE      where to write (default pyhang-PID.EXT; '-' is stdout)\n"
		"  -f, --format FMT       svg, folded, speedscope or pprof (default: from -o's extension, else svg)\n"
		"      --threads          a root frame per thread: \"thread TID (name)\"\n"
		"      --idle             also sample threads that are off CPU (sleeping, blocked)\n"
		"  -s, --subprocesses     also profile child processes (polled every %d ms)\n"
		"      --gil              only samples taken while the thread holds the GIL\n"
		"      --native           also the native frames (libc, the interpreter, C extensions)\n"
		"                         between the Python frames that called them; each sample\n"
		"                         then carries the thread's registers and %u KiB of its stack\n"
		"      --ringbuf-mb MB    BPF ring buffer size in MiB (default 8)\n"
		"  -v, --verbose          show libbpf's log and details\n"
		"  -h, --help             this text\n"
		"\n"
		"examples:\n"
		"  pyhang record --pid 1234 -d 30 -o app.svg\n"
		"  pyhang record -r 999 -f speedscope -o run.json -- python3 train.py --epochs 1\n"
		"  pyhang record --pid 1234 --idle --threads -o waits.folded\n"
		"  pyhang record --subprocesses -o build.svg -- make -j8\n"
		"  pyhang record --all -d 60 -o host.pb.gz\n"
		"  pyhang record --all --group cgroup -d 30 -o services.svg\n"
		"  pyhang record --native -f folded -o mixed.folded -- python3 numpy_job.py\n",
		PYH_SAMPLER_MAX_HZ, PYH_REC_DEFAULT_HZ, PYH_REC_SCAN_MS, PYH_SAMPLE_STACK_MAX >> 10);
}

static double pyh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *pyh_fmt_ext(enum pyh_format f)
{
	switch (f) {
	case PYH_FMT_FOLDED: return "folded";
	case PYH_FMT_SPEEDSCOPE: return "speedscope.json";
	case PYH_FMT_PPROF: return "pb.gz";
	default: return "svg";
	}
}

/* Check, before sampling, that a profile could be written to path. */
static int pyh_check_output(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;
	const char *slash;

	if (!strcmp(path, "-"))
		return 0;
	if (!*path) {
		fprintf(stderr, "pyhang: empty output path\n");
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "pyhang: cannot write the profile to '%s': it is a directory\n", path);
			return -1;
		}
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			if (access(path, W_OK)) {
				fprintf(stderr, "pyhang: cannot write the profile to '%s': %s\n", path,
					strerror(errno));
				return -1;
			}
			return 0; /* a pipe or device, written directly */
		}
	}
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st)) {
		fprintf(stderr, "pyhang: cannot write the profile to '%s': directory '%s': %s\n", path,
			dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pyhang: cannot write the profile to '%s': '%s' is not a directory\n",
			path, dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK)) {
		fprintf(stderr, "pyhang: cannot write the profile to '%s': directory '%s': %s\n", path,
			dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int pyh_rec_parse(int argc, char **argv, struct pyh_recopts *o, int *exit_code)
{
	enum { OPT_THREADS = 256, OPT_IDLE, OPT_GIL, OPT_RINGBUF, OPT_GROUP, OPT_NATIVE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "threads", no_argument, NULL, OPT_THREADS },
		{ "idle", no_argument, NULL, OPT_IDLE },
		{ "subprocesses", no_argument, NULL, 's' },
		{ "gil", no_argument, NULL, OPT_GIL },
		{ "native", no_argument, NULL, OPT_NATIVE },
		{ "ringbuf-mb", required_argument, NULL, OPT_RINGBUF },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt_arg = NULL;
	int c, group_set = 0;

	memset(o, 0, sizeof(*o));
	o->rate = PYH_REC_DEFAULT_HZ;
	o->ringbuf_mb = 8;
	*exit_code = 2;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:ad:r:o:f:svh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (pyh_parse_pid(optarg, &o->pid))
				return -1;
			break;
		case 'd':
			if (pyh_parse_double(optarg, 0.001, PYH_REC_MAX_DURATION, &o->duration)) {
				fprintf(stderr, "pyhang: invalid duration '%s': want seconds, > 0 and <= %.0f\n",
					optarg, PYH_REC_MAX_DURATION);
				return -1;
			}
			break;
		case 'r':
			if (pyh_parse_long(optarg, 1, PYH_SAMPLER_MAX_HZ, &o->rate)) {
				fprintf(stderr, "pyhang: invalid rate '%s': want a whole number of Hz from 1 to %d\n",
					optarg, PYH_SAMPLER_MAX_HZ);
				return -1;
			}
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'f':
			fmt_arg = optarg;
			o->fmt = pyh_format_parse(optarg);
			if (!o->fmt) {
				fprintf(stderr, "pyhang: unknown format '%s': want svg, folded, speedscope or pprof\n",
					optarg);
				return -1;
			}
			break;
		case 'a': o->all = 1; break;
		case OPT_GROUP:
			group_set = 1;
			if (!strcmp(optarg, "process")) {
				o->group = PYH_GROUP_PROCESS;
			} else if (!strcmp(optarg, "cgroup")) {
				o->group = PYH_GROUP_CGROUP;
			} else if (!strcmp(optarg, "none")) {
				o->group = PYH_GROUP_NONE;
			} else {
				fprintf(stderr, "pyhang: invalid --group '%s': want process, cgroup or none\n",
					optarg);
				return -1;
			}
			break;
		case OPT_THREADS: o->threads = 1; break;
		case OPT_IDLE: o->idle = 1; break;
		case 's': o->subprocs = 1; break;
		case OPT_GIL: o->gil = 1; break;
		case OPT_NATIVE: o->native = 1; break;
		case OPT_RINGBUF:
			if (pyh_parse_long(optarg, 1, 1024, &o->ringbuf_mb)) {
				fprintf(stderr, "pyhang: invalid ring buffer size '%s': want MiB from 1 to 1024\n",
					optarg);
				return -1;
			}
			break;
		case 'v': pyh_log_set_verbosity(pyh_log_verbosity() + 1); break;
		case 'h':
			pyh_rec_usage(stdout);
			*exit_code = 0;
			return -1;
		case ':':
			fprintf(stderr, "pyhang: option '%s' needs a value (see pyhang record --help)\n",
				argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "pyhang: unknown option '%s' (see pyhang record --help)\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (o->all && (o->pid || o->cmd)) {
		fprintf(stderr, "pyhang: --all profiles every Python process: give --all, --pid or a "
				"command, not several\n");
		return -1;
	}
	if (o->all && o->subprocs) {
		fprintf(stderr, "pyhang: --all already includes every subprocess: drop --subprocesses\n");
		return -1;
	}
	if (!group_set)
		o->group = o->all ? PYH_GROUP_PROCESS : PYH_GROUP_NONE;
	if (!o->all && !o->pid == !o->cmd) {
		fprintf(stderr, o->pid ? "pyhang: give either --pid or a command, not both\n"
				       : "pyhang: nothing to profile: give --pid PID, --all or -- COMMAND "
					 "(see pyhang record --help)\n");
		return -1;
	}
	if (!fmt_arg) {
		o->fmt = o->output ? pyh_format_from_path(o->output) : 0;
		if (!o->fmt)
			o->fmt = PYH_FMT_SVG;
	}
	return 0;
}

/* 1 when pid is gone or a zombie. */
static int pyh_proc_gone(pid_t pid)
{
	struct pyh_proc_stat st;

	return pyh_proc_stat(pid, 0, &st) || pyh_proc_stat_dead(&st);
}

/* Attach to pid: sampler target + collector. Returns 0 or -errno (err filled). */
static int pyh_rec_attach(struct pyh_recstate *st, pid_t pid, char *err, size_t errsz)
{
	struct pyh_target t;
	int e;

	if (pyh_collector_has_target(st->col, pid))
		return 0;
	e = pyh_target_open(pid, &t, err, errsz);
	if (e)
		return e;
	e = pyh_collector_add_target(st->col, &t);
	if (e) {
		snprintf(err, errsz, "process %d: %s", (int)pid, strerror(-e));
		return e;
	}
	if (st->o->group) {
		struct pyh_host_proc hp;
		char label[256], cg[PYH_HOST_CGROUP_MAX + 8];

		if (!pyh_host_proc_read(pid, &hp)) {
			pyh_host_label(&hp, &t.ver, label, sizeof(label));
			pyh_host_cgroup_label(&hp, cg, sizeof(cg));
			pyh_collector_set_labels(st->col, pid, label, cg);
		}
	}
	e = pyh_sampler_add_target(st->smp, &t, err, errsz);
	if (e) {
		pyh_collector_forget(st->col, pid);	/* attached to both or to neither */
		return e;
	}
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: sampling process %d (Python %d.%d.%d)\n", (int)pid,
			t.ver.major, t.ver.minor, t.ver.micro);
	return 0;
}

/* The parent pid of pid; 0 when unknown. */
static pid_t pyh_ppid(pid_t pid)
{
	struct pyh_proc_stat st;

	return pyh_proc_stat(pid, 0, &st) ? 0 : st.ppid;
}

static int pyh_is_descendant(pid_t pid, pid_t root)
{
	for (int i = 0; i < 64 && pid > 1; i++) {
		pid = pyh_ppid(pid);
		if (pid == root)
			return 1;
	}
	return 0;
}

/* --subprocesses: attach to every Python descendant of the main process. A
 * descendant that is not Python is retried when its exe changes (exec). */
static void pyh_rec_scan_children(struct pyh_recstate *st)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int examined = 0;

	if (!d)
		return;
	while ((de = readdir(d)) && examined < 100000) {
		char exe[64] = "", err[256];
		long v;
		pid_t pid;
		int i;

		examined++;
		if (pyh_parse_long(de->d_name, 2, INT_MAX, &v))
			continue;
		pid = (pid_t)v;
		if (pid == st->main_pid || pid == getpid() || pyh_collector_has_target(st->col, pid))
			continue;
		if (!pyh_is_descendant(pid, st->main_pid))
			continue;
		pyh_proc_exe(pid, exe, sizeof(exe));
		for (i = 0; i < st->nseen; i++)
			if (st->seen_pid[i] == pid)
				break;
		if (i < st->nseen && !strcmp(st->seen_exe[i], exe))
			continue; /* not Python last time, not exec'd since */
		if (i == st->nseen) {
			if (st->nseen >= PYH_REC_MAX_PROCS)
				continue;
			st->nseen++;
		}
		st->seen_pid[i] = pid;
		snprintf(st->seen_exe[i], sizeof(st->seen_exe[i]), "%s", exe);
		if (pyh_rec_attach(st, pid, err, sizeof(err)) && pyh_log_verbosity())
			fprintf(stderr, "pyhang: not sampling child %d: %s\n", (int)pid, err);
		else if (pyh_collector_has_target(st->col, pid) && pyh_log_verbosity())
			fprintf(stderr, "pyhang: following child process %d\n", (int)pid);
	}
	closedir(d);
}

/* ---- --all: the host tracker's callbacks ---------------------------------- */

static uint32_t pyh_rec_host_gen(void *arg, pid_t pid)
{
	struct pyh_recstate *st = arg;

	return pyh_proctrack_exec_gen(st->pt, pid);
}

static int pyh_rec_host_attach(void *arg, const struct pyh_target *t, const struct pyh_host_proc *p,
			       uint32_t gen)
{
	struct pyh_recstate *st = arg;
	char err[512], label[256], cg[PYH_HOST_CGROUP_MAX + 8];
	int e;

	pyh_collector_forget(st->col, t->pid); /* an earlier process with this pid */
	e = pyh_collector_add_target(st->col, t);
	if (e) {
		if (pyh_log_verbosity())
			fprintf(stderr, "pyhang: not sampling process %d: %s\n", (int)t->pid, strerror(-e));
		return e;
	}
	pyh_host_label(p, &t->ver, label, sizeof(label));
	pyh_host_cgroup_label(p, cg, sizeof(cg));
	pyh_collector_set_labels(st->col, t->pid, label, cg);
	e = pyh_sampler_add_target_checked(st->smp, t, p->start_ticks, gen, err, sizeof(err));
	if (!e && (e = pyh_proctrack_follow(st->pt, t->pid))) {
		snprintf(err, sizeof(err), "following process %d failed: %s", (int)t->pid, strerror(-e));
		pyh_sampler_remove_target(st->smp, t->pid);
	}
	if (e) {
		pyh_collector_forget(st->col, t->pid);
		if (pyh_log_verbosity())
			fprintf(stderr, "pyhang: not sampling process %d: %s\n", (int)t->pid, err);
		return e;
	}
	st->host_attached++;
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: sampling %s\n", label);
	return 0;
}

static void pyh_rec_host_detach(void *arg, pid_t pid)
{
	struct pyh_recstate *st = arg;

	/* No new samples of pid from here on; name the ones in the ring buffer
	 * from the code cache only (the memory may be another program's now). */
	pyh_sampler_remove_target(st->smp, pid);
	pyh_proctrack_unfollow(st->pt, pid);
	pyh_collector_mark_gone(st->col, pid);
	for (int i = 0; i < 100 && pyh_sampler_poll(st->smp, 0) > 0; i++)
		;
	pyh_collector_forget(st->col, pid);
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: process %d exited or exec'd\n", (int)pid);
}

static void pyh_rec_proc_event(const struct pyh_proc_event *e, void *arg)
{
	struct pyh_recstate *st = arg;

	if (!st->tr)
		return;
	if (pyh_log_verbosity() > 2)
		fprintf(stderr, "pyhang: process %u: %s\n", e->pid,
			e->kind == PYH_PROC_EXIT ? "exit" : e->kind == PYH_PROC_EXEC ? "exec" : "fork");
	if (e->kind == PYH_PROC_EXIT)
		pyh_host_tracker_exit(st->tr, (pid_t)e->pid);
	else if (e->kind == PYH_PROC_EXEC || e->kind == PYH_PROC_FORK)
		pyh_host_tracker_exec(st->tr, (pid_t)e->pid);
}

/* Start the command; returns the child's pid or -1 (message printed). */
static pid_t pyh_rec_spawn(char **cmd)
{
	int pfd[2], child_errno = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC)) {
		fprintf(stderr, "pyhang: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pyhang: fork: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		close(pfd[0]);
		execvp(cmd[0], cmd);
		child_errno = errno;
		if (write(pfd[1], &child_errno, sizeof(child_errno)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	do
		n = read(pfd[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		fprintf(stderr, "pyhang: cannot run '%s': %s\n", cmd[0], strerror(child_errno));
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static void pyh_rec_progress(struct pyh_recstate *st, double elapsed, int final)
{
	uint64_t cnt[PYH_CNT_MAX];
	struct pyh_collector_stats cs;

	pyh_sampler_counters(st->smp, cnt);
	pyh_collector_stats(st->col, &cs);
	fprintf(stderr, "\r\033[Kpyhang: %.1fs  %llu samples  %llu lost%s", elapsed,
		(unsigned long long)(cs.samples + cs.idle_samples),
		(unsigned long long)(cnt[PYH_CNT_RINGBUF_FULL] + cs.malformed + cs.oom),
		st->tr ? "" : st->attached ? "" : "  (waiting for Python)");
	if (st->tr)
		fprintf(stderr, "  %d processes", pyh_host_tracker_attached(st->tr));
	if (final)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

static void pyh_rec_summary(struct pyh_recstate *st, double elapsed, const char *path)
{
	uint64_t cnt[PYH_CNT_MAX];
	struct pyh_collector_stats cs;
	uint64_t lost;

	pyh_sampler_counters(st->smp, cnt);
	pyh_collector_stats(st->col, &cs);
	lost = cnt[PYH_CNT_RINGBUF_FULL] + cs.malformed + cs.oom + cs.unknown_pid;
	fprintf(stderr, "pyhang: %.1fs at %ld Hz: %llu samples", elapsed, st->o->rate,
		(unsigned long long)cs.samples);
	if (st->o->idle)
		fprintf(stderr, " + %llu off-CPU", (unsigned long long)cs.idle_samples);
	fprintf(stderr, ", %llu lost", (unsigned long long)lost);
	if (lost)
		fprintf(stderr, " (%llu ring buffer full, %llu malformed, %llu out of memory, "
				"%llu from unknown processes)",
			(unsigned long long)cnt[PYH_CNT_RINGBUF_FULL], (unsigned long long)cs.malformed,
			(unsigned long long)cs.oom, (unsigned long long)cs.unknown_pid);
	fputc('\n', stderr);
	if (st->tr)
		fprintf(stderr, "pyhang: %d Python processes sampled (%d still running)\n",
			st->host_attached, pyh_host_tracker_attached(st->tr));
	if (cnt[PYH_CNT_NO_TSTATE] || cnt[PYH_CNT_NO_FRAME] || cnt[PYH_CNT_BAD_FRAME] ||
	    cnt[PYH_CNT_GIL_FILTERED] || cnt[PYH_CNT_READ_ERROR] || cs.idle_errors) {
		const char *sep = "";

		fprintf(stderr, "pyhang: ticks not counted as Python samples:");
		for (int i = PYH_CNT_NO_TSTATE; i < PYH_CNT_MAX; i++)
			if (cnt[i] && i != PYH_CNT_RINGBUF_FULL && i != PYH_CNT_CACHE_STALE &&
			    i != PYH_CNT_STALE_TARGET && i != PYH_CNT_NATIVE_NO_STACK) {
				fprintf(stderr, "%s %s: %llu", sep, pyh_sampler_counter_name(i),
					(unsigned long long)cnt[i]);
				sep = ",";
			}
		if (cs.idle_errors)
			fprintf(stderr, "%s failed off-CPU walks: %llu", sep, (unsigned long long)cs.idle_errors);
		fputc('\n', stderr);
	}
	if (cs.unknown_code || cs.truncated) {
		fprintf(stderr, "pyhang: samples kept with a gap:");
		if (cs.unknown_code)
			fprintf(stderr, " frames whose code object was gone when read: %llu%s",
				(unsigned long long)cs.unknown_code, cs.truncated ? "," : "");
		if (cs.truncated)
			fprintf(stderr, " stacks truncated at %d frames: %llu", PYH_SAMPLE_MAX_DEPTH,
				(unsigned long long)cs.truncated);
		fputc('\n', stderr);
	}
	if (st->o->native)
		fprintf(stderr, "pyhang: native frames in %llu samples (%llu cut short, marked "
				"\"[native unwind stopped]\"); Python frames only in %llu (%llu whose stack "
				"was not copied, %llu caught entering or leaving a Python frame)\n",
			(unsigned long long)cs.native, (unsigned long long)cs.native_cut,
			(unsigned long long)(cs.native_none + cs.native_unpaired),
			(unsigned long long)cnt[PYH_CNT_NATIVE_NO_STACK],
			(unsigned long long)cs.native_unpaired);
	if (path)
		fprintf(stderr, "pyhang: wrote %s\n", path);
}

int pyh_cmd_record(int argc, char **argv)
{
	struct pyh_recopts o;
	struct pyh_recstate *st = NULL;
	struct pyh_sampler_opts so = { 0 };
	struct pyh_collector_opts co = { 0 };
	struct sigaction sa, old_int, old_term;
	char err[512] = "", outbuf[PATH_MAX], title[256];
	const char *out_path;
	double t0, now, last_scan = 0, last_progress = 0, elapsed;
	uint64_t idle_ticks_done = 0;
	int rc = 1, e, tty, signals_set = 0;

	if (pyh_rec_parse(argc, argv, &o, &rc))
		return rc;
	rc = 1;
	if (o.all && geteuid() != 0) {
		fprintf(stderr, "pyhang: record --all needs root: it reads every Python process's memory "
				"and loads BPF programs (run it with sudo)\n");
		return 1;
	}
	if (o.output) {
		out_path = o.output;
	} else if (o.all) {
		snprintf(outbuf, sizeof(outbuf), "pyhang-all.%s", pyh_fmt_ext(o.fmt));
		out_path = outbuf;
	} else {
		snprintf(outbuf, sizeof(outbuf), "pyhang-%d.%s", o.pid ? (int)o.pid : (int)getpid(),
			 pyh_fmt_ext(o.fmt));
		out_path = outbuf;
	}
	if (pyh_check_output(out_path))
		return 1;

	st = calloc(1, sizeof(*st));
	if (!st) {
		fprintf(stderr, "pyhang: out of memory\n");
		return 1;
	}
	st->o = &o;
	st->prof = pyh_profile_new();
	co.threads = o.threads;
	co.processes = o.subprocs;
	co.gil_only = o.gil;
	co.native = o.native;
	co.group = o.group;
	st->col = st->prof ? pyh_collector_new(st->prof, &co) : NULL;
	if (!st->col) {
		fprintf(stderr, "pyhang: out of memory\n");
		goto cleanup;
	}
	if (o.all) {
		struct pyh_host_ops ops = { .generation = pyh_rec_host_gen,
					    .attach = pyh_rec_host_attach,
					    .detach = pyh_rec_host_detach };

		st->tr = pyh_host_tracker_new(&ops, st, getpid());
		if (!st->tr) {
			fprintf(stderr, "pyhang: out of memory\n");
			goto cleanup;
		}
	}

	/* A --pid target must be Python before anything is loaded. */
	if (o.pid) {
		struct pyh_target t;

		if (kill(o.pid, 0) && errno == ESRCH) {
			fprintf(stderr, "pyhang: process %d does not exist\n", (int)o.pid);
			goto cleanup;
		}
		e = pyh_target_open(o.pid, &t, err, sizeof(err));
		if (e) {
			fprintf(stderr, "pyhang: %s\n", err);
			goto cleanup;
		}
	}

	pyh_log_libbpf();
	if (o.all) {
		struct pyh_proctrack_opts po = { .all_execs = 1, .forks = 1 };

		e = pyh_proctrack_open(&po, pyh_rec_proc_event, st, &st->pt, err, sizeof(err));
		if (e) {
			fprintf(stderr, "pyhang: %s\n", err);
			goto cleanup;
		}
		so.pt = st->pt;
	}
	so.rate_hz = (unsigned)o.rate;
	so.ringbuf_bytes = (size_t)o.ringbuf_mb << 20;
	so.gil_only = o.gil;
	so.native = o.native;
	so.max_targets = PYH_COLLECTOR_MAX_TARGETS;
	e = pyh_sampler_open(&so, pyh_collector_on_sample, st->col, &st->smp, err, sizeof(err));
	if (e) {
		fprintf(stderr, "pyhang: %s\n", err);
		goto cleanup;
	}
	if (o.native && pyh_sampler_native_missing(st->smp))
		fprintf(stderr, "pyhang: no native frames (Python frames only): %s\n",
			pyh_sampler_native_missing(st->smp));
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: sampler on %d CPUs at %ld Hz (%s)%s%s\n", pyh_sampler_ncpus(st->smp),
			o.rate, pyh_sampler_uses_bpf_loop(st->smp) ? "bpf_loop" : "bounded loops",
			st->tr ? ", process events by " : "",
			st->tr ? pyh_proctrack_kind(st->pt) : "");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pyh_rec_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signals_set = 1;

	if (o.all) {
		pyh_host_tracker_scan(st->tr, pyh_host_now_ms());
	} else if (o.cmd) {
		st->child = pyh_rec_spawn(o.cmd);
		if (st->child < 0)
			goto cleanup;
		st->main_pid = st->child;
		if (!o.output) {
			snprintf(outbuf, sizeof(outbuf), "pyhang-%d.%s", (int)st->child, pyh_fmt_ext(o.fmt));
			out_path = outbuf;
		}
	} else {
		st->main_pid = o.pid;
		e = pyh_rec_attach(st, o.pid, err, sizeof(err));
		if (e) {
			fprintf(stderr, "pyhang: %s\n", err);
			goto cleanup;
		}
	}
	st->attached = o.all ? 1 : pyh_collector_has_target(st->col, st->main_pid);

	tty = isatty(STDERR_FILENO);
	t0 = pyh_now();
	while (!pyh_rec_stop) {
		int gone = 0;

		e = pyh_sampler_poll(st->smp, PYH_REC_POLL_MS);
		if (e < 0 && e != -EINTR) {
			fprintf(stderr, "pyhang: reading the sample ring buffer failed: %s\n", strerror(-e));
			break;
		}
		now = pyh_now();
		elapsed = now - t0;
		if (o.duration > 0 && elapsed >= o.duration)
			break;
		if (st->tr) {
			/* Samples first: an exit event must not forget a process
			 * whose records are still in the ring buffer. */
			for (int i = 0; i < 100 && pyh_sampler_poll(st->smp, 0) > 0; i++)
				;
			pyh_host_tracker_tick(st->tr, pyh_host_now_ms());
		} else if (st->child) {
			int status;

			if (waitpid(st->child, &status, WNOHANG) == st->child) {
				st->child_reaped = 1;
				st->child_status = status;
				gone = 1;
			}
		} else if (pyh_proc_gone(st->main_pid)) {
			gone = 1;
		}
		if (gone) {
			pyh_collector_mark_gone(st->col, st->main_pid);
			break;
		}
		if (!st->attached) {
			/* The command may not have loaded Python yet: retry every poll,
			 * but a Python that cannot be sampled as asked is an error. */
			e = pyh_rec_attach(st, st->main_pid, err, sizeof(err));
			if (!e) {
				st->attached = 1;
			} else if (e == -EOPNOTSUPP) {
				fprintf(stderr, "pyhang: %s\n", err);
				goto cleanup;	/* nothing to profile; the command is ended below */
			}
		}
		if (o.subprocs && now - last_scan >= PYH_REC_SCAN_MS / 1000.0) {
			last_scan = now;
			pyh_rec_scan_children(st);
		}
		if (o.idle) {
			uint64_t due = (uint64_t)(elapsed * (double)o.rate);
			uint64_t batch = (uint64_t)(o.rate / 100 > 0 ? o.rate / 100 : 1);

			if (due >= idle_ticks_done + batch) {
				pyh_collector_idle_tick(st->col, due - idle_ticks_done);
				idle_ticks_done = due;
			}
		}
		if (tty && now - last_progress >= 0.25) {
			last_progress = now;
			pyh_rec_progress(st, elapsed, 0);
		}
	}
	elapsed = pyh_now() - t0;
	/* Stop sampling, then take what is still in the ring buffer. */
	for (int i = 0; i < 1000 && pyh_sampler_poll(st->smp, 0) > 0; i++)
		;
	if (tty)
		pyh_rec_progress(st, elapsed, 1);
	if (!st->attached)
		fprintf(stderr, "pyhang: process %d never ran Python: %s\n", (int)st->main_pid, err);

	if (o.all)
		snprintf(title, sizeof(title), "pyhang record --all");
	else
		snprintf(title, sizeof(title), "pyhang record %s%d", st->child ? "-- pid " : "--pid ",
			 (int)st->main_pid);
	{
		struct pyh_profile_meta meta = { .title = title, .rate_hz = (unsigned)o.rate,
						 .duration_s = elapsed };

		e = pyh_profile_write_path(st->prof, &meta, o.fmt, out_path, err, sizeof(err));
	}
	if (e) {
		fprintf(stderr, "pyhang: writing the profile failed: %s\n", err);
		pyh_rec_summary(st, elapsed, NULL);
		goto cleanup;
	}
	pyh_rec_summary(st, elapsed, strcmp(out_path, "-") ? out_path : "the profile to stdout");
	rc = st->attached ? 0 : 1;

cleanup:
	if (st && st->child > 0 && !st->child_reaped) {
		/* Stopped by -d or Ctrl-C: the command keeps running only under --pid semantics;
		 * a command we started is ours to end. */
		int i;

		if (pyh_rec_stop) /* Ctrl-C reached the command too: give it time to exit */
			for (i = 0; i < 200 && waitpid(st->child, &st->child_status, WNOHANG) == 0; i++)
				usleep(10000);
		else
			i = 200;
		if (i >= 200) {
			kill(st->child, SIGTERM);
			waitpid(st->child, &st->child_status, 0);
		}
	}
	if (signals_set) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	if (st) {
		pyh_sampler_free(st->smp);
		pyh_proctrack_free(st->pt);
		pyh_host_tracker_free(st->tr);
		pyh_collector_free(st->col);
		pyh_profile_free(st->prof);
		free(st);
	}
	return rc;
}
