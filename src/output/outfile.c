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

/* How long a FIFO named as the output may take to get a reader. */
#define PYH_OUT_FIFO_WAIT_MS 2000
#define PYH_OUT_FIFO_STEP_MS 50

/* Open the FIFO, character device or Unix socket that lstat found at path
 * (st), for writing: never through a symlink, never blocking in open, and
 * only that very file (device and inode). Returns a stream, or NULL with
 * errno set. */
static FILE *open_special(const char *path, const struct stat *st)
{
	struct stat st2;
	FILE *f;
	int fd, flags;

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
		for (int waited = 0;; waited += PYH_OUT_FIFO_STEP_MS) {
			fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
			/* ENXIO: a FIFO nobody reads yet; give a reader a moment. */
			if (fd >= 0 || errno != ENXIO || waited >= PYH_OUT_FIFO_WAIT_MS)
				break;
			usleep(PYH_OUT_FIFO_STEP_MS * 1000);
		}
		if (fd < 0)
			return NULL;
		if (fstat(fd, &st2) || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino ||
		    (st2.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
			close(fd);	/* replaced since lstat */
			errno = ESTALE;
			return NULL;
		}
		/* Opened without blocking; written in blocking mode, whole. */
		flags = fcntl(fd, F_GETFL);
		if (flags >= 0)
			fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	}
	f = fdopen(fd, "w");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}

/* Move tmp to path: over whatever is there (a regular file or a symlink:
 * replaced, never followed), or only when nothing is (excl). */
static int move_into_place(const char *tmp, const char *path, int excl)
{
	if (!excl)
		return rename(tmp, path) ? -errno : 0;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: link() never replaces either. */
	if (link(tmp, path))
		return -errno;
	unlink(tmp);
	return 0;
}

static int write_path(const struct pyh_profile *p, const struct pyh_profile_meta *m,
		      enum pyh_format fmt, const char *path, int excl, char *err, size_t errsz)
{
	struct stat lst;
	const char *base;
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, r, e, have;
	mode_t mode;

	if (err && errsz)
		err[0] = '\0';
	if (!p || !path || !*path || fmt < PYH_FMT_SVG || fmt > PYH_FMT_PPROF)
		return fail(err, errsz, path && *path ? path : "(no path)", EINVAL);
	if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0)
		return write_stream(p, m, fmt, stdout, strcmp(path, "-") ? path : "standard output", err, errsz);
	if (strcmp(path, "/dev/stderr") == 0)
		return write_stream(p, m, fmt, stderr, path, err, errsz);

	/* What is at the path itself: a symlink is replaced, whatever it points
	 * to; a FIFO, device or socket is written only when named directly. */
	have = lstat(path, &lst) == 0;
	if (have && excl)
		return fail(err, errsz, path, EEXIST);
	if (have && S_ISDIR(lst.st_mode))
		return fail(err, errsz, path, EISDIR);
	if (have && (S_ISFIFO(lst.st_mode) || S_ISCHR(lst.st_mode) || S_ISSOCK(lst.st_mode))) {
		f = open_special(path, &lst);
		if (!f)
			return fail(err, errsz, path, errno == ENXIO ? EPIPE : errno);
		r = pyh_profile_write(p, m, fmt, f);
		if (fclose(f) && !r)
			r = -errno;
		return r ? fail(err, errsz, path, -r) : 0;
	}
	if (have && S_ISBLK(lst.st_mode))
		return fail(err, errsz, path, EPERM);	/* never a disk */

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
	/* Keep an existing file's permissions, never setuid, setgid or sticky;
	 * a new file (or one replacing a symlink) gets 0666 & ~umask. */
	if (have && S_ISREG(lst.st_mode))
		mode = lst.st_mode & 0777;
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
	r = move_into_place(tmp, path, excl);
	if (r) {
		r = fail(err, errsz, path, -r);
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
	/* What is at the path itself, as pyh_profile_write_path sees it. */
	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errsz, "cannot write the profile to '%s': it is a directory", path);
			return -EISDIR;
		}
		if (S_ISBLK(st.st_mode)) {
			snprintf(err, errsz, "cannot write the profile to '%s': a block device is never written",
				 path);
			return -EPERM;
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

int pyh_profile_write_path(const struct pyh_profile *p, const struct pyh_profile_meta *m,
			   enum pyh_format fmt, const char *path, char *err, size_t errsz)
{
	return write_path(p, m, fmt, path, 0, err, errsz);
}

int pyh_profile_write_new(const struct pyh_profile *p, const struct pyh_profile_meta *m,
			  enum pyh_format fmt, const char *path, char *err, size_t errsz)
{
	return write_path(p, m, fmt, path, 1, err, errsz);
}
