/* Source lines, read inside the target's root, cached within a budget. */
#include "output/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget/budget.h"
#include "proc/guard.h"
#include "proc/rootfs.h"

/* Reading one source file may block (a FUSE or NFS file system that does not
 * answer): it is a job with this deadline; a process whose file missed it
 * gets no more source lines (never blocks its reader again). */
#define PYH_SOURCE_DEADLINE_MS 2000

struct source_file {
	struct pyh_lru_node lru;	/* first: the node is the file */
	char *name;
	char *text;			/* NULL when unreadable */
	size_t len;
	int err;			/* why it is unreadable (errno) */
	uint32_t *starts;		/* offset of each line's first byte (line N at
					 * starts[N-1]); NULL: scan for newlines instead */
	uint32_t nlines;
};

struct pyh_source {
	pid_t pid;
	int stalled;			/* a read missed its deadline: no more reads */
	struct pyh_lru_owner owner;
	struct source_file *files[PYH_SOURCE_MAX_FILES];
	int nfiles;
};

static void file_free(struct source_file *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->text);
	free(f->starts);
	free(f);
}

/* The budget dropped f: forget it. */
static void source_evict(struct pyh_lru_owner *o, struct pyh_lru_node *n)
{
	struct pyh_source *s = (struct pyh_source *)((char *)o - offsetof(struct pyh_source, owner));
	struct source_file *f = (struct source_file *)n;

	for (int i = 0; i < s->nfiles; i++) {
		if (s->files[i] == f) {
			s->files[i] = s->files[--s->nfiles];
			break;
		}
	}
	file_free(f);
}

struct pyh_source *pyh_source_new(pid_t pid)
{
	struct pyh_source *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pid = pid;
	pyh_lru_owner_init(&s->owner, pyh_budget_source(), source_evict);
	return s;
}

void pyh_source_free(struct pyh_source *s)
{
	if (!s)
		return;
	pyh_lru_owner_drain(&s->owner);
	for (int i = 0; i < s->nfiles; i++)	/* never charged (unreadable) */
		file_free(s->files[i]);
	free(s);
}

struct read_job {
	pid_t pid;
	struct source_file *f;		/* the job's until it returned in time */
};

static void read_job_free(void *arg)
{
	struct read_job *j = arg;

	file_free(j->f);
	free(j);
}

static int read_job_run(void *arg)
{
	struct read_job *j = arg;
	int fd = pyh_rootfs_open(j->pid, j->f->name, NULL);

	if (fd >= 0) {
		int rc = pyh_rootfs_read_all(fd, PYH_SOURCE_MAX_FILE, &j->f->text, &j->f->len);

		if (rc) {
			j->f->text = NULL;
			j->f->err = -rc;
		}
		close(fd);
	} else {
		j->f->err = fd == -ENODEV ? EINVAL : -fd;	/* not a regular file */
	}
	return 0;
}

/* Index f's line starts in one pass, so that each line asked for is found
 * without scanning the file from its start (a stack names lines deep in long
 * files, many times over). Without memory f stays unindexed. */
static void index_lines(struct source_file *f)
{
	const char *p = f->text, *end = f->text + f->len;
	uint32_t n = 1, i = 0;

	for (const char *q = p; q < end && (q = memchr(q, '\n', (size_t)(end - q))); q++)
		n++;
	f->starts = malloc((size_t)n * sizeof(*f->starts));
	if (!f->starts)
		return;
	f->starts[i++] = 0;
	for (const char *q = p; q < end && (q = memchr(q, '\n', (size_t)(end - q))); q++)
		f->starts[i++] = (uint32_t)(q + 1 - p);	/* after a last newline: "" */
	f->nlines = i;
}

/* Where line (1-based) of f starts, or NULL past its last line. */
static const char *line_at(const struct source_file *f, int line)
{
	const char *p = f->text, *end = f->text + f->len;

	if (f->starts)
		return (uint32_t)line <= f->nlines ? f->text + f->starts[line - 1] : NULL;
	for (int i = 1; i < line; i++) {
		const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;

		if (!nl)
			return NULL;
		p = nl + 1;
	}
	return p;
}

/* The file (text NULL when unreadable), or NULL when out of memory or when
 * reading it did not finish in time (s->stalled is then set). */
static struct source_file *file_read(struct pyh_source *s, const char *name)
{
	struct read_job *j = calloc(1, sizeof(*j));
	struct source_file *f;
	int rc, result;

