/* The one reader of /proc/PID and /proc/PID/task/TID: stat, status, comm,
 * cmdline, exe, schedstat, the task list and other small files.
 *
 * One convention everywhere: a process or thread that is gone (its /proc
 * entry is missing, or vanished while read) is -ESRCH; a zombie is not gone
 * here (its stat says state 'Z'; pyh_proc_stat_dead() tells). Every file is
 * read whole into a bounded buffer; nothing here blocks on the target.
 * tid 0 means the process itself (/proc/PID/...), else /proc/PID/task/TID/...
 */
#ifndef PYH_PROC_PROCFS_H
#define PYH_PROC_PROCFS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PYH_PF_KTHREAD 0x00200000u	/* stat flags: a kernel thread */
#define PYH_PROC_STAT_MAX 4096		/* a stat line is well under this */

/* Read the file `name` of pid (or its thread tid) into buf: at most bufsz-1
 * bytes, NUL-terminated. Returns the length, -ESRCH when gone, other -errno. */
ssize_t pyh_proc_read(pid_t pid, pid_t tid, const char *name, char *buf, size_t bufsz);

/* The fields of stat pyhang uses (proc(5) numbering). */
struct pyh_proc_stat {
	char comm[17];		/* field 2, without the parentheses; may hold spaces and ')' */
	char state;		/* field 3 */
	pid_t ppid;		/* field 4 */
	uint64_t flags;		/* field 9: PF_* */
	long num_threads;	/* field 20 */
	uint64_t start_ticks;	/* field 22: clock ticks since boot */
	int cpu;		/* field 39: the CPU it last ran on; -1 unknown */
};

/* Returns 0 with *out, -ESRCH when gone, -EINVAL for a malformed line
 * (*out zeroed then, state '?'). */
int pyh_proc_stat(pid_t pid, pid_t tid, struct pyh_proc_stat *out);

/* A task whose state letter (stat's, or the task iterator's through
 * pyh_task_state_letter) says zombie or dead: exited, nothing left to read. */
static inline int pyh_state_dead(char state)
{
	return state == 'Z' || state == 'X' || state == 'x';
}

static inline int pyh_proc_stat_dead(const struct pyh_proc_stat *s)
{
	return pyh_state_dead(s->state);
}

/* A process's exit, watched without reading /proc (a read of /proc/PID/stat
 * costs tens of microseconds; a loop that asks often pays that each time):
 * pyh_pidfd_open gives a pidfd of pid (close it) or -errno (no pidfd_open:
 * ask pyh_proc_stat); pyh_pidfd_exited says 1 once the process has exited
 * (a zombie too), 0 while it runs. */
int pyh_pidfd_open(pid_t pid);
int pyh_pidfd_exited(int pidfd);

/* The process's state letter and whether it is a kernel thread. Returns 0 or
 * -ESRCH / -EINVAL (see pyh_proc_stat). */
int pyh_proc_state(pid_t pid, char *state, int *kthread);

/* The last number of the status line `key` ("Tgid", "NSpid", "PPid"): for
 * NSpid the id in the task's innermost PID namespace. Returns 0, -ESRCH when
 * gone, -ENOENT when the line is missing or not a number. */
int pyh_proc_status_id(pid_t pid, pid_t tid, const char *key, pid_t *out);

/* Whether a thread ran between two looks: its state letter and how many
 * times it was switched off a CPU so far (voluntary + involuntary context
 * switches of status: the kernel's nvcsw + nivcsw). A thread not running now
 * with the same count as before did not run between. Returns 0, -ESRCH or
 * -EINVAL (lines missing). */
int pyh_proc_switches(pid_t pid, pid_t tid, char *state, uint64_t *switches);

/* comm without its newline (at most 15 bytes). Returns 0 or -ESRCH; out is ""
 * on failure. */
int pyh_proc_comm(pid_t pid, pid_t tid, char *out, size_t outsz);

/* The raw command line (argv, each NUL-terminated) into buf, at most bufsz-1
 * bytes. Returns the length (0 for a kernel thread or a zombie), or -errno. */
ssize_t pyh_proc_cmdline(pid_t pid, char *buf, size_t bufsz);

/* The target of /proc/PID/exe. Returns 0 or -errno; out is "" on failure. */
int pyh_proc_exe(pid_t pid, char *out, size_t outsz);

/* schedstat: time on a CPU and waiting for one so far, and how many times
 * the task was put on a CPU (a task whose count did not move did not run). */
struct pyh_proc_schedstat {
	uint64_t run_ns;
	uint64_t wait_ns;
	uint64_t slices;
};
int pyh_proc_schedstat(pid_t pid, pid_t tid, struct pyh_proc_schedstat *out);

/* The thread's time on a CPU so far (first field of schedstat), ns. */
int pyh_proc_run_ns(pid_t pid, pid_t tid, uint64_t *run_ns);

/* The threads of pid (at most max), in /proc's order. Returns 0 with *n,
 * -ESRCH when gone (or it lists no thread), -E2BIG when there were more than
 * max (the first max are in tids). */
int pyh_proc_tasks(pid_t pid, pid_t *tids, int max, int *n);

/* 1 when /proc/PID/task/TID exists (tid 0: /proc/PID). */
int pyh_proc_exists(pid_t pid, pid_t tid);
#endif
