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
 * user can read agrees.  So the per-CPU offset is measured: a short-lived
 * helper thread pinned to that CPU reads CLOCK_MONOTONIC and its own fresh
 * exec_start (a new thread's exec_start is set as it is scheduled in); the
 * difference is that CPU's offset now, cached for a second.  When pinning is
 * not allowed (cpuset) the steal column of /proc/stat is used instead (about
 * 40 ms less exact here).  The offset grows with steal accrued while the
 * target slept, so off-CPU time may read low by that much, never high.
 */
#include "kernel/task.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PYH_TASK_MAX_CPU 4096		/* CPUs whose clock offset is cached */
#define PYH_TASK_OFFSET_TTL_NS 1000000000LL
#define PYH_TASK_STAT_MAX 4096		/* /proc/.../stat is well under this */
#define PYH_TASK_SCHED_MAX 8192		/* exec_start is on the third line */
#define PYH_PF_KTHREAD 0x00200000UL

/* Read at most bufsz-1 bytes of a /proc file into buf, NUL-terminated.
 * Returns the length, or -errno (-ESRCH for a file that is gone). */
static ssize_t read_small(const char *path, char *buf, size_t bufsz)
{
	size_t len = 0;
	int fd, err = 0;

	if (bufsz == 0)
		return -EINVAL;
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (len < bufsz - 1) {
		ssize_t r = read(fd, buf + len, bufsz - 1 - len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = errno == ENOENT ? -ESRCH : -errno;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return err ? err : (ssize_t)len;
}

/* Copy the first line of src into dst (dstsz > 0), truncating. */
static void copy_line(char *dst, size_t dstsz, const char *src)
{
	size_t len = strcspn(src, "\n");

	if (len >= dstsz)
		len = dstsz - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

static int read_exec_start(const char *path, int64_t *ns)
{
	char buf[PYH_TASK_SCHED_MAX];
	ssize_t r = read_small(path, buf, sizeof(buf));

	if (r < 0)
		return (int)r;
	return parse_exec_start(buf, ns);
}

struct calib {
	int cpu;
	int ok;
	int64_t offset_ns;
};

static void *calib_thread(void *arg)
{
	struct calib *c = arg;
	char path[64];
	int64_t now, es;

	/* Scheduled in just now: exec_start is "now" on this CPU's task clock. */
	now = mono_ns();
	if (sched_getcpu() != c->cpu)
		return NULL;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/sched", (long)syscall(SYS_gettid));
	if (read_exec_start(path, &es) == 0) {
		c->offset_ns = now - es;
		c->ok = 1;
	}
	return NULL;
}

/* CLOCK_MONOTONIC - task clock of cpu, measured by a thread pinned there. */
static int measure_offset_pinned(int cpu, int64_t *off)
{
	struct calib c = { .cpu = cpu };
	pthread_attr_t attr;
	pthread_t th;
	cpu_set_t *set = NULL;
	size_t setsz;
	int err;

	if (pthread_attr_init(&attr) != 0)
		return -ENOMEM;
	set = CPU_ALLOC(cpu + 1);
	if (!set) {
		err = -ENOMEM;
		goto cleanup;
	}
	setsz = CPU_ALLOC_SIZE(cpu + 1);
	CPU_ZERO_S(setsz, set);
	CPU_SET_S(cpu, setsz, set);
	err = -pthread_attr_setaffinity_np(&attr, setsz, set);
	if (err)
		goto cleanup;
	err = -pthread_create(&th, &attr, calib_thread, &c);
	if (err)
		goto cleanup;
	pthread_join(th, NULL);
	err = c.ok ? 0 : -EINVAL;
	if (!err)
		*off = c.offset_ns;
cleanup:
	if (set)
		CPU_FREE(set);
	pthread_attr_destroy(&attr);
	return err;
}

/* Steal time of cpu from /proc/stat (8th number of its "cpuN" line). */
static int measure_offset_steal(int cpu, int64_t *off)
{
	char want[32], line[512];
	FILE *f;
	long hz = sysconf(_SC_CLK_TCK);
	int err = -ENOENT, lines = 0;

	if (hz <= 0)
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
		if (v[7] > (unsigned long long)INT64_MAX / 1000000000ULL) {
			err = -EINVAL;
			break;
		}
		*off = (int64_t)(v[7] * 1000000000ULL / (unsigned long long)hz);
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
	int64_t now = mono_ns();
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

/* Split "tid (comm) S f4 f5 ..." at the LAST ')': comm may hold ')' and spaces.
 * Fields after it are numbered from 3 (state) as in proc(5).  Stores up to
 * maxf pointers into text (modified in place); fields[k] is field k+3.
 * Returns the number of fields, or -EINVAL. */
static int split_stat(char *text, char *comm, size_t commsz, char **fields, int maxf)
{
	char *open = strchr(text, '(');
	char *close = strrchr(text, ')');
	char *save = NULL, *tok;
	int n = 0;

	if (!open || !close || close < open || close[1] != ' ')
		return -EINVAL;
	if (comm && commsz) {
		size_t len = (size_t)(close - open - 1);

		if (len >= commsz)
			len = commsz - 1;
		memcpy(comm, open + 1, len);
		comm[len] = '\0';
	}
	for (tok = strtok_r(close + 2, " \n", &save); tok && n < maxf;
	     tok = strtok_r(NULL, " \n", &save))
		fields[n++] = tok;
	return n;
}

/* proc(5) field number (1-based) to split_stat index. */
#define STAT_IDX(field) ((field) - 3)

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
	if (errno || *end || nr < -1 || nr > 100000)
		return;
	while ((tok = strtok_r(NULL, " \n", &save)) && n < 9) {
		if (parse_u64(tok, 16, &v[n]) != 0)
			return;
		n++;
	}
	if (nr == -1 && n == 2) {
		out->sp = v[0];
		out->pc = v[1];
		return;
	}
	/* Kernel threads have no user registers: "0 0x0 ... 0x0". */
	if (nr < 0 || n != 8 || (v[6] == 0 && v[7] == 0))
		return;
	out->in_syscall = 1;
	out->syscall_nr = nr;
	memcpy(out->args, v, sizeof(out->args));
	out->sp = v[6];
	out->pc = v[7];
}

int pyh_task_list(pid_t pid, pid_t *tids, int max, int *n)
{
	char path[64];
	DIR *dir = NULL;
	struct dirent *de;
	int count = 0, err = 0;

	*n = 0;
	if (pid <= 0 || max < 0 || (max > 0 && !tids))
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir) {
		err = errno == ENOENT ? -ESRCH : -errno;
		goto cleanup;
	}
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long tid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		errno = 0;
		tid = strtol(de->d_name, &end, 10);
		if (errno || *end || tid <= 0 || tid > INT_MAX)
			continue;
		if (count == max) {
			err = -E2BIG;
			break;
		}
		tids[count++] = (pid_t)tid;
	}
	*n = count;
	/* A process that exited between opendir and readdir lists no threads. */
	if (!err && count == 0)
		err = -ESRCH;
cleanup:
	if (dir)
		closedir(dir);
	return err;
}

int pyh_task_info(pid_t pid, pid_t tid, struct pyh_task_info *out)
{
	char base[64], path[96], buf[PYH_TASK_STAT_MAX], comm[sizeof(out->comm)];
	char *fields[64];
	int nf, cpu = -1;
	uint64_t v;
	int64_t es;
	ssize_t r;

	memset(out, 0, sizeof(*out));
	out->tid = tid;
	out->state = '?';
	out->syscall_nr = -1;
	out->offcpu_s = -1;
	if (pid <= 0 || tid <= 0)
		return -EINVAL;
	snprintf(base, sizeof(base), "/proc/%d/task/%d", (int)pid, (int)tid);

	snprintf(path, sizeof(path), "%s/stat", base);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return (int)r;
	nf = split_stat(buf, comm, sizeof(comm), fields, (int)(sizeof(fields) / sizeof(fields[0])));
	if (nf < STAT_IDX(22) + 1)
		return -EINVAL;
	out->state = fields[STAT_IDX(3)][0];
	if (parse_u64(fields[STAT_IDX(22)], 10, &v) == 0)
		out->start_time = v;
	if (nf > STAT_IDX(39) && parse_u64(fields[STAT_IDX(39)], 10, &v) == 0 && v < PYH_TASK_MAX_CPU)
		cpu = (int)v;
	memcpy(out->comm, comm, sizeof(out->comm));

	/* comm file: same as stat's, but says so without the parentheses. */
	snprintf(path, sizeof(path), "%s/comm", base);
	if (read_small(path, buf, sizeof(out->comm) + 1) > 0)
		copy_line(out->comm, sizeof(out->comm), buf);

	snprintf(path, sizeof(path), "%s/syscall", base);
	if (read_small(path, buf, 512) > 0)
		parse_syscall(buf, out);

	snprintf(path, sizeof(path), "%s/wchan", base);
	if (read_small(path, buf, sizeof(out->wchan)) > 0 && strcmp(buf, "0") != 0)
		copy_line(out->wchan, sizeof(out->wchan), buf);

	snprintf(path, sizeof(path), "%s/sched", base);
	if (out->state != 'R' && cpu >= 0 && read_exec_start(path, &es) == 0) {
		int64_t off;

		if (clock_offset(cpu, &off) == 0) {
			int64_t d = mono_ns() - off - es;

			out->offcpu_s = d > 0 ? (double)d / 1e9 : 0.0;
		}
	}
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

int pyh_proc_state(pid_t pid, char *state, int *kthread)
{
	char path[64], buf[PYH_TASK_STAT_MAX];
	char *fields[16];
	uint64_t flags;
	ssize_t r;
	int nf;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return (int)r;
	nf = split_stat(buf, NULL, 0, fields, (int)(sizeof(fields) / sizeof(fields[0])));
	if (nf < STAT_IDX(9) + 1 || parse_u64(fields[STAT_IDX(9)], 10, &flags) != 0)
		return -EINVAL;
	if (state)
		*state = fields[STAT_IDX(3)][0];
	if (kthread)
		*kthread = (flags & PYH_PF_KTHREAD) != 0;
	return 0;
}

int pyh_task_ns_tid(pid_t pid, pid_t tid, pid_t *ns_tid)
{
	char path[64], line[256];
	FILE *f;
	int rc = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	for (int i = 0; i < 64 && fgets(line, sizeof(line), f); i++) {
		char *last, *end = NULL;
		long v;

		if (strncmp(line, "NSpid:", 6))
			continue;
		line[strcspn(line, "\n")] = '\0';
		last = strrchr(line, '\t');
		if (!last)
			last = strrchr(line, ' ');
		if (!last)
			break;
		errno = 0;
		v = strtol(last + 1, &end, 10);
		if (end != last + 1 && *end == '\0' && !errno && v > 0 && v <= INT32_MAX) {
			*ns_tid = (pid_t)v;
			rc = 0;
		}
		break;
	}
	fclose(f);
	return rc;
}
