/* What each thread of a process is doing in the kernel, read from /proc.
 *
 * Nothing here stops the target: stat, comm, wchan and sched are plain reads,
 * and /proc/.../syscall answers "running" for a thread that is on (or waiting
 * for) a CPU instead of waiting for it to stop.
 *
 * Off-CPU time.  /proc/PID/task/TID/sched prints se.exec_start, the time the
 * thread last started or was accounted running, in milliseconds of the run
 * queue's *task clock* (rq->clock_task) of the CPU it last ran on.  That clock
 * is not CLOCK_MONOTONIC: it leaves out steal time (CONFIG_PARAVIRT_TIME_ACCOUNTING)
 * and IRQ time (CONFIG_IRQ_TIME_ACCOUNTING), per CPU.  Measured on this machine
 * (6.18 guest, 2 CPUs, ~300 s after boot): CLOCK_MONOTONIC - exec_start of a
 * thread that had just been scheduled in was 1.94 s on cpu0 and 2.17 s on
 * cpu1, matching the steal column of /proc/stat for each CPU (1.98 s, 2.22 s);
 * CLOCK_BOOTTIME was identical to MONOTONIC and CLOCK_MONOTONIC_RAW was off
 * too.  Uncorrected, a thread asleep for 3.2 s read as 5.4 s; no clock the
 * user can read agrees.  So the per-CPU offset is measured: the calling
 * thread, moved to that CPU for a moment, yields there and reads
 * CLOCK_MONOTONIC and its own fresh exec_start (set as it is scheduled in);
 * the difference is that CPU's offset now, cached for a second.  When pinning is
 * not allowed (cpuset) the steal column of /proc/stat is used instead (about
 * 40 ms less exact here).  The offset grows with steal accrued while the
 * target slept, so off-CPU time may read low by that much, never high.
 */
#include "kernel/task.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"
#include "proc/procfs.h"

#define PYH_TASK_MAX_CPU 4096		/* CPUs whose clock offset is cached */
#define PYH_TASK_OFFSET_TTL_NS 1000000000LL
#define PYH_TASK_SCHED_MAX 8192		/* exec_start is on the third line */
#define PYH_TASK_MAX_NR 100000		/* a syscall number above this is not one */

