/* The files mapped into a process that native code runs from: one module per
 * file, from /proc/PID/maps. */
#ifndef PYH_NATIVE_MODULES_H
#define PYH_NATIVE_MODULES_H
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct pyh_nmodule {
	char path[PATH_MAX];	/* as the target's maps name it, without " (deleted)";
				 * "[vdso]" for the kernel's vDSO */
	uint64_t start, end;	/* lowest start and highest end of its mappings */
	uint64_t base;		/* where its file offset 0 is mapped (start - offset of its
				 * lowest mapping when none maps offset 0) */
	int base_exact;		/* base is where a mapping of offset 0 starts */
	uint64_t map_start, map_end;	/* its lowest mapping, for /proc/PID/map_files/ */
	int deleted;		/* the file was deleted (or replaced) after it was mapped */
	int executable;		/* at least one mapping is executable */
};

#define PYH_NMODULES_MAX 4096

/* Modules of a maps text (one /proc/PID/maps line per line), in address order
 * of their first mapping: file-backed mappings grouped by path, anonymous
 * ones and pseudo-files ("[heap]", "[stack]") left out except "[vdso]".
 * Lines that do not parse are skipped; at most PYH_NMODULES_MAX modules and
 * PYH_MAPS_MAX_LINES lines are read. Returns 0 with *out (malloc'd, the
 * caller frees) and *n, or -ENOMEM (*out NULL). */
int pyh_nmodules_parse(FILE *maps, struct pyh_nmodule **out, int *n);

/* The same for a live process's /proc/PID/maps. Returns 0, -ESRCH when the
 * process is gone, -EACCES, -ENOMEM. */
int pyh_nmodules_read(pid_t pid, struct pyh_nmodule **out, int *n);

/* The module holding addr, or NULL. */
const struct pyh_nmodule *pyh_nmodules_find(const struct pyh_nmodule *m, int n, uint64_t addr);
#endif
