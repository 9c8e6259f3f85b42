/* One process's dump, taken and written as a job with a deadline
 * (proc/guard.h): a target whose files or memory never answer is reported
 * and skipped, not waited for. */
#include "dump/dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "proc/guard.h"
#include "snapshot/snapshot.h"

struct dump_job {
	struct pyh_dump_opts o;
	pid_t pid;
	int with_host;
	struct pyh_dump_render r;	/* a copy: the caller's may be gone by the time we write */
	char *text;			/* the output, malloc'd */
	size_t len;
	char err[512];
	char note[320];			/* said with a dump that worked */
};

static void dump_job_free(void *arg)
{
	struct dump_job *j = arg;

	free(j->text);
	free(j);
}

static int render(struct dump_job *j, struct pyh_dump *d, FILE *m)
{
	const struct pyh_dump_render *r = &j->r;

	if (r->read_locals && pyh_dump_read_locals(d, &r->lo)) {
		snprintf(j->err, sizeof(j->err), "out of memory reading the locals of process %d", j->pid);
		return -ENOMEM;
	}
	if (r->check && r->check(d, &r->view))
		return -ECANCELED;
	if (r->view.frame >= 0)
		return r->json ? pyh_dump_write_frame_json(d, m, &r->view)
			       : pyh_dump_write_frame_text(d, m, &r->view);
	return r->json ? pyh_dump_write_json(d, m, &r->view) : pyh_dump_write_text(d, m, &r->view);
}

/* The whole of one process, in the job's thread: 0, or -errno with j->err. */
static int dump_job_run(void *arg)
{
	struct dump_job *j = arg;
	struct pyh_dump_host host;
	struct pyh_host_proc hp;
	struct pyh_dump d;
	FILE *m;
	int rc;

	if (j->with_host) {
		struct pyh_target t;

		/* Not Python, gone, or still starting: not part of the list (-ENOENT). */
		if (pyh_target_open(j->pid, &t, j->err, sizeof(j->err)) || pyh_host_proc_read(j->pid, &hp))
			return -ENOENT;
	}
	rc = pyh_dump_take(&j->o, j->pid, &d, j->err, sizeof(j->err));
	if (rc)
		return rc;
	if (d.native_missing[0])
		snprintf(j->note, sizeof(j->note), "%s%s", PYH_DUMP_NO_NATIVE, d.native_missing);
	if (j->with_host) {
		host.ns_pid = hp.ns_pid;
		pyh_host_label(&hp, &d.target.ver, host.label, sizeof(host.label));
		snprintf(host.cgroup, sizeof(host.cgroup), "%s", hp.cgroup);
		d.host = &host;
	}
	m = open_memstream(&j->text, &j->len);
	if (!m) {
		pyh_dump_free(&d);
		snprintf(j->err, sizeof(j->err), "out of memory");
		return -ENOMEM;
	}
	rc = render(j, &d, m);
	pyh_dump_free(&d);
	if (fclose(m) && !rc)
		rc = -ENOMEM;
	if (rc && !j->err[0] && rc != -ECANCELED)
		snprintf(j->err, sizeof(j->err), "cannot write the dump of process %d", j->pid);
	return rc;
}

/* One attempt. On -ETIMEDOUT the snapper went with the job: *o gets a new one. */
static int attempt(struct pyh_dump_opts *o, pid_t pid, int with_host, const struct pyh_dump_render *r,
		   char **text, size_t *len, char *err, size_t errsz)
{
	struct dump_job *j = calloc(1, sizeof(*j));
	int rc, result = 0;

	if (!j) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	j->o = *o;
	j->pid = pid;
	j->with_host = with_host;
	j->r = *r;
	rc = pyh_guard_run(dump_job_run, j, dump_job_free, PYH_DUMP_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT) {
		/* The job may wake up some day and use the snapper: it keeps it. */
		o->snapper = pyh_snapper_new();
		snprintf(err, errsz, "process %d: unreadable: reading it did not finish within %d s (a "
			 "file or memory it maps does not answer: FUSE, NFS?); skipped", pid,
			 PYH_DUMP_DEADLINE_MS / 1000);
		return rc;
	}
	if (rc) {
		snprintf(err, errsz, "process %d: not read: %s", pid,
			 rc == -EAGAIN ? "too many other reads are stalled already" : strerror(-rc));
		free(j);
		return rc;
	}
	if (result) {
		snprintf(err, errsz, "%s", j->err);
		dump_job_free(j);
		return result;
	}
	*text = j->text;
	*len = j->len;
	j->text = NULL;
	snprintf(err, errsz, "%s", j->note);
	dump_job_free(j);
	return 0;
}

int pyh_dump_guarded(struct pyh_dump_opts *o, pid_t pid, int with_host, const struct pyh_dump_render *r,
		     char **text, size_t *len, char *err, size_t errsz)
{
	struct pyh_dump_render plain;
	int rc;

	*text = NULL;
	*len = 0;
	rc = attempt(o, pid, with_host, r, text, len, err, errsz);
	if (rc != -ETIMEDOUT || (!r->view.source && r->view.context < 0) || !o->snapper)
		return rc;
	/* Source files are the usual culprit (a FUSE file system): once more without. */
	plain = *r;
	plain.view.source = 0;
	plain.view.context = -1;
	rc = attempt(o, pid, with_host, &plain, text, len, err, errsz);
	if (rc == 0)
		snprintf(err, errsz, "process %d: its source files did not answer within %d s: shown "
			 "without source lines", pid, PYH_DUMP_DEADLINE_MS / 1000);
	return rc;
}
