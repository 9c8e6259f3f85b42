/* pyhang's own privileges, as capabilities (not "uid 0"): what each mode
 * needs, and a one-line reason naming what is missing.
 *   reading other processes' memory and /proc entries: CAP_SYS_PTRACE
 *   BPF programs, tracepoints, uprobes, perf events:    CAP_BPF and CAP_PERFMON
 *                                                      (CAP_SYS_ADMIN before 5.8)
 *   /proc/PID/map_files (the mapped file itself):       CAP_SYS_ADMIN or
 *                                                      CAP_CHECKPOINT_RESTORE (optional:
 *                                                      without it, mapped files are opened
 *                                                      by path, checked by inode)
 * A root process without them (a container, a systemd unit that drops
 * them) is refused; a non-root one that holds them is not. */
#ifndef PYH_PROC_CAPS_H
#define PYH_PROC_CAPS_H
#include <stddef.h>

enum pyh_caps_need {
	PYH_NEED_READ = 1u << 0,	/* CAP_SYS_PTRACE */
	PYH_NEED_BPF = 1u << 1,		/* CAP_BPF + CAP_PERFMON */
	PYH_NEED_MAP_FILES = 1u << 2,	/* CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE */
};

/* Which of need the effective set lacks (a mask of enum pyh_caps_need, 0:
 * none), with their names in why ("CAP_SYS_PTRACE, CAP_BPF"). When the set
 * cannot be read, nothing is said to be missing (the operation itself will
 * fail and say why). */
unsigned pyh_caps_missing(unsigned need, char *why, size_t whysz);
#endif
