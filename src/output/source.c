#include "output/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct source_file {
	char *name;
	char *text;	/* NULL when unreadable */
	size_t len;
	int err;	/* why text is NULL: an errno value */
};

struct pyh_source {
	pid_t pid;
	struct source_file files[PYH_SOURCE_MAX_FILES];
	int nfiles, next_evict;
};

struct pyh_source *pyh_source_new(pid_t pid)
{
	struct pyh_source *s = calloc(1, sizeof(*s));

	if (s)
		s->pid = pid;
	return s;
}

static void file_clear(struct source_file *f)
{
	free(f->name);
	free(f->text);
	memset(f, 0, sizeof(*f));
}

void pyh_source_free(struct pyh_source *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nfiles; i++)
		file_clear(&s->files[i]);
	free(s);
}

static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return NULL;
	/* Only regular files: a FIFO or device named like a source file must not block us. */
	if (fstat(fd, &st))
		goto out;
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)PYH_SOURCE_MAX_FILE) {
		errno = !S_ISREG(st.st_mode) ? EINVAL : EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		errno = ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
out:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return buf;
}

static struct source_file *load(struct pyh_source *s, const char *file)
{
	char path[8192];
	struct source_file *f;

	for (int i = 0; i < s->nfiles; i++)
		if (!strcmp(s->files[i].name, file))
			return &s->files[i];
	if (s->nfiles < PYH_SOURCE_MAX_FILES) {
		f = &s->files[s->nfiles++];
	} else {
		f = &s->files[s->next_evict];
		s->next_evict = (s->next_evict + 1) % PYH_SOURCE_MAX_FILES;
		file_clear(f);
	}
	f->name = strdup(file);
	if (!f->name)
		return NULL;
	if (file[0] == '/')
		snprintf(path, sizeof(path), "/proc/%d/root%s", s->pid, file);
	else
		snprintf(path, sizeof(path), "/proc/%d/cwd/%s", s->pid, file);
	errno = 0;
	f->text = slurp(path, &f->len);
	f->err = f->text ? 0 : errno ? errno : EIO;
	return f;
}

int pyh_source_line(struct pyh_source *s, const char *file, int line, char *out, size_t outsz)
{
	struct source_file *f;
	const char *p, *end, *stop;
	size_t n;

	if (outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!s || !file || !*file || file[0] == '<' || line < 1)
		return -ENOENT;
	f = load(s, file);
	if (!f || !f->text)
		return -ENOENT;
	p = f->text;
	end = f->text + f->len;
	for (int i = 1; i < line; i++) {
		size_t left = (size_t)(end - p);
		const char *nl = left ? memchr(p, '\n', left) : NULL;

		if (!nl)
			return -ENOENT;
		p = nl + 1;
	}
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
	for (size_t i = 0; i < n; i++)	/* no terminal escapes from a hostile file */
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return 0;
}

int pyh_source_lines(struct pyh_source *s, const char *file, int first, int last,
		     int (*visit)(void *arg, int line, const char *text), void *arg)
{
	char out[PYH_SOURCE_LINE_MAX];
	struct source_file *f;
	const char *p, *end;

	if (!s || !file || !*file || file[0] == '<')
		return -ENOENT;
	f = load(s, file);
	if (!f)
		return -ENOMEM;
	if (!f->text)
		return -f->err;
	if (first < 1)
		first = 1;
	p = f->text;
	end = f->text + f->len;
	for (int line = 1; line <= last && p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t n;

		if (line >= first) {
			while (stop > p && (stop[-1] == '\r' || stop[-1] == ' '))
				stop--;
			n = (size_t)(stop - p);
			if (n > sizeof(out) - 1)
				n = sizeof(out) - 1;
			memcpy(out, p, n);
			out[n] = '\0';
			for (size_t i = 0; i < n; i++)	/* no terminal escapes from a hostile file */
				if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
					out[i] = ' ';
			if (visit(arg, line, out))
				break;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}
