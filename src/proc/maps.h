/* The target's memory map: which ELF file holds the Python interpreter. */
#ifndef PYH_PROC_MAPS_H
#define PYH_PROC_MAPS_H
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct pyh_pybinary {
	char path[PATH_MAX];	  /* as the target's maps show it, e.g. /usr/lib/libpython3.12.so.1.0 */
	char host_path[PATH_MAX]; /* how it was opened from here: /proc/PID/map_files/A-B, else
				   * /proc/PID/root<path> or the path itself (chroot); for messages */
	uint64_t load_bias;	  /* add to an ELF st_value to get the target address */
	int is_lib;		  /* 1: libpythonX.Y.so, 0: the executable itself */
	int major, minor;	  /* from the file name when it says (libpython3.12.so, python3.11), else 0 */
	uint64_t map_start, map_end; /* its lowest mapping */
	unsigned dev_major, dev_minor; /* the mapped file's device and inode, from maps */
	uint64_t inode;
};

/* Find the ELF object holding the interpreter in PID's maps: a mapped
 * libpython*.so if there is one, else the main executable (a static Python).
 * Reads at most PYH_MAPS_MAX_LINES lines. The file is opened as
 * pyh_pybinary_open does (never another file than the mapped one).
 * Returns 0 and fills *out; -ENOENT when no mapping looks like Python (the
 * caller confirms with symbols); -ESRCH when the process is gone; -EACCES;
 * -ENODEV / -ESTALE when the mapped file cannot be reached (proc/rootfs.h). */
int pyh_maps_find_python(pid_t pid, struct pyh_pybinary *out);

/* Open the interpreter file b names, as mapped in pid: through
 * /proc/PID/map_files/ or its path, only when it is the mapped file
 * (proc/rootfs.h: pyh_rootfs_open_mapped). Returns a descriptor or -errno. */
int pyh_pybinary_open(pid_t pid, const struct pyh_pybinary *b);

/* One line of /proc/PID/maps. path may be "" (anonymous). */
struct pyh_maps_line {
	uint64_t start, end, offset;
	char perms[5];
	unsigned dev_major, dev_minor;
	uint64_t inode;
};

/* Parse one line into *m and path (pathsz bytes). Returns 0 or -EINVAL. */
int pyh_maps_parse(const char *line, struct pyh_maps_line *m, char *path, size_t pathsz);

/* The same, fields one by one. Returns 0 or -EINVAL. path may be "" (anonymous). */
int pyh_maps_parse_line(const char *line, uint64_t *start, uint64_t *end, char perms[5],
			uint64_t *offset, char *path, size_t pathsz);

#define PYH_MAPS_MAX_LINES 200000
#endif
