/* Opening the files a target names (its mapped libraries, their debug files),
 * by the rules of proc/rootfs.h (inside its root, O_PATH first, regular files
 * only, never blocking in open). */
#ifndef PYH_NATIVE_TARGETFILE_H
#define PYH_NATIVE_TARGETFILE_H
#include <stdint.h>
#include <sys/types.h>

struct pyh_targetfile {
	/* A mapping of the target, opened as /proc/PID/map_files/START-END: the
	 * mapped file itself, even when deleted or outside our mount namespace. */
	uint64_t map_start, map_end;
	/* Used when map_end == 0: an absolute path resolved inside the target's
	 * root (openat2 RESOLVE_IN_ROOT on /proc/PID/root, so a symlink in a
	 * container never leads to a host file). */
	const char *path;
};

/* Open read-only, close-on-exec, never blocking (O_NONBLOCK | O_NOCTTY: a
 * FIFO or a device planted at the path does not stall us) and only a regular
 * file (checked on the opened descriptor). Returns the fd, or -errno:
 * -EINVAL for anything but a regular file, -ENOENT, -EACCES, -ESRCH. */
int pyh_targetfile_open(pid_t pid, const struct pyh_targetfile *f);
#endif
