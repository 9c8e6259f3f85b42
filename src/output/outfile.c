/* Choosing a profile format and writing a profile to a path safely. */
#include "profile/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum pyh_format pyh_format_parse(const char *name)
{
	if (!name)
		return 0;
	if (strcmp(name, "svg") == 0)
		return PYH_FMT_SVG;
	if (strcmp(name, "folded") == 0)
		return PYH_FMT_FOLDED;
	if (strcmp(name, "speedscope") == 0)
		return PYH_FMT_SPEEDSCOPE;
	if (strcmp(name, "pprof") == 0)
		return PYH_FMT_PPROF;
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls > lx && strcasecmp(s + ls - lx, suffix) == 0;
}

enum pyh_format pyh_format_from_path(const char *path)
{
	if (!path)
		return 0;
	if (ends_with(path, ".svg"))
		return PYH_FMT_SVG;
	if (ends_with(path, ".folded") || ends_with(path, ".txt"))
		return PYH_FMT_FOLDED;
	if (ends_with(path, ".json")) /* includes .speedscope.json */
		return PYH_FMT_SPEEDSCOPE;
	if (ends_with(path, ".pb.gz") || ends_with(path, ".pprof"))
		return PYH_FMT_PPROF;
	return 0;
}

int pyh_profile_write(const struct pyh_profile *p, const struct pyh_profile_meta *m,
		      enum pyh_format fmt, FILE *f)
{
	switch (fmt) {
	case PYH_FMT_SVG:
		return pyh_write_svg(p, m, f);
	case PYH_FMT_FOLDED:
		return pyh_write_folded(p, f);
	case PYH_FMT_SPEEDSCOPE:
		return pyh_write_speedscope(p, m, f);
	case PYH_FMT_PPROF:
		return pyh_write_pprof(p, m, f);
	}
	return -EINVAL;
}

static int fail(char *err, size_t errsz, const char *path, int e)
{
	if (err && errsz)
		snprintf(err, errsz, "cannot write %s: %s", path, strerror(e));
	return -e;
}

/* The umask, without changing it (umask() would, racing other threads). */
static mode_t current_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned mask = 022;

	if (!f)
		return 022;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &mask) == 1)
			break;
	fclose(f);
	return (mode_t)(mask & 0777);
}

/* Write to an already open stream that is not ours to replace. */
static int write_stream(const struct pyh_profile *p, const struct pyh_profile_meta *m, enum pyh_format fmt,
			FILE *f, const char *path, char *err, size_t errsz)
{
	int r = pyh_profile_write(p, m, fmt, f);

	if (r == 0 && fflush(f))
		r = -errno;
	return r ? fail(err, errsz, path, -r) : 0;
}

/* Open a pipe, a character device or a Unix socket at path for writing.
 * Returns a stream, or NULL with errno set; *regular = 1 (and NULL) if path
 * turned out to be a regular file after all (then it is replaced instead). */
static FILE *open_special(const char *path, const struct stat *st, int *regular)
{
	struct stat st2;
	FILE *f;
	int fd;

	*regular = 0;
	if (S_ISSOCK(st->st_mode)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(path) >= sizeof(sa.sun_path)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		strcpy(sa.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return NULL;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			int e = errno;

			close(fd);
			errno = e;
			return NULL;
		}
	} else {
		fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return NULL;
		if (fstat(fd, &st2) == 0 && S_ISREG(st2.st_mode)) {
			close(fd); /* replaced between stat and open */
			*regular = 1;
			return NULL;
		}
	}
	f = fdopen(fd, "w");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}

int pyh_profile_write_path(const struct pyh_profile *p, const struct pyh_profile_meta *m,
			   enum pyh_format fmt, const char *path, char *err, size_t errsz)
{
	struct stat st, lst;
	const char *base;
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, r, e, regular = 0;
	mode_t mode;

	if (err && errsz)
		err[0] = '\0';
	if (!p || !path || !*path || fmt < PYH_FMT_SVG || fmt > PYH_FMT_PPROF)
		return fail(err, errsz, path && *path ? path : "(no path)", EINVAL);
	if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0)
		return write_stream(p, m, fmt, stdout, strcmp(path, "-") ? path : "standard output", err, errsz);
	if (strcmp(path, "/dev/stderr") == 0)
		return write_stream(p, m, fmt, stderr, path, err, errsz);

	if (stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode))) {
		f = open_special(path, &st, &regular);
		if (f) {
			r = pyh_profile_write(p, m, fmt, f);
			if (fclose(f) && !r)
				r = -errno;
			return r ? fail(err, errsz, path, -r) : 0;
		}
		if (!regular)
			return fail(err, errsz, path, errno);
	}

	/* Temporary file next to path, then rename over it. */
	base = strrchr(path, '/');
	if ((base ? asprintf(&tmp, "%.*s/.%s.XXXXXX", (int)(base - path), path, base + 1)
		  : asprintf(&tmp, ".%s.XXXXXX", path)) < 0) {
		tmp = NULL;
		r = fail(err, errsz, path, ENOMEM);
		goto cleanup;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = fail(err, errsz, path, errno);
		free(tmp);
		tmp = NULL; /* nothing to unlink */
		goto cleanup;
	}
	/* Keep an existing file's permissions; a new file gets 0666 & ~umask. */
	if (lstat(path, &lst) == 0 && S_ISREG(lst.st_mode))
		mode = lst.st_mode & 07777;
	else
		mode = 0666 & ~current_umask();
	if (fchmod(fd, mode)) {
		r = fail(err, errsz, path, errno);
		goto cleanup;
	}
	f = fdopen(fd, "w");
	if (!f) {
		r = fail(err, errsz, path, errno);
		goto cleanup;
	}
	fd = -1; /* owned by f */
	r = pyh_profile_write(p, m, fmt, f);
	if (r) {
		r = fail(err, errsz, path, -r);
		goto cleanup;
	}
	if (fflush(f) || fsync(fileno(f))) {
		r = fail(err, errsz, path, errno);
		goto cleanup;
	}
	e = fclose(f);
	f = NULL;
	if (e) {
		r = fail(err, errsz, path, errno);
		goto cleanup;
	}
	if (rename(tmp, path)) {
		r = fail(err, errsz, path, errno);
		goto cleanup;
	}
	free(tmp);
	tmp = NULL; /* renamed: nothing to unlink */
	r = 0;
cleanup:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	return r;
}

int pyh_profile_check_path(const char *path, char *err, size_t errsz)
{
	char dir[PATH_MAX];
	struct stat st;
	const char *slash;
	int e;

	if (!strcmp(path, "-"))
		return 0;
	if (!*path) {
		snprintf(err, errsz, "empty output path");
		return -EINVAL;
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errsz, "cannot write the profile to '%s': it is a directory", path);
			return -EISDIR;
		}
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			if (access(path, W_OK)) {
				e = errno;
				snprintf(err, errsz, "cannot write the profile to '%s': %s", path, strerror(e));
				return -e;
			}
			return 0; /* a pipe or device, written directly */
		}
	}
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st)) {
		e = errno;
		snprintf(err, errsz, "cannot write the profile to '%s': directory '%s': %s", path, dir,
			 strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "cannot write the profile to '%s': '%s' is not a directory", path, dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK)) {
		e = errno;
		snprintf(err, errsz, "cannot write the profile to '%s': directory '%s': %s", path, dir,
			 strerror(e));
		return -e;
	}
	return 0;
}
