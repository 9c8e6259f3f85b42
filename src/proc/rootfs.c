/* Opening the files a target names, inside its root, regular files only.
 *
 * Every path is first resolved to an O_PATH descriptor (which opens nothing:
 * no FIFO, device or FUSE open handler runs), its type checked with fstat,
 * and only a regular file is then opened for reading, through
 * /proc/self/fd/N (our own descriptor: exactly that inode). */
#include "proc/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PYH_ROOTFS_MAX_DEPTH 128	/* directories deep, in the fallback walk */
#define PYH_ROOTFS_PROC_PATH 96
#define PYH_ROOTFS_READ_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int pyh_force_fallback;
static int pyh_no_openat2;	/* the kernel said ENOSYS once */

void pyh_rootfs_force_fallback(int on)
{
	pyh_force_fallback = on;
}

/* ---- resolution without openat2 ----------------------------------------- */

struct pyh_walk {
	int base;			/* resolution is confined to this directory */
	int beneath;			/* leaving base is an error (else: clamped at base) */
	int dirs[PYH_ROOTFS_MAX_DEPTH];	/* descendants of base walked into */
	int depth;
	int links;
	char path[2 * PATH_MAX];	/* what is left to resolve */
};

static int walk_cur(const struct pyh_walk *w)
{
	return w->depth ? w->dirs[w->depth - 1] : w->base;
}

static void walk_to_base(struct pyh_walk *w)
{
	while (w->depth > 0)
		close(w->dirs[--w->depth]);
}

/* Replace what is left with target + "/" + rest. Returns 0 or -errno. */
static int walk_splice(struct pyh_walk *w, const char *target, const char *rest)
{
	char next[sizeof(w->path)];

	if (++w->links > PYH_ROOTFS_MAX_LINKS)
		return -ELOOP;
	if (target[0] == '/') {
		if (w->beneath)
			return -EXDEV;
		walk_to_base(w);
	}
	if ((size_t)snprintf(next, sizeof(next), "%s/%s", target, rest) >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(w->path, next, strlen(next) + 1);
	return 0;
}

/* Resolve w->path from base, by the rules of rootfs.h, to an O_PATH
 * descriptor. Returns it or -errno. */
static int walk_resolve(struct pyh_walk *w)
{
	char link[PATH_MAX], comp[NAME_MAX + 1];
	const char *p = w->path;
	int err;

	if (p[0] == '/' && w->beneath)
		return -EXDEV;
	for (;;) {
		const char *end;
		size_t len;
		struct stat st;
		ssize_t n;
		int fd;

		while (*p == '/')
			p++;
		if (!*p)
			return -ENODEV;	/* the path names a directory, not a file */
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, len);
		comp[len] = '\0';
		p = end;
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (w->depth > 0)
				close(w->dirs[--w->depth]);
			else if (w->beneath)
				return -EXDEV;
			continue;	/* IN_ROOT: ".." of the root is the root */
		}
		fd = openat(walk_cur(w), comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st)) {
			err = -errno;
			close(fd);
			return err;
		}
		if (S_ISLNK(st.st_mode)) {
			char rest[sizeof(w->path)];

			n = readlinkat(fd, "", link, sizeof(link) - 1);
			close(fd);
			if (n < 0)
				return -errno;
			link[n] = '\0';
			snprintf(rest, sizeof(rest), "%s", p);
			err = walk_splice(w, link, rest);
			if (err)
				return err;
			p = w->path;
			continue;
		}
		while (*p == '/')
			p++;
		if (!*p)
			return fd;	/* the last component: the caller checks its type */
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			return -ENOTDIR;
		}
		if (w->depth == PYH_ROOTFS_MAX_DEPTH) {
			close(fd);
			return -ENAMETOOLONG;
		}
		w->dirs[w->depth++] = fd;
	}
}

static int resolve_fallback(int base, const char *path, int beneath)
{
	struct pyh_walk *w = calloc(1, sizeof(*w));
	int fd;

	if (!w)
		return -ENOMEM;
	w->base = base;
	w->beneath = beneath;
	if (strlen(path) >= PATH_MAX) {
		free(w);
		return -ENAMETOOLONG;
	}
	memcpy(w->path, path, strlen(path) + 1);
	fd = walk_resolve(w);
	walk_to_base(w);
	free(w);
	return fd;
}

/* ---- the opens ----------------------------------------------------------- */

/* An O_PATH descriptor of path resolved from base (see rootfs.h). */
static int resolve(int base, const char *path, int beneath)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = (beneath ? RESOLVE_BENEATH : RESOLVE_IN_ROOT) | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (pyh_force_fallback || pyh_no_openat2)
		return resolve_fallback(base, path, beneath);
	fd = syscall(SYS_openat2, base, path, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS) {
		pyh_no_openat2 = 1;
		return resolve_fallback(base, path, beneath);
	}
	return errno == EAGAIN ? -ENOENT : -errno;	/* EAGAIN: a rename raced; give up */
}

/* From an O_PATH descriptor (closed here) to a readable descriptor of the
 * same regular file. Returns it (and *st) or -errno. */
