/* watch --exec: runs of a command per hang event, rate- and count-limited. */
#include "watch/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"
#include "watch/event.h"

#define PYH_EXEC_TMP_TEMPLATE "/tmp/pyhang-event-XXXXXX"
#define PYH_EXEC_DEFAULT_PERIOD_S 5.0

struct pyh_exec_rate {
	pid_t pid;
	char kind[16];
	double last;		/* monotonic seconds of the last run */
};

struct pyh_exec_child {
	pid_t child;		/* 0: free */
	pid_t pid;		/* the target of the event */
	char kind[16];
	char json_file[sizeof(PYH_EXEC_TMP_TEMPLATE)];
};

static double pyh_exec_period = PYH_EXEC_DEFAULT_PERIOD_S;
static int pyh_exec_max = PYH_EXEC_MAX_CHILDREN;
static struct pyh_exec_rate pyh_rates[PYH_EXEC_RATE_SLOTS];
static struct pyh_exec_child pyh_children[PYH_EXEC_MAX_CHILDREN];
static struct pyh_exec_stats pyh_xstats;

void pyh_exec_configure(double period_s, int max_children)
{
	pyh_exec_period = period_s > 0 ? period_s : PYH_EXEC_DEFAULT_PERIOD_S;
	pyh_exec_max = max_children > 0 && max_children <= PYH_EXEC_MAX_CHILDREN ? max_children
										 : PYH_EXEC_MAX_CHILDREN;
}

void pyh_exec_stats(struct pyh_exec_stats *out)
{
	*out = pyh_xstats;
}

/* May (pid, kind) run now? Remembers it when so. The oldest pair gives way
 * when the table is full. */
static int rate_ok(pid_t pid, const char *kind, double now)
{
	struct pyh_exec_rate *slot = NULL, *oldest = &pyh_rates[0];

	for (int i = 0; i < PYH_EXEC_RATE_SLOTS; i++) {
		struct pyh_exec_rate *r = &pyh_rates[i];

		if (r->pid == pid && !strcmp(r->kind, kind)) {
			if (now - r->last < pyh_exec_period)
				return 0;
			slot = r;
			break;
		}
		if (r->last < oldest->last)
			oldest = r;
	}
	if (!slot)
		slot = oldest;
	slot->pid = pid;
	snprintf(slot->kind, sizeof(slot->kind), "%s", kind);
	slot->last = now;
	return 1;
}

static struct pyh_exec_child *free_child(void)
{
	for (int i = 0; i < pyh_exec_max; i++)
		if (!pyh_children[i].child)
			return &pyh_children[i];
	return NULL;
}

/* The JSON in a file of its own (0600). Returns 0 and the path in path. */
static int json_to_file(const char *json, char *path, size_t pathsz)
{
	size_t len = strlen(json), off = 0;
	int fd;

	snprintf(path, pathsz, "%s", PYH_EXEC_TMP_TEMPLATE);
	fd = mkostemp(path, O_CLOEXEC);	/* O_EXCL, mode 0600 */
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, json + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? -errno : -EIO;

			close(fd);
			unlink(path);
			return e;
		}
		off += (size_t)w;
	}
	close(fd);
	return 0;
}

int pyh_wevent_exec(const struct pyh_wevent *e, const char *cmd)
{
	struct pyh_exec_child *slot;
	char num[64], path[sizeof(PYH_EXEC_TMP_TEMPLATE)] = "";
	char *json;
	pid_t child;
	int big, rc;

	pyh_watch_reap();
	if (!free_child()) {
		pyh_xstats.busy++;
		return 0;	/* counted, not an error */
	}
	if (!rate_ok(e->pid, e->kind, pyh_mono_s())) {
		pyh_xstats.limited++;
		return 0;
	}
	slot = free_child();
	json = pyh_wevent_json_string(e);
	if (!json)
		return -ENOMEM;
	big = strlen(json) > PYH_EXEC_JSON_ENV_MAX;
	if (big && (rc = json_to_file(json, path, sizeof(path)))) {
		free(json);
		return rc;
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		rc = -errno;
		if (path[0])
			unlink(path);
		free(json);
		return rc;
	}
	if (child == 0) {
		setenv("PYHANG_EVENT", e->kind, 1);
		snprintf(num, sizeof(num), "%d", (int)e->pid);
		setenv("PYHANG_PID", num, 1);
		snprintf(num, sizeof(num), "%d", (int)e->th[0].tid);
		setenv("PYHANG_TID", num, 1);
		snprintf(num, sizeof(num), "%.3f", e->seconds);
		setenv("PYHANG_SECONDS", num, 1);
		if (big) {
			unsetenv("PYHANG_JSON");
			setenv("PYHANG_JSON_FILE", path, 1);
		} else {
			setenv("PYHANG_JSON", json, 1);
			unsetenv("PYHANG_JSON_FILE");
		}
		/* The command's output is not an event: stdout goes to stderr. */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(json);
	slot->child = child;
	slot->pid = e->pid;
	snprintf(slot->kind, sizeof(slot->kind), "%s", e->kind);
	snprintf(slot->json_file, sizeof(slot->json_file), "%s", path);
	pyh_xstats.started++;
	pyh_xstats.running++;
	return 0;
}

void pyh_watch_reap(void)
{
	for (int i = 0; i < PYH_EXEC_MAX_CHILDREN; i++) {
		struct pyh_exec_child *c = &pyh_children[i];
		int status;

		if (!c->child || waitpid(c->child, &status, WNOHANG) != c->child)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status)) {
			pyh_xstats.failed++;
			fprintf(stderr, "pyhang: --exec for the %s event of process %d exited with status %d\n",
				c->kind, (int)c->pid, WEXITSTATUS(status));
		} else if (WIFSIGNALED(status)) {
			pyh_xstats.failed++;
			fprintf(stderr, "pyhang: --exec for the %s event of process %d was killed by signal %d\n",
				c->kind, (int)c->pid, WTERMSIG(status));
		}
		if (c->json_file[0])
			unlink(c->json_file);
		memset(c, 0, sizeof(*c));
		pyh_xstats.running--;
	}
}
