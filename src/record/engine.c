/* The record engine: targets, the sampling loop, the profile. See engine.h. */
#include "record/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"
#include "budget/budget.h"
#include "host/host.h"
#include "host/proctrack.h"
#include "log/log.h"
#include "proc/caps.h"
#include "proc/procfs.h"
#include "python/target.h"
#include "record/collector.h"

/* How often samples are taken from the ring buffer and named: often enough that a
 * process's code objects are read while it lives, rarely enough to cost nothing
 * (the BPF side does not wake us per sample). The loop wakes every
 * PYH_REC_POLL_SAMPLES samples' worth of one thread's ticks, between
 * PYH_REC_POLL_MIN_MS and PYH_REC_POLL_MAX_MS: 500 ms at 99 Hz, 50 ms at 999 Hz.
 * A wake-up costs more than the samples it takes at a low rate (measured at
 * 99 Hz: the collector's CPU is its wake-ups), and the sampler forces one
 * whenever the ring is a quarter full, so a longer period loses no samples;
 * what it costs is naming a sample up to that much later (a code object freed
 * meanwhile is named [unknown code], never another function). The exit of the
 * main process wakes the loop at once (its pidfd is in the wait); what needs
 * a tick of its own keeps PYH_REC_SCAN_MS: the tracker (--all), the scan of
 * descendants, attaching to a command that has not loaded Python yet,
 * --idle's ticks, the progress line on a terminal; and --duration's end. */
#define PYH_REC_POLL_SAMPLES 50
#define PYH_REC_POLL_MIN_MS 20
#define PYH_REC_POLL_MAX_MS 500
#define PYH_REC_MAX_SEEN 1024		/* --subprocesses: descendants remembered as not Python */
#define PYH_REC_MAX_ANCESTRY 64		/* parents followed up to the main process */
/* Rounds of taking what is in the ring buffer: before a process event is acted on
 * (its samples first), and at the end. Bounded, so that a sampler filling the ring
 * as fast as it is read cannot hold up the loop. */
#define PYH_REC_DRAIN_ROUNDS 100
#define PYH_REC_FINAL_DRAIN_ROUNDS 1000
/* A command stopped by a signal that reached it too gets this long to exit by
 * itself before SIGTERM: PYH_REC_CHILD_WAIT_ROUNDS waits of PYH_REC_CHILD_WAIT_US. */
#define PYH_REC_CHILD_WAIT_ROUNDS 200
#define PYH_REC_CHILD_WAIT_US 10000
#define PYH_REC_NAME_TRIES 100	/* pyhang-PID.N.EXT tried when the default name is taken */

struct pyh_recstate {
	const struct pyh_record_opts *o;
	struct pyh_sampler *smp;
	struct pyh_collector *col;
	struct pyh_profile *prof;
	pid_t main_pid;
	int main_pidfd;		/* --pid, -- CMD: to see it exit (pyh_pidfd_open); -1 none */
	pid_t child;		/* spawned command, 0 if --pid */
	int child_status;
	int child_reaped;
	int attached;		/* main process added as a target */
	/* --subprocesses: pids looked at, with the exe they had (to retry after exec). */
	pid_t seen_pid[PYH_REC_MAX_SEEN];
	char seen_exe[PYH_REC_MAX_SEEN][64];
	int nseen;
	pid_t *pids;		/* PYH_HOST_MAX_PROCS: a /proc listing */
	struct pyh_host_tracker *tr;	/* --all */
	struct pyh_proctrack *pt;	/* --all */
	int host_attached;		/* --all: processes attached so far */
};

static const char *pyh_fmt_ext(enum pyh_format f)
{
	switch (f) {
	case PYH_FMT_FOLDED: return "folded";
	case PYH_FMT_SPEEDSCOPE: return "speedscope.json";
	case PYH_FMT_PPROF: return "pb.gz";
	default: return "svg";
	}
}

/* 1 when the main process (--pid) is gone or a zombie: from its pidfd,
 * else from /proc. */
static int pyh_rec_main_gone(const struct pyh_recstate *st)
{
	struct pyh_proc_stat ps;

	if (st->main_pidfd >= 0)
		return pyh_pidfd_exited(st->main_pidfd);
	return pyh_proc_stat(st->main_pid, 0, &ps) || pyh_proc_stat_dead(&ps);
}

