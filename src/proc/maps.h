/* The target's memory map: which ELF file holds the Python interpreter. */
#ifndef PYH_PROC_MAPS_H
#define PYH_PROC_MAPS_H
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct pyh_pybinary {
	char path[PATH_MAX];	  /* as the target sees it, e.g. /usr/lib/libpython3.12.so.1.0 */
	char host_path[PATH_MAX]; /* the same file from here: /proc/PID/root/<path> */
	uint64_t load_bias;	  /* add to an ELF st_value to get the target address */
	int is_lib;		  /* 1: libpythonX.Y.so, 0: the executable itself */
	int major, minor;	  /* from the file name when it says (libpython3.12.so, python3.11), else 0 */
};

/* Find the ELF object holding the interpreter in PID's maps: a mapped
 * libpython*.so if there is one, else the main executable (a static Python).
 * Reads at most PYH_MAPS_MAX_LINES lines.
 * Returns 0 and fills *out; -ENOENT when no mapping looks like Python (the
 * caller confirms with symbols); -ESRCH when the process is gone; -EACCES. */
int pyh_maps_find_python(pid_t pid, struct pyh_pybinary *out);

/* Parse one /proc/PID/maps line. Returns 0 or -EINVAL. path may be "" (anonymous). */
int pyh_maps_parse_line(const char *line, uint64_t *start, uint64_t *end, char perms[5],
			uint64_t *offset, char *path, size_t pathsz);

#define PYH_MAPS_MAX_LINES 200000
#endif
