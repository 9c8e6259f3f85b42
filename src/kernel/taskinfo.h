/* Per-thread facts only the kernel knows, from BPF task iterators: the fs
 * base, and what a native unwind of a thread that is not running starts from
 * (its saved user registers, kernel stack and the top of its user stack). */
#ifndef PYH_KERNEL_TASKINFO_H
#define PYH_KERNEL_TASKINFO_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/taskinfo.h"

struct pyh_fsbase {
	pid_t tid;
	uint64_t fsbase;	/* == pthread_self() of that thread on x86_64 glibc */
};

/* Run the task iterator over pid's threads. Returns 0 with *n entries (at most max),
 * or -errno when BPF is unavailable (the caller falls back to other means). */
int pyh_taskinfo_fsbase(pid_t pid, struct pyh_fsbase *out, int max, int *n);

/* Called once per thread of the process; rec is valid during the call only.
 * A non-zero return stops the walk (and is returned by pyh_taskinfo_native). */
typedef int (*pyh_taskinfo_native_cb)(const struct pyh_taskinfo_native_rec *rec, void *arg);

/* Read every thread of pid as the kernel holds it, without stopping any: a
 * struct pyh_taskinfo_native_rec each (see include/pyhang/taskinfo.h for what
 * is valid when). Uses the sleepable iterator, which also copies the top of
 * each user stack, where the kernel loads it; else the plain one (no copy).
 * *copied (may be NULL) says which. Returns 0, cb's non-zero value, -ESRCH
 * when pid has no thread, or -errno when the kernel cannot do it: then why
 * names the missing feature in one line ("the kernel does not load ..."). */
int pyh_taskinfo_native(pid_t pid, pyh_taskinfo_native_cb cb, void *arg, int *copied, char *why,
			size_t whysz);
/* Every thread of pid as the kernel holds it, in one run of the iterator
 * pyh_taskinfo_threads: a struct pyh_taskinfo_thread_rec each (see
 * include/pyhang/taskinfo.h), what /proc's stat, schedstat, sched, syscall
 * and wchan files say of the thread, for a handful of system calls in all
 * instead of twenty a thread. Only with the program kept in the store of
 * pinned programs (kernel/bpfpin.h; the first call after boot loads and
 * pins it): loading it costs more than the files it saves, so without the
 * store (-ENOENT, -EPERM) or while another process holds its entry
 * (-EWOULDBLOCK) nothing is loaded and the caller reads /proc. The ids in
 * the records are the kernel's (the initial pid namespace's): run from
 * another pid namespace none matches pid, and the caller reads /proc too
 * (-ESRCH). Returns 0
 * with *n records (at most max) in the order of their tids, -ESRCH when pid
 * has no thread, or -errno (*n 0). */
int pyh_taskinfo_threads(pid_t pid, struct pyh_taskinfo_thread_rec *out, int max, int *n);

/* The record of tid among n from pyh_taskinfo_threads, or NULL. */
const struct pyh_taskinfo_thread_rec *pyh_taskinfo_thread_find(const struct pyh_taskinfo_thread_rec *recs,
							       int n, pid_t tid);
#endif