/* Copy the first line of src into dst (dstsz > 0), truncating. */
static void copy_line(char *dst, size_t dstsz, const char *src)
{
	size_t len = strcspn(src, "\n");

	if (len >= dstsz)
		len = dstsz - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* se.exec_start from a sched file: "se.exec_start   :   268306.899504" (ms with
 * six decimals).  Returns 0 with *ns, or -EINVAL. */
static int parse_exec_start(const char *text, int64_t *ns)
{
	const char *p = strstr(text, "se.exec_start");
	char *end;
	unsigned long long ms, frac = 0;
	int digits = 0;

	if (!p)
		return -EINVAL;
	p = strchr(p, ':');
	if (!p)
		return -EINVAL;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	ms = strtoull(p, &end, 10);
	if (errno || ms > (unsigned long long)INT64_MAX / 1000000ULL)
		return -EINVAL;
	if (*end == '.') {
		for (p = end + 1; isdigit((unsigned char)*p) && digits < 6; p++, digits++)
			frac = frac * 10 + (unsigned long long)(*p - '0');
		for (; digits < 6; digits++)
			frac *= 10;
	}
	*ns = (int64_t)(ms * 1000000ULL + frac);
	return 0;
}

static int read_exec_start(pid_t pid, pid_t tid, int64_t *ns)
{
	char buf[PYH_TASK_SCHED_MAX];
	ssize_t r = pyh_proc_read(pid, tid, "sched", buf, sizeof(buf));

	if (r < 0)
		return (int)r;
	return parse_exec_start(buf, ns);
}

/* CLOCK_MONOTONIC - task clock of cpu, measured on that CPU: the calling
 * thread moves itself there (sched_setaffinity; the kernel moves a thread
 * off a CPU it may no longer use before the call returns) and yields, which
 * accounts its time: its exec_start is then "now" on that CPU's task clock.
 * Then it goes back to the CPUs it was allowed. A thread kept for this (as
 * before) cost a dump a thread creation, its hand-offs, and a second thread
 * whose CPUs every later munmap had to reach: 0.4-0.7 ms of a 5 ms dump.
 * Called under offset_lock. */
static int measure_offset_pinned(int cpu, int64_t *off)
{
	size_t setsz = CPU_ALLOC_SIZE(PYH_TASK_MAX_CPU);
	cpu_set_t *was = CPU_ALLOC(PYH_TASK_MAX_CPU), *one = CPU_ALLOC(PYH_TASK_MAX_CPU);
	int64_t now, es;
	int err = -ENOMEM;

	if (!was || !one)
		goto out;
	err = -EINVAL;
	if (sched_getaffinity(0, setsz, was)) {
		err = -errno;
		goto out;
	}
	CPU_ZERO_S(setsz, one);
	CPU_SET_S(cpu, setsz, one);
	if (sched_setaffinity(0, setsz, one)) {
		err = -errno;	/* e.g. a cpuset without it: the steal column then */
		goto out;
	}
	if (sched_yield() == 0) {
		now = (int64_t)pyh_mono_ns();
		if (sched_getcpu() == cpu &&
		    read_exec_start(getpid(), (pid_t)syscall(SYS_gettid), &es) == 0) {
			*off = now - es;
			err = 0;
		}
	}
	sched_setaffinity(0, setsz, was);
out:
	if (was)
		CPU_FREE(was);
	if (one)
		CPU_FREE(one);
	return err;
}

/* Steal time of cpu from /proc/stat (8th number of its "cpuN" line). */
static int measure_offset_steal(int cpu, int64_t *off)
{
	char want[32], line[512];
	FILE *f;
	uint64_t tick_ns = pyh_clock_tick_ns();
	int err = -ENOENT, lines = 0;

	if (!tick_ns)
		return -EINVAL;
	f = fopen("/proc/stat", "re");
	if (!f)
		return -errno;
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	while (lines++ < PYH_TASK_MAX_CPU + 64 && fgets(line, sizeof(line), f)) {
		unsigned long long v[8];

		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
			err = -EINVAL;
			break;
		}
		if (v[7] > (unsigned long long)INT64_MAX / tick_ns) {
			err = -EINVAL;
			break;
		}
		*off = (int64_t)(v[7] * tick_ns);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static pthread_mutex_t offset_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int64_t offset_ns;
	int64_t taken_ns;	/* 0: never measured */
} offset_cache[PYH_TASK_MAX_CPU];

/* CLOCK_MONOTONIC minus cpu's scheduler task clock, in ns.  Returns 0 or -errno. */
static int clock_offset(int cpu, int64_t *off)
{
	int64_t now = (int64_t)pyh_mono_ns();
	int err = 0;

	if (cpu < 0 || cpu >= PYH_TASK_MAX_CPU)
		return -ERANGE;
	pthread_mutex_lock(&offset_lock);
	if (offset_cache[cpu].taken_ns == 0 ||
	    now - offset_cache[cpu].taken_ns > PYH_TASK_OFFSET_TTL_NS) {
		int64_t o = 0;

		err = measure_offset_pinned(cpu, &o);
		if (err)
			err = measure_offset_steal(cpu, &o);
		if (!err) {
			offset_cache[cpu].offset_ns = o;
			offset_cache[cpu].taken_ns = now;
		}
	}
	if (!err)
		*off = offset_cache[cpu].offset_ns;
	pthread_mutex_unlock(&offset_lock);
	return err;
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || (*end && *end != '\n'))
		return -EINVAL;
	*out = v;
	return 0;
}

/* The one rule for what a thread's syscall registers say, from /proc/.../syscall
 * or from the task iterator: nr -1 is a thread blocked outside a call (its sp
 * and pc only); 0..PYH_TASK_MAX_NR a call with its six 64-bit arguments (args); a
 * thread with no user registers (sp and pc both 0: a kernel thread) or any
 * other nr says nothing. */
static void set_syscall(struct pyh_task_info *out, long nr, const void *args,
			uint64_t sp, uint64_t pc)
{
	if (nr == -1) {
		out->sp = sp;
		out->pc = pc;
		return;
	}
	if (nr < 0 || nr > PYH_TASK_MAX_NR || !args || (sp == 0 && pc == 0))
		return;
	out->in_syscall = 1;
	out->syscall_nr = nr;
	memcpy(out->args, args, sizeof(out->args));
	out->sp = sp;
	out->pc = pc;
}

/* /proc/.../syscall: "running", "-1 sp pc" (blocked, not in a call) or
 * "nr a0 a1 a2 a3 a4 a5 sp pc" with hex numbers. */
static void parse_syscall(char *text, struct pyh_task_info *out)
{
	char *save = NULL, *tok, *end;
	uint64_t v[9];
	int n = 0;
	long nr;

	if (strncmp(text, "running", 7) == 0)
		return;
	tok = strtok_r(text, " \n", &save);
	if (!tok)
		return;
	errno = 0;
	nr = strtol(tok, &end, 10);
	if (errno || *end || nr < -1 || nr > PYH_TASK_MAX_NR)
		return;
	while ((tok = strtok_r(NULL, " \n", &save)) && n < 9) {
		if (parse_u64(tok, 16, &v[n]) != 0)
			return;
		n++;
	}
	if (nr == -1 && n == 2)
		set_syscall(out, nr, NULL, v[0], v[1]);
	else if (nr >= 0 && n == 8)
		set_syscall(out, nr, v, v[6], v[7]);
}

