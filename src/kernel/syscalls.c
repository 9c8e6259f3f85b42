/* x86_64 system call names, and what a blocked call is waiting for.
 *
 * The arguments come from /proc/PID/task/TID/syscall (a snapshot: the thread
 * may have moved on since), the fds from /proc/.../fd, sockets from the
 * thread's own network namespace (/proc/PID/task/TID/net/...), and pointed-to
 * values (timespecs, pollfds, paths, futex words) from the target's memory
 * with process_vm_readv.  Every read is bounded; a failed read leaves "?" in
 * the description instead of failing the whole line.
 */
#include "kernel/syscalls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel/sockets.h"
#include "kernel/syscall_names.h"
#include "proc/mem.h"

#define PYH_SC_MAX_POLLFD 16		/* pollfds described per call */
#define PYH_SC_MAX_SELECT_FDS 16	/* fds listed from a select set */
#define PYH_SC_MAX_PATH 4096		/* longest path read from the target */
#define PYH_SC_FD_DESC 160		/* one fd's description */

const char *pyh_syscall_name(long nr)
{
	if (nr < 0 || (unsigned long)nr >= sizeof(pyh_syscall_names) / sizeof(pyh_syscall_names[0]))
		return NULL;
	return pyh_syscall_names[nr];
}

/* A bounded string builder: appends truncate, never overflow. */
struct sbuf {
	char *p;
	size_t size, len;
};

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (sb->size == 0 || sb->len >= sb->size - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(sb->p + sb->len, sb->size - sb->len, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	sb->len += (size_t)r;
	if (sb->len > sb->size - 1)
		sb->len = sb->size - 1;
}

static void sb_duration(struct sbuf *sb, int64_t sec, int64_t nsec)
{
	if (sec < 0 || nsec < 0 || nsec >= 1000000000)
		sb_add(sb, "?s");
	else
		sb_add(sb, "%" PRId64 ".%03ds", sec, (int)(nsec / 1000000));
}

/* One fd of the thread: "fd 3 pipe:[1234]", "fd 5 TCP a -> b (ESTABLISHED)". */
static void describe_fd(pid_t pid, pid_t tid, struct pyh_sockets *socks, long fd, struct sbuf *sb)
{
	char path[96], link[PYH_SC_MAX_PATH], desc[PYH_SC_FD_DESC];
	unsigned long inode;
	char tail;
	ssize_t n;

	if (fd < 0 || fd > INT_MAX) {
		sb_add(sb, "fd %ld", fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/fd/%ld", (int)pid, (int)tid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		sb_add(sb, "fd %ld (%s)", fd, errno == ENOENT ? "closed" : "?");
		return;
	}
	link[n] = '\0';
	if (sscanf(link, "socket:[%lu%c", &inode, &tail) == 2 && tail == ']' &&
	    pyh_sockets_describe(socks, tid, inode, desc, sizeof(desc)) == 0) {
		sb_add(sb, "fd %ld %s", fd, desc);
		return;
	}
	sb_add(sb, "fd %ld %.*s", fd, PYH_SC_FD_DESC, link);
}

void pyh_fd_describe(pid_t pid, pid_t tid, long fd, char *out, size_t outsz)
{
	struct sbuf sb = { out, outsz, 0 };
	struct pyh_sockets *socks;

	if (!outsz)
		return;
	out[0] = '\0';
	socks = pyh_sockets_new(pid);	/* for this one descriptor */
	describe_fd(pid, tid ? tid : pid, socks, fd, &sb);
	pyh_sockets_free(socks);
}

/* --- target memory ----------------------------------------------------- */

/* struct timespec / timeval at addr (16 bytes on x86_64). */
static int read_time(pid_t pid, uint64_t addr, int64_t *sec, int64_t *nsec, int usec)
{
	int64_t v[2];
	int err = pyh_mem_read(pid, addr, v, sizeof(v));

	if (err)
		return err;
	if (v[0] < 0 || v[1] < 0 || v[1] >= (usec ? 1000000 : 1000000000))
		return -EINVAL;
	*sec = v[0];
	*nsec = usec ? v[1] * 1000 : v[1];
	return 0;
}

static void add_time_at(pid_t pid, uint64_t addr, int usec, struct sbuf *sb)
{
	int64_t s, ns;

	if (read_time(pid, addr, &s, &ns, usec) == 0)
		sb_duration(sb, s, ns);
	else
		sb_add(sb, "?");
}

/* Time left until an absolute deadline on clk. */
static void add_left(clockid_t clk, int64_t sec, int64_t nsec, struct sbuf *sb)
{
	struct timespec now;
	int64_t d;

	if (clock_gettime(clk, &now) != 0 || sec > INT64_MAX / 1000000000 - 1) {
		sb_add(sb, "?");
		return;
	}
	d = (sec - now.tv_sec) * 1000000000 + (nsec - now.tv_nsec);
	if (d < 0)
		d = 0;
	sb_duration(sb, d / 1000000000, d % 1000000000);
}

/* NUL-terminated string at addr, read page by page (a page may end the mapping). */
static int read_string(pid_t pid, uint64_t addr, char *out, size_t outsz)
{
	size_t got = 0;

	if (outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	while (got < outsz - 1) {
		uint64_t a = addr + got;
		size_t chunk = 4096 - (size_t)(a & 4095);
		int err;
		char *nul;

		if (chunk > outsz - 1 - got)
			chunk = outsz - 1 - got;
		err = pyh_mem_read(pid, a, out + got, chunk);
		if (err) {
			out[got] = '\0';
			return err;
		}
		nul = memchr(out + got, '\0', chunk);
		if (nul)
			return 0;
		got += chunk;
	}
	out[got] = '\0';
	return 0;
}

/* --- per-call decoders ------------------------------------------------- */

static void add_open_flags(long flags, struct sbuf *sb)
{
	static const struct { long bit; const char *name; } bits[] = {
		{ O_CREAT, "O_CREAT" }, { O_EXCL, "O_EXCL" }, { O_TRUNC, "O_TRUNC" },
		{ O_APPEND, "O_APPEND" }, { O_NONBLOCK, "O_NONBLOCK" },
		{ O_CLOEXEC, "O_CLOEXEC" }, { O_DIRECTORY, "O_DIRECTORY" },
		{ O_NOFOLLOW, "O_NOFOLLOW" }, { O_SYNC, "O_SYNC" },
	};
	int acc = (int)(flags & O_ACCMODE);

	sb_add(sb, " %s", acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" :
		   acc == O_RDWR ? "O_RDWR" : "O_ACCMODE?");
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if ((flags & bits[i].bit) == bits[i].bit)
			sb_add(sb, "|%s", bits[i].name);
}

static int detail_open(pid_t pid, uint64_t path_addr, long flags, struct sbuf *sb)
{
	char path[PYH_SC_MAX_PATH];
	int err = read_string(pid, path_addr, path, sizeof(path));

	if (err && path[0] == '\0') {
		sb_add(sb, "path ?");
		return err;
	}
	sb_add(sb, "path %s", path);
	add_open_flags(flags, sb);
	return 0;
}

static const char *futex_cmd_name(unsigned cmd)
{
	static const char *const names[] = {
		"FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE",
		"FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP", "FUTEX_LOCK_PI",
		"FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET",
		"FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI",
		"FUTEX_LOCK_PI2",
	};

	return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : NULL;
}

static int detail_futex(pid_t pid, const uint64_t *a, struct sbuf *sb)
{
	unsigned op = (unsigned)a[1];
	unsigned cmd = op & 127;
	const char *name = futex_cmd_name(cmd);
	uint32_t word;
	int err;

	sb_add(sb, "0x%" PRIx64 " ", a[0]);
	if (name)
		sb_add(sb, "%s%s%s", name, (op & 128) ? "_PRIVATE" : "",
		       (op & 256) ? "|FUTEX_CLOCK_REALTIME" : "");
	else
		sb_add(sb, "op %u", op);
	err = pyh_mem_read(pid, a[0], &word, sizeof(word));
	if (err)
		sb_add(sb, " val ?");
	else
		sb_add(sb, " val %" PRIu32, word);
	if ((cmd == 0 || cmd == 9 || cmd == 11) && a[3]) {
		int64_t s, ns;

		sb_add(sb, ", timeout ");
		if (read_time(pid, a[3], &s, &ns, 0) != 0)
			sb_add(sb, "?");
		else if (cmd == 0)	/* relative */
			sb_duration(sb, s, ns);
		else {			/* absolute */
			add_left((op & 256) ? CLOCK_REALTIME : CLOCK_MONOTONIC, s, ns, sb);
			sb_add(sb, " left");
		}
	}
	return err;
}

static const char *clock_name(long clk)
{
	switch (clk) {
	case CLOCK_REALTIME:
		return "CLOCK_REALTIME";
	case CLOCK_MONOTONIC:
		return "CLOCK_MONOTONIC";
	case CLOCK_BOOTTIME:
		return "CLOCK_BOOTTIME";
	case CLOCK_TAI:
		return "CLOCK_TAI";
	default:
		return NULL;
	}
}

static int detail_clock_nanosleep(pid_t pid, const uint64_t *a, struct sbuf *sb)
{
	const char *cname = clock_name((long)a[0]);
	int64_t s, ns;
	int err = read_time(pid, a[2], &s, &ns, 0);

	sb_add(sb, "sleep ");
	if (err) {
		sb_add(sb, "?");
		return err;
	}
	if (a[1] & 1) {		/* TIMER_ABSTIME: a deadline */
		if (!cname) {
			sb_add(sb, "until %" PRId64 ".%03ds on clock %d", s, (int)(ns / 1000000),
			       (int)a[0]);
			return 0;
		}
		add_left((clockid_t)a[0], s, ns, sb);
		sb_add(sb, " left");
		return 0;
	}
	sb_duration(sb, s, ns);
	return 0;
}

static int detail_poll(pid_t pid, pid_t tid, struct pyh_sockets *socks, const uint64_t *a, int ppoll,
		       struct sbuf *sb)
{
	struct { int32_t fd; int16_t events, revents; } fds[PYH_SC_MAX_POLLFD];
	uint64_t nfds = a[1];
	unsigned want = nfds < PYH_SC_MAX_POLLFD ? (unsigned)nfds : PYH_SC_MAX_POLLFD;
	int err = 0;

	sb_add(sb, "%" PRIu64 " fd%s", nfds, nfds == 1 ? "" : "s");
	if (want) {
		err = pyh_mem_read(pid, a[0], fds, want * sizeof(fds[0]));
		if (err) {
			sb_add(sb, " ?");
			want = 0;
		}
	}
	for (unsigned i = 0; i < want; i++) {
		sb_add(sb, i ? "; " : ": ");
		describe_fd(pid, tid, socks, fds[i].fd, sb);
		sb_add(sb, " (%s%s)", (fds[i].events & 1) ? "in" : "",
		       (fds[i].events & 4) ? ((fds[i].events & 1) ? ",out" : "out") : "");
	}
	if (nfds > want && !err)
		sb_add(sb, "; ...");
	if (ppoll) {
		sb_add(sb, ", timeout ");
		if (a[2])
			add_time_at(pid, a[2], 0, sb);
		else
			sb_add(sb, "none");
	} else {
		int ms = (int)a[2];

		if (ms < 0)
			sb_add(sb, ", no timeout");
		else
			sb_add(sb, ", timeout %d.%03ds", ms / 1000, ms % 1000);
	}
	return err;
}

static int detail_select(pid_t pid, pid_t tid, struct pyh_sockets *socks, const uint64_t *a,
			 int pselect, struct sbuf *sb)
{
	long nfds = (long)(int)a[0];
	int listed = 0;

	if (nfds == 0 && a[4]) {	/* select(0, NULL, NULL, NULL, &t): a sleep */
		sb_add(sb, "sleep ");
		add_time_at(pid, a[4], !pselect, sb);
		return 0;
	}
	sb_add(sb, "nfds %ld", nfds);
	if (nfds > 0 && nfds <= 1024 && a[1]) {	/* FD_SETSIZE */
		unsigned char set[128];
		size_t bytes = (size_t)(nfds + 7) / 8;

		if (pyh_mem_read(pid, a[1], set, bytes) == 0) {
			for (long fd = 0; fd < nfds && listed < PYH_SC_MAX_SELECT_FDS; fd++) {
				if (!(set[fd / 8] & (1u << (fd % 8))))
					continue;
				sb_add(sb, listed++ ? "; " : ", read: ");
				describe_fd(pid, tid, socks, fd, sb);
			}
		}
	}
	sb_add(sb, ", timeout ");
	if (a[4])
		add_time_at(pid, a[4], !pselect, sb);
	else
		sb_add(sb, "none");
	return 0;
}

static void add_pid_comm(long p, struct sbuf *sb)
{
	char path[64], comm[32];
	FILE *f;

	sb_add(sb, "pid %ld", p);
	if (p <= 0 || p > INT_MAX)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", p);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, sizeof(comm), f)) {
		comm[strcspn(comm, "\n")] = '\0';
		sb_add(sb, " (%s)", comm);
	}
	fclose(f);
}

static void detail_wait4(long p, struct sbuf *sb)
{
	if (p == -1)
		sb_add(sb, "any child");
	else if (p == 0)
		sb_add(sb, "any child in its process group");
	else if (p < -1)
		sb_add(sb, "any child in process group %ld", -p);
	else
		add_pid_comm(p, sb);
}

static void detail_waitid(long idtype, long id, struct sbuf *sb)
{
	switch (idtype) {
	case 0:		/* P_ALL */
		sb_add(sb, "any child");
		break;
	case 1:		/* P_PID */
		add_pid_comm(id, sb);
		break;
	case 2:		/* P_PGID */
		sb_add(sb, "any child in process group %ld", id);
		break;
	case 3:		/* P_PIDFD */
		sb_add(sb, "pidfd %ld", id);
		break;
	default:
		sb_add(sb, "idtype %ld id %ld", idtype, id);
	}
}

static const char *flock_name(long op)
{
	switch (op & ~4L) {	/* LOCK_NB */
	case 1:
		return (op & 4) ? "LOCK_SH|LOCK_NB" : "LOCK_SH";
	case 2:
		return (op & 4) ? "LOCK_EX|LOCK_NB" : "LOCK_EX";
	case 8:
		return "LOCK_UN";
	default:
		return "?";
	}
}

int pyh_syscall_detail(pid_t pid, const struct pyh_task_info *ti, char *out, size_t outsz)
{
	struct pyh_sockets *socks = pyh_sockets_new(pid);	/* for this one call */
	int rc = pyh_syscall_detail_cached(pid, ti, socks, out, outsz);

	pyh_sockets_free(socks);
	return rc;
}

int pyh_syscall_detail_cached(pid_t pid, const struct pyh_task_info *ti, struct pyh_sockets *socks,
			      char *out, size_t outsz)
{
	struct sbuf sb = { .p = out, .size = outsz };
	const uint64_t *a;
	pid_t tid;
	int err = 0;

	if (!out || outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!ti || pid <= 0)
		return -EINVAL;
	if (!ti->in_syscall)
		return 0;
	a = ti->args;
	tid = ti->tid > 0 ? ti->tid : pid;

	switch (ti->syscall_nr) {
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev:
	case SYS_pread64: case SYS_pwrite64: case SYS_preadv: case SYS_pwritev:
	case SYS_preadv2: case SYS_pwritev2:
	case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg:
	case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg:
	case SYS_accept: case SYS_accept4: case SYS_connect:
	case SYS_fsync: case SYS_fdatasync: case SYS_ioctl: case SYS_fcntl:
	case SYS_sendfile: case SYS_splice: case SYS_getdents64:
		describe_fd(pid, tid, socks, (long)(int)a[0], &sb);
		break;
	case SYS_flock:
		describe_fd(pid, tid, socks, (long)(int)a[0], &sb);
		sb_add(&sb, " %s", flock_name((long)(int)a[1]));
		break;
	case SYS_poll:
		err = detail_poll(pid, tid, socks, a, 0, &sb);
		break;
	case SYS_ppoll:
		err = detail_poll(pid, tid, socks, a, 1, &sb);
		break;
	case SYS_select:
		err = detail_select(pid, tid, socks, a, 0, &sb);
		break;
	case SYS_pselect6:
		err = detail_select(pid, tid, socks, a, 1, &sb);
		break;
	case SYS_epoll_wait: case SYS_epoll_pwait:
		sb_add(&sb, "ep");
		describe_fd(pid, tid, socks, (long)(int)a[0], &sb);
		if ((int)a[3] < 0)
			sb_add(&sb, ", no timeout");
		else
			sb_add(&sb, ", timeout %d.%03ds", (int)a[3] / 1000, (int)a[3] % 1000);
		break;
	case SYS_epoll_pwait2:
		sb_add(&sb, "ep");
		describe_fd(pid, tid, socks, (long)(int)a[0], &sb);
		sb_add(&sb, ", timeout ");
		if (a[3])
			add_time_at(pid, a[3], 0, &sb);
		else
			sb_add(&sb, "none");
		break;
	case SYS_nanosleep:
		sb_add(&sb, "sleep ");
		add_time_at(pid, a[0], 0, &sb);
		break;
	case SYS_clock_nanosleep:
		err = detail_clock_nanosleep(pid, a, &sb);
		break;
	case SYS_futex:
		err = detail_futex(pid, a, &sb);
		break;
	case SYS_wait4:
		detail_wait4((long)(int)a[0], &sb);
		break;
	case SYS_waitid:
		detail_waitid((long)(int)a[0], (long)(int)a[1], &sb);
		break;
	case SYS_open:
		err = detail_open(pid, a[0], (long)(int)a[1], &sb);
		break;
	case SYS_openat:
		err = detail_open(pid, a[1], (long)(int)a[2], &sb);
		break;
	default:
		break;
	}
	/* The thread's /proc entries vanished under us: the whole line is moot. */
	if (err == -ESRCH || (err == 0 && kill(pid, 0) != 0 && errno == ESRCH))
		err = -ESRCH;
	return err;
}
