/* Naming kernel code addresses (a kernel stack) from /proc/kallsyms. */
#ifndef PYH_KERNEL_KALLSYMS_H
#define PYH_KERNEL_KALLSYMS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PYH_KSYM_NAME_MAX 128
#define PYH_KSYM_MODULE_MAX 64

struct pyh_ksym {
	uint64_t addr;			/* the address asked about */
	char name[PYH_KSYM_NAME_MAX];	/* the function holding it, "" when unknown */
	char module[PYH_KSYM_MODULE_MAX]; /* its module, "" for the kernel itself */
	uint64_t offset;		/* addr - the function's start */
};

/* Give each of syms[0..n) (addr set by the caller) the text symbol at or
 * below it, in one pass over path (NULL: /proc/kallsyms). A symbol more than
 * PYH_KSYM_MAX_FUNC bytes below an address is not taken for it (no kernel
 * function is that long: the address is in none that is listed).
 * Returns 0 (names found or not), -EPERM when the file hides every address
 * (kptr_restrict: not root), or -errno when it cannot be read. */
int pyh_kallsyms_resolve(struct pyh_ksym *syms, size_t n, const char *path);

#define PYH_KSYM_MAX_FUNC (1u << 20)

/* The kernel stack of a thread that is not running, named by the kernel
 * itself: /proc/PID/task/TID/stack ("[<0>] hrtimer_nanosleep+0x74/0xf0"),
 * innermost first, at most max entries (addr 0: the file hides addresses).
 * Cheaper than a pass over kallsyms when only a few threads are named.
 * Returns 0 with *n, -ESRCH (gone), -EACCES (not root) or -errno. */
int pyh_kstack_read(pid_t pid, pid_t tid, struct pyh_ksym *out, int max, int *n);
#endif
