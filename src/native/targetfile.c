/* The one opener of files named by a target. */
#include "native/targetfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PYH_TF_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

static int open_in_root(pid_t pid, const char *path)
{
	struct open_how how = {
		.flags = PYH_TF_FLAGS,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char root[64];
	int rootfd, fd;

	if (!path || path[0] != '/')
		return -EINVAL;
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0)
		fd = -errno;
	close(rootfd);
	return fd;
}

int pyh_targetfile_open(pid_t pid, const struct pyh_targetfile *f)
{
	struct stat st;
	char path[96];
	int fd;

	if (pid <= 0 || !f)
		return -EINVAL;
	if (f->map_end) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)f->map_start, (unsigned long long)f->map_end);
		fd = open(path, PYH_TF_FLAGS);
		if (fd < 0)
			fd = -errno;
	} else {
		fd = open_in_root(pid, f->path);
	}
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}
