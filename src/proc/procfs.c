/* Reading /proc: bounded buffers, one convention for a task that is gone. */
#include "proc/procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PYH_PROC_PATH_MAX 96
#define PYH_PROC_STATUS_MAX 8192	/* /proc/PID/status is about 1.5 KiB */

static void proc_path(char *out, size_t outsz, pid_t pid, pid_t tid, const char *name)
{
	if (tid)
		snprintf(out, outsz, "/proc/%d/task/%d%s%s", (int)pid, (int)tid, name ? "/" : "",
			 name ? name : "");
	else
		snprintf(out, outsz, "/proc/%d%s%s", (int)pid, name ? "/" : "", name ? name : "");
}

static int gone_errno(int e)
{
	return e == ENOENT || e == ESRCH ? -ESRCH : -e;
}

ssize_t pyh_proc_read(pid_t pid, pid_t tid, const char *name, char *buf, size_t bufsz)
{
	char path[PYH_PROC_PATH_MAX];
	size_t len = 0;
	int fd, err = 0;

	if (!bufsz)
		return -EINVAL;
	buf[0] = '\0';
	if (pid <= 0 || tid < 0)
		return -ESRCH;
	proc_path(path, sizeof(path), pid, tid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return gone_errno(errno);
	while (len < bufsz - 1) {
		ssize_t r = read(fd, buf + len, bufsz - 1 - len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = gone_errno(errno);
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

static int parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || (*end && *end != ' ' && *end != '\n') ? -EINVAL : 0;
}

int pyh_pidfd_open(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}

int pyh_pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

int pyh_proc_stat(pid_t pid, pid_t tid, struct pyh_proc_stat *out)
{
	char buf[PYH_PROC_STAT_MAX], *open_p, *close_p, *p, *save = NULL, *tok;
	unsigned long long v;
	ssize_t r;
	size_t len;
	int field = 3;

	memset(out, 0, sizeof(*out));
	out->state = '?';
	out->cpu = -1;
	r = pyh_proc_read(pid, tid, "stat", buf, sizeof(buf));
	if (r < 0)
		return (int)r;
	/* "pid (comm) S ...": comm may hold spaces and ')': split at the last ')' */
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p || close_p[1] != ' ')
		return -EINVAL;
	len = (size_t)(close_p - open_p - 1);
	if (len >= sizeof(out->comm))
		len = sizeof(out->comm) - 1;
	memcpy(out->comm, open_p + 1, len);
	out->comm[len] = '\0';
	p = close_p + 2;
	for (tok = strtok_r(p, " \n", &save); tok && field <= 39; tok = strtok_r(NULL, " \n", &save), field++) {
		if (field == 3) {
			out->state = tok[0];
			continue;
		}
		if (field == 4 && tok[0] == '-')
			continue;
		if (field != 4 && field != 9 && field != 20 && field != 22 && field != 39)
			continue;
		if (parse_ull(tok, &v))
			return -EINVAL;
		switch (field) {
		case 4: out->ppid = v <= INT_MAX ? (pid_t)v : 0; break;
		case 9: out->flags = v; break;
		case 20: out->num_threads = v <= LONG_MAX ? (long)v : 0; break;
		case 22: out->start_ticks = v; break;
		case 39: out->cpu = v < INT_MAX ? (int)v : -1; break;
		}
	}
	return field > 22 ? 0 : -EINVAL;
}

int pyh_proc_state(pid_t pid, char *state, int *kthread)
{
	struct pyh_proc_stat st;
	int rc = pyh_proc_stat(pid, 0, &st);

	if (rc)
		return rc;
	if (state)
		*state = st.state;
	if (kthread)
		*kthread = (st.flags & PYH_PF_KTHREAD) != 0;
	return 0;
}

/* The unsigned number after "\nkey:" in a status text; -EINVAL when missing. */
static int status_u64(const char *buf, const char *key, uint64_t *out)
{
	char want[40];
	const char *p;
	unsigned long long v;
	char *end;

	snprintf(want, sizeof(want), "\n%s:", key);
	p = strstr(buf, want);
	if (!p)
		return -EINVAL;
	p += strlen(want);
	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno)
		return -EINVAL;
	*out = v;
	return 0;
}

int pyh_proc_switches(pid_t pid, pid_t tid, char *state, uint64_t *switches)
{
	char buf[PYH_PROC_STATUS_MAX];
	const char *p;
	uint64_t vol, invol;
	ssize_t r;

	r = pyh_proc_read(pid, tid, "status", buf, sizeof(buf));
	if (r < 0)
		return (int)r;
	p = strstr(buf, "\nState:");
	if (!p)
		return -EINVAL;
	p += strlen("\nState:");
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || status_u64(buf, "voluntary_ctxt_switches", &vol) ||
	    status_u64(buf, "nonvoluntary_ctxt_switches", &invol))
		return -EINVAL;
	*state = *p;
	*switches = vol + invol;
	return 0;
}