/* offcpu_s of a thread that is not running, from its se.exec_start (es, ns)
 * on the CPU it last ran on. */
static void set_offcpu(struct pyh_task_info *out, int cpu, int64_t es)
{
	int64_t off;

	if (out->state == 'R' || cpu < 0 || cpu >= PYH_TASK_MAX_CPU || clock_offset(cpu, &off))
		return;
	{
		int64_t d = (int64_t)pyh_mono_ns() - off - es;

		out->offcpu_s = d > 0 ? (double)d / 1e9 : 0.0;
	}
}

static void task_info_init(struct pyh_task_info *out, pid_t tid)
{
	memset(out, 0, sizeof(*out));
	out->tid = tid;
	out->state = '?';
	out->syscall_nr = -1;
	out->offcpu_s = -1;
}

int pyh_task_info(pid_t pid, pid_t tid, struct pyh_task_info *out)
{
	struct pyh_proc_stat st;
	char buf[512];
	int64_t es;
	int rc;

	task_info_init(out, tid);
	if (pid <= 0 || tid <= 0)
		return -EINVAL;
	rc = pyh_proc_stat(pid, tid, &st);
	if (rc)
		return rc;
	out->state = st.state;
	out->start_time = st.start_ticks;
	/* the comm file's bytes (the kernel prints the same name in both), split
	 * at stat's last ')' as pyh_proc_stat does: not read a second time */
	memcpy(out->comm, st.comm, sizeof(out->comm));
	out->comm[strcspn(out->comm, "\n")] = '\0';	/* the comm file's first line */

	if (pyh_proc_read(pid, tid, "syscall", buf, sizeof(buf)) > 0)
		parse_syscall(buf, out);
	if (pyh_proc_read(pid, tid, "wchan", buf, sizeof(out->wchan)) > 0 && strcmp(buf, "0") != 0)
		copy_line(out->wchan, sizeof(out->wchan), buf);
	if (out->state != 'R' && read_exec_start(pid, tid, &es) == 0)
		set_offcpu(out, st.cpu, es);
	return 0;
}

char pyh_task_state_letter(uint32_t state, uint32_t exit_state)
{
	/* include/linux/sched.h: TASK_REPORT's bits, TASK_IDLE, TASK_RTLOCK_WAIT, TASK_FROZEN */
	uint32_t s = (state | exit_state) & 0x7fu;
	int i = 0;

	if ((state & 0x402u) == 0x402u)
		s = 0x80u;		/* TASK_IDLE: reported as its own state, I */
	if (state & (0x1000u | 0x8000u))
		s = 0x2u;		/* an rtlock waiter or a frozen task: D */
	while (s) {			/* fls() */
		i++;
		s >>= 1;
	}
	return "RSDTtXZPI"[i];
}

int pyh_task_info_from(const struct pyh_taskinfo_thread_rec *r, struct pyh_task_info *out)
{
	task_info_init(out, (pid_t)r->tid);
	if (!r->tid)
		return -EINVAL;
	out->state = pyh_task_state_letter(r->state, r->exit_state);
	{
		uint64_t tick_ns = pyh_clock_tick_ns();

		out->start_time = tick_ns ? r->start_ns / tick_ns : 0;	/* as /proc's stat */
	}
	memcpy(out->comm, r->comm, sizeof(r->comm));
	out->comm[sizeof(r->comm) - 1] = '\0';
	if ((r->flags & PYH_TT_REGS) && !(r->flags & PYH_TT_KTHREAD))
		set_syscall(out, (long)r->syscall_nr, r->args, r->sp, r->ip);
	/* %ps names a module's function "name [module]"; /proc/.../wchan the name alone */
	copy_line(out->wchan, sizeof(out->wchan), r->wchan);
	out->wchan[strcspn(out->wchan, " ")] = '\0';
	if (out->state != 'R')
		set_offcpu(out, (int)r->cpu, (int64_t)r->exec_start_ns);
	return 0;
}

const char *pyh_task_state_name(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
		return "sleeping";
	case 'D':
		return "disk";
	case 'T':
	case 't':
		return "stopped";
	case 'Z':
		return "zombie";
	case 'X':
	case 'x':
		return "dead";
	case 'I':
		return "idle";
	default:
		return "unknown";
	}
}