/* Attach to pid: sampler target + collector. Returns 0 or -errno (err filled). */
static int pyh_rec_attach(struct pyh_recstate *st, pid_t pid, char *err, size_t errsz)
{
	struct pyh_target t;
	int e;

	if (pyh_collector_has_target(st->col, pid))
		return 0;
	e = pyh_target_open_flags(pid, &t, PYH_TARGET_OPEN_CODE_COUNTER, err, errsz);
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

static int pyh_is_descendant(pid_t pid, pid_t root)
{
	struct pyh_proc_stat ps;

	for (int i = 0; i < PYH_REC_MAX_ANCESTRY && pid > 1; i++) {
		if (pyh_proc_stat(pid, 0, &ps))
			return 0;
		pid = ps.ppid;
		if (pid == root)
			return 1;
	}
	return 0;
}

/* --subprocesses: attach to every Python descendant of the main process. A
 * descendant that is not Python is retried when its exe changes (exec). */
static void pyh_rec_scan_children(struct pyh_recstate *st)
{
	int n = pyh_host_list_pids(st->pids, PYH_HOST_MAX_PROCS);

	for (int k = 0; k < n; k++) {
		pid_t pid = st->pids[k];
		char exe[64] = "", err[256];
		int i;

		if (pid == st->main_pid || pyh_collector_has_target(st->col, pid))
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
			if (st->nseen >= PYH_REC_MAX_SEEN)
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
}

/* Take what is in the ring buffer, at most `rounds` times. */
static void pyh_rec_drain(struct pyh_recstate *st, int rounds)
{
	for (int i = 0; i < rounds && pyh_sampler_poll(st->smp, 0, -1) > 0; i++)
		;
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
		fprintf(stderr, "pyhang: sampling process %d: %s\n", (int)t->pid, label);
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
	pyh_rec_drain(st, PYH_REC_DRAIN_ROUNDS);
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

/* A user or group id from the environment: decimal, min .. INT_MAX. 0 or -EINVAL. */
static int pyh_rec_id(const char *s, long min, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > INT_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Under sudo, the user who ran it: 0 and *uid, *gid, *user (may be NULL)
 * from SUDO_UID / SUDO_GID / SUDO_USER; -ENOENT when not under sudo. */
static int pyh_sudo_user(uid_t *uid, gid_t *gid, const char **user)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	long vu, vg;

	if (getuid() != 0 || pyh_rec_id(u, 1, &vu) || pyh_rec_id(g, 0, &vg))
		return -ENOENT;
	*uid = (uid_t)vu;
	*gid = (gid_t)vg;
	*user = getenv("SUDO_USER");
	return 0;
}

/* In the child: become the invoking user (groups first, the uid last, for
 * good). Returns 0 or -errno. */
static int pyh_drop_to(uid_t uid, gid_t gid, const char *user)
{
	if ((user && *user ? initgroups(user, gid) : setgroups(0, NULL)) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return -errno;
	return 0;
}

/* Start the command (as the invoking user under sudo, unless as_root).
 * Returns its pid, or -errno with err filled. */
static pid_t pyh_rec_spawn(char **cmd, int as_root, char *err, size_t errsz)
{
	int pfd[2], child_errno = 0, e, drop;
	uid_t uid = 0;
	gid_t gid = 0;
	const char *user = NULL;
	pid_t pid;
	ssize_t n;

	drop = !as_root && pyh_sudo_user(&uid, &gid, &user) == 0;
	if (pipe2(pfd, O_CLOEXEC)) {
		e = errno;
		snprintf(err, errsz, "cannot run '%s': pipe: %s", cmd[0], strerror(e));
		return -e;
	}
	pid = fork();
	if (pid < 0) {
		e = errno;
		snprintf(err, errsz, "cannot run '%s': fork: %s", cmd[0], strerror(e));
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		close(pfd[0]);
		if (drop && (child_errno = -pyh_drop_to(uid, gid, user))) {
			if (write(pfd[1], &child_errno, sizeof(child_errno)) < 0)
				_exit(127);
			_exit(127);
		}
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
		snprintf(err, errsz, "cannot run '%s': %s", cmd[0], strerror(child_errno));
		waitpid(pid, NULL, 0);
		return -child_errno;
	}
	return pid;
}

/* A default name (pyhang-PID.svg, pyhang-all.svg) is predictable: created
 * exclusively, and when something is there already (planted or an earlier
 * profile), the next free one: pyhang-PID.1.svg, ... path is updated.
 * Returns 0 or -errno (err filled). */
static int pyh_rec_write_default(const struct pyh_profile *p, const struct pyh_profile_meta *m,
				 enum pyh_format fmt, char *path, size_t pathsz, char *err, size_t errsz)
{
	char base[PATH_MAX / 2], *dot;
	int e = pyh_profile_write_new(p, m, fmt, path, err, errsz);

	snprintf(base, sizeof(base), "%.*s", (int)sizeof(base) - 1, path);
	dot = strchr(base, '.');
	if (dot)
		*dot = '\0';
	for (int i = 1; e == -EEXIST && i <= PYH_REC_NAME_TRIES; i++) {
		snprintf(path, pathsz, "%s.%d.%s", base, i, pyh_fmt_ext(fmt));
		e = pyh_profile_write_new(p, m, fmt, path, err, errsz);
	}
	return e;
}

/* A command pyhang started and did not see exit: given time to exit by
 * itself when the signal that stopped pyhang reached it too, else SIGTERM. */
static void pyh_rec_end_child(struct pyh_recstate *st)
{
	int i = PYH_REC_CHILD_WAIT_ROUNDS;

	if (st->child <= 0 || st->child_reaped)
		return;
	if (st->o->stop && *st->o->stop)
		for (i = 0; i < PYH_REC_CHILD_WAIT_ROUNDS &&
			    waitpid(st->child, &st->child_status, WNOHANG) == 0; i++)
			usleep(PYH_REC_CHILD_WAIT_US);
	if (i >= PYH_REC_CHILD_WAIT_ROUNDS) {
		kill(st->child, SIGTERM);
		waitpid(st->child, &st->child_status, 0);
	}
	st->child_reaped = 1;
}

static void pyh_rec_progress(struct pyh_recstate *st, double elapsed, int final)
{
	uint64_t cnt[PYH_CNT_MAX];
	struct pyh_collector_stats cs;

	pyh_sampler_counters(st->smp, cnt);
	pyh_collector_stats(st->col, &cs);
	fprintf(stderr, "\r\033[Kpyhang: %.1fs  %llu samples  %llu lost%s", elapsed,
		(unsigned long long)(cs.samples + cs.idle_samples),
		(unsigned long long)(cnt[PYH_CNT_RINGBUF_FULL] + cs.malformed + cs.oom + cs.callers_lost),
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
	lost = cnt[PYH_CNT_RINGBUF_FULL] + cs.malformed + cs.oom + cs.unknown_pid + cs.callers_lost;
	fprintf(stderr, "pyhang: %.1fs at %ld Hz: %llu samples", elapsed, st->o->rate,
		(unsigned long long)cs.samples);
	if (st->o->idle)
		fprintf(stderr, " + %llu off-CPU", (unsigned long long)cs.idle_samples);
	fprintf(stderr, ", %llu lost", (unsigned long long)lost);
	if (lost)
		fprintf(stderr, " (%llu ring buffer full, %llu malformed, %llu out of memory, "
				"%llu from unknown processes, %llu sent without callers that were not held)",
			(unsigned long long)cnt[PYH_CNT_RINGBUF_FULL], (unsigned long long)cs.malformed,
			(unsigned long long)cs.oom, (unsigned long long)cs.unknown_pid,
			(unsigned long long)cs.callers_lost);
	fputc('\n', stderr);
	if (st->tr)
		fprintf(stderr, "pyhang: %d Python processes sampled (%d still running)\n",
			st->host_attached, pyh_host_tracker_attached(st->tr));
	if (cnt[PYH_CNT_NO_TSTATE] || cnt[PYH_CNT_NO_FRAME] || cnt[PYH_CNT_BAD_FRAME] ||
	    cnt[PYH_CNT_GIL_FILTERED] || cnt[PYH_CNT_READ_ERROR] || cs.idle_errors || cs.idle_list_changed) {
		const char *sep = "";

		fprintf(stderr, "pyhang: ticks not counted as Python samples:");
		for (int i = PYH_CNT_NO_TSTATE; i < PYH_CNT_MAX; i++)
			if (cnt[i] && i != PYH_CNT_RINGBUF_FULL && i != PYH_CNT_CACHE_STALE &&
			    i != PYH_CNT_STALE_TARGET && i != PYH_CNT_NATIVE_NO_STACK &&
			    i != PYH_CNT_CEILING && i != PYH_CNT_CEILING_FALLBACK && i != PYH_CNT_CALLERS) {
				fprintf(stderr, "%s %s: %llu", sep, pyh_sampler_counter_name(i),
					(unsigned long long)cnt[i]);
				sep = ",";
			}
		if (cs.idle_errors) {
			fprintf(stderr, "%s failed off-CPU walks: %llu", sep, (unsigned long long)cs.idle_errors);
			sep = ",";
		}
		if (cs.idle_list_changed)
			fprintf(stderr, "%s off-CPU ticks of a process whose thread list changed while it "
				"was read: %llu", sep, (unsigned long long)cs.idle_list_changed);
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
				"was not copied, %llu caught entering or leaving a Python frame, %llu of "
				"%llu processes whose native code did not answer in time, marked "
				"\"[native frames unreadable]\")\n",
			(unsigned long long)cs.native, (unsigned long long)cs.native_cut,
			(unsigned long long)(cs.native_none + cs.native_unpaired + cs.native_unreadable),
			(unsigned long long)cnt[PYH_CNT_NATIVE_NO_STACK],
			(unsigned long long)cs.native_unpaired, (unsigned long long)cs.native_unreadable,
			(unsigned long long)cs.native_stalled);
	{
		struct pyh_budget code;
		struct pyh_host_stats hs = { 0 };

		pyh_budget_snapshot(pyh_budget_code(), &code);
		if (st->tr)
			pyh_host_tracker_stats(st->tr, &hs);
		if (code.evictions || code.refusals)
			fprintf(stderr, "pyhang: code cache budget (%zu MiB per process, %zu MiB in all) reached: "
				"%llu entries evicted, %llu not kept (read again)\n", code.owner_limit >> 20,
				code.limit >> 20, (unsigned long long)code.evictions,
				(unsigned long long)code.refusals);
		if (st->prof && pyh_log_verbosity())
			fprintf(stderr, "pyhang: the profile: %d stacks, %d (stack, labels) entries, %.1f MiB "
				"of its %zu MiB budget\n", pyh_profile_stacks(st->prof),
				pyh_profile_entries(st->prof), (double)pyh_profile_bytes(st->prof) / (1 << 20),
				PYH_PROFILE_MAX_BYTES >> 20);
		if (st->prof && pyh_profile_over(st->prof))
			fprintf(stderr, "pyhang: the profile's memory budget (%zu MiB) reached: %llu samples of "
				"stacks not kept counted on \"%s\"\n", PYH_PROFILE_MAX_BYTES >> 20,
				(unsigned long long)pyh_profile_over(st->prof), PYH_PROFILE_FULL);
		if (cs.stalled || cs.not_named)
			fprintf(stderr, "pyhang: %llu processes whose memory did not answer in time: not sampled "
				"after that (%llu taken out of the kernel's sampling; %llu samples dropped); "
				"%llu samples not named (too many reads stalled at once)\n",
				(unsigned long long)cs.stalled, (unsigned long long)cs.stalled_unsampled,
				(unsigned long long)cs.stalled_samples, (unsigned long long)cs.not_named);
		if (hs.refused_capacity || hs.refused_table || hs.stalled)
			fprintf(stderr, "pyhang: limits: %llu processes waited for room (%d waiting at the end), "
				"%llu not tracked (table full), %llu skipped (reading them did not finish in time)\n",
				(unsigned long long)hs.refused_capacity, hs.waiting,
				(unsigned long long)hs.refused_table, (unsigned long long)hs.stalled);
	}
	if (pyh_log_verbosity() && (cnt[PYH_CNT_CEILING] || cnt[PYH_CNT_CEILING_FALLBACK]))
		fprintf(stderr, "pyhang: code versions: %llu samples with the ceiling (%llu of them named: "
				"%llu code objects re-read in %llu reads, %llu frames whose code object was "
				"replaced), %llu that fingerprinted their frames instead (the counter run out, "
				"a subinterpreter, or unreadable)\n",
			(unsigned long long)cnt[PYH_CNT_CEILING], (unsigned long long)cs.ceiling_samples,
			(unsigned long long)cs.ceiling_objects, (unsigned long long)cs.ceiling_reads,
			(unsigned long long)cs.ceiling_replaced,
			(unsigned long long)cnt[PYH_CNT_CEILING_FALLBACK]);
	if (pyh_log_verbosity() && cnt[PYH_CNT_CALLERS])
		fprintf(stderr, "pyhang: %llu samples sent without their callers (the thread's last whole "
				"sample's): %llu given them back, %llu lost (not held)\n",
			(unsigned long long)cnt[PYH_CNT_CALLERS], (unsigned long long)cs.callers_given,
			(unsigned long long)cs.callers_lost);
	if (st->o->tasks) {
		char changed[160] = "";

		if (cs.task_list_changed)
			snprintf(changed, sizeof(changed), " (%llu with a thread list that changed while it "
				 "was read: its missing threads' tasks not named)",
				 (unsigned long long)cs.task_list_changed);
		fprintf(stderr, "pyhang: %llu samples in an asyncio task's step (%llu of a task not "
				"named: \"[task not named]\"); task registries read %llu times%s\n",
			(unsigned long long)cs.task_samples, (unsigned long long)cs.task_unknown,
			(unsigned long long)cs.task_rescans, changed);
	}
	if (path)
		fprintf(stderr, "pyhang: wrote %s\n", path);
}

/* The loop: until the duration ends, *stop, or the target exits. A ring
 * buffer that cannot be read ends it too, with a line on stderr: the samples
 * so far are still written. why gets the last reason the main process could
 * not be attached (while it has not started Python). Returns 0, or
 * -EOPNOTSUPP when the main process runs a Python that cannot be sampled as
 * asked (why says so: there is nothing to profile). */
static int pyh_rec_loop(struct pyh_recstate *st, double t0, char *why, size_t whysz)
{
	const struct pyh_record_opts *o = st->o;
	double now, last_scan = 0, last_progress = 0, elapsed;
	uint64_t idle_ticks_done = 0;
	int tty = isatty(STDERR_FILENO), e;
	int period = o->rate > 0 ? (int)(PYH_REC_POLL_SAMPLES * 1000 / o->rate) : PYH_REC_POLL_MAX_MS;

	if (period < PYH_REC_POLL_MIN_MS)
		period = PYH_REC_POLL_MIN_MS;
	if (period > PYH_REC_POLL_MAX_MS)
		period = PYH_REC_POLL_MAX_MS;
	while (!(o->stop && *o->stop)) {
		int gone = 0, poll_ms = period;

		if (period > PYH_REC_SCAN_MS &&
		    (st->tr || o->subprocs || !st->attached || o->idle || tty))
			poll_ms = PYH_REC_SCAN_MS;
		if (o->duration > 0) {
			double left_ms = (o->duration - (pyh_mono_s() - t0)) * 1000.0 + 1;

			if (left_ms < poll_ms)
				poll_ms = left_ms > 1 ? (int)left_ms : 1;
		}
		e = pyh_sampler_poll(st->smp, poll_ms, st->main_pidfd);
		if (e < 0 && e != -EINTR) {
			fprintf(stderr, "pyhang: reading the sample ring buffer failed: %s\n", strerror(-e));
			return 0;
		}
		now = pyh_mono_s();
		elapsed = now - t0;
		if (o->duration > 0 && elapsed >= o->duration)
			break;
		if (st->tr) {
			/* Samples first: an exit event must not forget a process
			 * whose records are still in the ring buffer. */
			pyh_rec_drain(st, PYH_REC_DRAIN_ROUNDS);
			pyh_host_tracker_tick(st->tr, pyh_mono_ms());
		} else if (st->child) {
			int status;

			if (waitpid(st->child, &status, WNOHANG) == st->child) {
				st->child_reaped = 1;
				st->child_status = status;
				gone = 1;
			}
		} else if (pyh_rec_main_gone(st)) {
			gone = 1;
		}
		if (gone) {
			pyh_collector_mark_gone(st->col, st->main_pid);
			break;
		}
		if (!st->attached) {
			/* The command may not have loaded Python yet: retry every poll,
			 * but a Python that cannot be sampled as asked is an error. */
			e = pyh_rec_attach(st, st->main_pid, why, whysz);
			if (!e)
				st->attached = 1;
			else if (e == -EOPNOTSUPP)
				return e;
		}
		if (o->subprocs && now - last_scan >= PYH_REC_SCAN_MS / 1000.0) {
			last_scan = now;
			pyh_rec_scan_children(st);
		}
		if (o->idle) {
			uint64_t due = (uint64_t)(elapsed * (double)o->rate);
			uint64_t batch = (uint64_t)(o->rate / 100 > 0 ? o->rate / 100 : 1);

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
	return 0;
}

/* The collector's on_stalled: a process whose memory does not answer is
 * taken out of the sampler's targets, so that the kernel stops sampling it
 * (its records still in the ring buffer are counted as dropped). It stays
 * the collector's target, counted; with --all the tracker still holds it
 * (its exit or exec detaches it as any other). */
static int pyh_rec_stalled(void *arg, pid_t pid)
{
	struct pyh_recstate *st = arg;

	return st->smp ? pyh_sampler_remove_target(st->smp, pid) : -ENOENT;
}

/* Open what the targets need: the profile, the collector, with --all the
 * trackers, and the sampler. Returns 0 or -errno (err filled). */
static int pyh_rec_setup(struct pyh_recstate *st, char *err, size_t errsz)
{
	const struct pyh_record_opts *o = st->o;
	struct pyh_sampler_opts so = { 0 };
	struct pyh_collector_opts co = { 0 };
	int e;

	pyh_log_libbpf();
	st->prof = pyh_profile_new();
	co.threads = o->threads;
	co.processes = o->subprocs;
	co.gil_only = o->gil;
	co.native = o->native;
	co.tasks = o->tasks;
	co.group = o->group;
	co.max_targets = (int)o->max_procs;
	co.on_stalled = pyh_rec_stalled;
	co.on_stalled_arg = st;
	st->col = st->prof ? pyh_collector_new(st->prof, &co) : NULL;
	st->pids = o->subprocs ? calloc(PYH_HOST_MAX_PROCS, sizeof(*st->pids)) : NULL;
	if (!st->col || (o->subprocs && !st->pids)) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	if (o->all) {
		struct pyh_host_ops ops = { .generation = pyh_rec_host_gen,
					    .attach = pyh_rec_host_attach,
					    .detach = pyh_rec_host_detach,
					    .open_flags = PYH_TARGET_OPEN_CODE_COUNTER };
		struct pyh_proctrack_opts po = { .all_execs = 1, .forks = 1 };

		st->tr = pyh_host_tracker_new(&ops, st, getpid());
		if (!st->tr) {
			snprintf(err, errsz, "out of memory");
			return -ENOMEM;
		}
		e = pyh_proctrack_open(&po, pyh_rec_proc_event, st, &st->pt, err, errsz);
		if (e)
			return e;
		so.pt = st->pt;
	}
	so.rate_hz = (unsigned)o->rate;
	so.ringbuf_bytes = (size_t)o->ringbuf_mb << 20;
	so.gil_only = o->gil;
	so.native = o->native;
	so.tasks = o->tasks;
	so.max_targets = PYH_COLLECTOR_MAX_TARGETS;
	e = pyh_sampler_open(&so, pyh_collector_on_sample, st->col, &st->smp, err, errsz);
	if (e)
		return e;
	if (o->native && pyh_sampler_native_missing(st->smp))
		fprintf(stderr, "pyhang: no native frames (Python frames only): %s\n",
			pyh_sampler_native_missing(st->smp));
	if (pyh_log_verbosity())
		fprintf(stderr, "pyhang: sampler on %d CPUs at %ld Hz (%s)%s%s\n", pyh_sampler_ncpus(st->smp),
			o->rate, pyh_sampler_uses_bpf_loop(st->smp) ? "bpf_loop" : "bounded loops",
			st->pt ? ", process events by " : "", st->pt ? pyh_proctrack_kind(st->pt) : "");
	return 0;
}

int pyh_record_run(const struct pyh_record_opts *o, char *err, size_t errsz)
{
	struct pyh_recstate *st = NULL;
	char outbuf[PATH_MAX], title[256], why[512] = "", caps[128];
	const char *out_path;
	double t0, elapsed;
	int rc;

	if (o->all && pyh_caps_missing(PYH_NEED_READ | PYH_NEED_BPF, caps, sizeof(caps))) {
		snprintf(err, errsz, "record --all needs %s: it reads every Python process's memory "
				     "and loads BPF programs (run it as root)", caps);
		return -EPERM;
	}
	out_path = outbuf;
	if (o->output)
		out_path = o->output;
	else if (o->all)
		snprintf(outbuf, sizeof(outbuf), "pyhang-all.%s", pyh_fmt_ext(o->fmt));
	else
		snprintf(outbuf, sizeof(outbuf), "pyhang-%d.%s", o->pid ? (int)o->pid : (int)getpid(),
			 pyh_fmt_ext(o->fmt));
	rc = pyh_profile_check_path(out_path, err, errsz);
	if (rc)
		return rc;
	/* A --pid target must be Python before anything is loaded. */
	if (o->pid) {
		struct pyh_target t;

		if (kill(o->pid, 0) && errno == ESRCH) {
			snprintf(err, errsz, "process %d does not exist", (int)o->pid);
			return -ESRCH;
		}
		rc = pyh_target_open(o->pid, &t, err, errsz);
		if (rc)
			return rc;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	st->o = o;
	st->main_pidfd = -1;
	rc = pyh_rec_setup(st, err, errsz);
	if (rc)
		goto cleanup;
	if (o->all) {
		pyh_host_tracker_scan(st->tr, pyh_mono_ms());
	} else if (o->cmd) {
		st->child = pyh_rec_spawn(o->cmd, o->as_root, err, errsz);
		if (st->child < 0) {
			rc = st->child;
			st->child = 0;
			goto cleanup;
		}
		st->main_pid = st->child;
		st->main_pidfd = pyh_pidfd_open(st->child);	/* wakes the loop when it exits */
		if (!o->output) {
			snprintf(outbuf, sizeof(outbuf), "pyhang-%d.%s", (int)st->child, pyh_fmt_ext(o->fmt));
			out_path = outbuf;
		}
	} else {
		st->main_pid = o->pid;
		/* before the attach: a pid reused after it would be the one attached */
		st->main_pidfd = pyh_pidfd_open(o->pid);
		rc = pyh_rec_attach(st, o->pid, err, errsz);
		if (rc)
			goto cleanup;
	}
	st->attached = o->all ? 1 : pyh_collector_has_target(st->col, st->main_pid);

	t0 = pyh_mono_s();
	rc = pyh_rec_loop(st, t0, why, sizeof(why));
	elapsed = pyh_mono_s() - t0;
	/* Stop sampling, then take what is still in the ring buffer. */
	pyh_rec_drain(st, PYH_REC_FINAL_DRAIN_ROUNDS);
	if (isatty(STDERR_FILENO))
		pyh_rec_progress(st, elapsed, 1);
	if (rc) {
		snprintf(err, errsz, "%s", why);	/* nothing to profile; the command is ended below */
		goto cleanup;
	}
	if (o->all)
		snprintf(title, sizeof(title), "pyhang record --all");
	else
		snprintf(title, sizeof(title), "pyhang record %s%d", st->child ? "-- pid " : "--pid ",
			 (int)st->main_pid);
	{
		struct pyh_profile_meta meta = { .title = title, .rate_hz = (unsigned)o->rate,
						 .duration_s = elapsed };
		char werr[512];

		if (o->output)
			rc = pyh_profile_write_path(st->prof, &meta, o->fmt, out_path, werr, sizeof(werr));
		else
			rc = pyh_rec_write_default(st->prof, &meta, o->fmt, outbuf, sizeof(outbuf), werr,
						   sizeof(werr));
		if (rc) {
			pyh_rec_summary(st, elapsed, NULL);
			snprintf(err, errsz, "writing the profile failed: %s", werr);
			goto cleanup;
		}
	}
	pyh_rec_summary(st, elapsed, strcmp(out_path, "-") ? out_path : "the profile to stdout");
	if (!st->attached) {
		snprintf(err, errsz, "process %d never ran Python: %s", (int)st->main_pid, why);
		rc = -ESRCH;
	}

cleanup:
	if (st->main_pidfd >= 0)
		close(st->main_pidfd);
	pyh_rec_end_child(st);
	pyh_sampler_free(st->smp);
	pyh_proctrack_free(st->pt);
	pyh_host_tracker_free(st->tr);
	pyh_collector_free(st->col);
	pyh_profile_free(st->prof);
	free(st->pids);
	free(st);
	return rc;
}