static int open_regular(int pfd, struct stat *st)
{
	char self[PYH_ROOTFS_PROC_PATH];
	struct stat tmp, *s = st ? st : &tmp;
	int fd, err;

	if (pfd < 0)
		return pfd;
	if (fstat(pfd, s)) {
		err = -errno;
		close(pfd);
		return err;
	}
	if (!S_ISREG(s->st_mode)) {
		close(pfd);
		return -ENODEV;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, PYH_ROOTFS_READ_FLAGS);
	err = fd < 0 ? -errno : 0;
	close(pfd);
	if (err)
		return err;
	if (fstat(fd, s) || !S_ISREG(s->st_mode)) {
		close(fd);
		return -ENODEV;
	}
	return fd;
}

static int gone_or(pid_t pid, int err)
{
	char dir[PYH_ROOTFS_PROC_PATH];

	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	return access(dir, F_OK) && errno == ENOENT ? -ESRCH : err;
}

int pyh_rootfs_open(pid_t pid, const char *path, struct stat *st)
{
	char base_path[PYH_ROOTFS_PROC_PATH];
	int base, beneath, fd;

	if (pid <= 0 || !path || !*path)
		return -EINVAL;
	beneath = path[0] != '/';
	snprintf(base_path, sizeof(base_path), "/proc/%d/%s", (int)pid, beneath ? "cwd" : "root");
	/* The target's root (or cwd): the one magic link followed, on purpose. */
	base = open(base_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (base < 0)
		return gone_or(pid, -errno);
	fd = open_regular(resolve(base, path, beneath), st);
	close(base);
	return fd;
}

static int same_file(const struct stat *st, const struct pyh_rootfs_map *m)
{
	return st->st_ino == m->inode && major(st->st_dev) == m->dev_major &&
	       minor(st->st_dev) == m->dev_minor;
}

/* Accept fd when it is the mapped file; else close it. */
static int check_mapped(int fd, const struct stat *st, const struct pyh_rootfs_map *m)
{
	if (fd < 0)
		return fd;
	if (same_file(st, m))
		return fd;
	close(fd);
	return -ESTALE;
}

int pyh_rootfs_open_map_files(pid_t pid, uint64_t start, uint64_t end, struct stat *st)
{
	char mf[PYH_ROOTFS_PROC_PATH];
	int fd;

	if (pid <= 0)
		return -EINVAL;
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", (int)pid, (unsigned long long)start,
		 (unsigned long long)end);
	fd = open(mf, O_PATH | O_CLOEXEC);
	return open_regular(fd < 0 ? gone_or(pid, -errno) : fd, st);
}

int pyh_rootfs_open_mapped(pid_t pid, const struct pyh_rootfs_map *m, struct stat *st,
			   enum pyh_rootfs_via *via)
{
	struct stat tmp, *s = st ? st : &tmp;
	int fd, err = -ENOENT, root_fd;

	if (pid <= 0 || !m)
		return -EINVAL;
	/* 1. The mapping itself: right whatever lies at its path now. */
	fd = check_mapped(pyh_rootfs_open_map_files(pid, m->start, m->end, s), s, m);
	if (fd >= 0) {
		if (via)
			*via = PYH_VIA_MAP_FILES;
		return fd;
	}
	if (fd == -ESTALE || fd == -ENODEV)
		err = fd;
	if (!m->path || m->path[0] != '/')
		return gone_or(pid, err);
	/* 2. Its path inside the target's root (a container). */
	fd = check_mapped(pyh_rootfs_open(pid, m->path, s), s, m);
	if (fd >= 0) {
		if (via)
			*via = PYH_VIA_ROOT;
		return fd;
	}
	if (fd == -ESRCH)
		return fd;
	if (fd == -ESTALE || fd == -ENODEV || err == -ENOENT)
		err = fd;
	/* 3. Its path from here: a chrooted process's maps show our paths. Only
	 * the mapped file itself (device and inode) is ever accepted. */
	root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return err;
	fd = check_mapped(open_regular(resolve(root_fd, m->path, 0), s), s, m);
	close(root_fd);
	if (fd >= 0) {
		if (via)
			*via = PYH_VIA_HOST;
		return fd;
	}
	if (fd == -ESTALE || fd == -ENODEV)
		err = fd;
	return gone_or(pid, err);
}

int pyh_rootfs_read_all(int fd, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0, want;
	char *b;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	if (st.st_size < 0 || (uint64_t)st.st_size > max)
		return -EFBIG;
	want = (size_t)st.st_size;
	b = malloc(want + 1);
	if (!b)
		return -ENOMEM;
	/* The size is what fstat said; a file that grows meanwhile is cut there. */
	while (got < want) {
		ssize_t r = pread(fd, b + got, want - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			free(b);
			return err;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

const char *pyh_rootfs_served_fs(int fd)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} served[] = {
		{ 0x65735546, "FUSE" }, { 0x6969, "NFS" }, { 0xFF534D42, "SMB" }, { 0xFE534D42, "SMB" },
		{ 0x517B, "SMB" }, { 0x01021997, "9p" }, { 0x00C36400, "Ceph" }, { 0x5346414F, "AFS" },
		{ 0x6B414653, "AFS" }, { 0x73757245, "Coda" },
	};
	struct statfs sf;

	if (fstatfs(fd, &sf))
		return "unknown";
	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
		if ((unsigned long)sf.f_type == served[i].magic)
			return served[i].name;
	return NULL;
}
