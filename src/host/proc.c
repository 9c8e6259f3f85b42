/* What /proc says about a process, and the label outputs give it. */
#include "host/host.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/procfs.h"

#define PYH_HOST_MAX_DIRENTS 4000000	/* /proc entries looked at per listing */

int pyh_host_start_ticks(pid_t pid, uint64_t *out)
{
	struct pyh_proc_stat st;
	int rc = pyh_proc_stat(pid, 0, &st);

	if (!rc && pyh_proc_stat_dead(&st))
		rc = -ESRCH;
	*out = rc ? 0 : st.start_ticks;
	return rc;
}

void pyh_host_cmdline(pid_t pid, char *out, size_t outsz)
{
	ssize_t len;

	if (outsz == 0)
		return;
	out[0] = '\0';
	len = pyh_proc_cmdline(pid, out, outsz);
	if (len <= 0) {
		out[0] = '\0';
		return;
	}
	if ((size_t)len >= outsz)
		len = (ssize_t)outsz - 1;
	for (ssize_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	while (len > 0 && out[len - 1] == ' ')
		len--;
	out[len] = '\0';
}

/* argv joined by spaces, argv[0] by its base name. */
static void pyh_read_cmdline(pid_t pid, const char *comm, char *out, size_t outsz)
{
	char buf[4096], *arg0, *slash;
	size_t o = 0, len0;
	ssize_t n;

	out[0] = '\0';
	n = pyh_proc_cmdline(pid, buf, sizeof(buf));
	if (n <= 0) {
		snprintf(out, outsz, "[%s]", comm);
		return;
	}
	arg0 = buf;
	len0 = strnlen(buf, (size_t)n);
	slash = memrchr(buf, '/', len0);
	if (slash && slash + 1 < buf + len0)
		arg0 = slash + 1;
	for (char *p = arg0; p < buf + n && o + 1 < outsz; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\0') {
			if (p + 1 >= buf + n)
				break; /* the final NUL */
			ch = ' ';
		} else if (ch < 0x20 || ch == 0x7f) {
			ch = '?';
		}
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	while (o > 0 && out[o - 1] == ' ')
		out[--o] = '\0';
	if ((n >= (ssize_t)sizeof(buf) - 1 || o + 1 >= outsz) && o >= 3)
		memcpy(out + o - 3, "...", 3); /* cut short */
	if (!out[0])
		snprintf(out, outsz, "[%s]", comm);
}

/* The cgroup v2 line ("0::/path"), else the first line's path. */
static void pyh_read_cgroup(pid_t pid, char *out, size_t outsz)
{
	char buf[4096], *line, *save = NULL, *first = NULL, *v2 = NULL;

	snprintf(out, outsz, "/");
	if (pyh_proc_read(pid, 0, "cgroup", buf, sizeof(buf)) <= 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		if (!first)
			first = c2 + 1;
		if (!strncmp(line, "0::", 3)) {
			v2 = c2 + 1;
			break;
		}
	}
	if (v2 || first)
		snprintf(out, outsz, "%s", v2 ? v2 : first);
}

/* The pid in its innermost PID namespace; pid itself on kernels without
 * NSpid (before 4.1); 0 when unknown. */
static pid_t pyh_read_nspid(pid_t pid)
{
	pid_t ns = 0;
	int rc = pyh_proc_status_id(pid, 0, "NSpid", &ns);

	if (rc == -ENOENT)
		return pid;
	return rc ? 0 : ns;
}

int pyh_host_proc_read(pid_t pid, struct pyh_host_proc *out)
{
	struct pyh_proc_stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = pyh_proc_stat(pid, 0, &st);
	if (!rc && pyh_proc_stat_dead(&st))
		rc = -ESRCH;
	if (rc)
		return rc;
	out->start_ticks = st.start_ticks;
	snprintf(out->comm, sizeof(out->comm), "%s", st.comm);
	out->pid = pid;
	out->ns_pid = pyh_read_nspid(pid);
	pyh_read_cmdline(pid, out->comm, out->cmdline, sizeof(out->cmdline));
	pyh_read_cgroup(pid, out->cgroup, sizeof(out->cgroup));
	return 0;
}

static int pyh_pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int pyh_host_list_pids(pid_t *out, int max)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	pid_t self = getpid();
	long looked = 0;
	int n = 0;

	if (!d)
		return -errno;
	while (n < max && (de = readdir(d)) && looked++ < PYH_HOST_MAX_DIRENTS) {
		struct pyh_proc_stat st;
		char *end;
		long v;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (*end || errno || v <= 0 || v > INT_MAX || (pid_t)v == self)
			continue;
		if (pyh_proc_stat((pid_t)v, 0, &st) || (st.flags & PYH_PF_KTHREAD))
			continue;
		out[n++] = (pid_t)v;
	}
	closedir(d);
	qsort(out, (size_t)n, sizeof(*out), pyh_pid_cmp);
	return n;
}

void pyh_host_label(const struct pyh_host_proc *p, const struct pyh_pyversion *v, char *out,
		    size_t outsz)
{
	char ns[48] = "", ver[48] = "";

	if (p->ns_pid > 0 && p->ns_pid != p->pid)
		snprintf(ns, sizeof(ns), " (pid %d in its namespace)", (int)p->ns_pid);
	if (v && v->major)
		snprintf(ver, sizeof(ver), ", %d.%d.%d", v->major, v->minor, v->micro);
	snprintf(out, outsz, "%.80s [pid %d%s%s]", p->cmdline, (int)p->pid, ns, ver);
}

void pyh_host_cgroup_label(const struct pyh_host_proc *p, char *out, size_t outsz)
{
	snprintf(out, outsz, "cgroup %s", p->cgroup[0] ? p->cgroup : "/");
}