int pyh_proc_status_id(pid_t pid, pid_t tid, const char *key, pid_t *out)
{
	char buf[PYH_PROC_STATUS_MAX], want[32], *p, *end;
	size_t klen = strlen(key);
	ssize_t r;
	long last = -1;

	if (klen + 3 > sizeof(want))
		return -EINVAL;
	r = pyh_proc_read(pid, tid, "status", buf, sizeof(buf));
	if (r < 0)
		return (int)r;
	snprintf(want, sizeof(want), "\n%s:", key);
	if (!strncmp(buf, want + 1, klen + 1)) {
		p = buf + klen + 1;	/* the first line */
	} else {
		p = strstr(buf, want);
		if (!p)
			return -ENOENT;
		p += klen + 2;
	}
	for (int i = 0; i < 64; i++) {	/* NSpid has one id per namespace level */
		long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || v < 0 || v > INT_MAX)
			return -ENOENT;
		last = v;
		p = end;
	}
	if (last < 0)
		return -ENOENT;
	*out = (pid_t)last;
	return 0;
}

int pyh_proc_comm(pid_t pid, pid_t tid, char *out, size_t outsz)
{
	char buf[64];
	ssize_t r = pyh_proc_read(pid, tid, "comm", buf, sizeof(buf));

	if (outsz)
		out[0] = '\0';
	if (r < 0)
		return (int)r;
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(out, outsz, "%s", buf);
	return 0;
}

ssize_t pyh_proc_cmdline(pid_t pid, char *buf, size_t bufsz)
{
	return pyh_proc_read(pid, 0, "cmdline", buf, bufsz);
}

int pyh_proc_exe(pid_t pid, char *out, size_t outsz)
{
	char path[PYH_PROC_PATH_MAX];
	ssize_t n;

	if (!outsz)
		return -EINVAL;
	out[0] = '\0';
	proc_path(path, sizeof(path), pid, 0, "exe");
	n = readlink(path, out, outsz - 1);
	if (n < 0)
		return gone_errno(errno);
	out[n] = '\0';
	return 0;
}

int pyh_proc_schedstat(pid_t pid, pid_t tid, struct pyh_proc_schedstat *out)
{
	char buf[128];
	unsigned long long v[3];
	char *p = buf;
	ssize_t r = pyh_proc_read(pid, tid, "schedstat", buf, sizeof(buf));

	memset(out, 0, sizeof(*out));
	if (r < 0)
		return (int)r;
	for (int i = 0; i < 3; i++) {
		while (*p == ' ')
			p++;
		if (parse_ull(p, &v[i]))
			return -EINVAL;
		p += strcspn(p, " \n");
	}
	out->run_ns = v[0];
	out->wait_ns = v[1];
	out->slices = v[2];
	return 0;
}

int pyh_proc_run_ns(pid_t pid, pid_t tid, uint64_t *run_ns)
{
	struct pyh_proc_schedstat st;
	int rc = pyh_proc_schedstat(pid, tid, &st);

	if (!rc)
		*run_ns = st.run_ns;
	return rc;
}

int pyh_proc_tasks(pid_t pid, pid_t *tids, int max, int *n)
{
	char path[PYH_PROC_PATH_MAX];
	DIR *dir;
	struct dirent *de;
	int count = 0, err = 0;

	*n = 0;
	if (pid <= 0 || max < 0 || (max > 0 && !tids))
		return -EINVAL;
	proc_path(path, sizeof(path), pid, 0, "task");
	dir = opendir(path);
	if (!dir)
		return gone_errno(errno);
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
	closedir(dir);
	*n = count;
	/* A process that exited between opendir and readdir lists no threads. */
	if (!err && count == 0)
		err = -ESRCH;
	return err;
}

int pyh_proc_exists(pid_t pid, pid_t tid)
{
	char path[PYH_PROC_PATH_MAX];

	if (pid <= 0 || tid < 0)
		return 0;
	proc_path(path, sizeof(path), pid, tid, NULL);
	return access(path, F_OK) == 0;
}
