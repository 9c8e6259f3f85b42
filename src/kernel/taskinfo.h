/* Per-thread facts only the kernel knows (fs base), from a BPF task iterator. */
#ifndef PYH_KERNEL_TASKINFO_H
#define PYH_KERNEL_TASKINFO_H
#include <stdint.h>
#include <sys/types.h>

struct pyh_fsbase {
	pid_t tid;
	uint64_t fsbase;	/* == pthread_self() of that thread on x86_64 glibc */
};

/* Run the task iterator over pid's threads. Returns 0 with *n entries (at most max),
 * or -errno when BPF is unavailable (the caller falls back to other means). */
int pyh_taskinfo_fsbase(pid_t pid, struct pyh_fsbase *out, int max, int *n);
#endif
