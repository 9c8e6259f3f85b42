/* The one opener of files named by a target, on proc/rootfs.h. */
#include "native/targetfile.h"

#include <errno.h>

#include "proc/rootfs.h"

int pyh_targetfile_open(pid_t pid, const struct pyh_targetfile *f)
{
	int fd;

	if (pid <= 0 || !f)
		return -EINVAL;
	if (f->map_end)
		fd = pyh_rootfs_open_map_files(pid, f->map_start, f->map_end, NULL);
	else if (!f->path || f->path[0] != '/')
		return -EINVAL;
	else
		fd = pyh_rootfs_open(pid, f->path, NULL);
	return fd == -ENODEV ? -EINVAL : fd;	/* not a regular file */
}