	if (!j || !(j->f = calloc(1, sizeof(*j->f))) || !(j->f->name = strdup(name))) {
		if (j)
			read_job_free(j);
		return NULL;
	}
	j->pid = s->pid;
	rc = pyh_guard_run(read_job_run, j, read_job_free, PYH_SOURCE_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT || rc == -EAGAIN) {
		s->stalled = 1;		/* the job frees its file when it ends, if ever */
		if (rc == -EAGAIN)
			read_job_free(j);
		return NULL;
	}
	if (rc) {
		read_job_free(j);
		return NULL;
	}
	f = j->f;
	free(j);
	if (f->text && f->len <= PYH_SOURCE_MAX_FILE)
		index_lines(f);
	return f;
}

/* The file, cached; *transient = 1 when the caller must free it after use. */
static struct source_file *load(struct pyh_source *s, const char *name, int *transient)
{
	struct source_file *f;

	*transient = 0;
	for (int i = 0; i < s->nfiles; i++) {
		if (!strcmp(s->files[i]->name, name)) {
			pyh_lru_touch(&s->owner, &s->files[i]->lru);
			return s->files[i];
		}
	}
	if (s->stalled)
		return NULL;
	f = file_read(s, name);
	if (!f)
		return NULL;
	if (s->nfiles == PYH_SOURCE_MAX_FILES) {
		/* Remembered but unreadable ones go first, then the least recent. */
		int drop = -1;

		for (int i = 0; i < s->nfiles && drop < 0; i++)
			if (!s->files[i]->text)
				drop = i;
		if (drop >= 0) {
			file_free(s->files[drop]);
			s->files[drop] = s->files[--s->nfiles];
		} else {
			struct source_file *old = (struct source_file *)s->owner.head.prev;

			pyh_lru_remove(&s->owner, &old->lru);
			source_evict(&s->owner, &old->lru);
		}
	}
	if (f->text && pyh_lru_charge(&s->owner, &f->lru, sizeof(*f) + strlen(name) + f->len + 1 +
				      (size_t)f->nlines * sizeof(*f->starts))) {
		*transient = 1;		/* over budget: used once, not kept */
		return f;
	}
	s->files[s->nfiles++] = f;
	return f;
}

int pyh_source_line(struct pyh_source *s, const char *file, int line, char *out, size_t outsz)
{
	struct source_file *f;
	const char *p, *end, *stop;
	size_t n;
	int transient, rc = -ENOENT;

	if (outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!s || !file || !*file || file[0] == '<' || line < 1)
		return -ENOENT;
	f = load(s, file, &transient);
	if (!f || !f->text)
		goto out;
	end = f->text + f->len;
	p = line_at(f, line);
	if (!p)
		goto out;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	stop = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
	if (!stop)
		stop = end;
	while (stop > p && (stop[-1] == '\r' || stop[-1] == ' '))
		stop--;
	n = (size_t)(stop - p);
	if (n > outsz - 1)
		n = outsz - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\t')
			out[i] = ' ';
	rc = 0;
out:
	if (transient)
		file_free(f);
	return rc;
}

int pyh_source_lines(struct pyh_source *s, const char *file, int first, int last,
		     int (*visit)(void *arg, int line, const char *text), void *arg)
{
	char out[PYH_SOURCE_LINE_MAX];
	struct source_file *f;
	const char *p, *end;
	int transient, rc = 0;

	if (!s || !file || !*file || file[0] == '<')
		return -ENOENT;
	f = load(s, file, &transient);
	if (!f)
		return -ENOMEM;
	if (!f->text) {
		rc = -(f->err ? f->err : EIO);
		goto out;
	}
	if (first < 1)
		first = 1;
	end = f->text + f->len;
	p = line_at(f, first);
	for (int line = first; p && line <= last && p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t n;

		while (stop > p && (stop[-1] == '\r' || stop[-1] == ' '))
			stop--;
		n = (size_t)(stop - p);
		if (n > sizeof(out) - 1)
			n = sizeof(out) - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		for (size_t i = 0; i < n; i++)	/* tabs: spaces; the writers sanitize the rest */
			if (out[i] == '\t')
				out[i] = ' ';
		if (visit(arg, line, out))
			break;
		if (!nl)
			break;
		p = nl + 1;
	}
out:
	if (transient)
		file_free(f);
	return rc;
}

int pyh_source_stalled(const struct pyh_source *s)
{
	return s && s->stalled;
}
