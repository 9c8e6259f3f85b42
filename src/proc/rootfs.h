/* Files a target names, opened the way the target would see them and never
 * anything else: the one way pyhang opens a source file, a mapped ELF file or
 * any other path that came from a target.
 *
 * A target controls its file system: inside a container, /app/m.py may be a
 * symlink to /etc/shadow, which open("/proc/PID/root/app/m.py") resolves
 * against pyhang's root (the host's file); a FIFO or a FUSE file named like a
 * library blocks the reader. So here:
 *   - an absolute path is resolved inside the target's root: openat2() with
 *     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS on a descriptor of
 *     /proc/PID/root (symlinks, absolute ones too, and ".." stay inside);
 *     a relative one beneath the target's working directory (RESOLVE_BENEATH:
 *     a path or symlink leading out of it is refused). Where the kernel has no
 *     openat2 (before 5.6) the same resolution is done here, one component at
 *     a time with O_NOFOLLOW, symlinks read and resolved by these rules;
 *   - every open is O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, so a FIFO
 *     or a device never blocks the open, and only a regular file is kept
 *     (checked with fstat on the opened descriptor, not on the path);
 *   - reads are bounded (pyh_rootfs_read_all).
 * A file the target maps is opened through /proc/PID/map_files/ (the mapped
 * file itself, whatever now lies at its path) where the kernel lets us
 * (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else by its path, inside the
 * root and then as seen from here (a chrooted process's maps show host
 * paths), each accepted only when its device and inode are those of the
 * mapping. Errors: -ENOENT, -ELOOP (too many symlinks), -EXDEV (a relative
 * path leading out of the working directory), -ENODEV (not a regular file),
 * -ESTALE (a file other than the mapped one), -ESRCH (the process is gone),
 * other -errno. */
#ifndef PYH_PROC_ROOTFS_H
#define PYH_PROC_ROOTFS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Open path as process pid sees it (see above). Returns a descriptor (the
 * caller closes it) and *st when st is not NULL, or -errno. */
int pyh_rootfs_open(pid_t pid, const char *path, struct stat *st);

/* A mapping of a file, as /proc/PID/maps describes it. */
struct pyh_rootfs_map {
	uint64_t start, end;		/* the mapping's addresses */
	unsigned dev_major, dev_minor;	/* the file's device */
	uint64_t inode;
	const char *path;		/* as maps shows it (may end in " (deleted)") */
};

/* How pyh_rootfs_open_mapped found the file. */
enum pyh_rootfs_via {
	PYH_VIA_MAP_FILES = 1,		/* /proc/PID/map_files/START-END */
	PYH_VIA_ROOT,			/* the path inside the target's root */
	PYH_VIA_HOST,			/* the path as seen from here (chroot) */
};

/* Open the file mapped at m. Returns a descriptor and *st (when not NULL) and
 * *via (when not NULL), or -errno (-ESTALE: only other files were found). */
int pyh_rootfs_open_mapped(pid_t pid, const struct pyh_rootfs_map *m, struct stat *st,
			   enum pyh_rootfs_via *via);

/* Open /proc/PID/map_files/START-END (the file mapped there, by the kernel's
 * own reference), a regular file only, with the rules above. Returns a
 * descriptor (and *st when not NULL), or -errno (-EPERM without
 * CAP_SYS_ADMIN / CAP_CHECKPOINT_RESTORE). */
int pyh_rootfs_open_map_files(pid_t pid, uint64_t start, uint64_t end, struct stat *st);

/* Read the regular file at fd from offset 0 into a malloc'd buffer with a NUL
 * after the data. Files longer than max are refused (-EFBIG). Returns 0 with
 * *buf and *len, or -errno with *buf NULL. */
int pyh_rootfs_read_all(int fd, size_t max, char **buf, size_t *len);

/* The kind of file system the file open at fd lives on when its pages come
 * from a server that may stop answering — "FUSE", "NFS", "SMB", "9p",
 * "Ceph", "AFS", "Coda", or "unknown" when fstatfs fails (on FUSE it asks
 * the server, so call it where blocking is guarded) — else NULL: a local
 * file system, whose reads end. */
const char *pyh_rootfs_served_fs(int fd);

/* Tests: 1 makes every open use the resolution done here instead of
 * openat2 (as on a kernel without it); 0 back to the default. */
void pyh_rootfs_force_fallback(int on);

#define PYH_ROOTFS_MAX_LINKS 40		/* symlinks followed in one resolution, as the kernel */
#endif
