/* Reading the target's memory with process_vm_readv: never stops it. */
#ifndef PYH_PROC_MEM_H
#define PYH_PROC_MEM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pyh_mem_iov {
	uint64_t addr;	/* address in the target */
	void *buf;	/* where to put len bytes */
	size_t len;
};

/* Read len bytes at addr of process pid into buf.
 * Returns 0 when all len bytes were read, -EFAULT when any part is unmapped
 * (buf then holds garbage), -ESRCH when the process is gone, other -errno.
 * addr 0 and lengths over PYH_MEM_MAX_READ give -EFAULT without a system call. */
int pyh_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Read n regions in one system call (at most PYH_MEM_MAX_IOV).
 * Returns 0 when every region was read whole, else like pyh_mem_read. */
int pyh_mem_readv(pid_t pid, const struct pyh_mem_iov *iov, int n);

/* Read up to len bytes at addr, as many as are readable from addr on (a
 * read stops where the mapping does). Returns the count read (0..len), or
 * -errno (-EFAULT: not even the first byte; addr 0 and len over
 * PYH_MEM_MAX_READ give -EFAULT without a system call). */
ssize_t pyh_mem_read_some(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Read n regions in one system call as pyh_mem_readv does, keeping what was
 * read: returns how many regions, from the first on, were read whole (0..n),
 * or -errno (-ESRCH: the process is gone; -EINVAL: n out of range). A region
 * that is unmapped (or at addr 0, or longer than PYH_MEM_MAX_READ) ends the
 * read there: it and every region after it are left unread or part read. */
int pyh_mem_readv_prefix(pid_t pid, const struct pyh_mem_iov *iov, int n);

/* Read len bytes at src into dst like pyh_mem_read, taking from have (a copy
 * of the target's havelen bytes at haveaddr, read before; NULL: none) the
 * bytes it holds of them: only the rest is read, nothing when have holds all.
 * Returns 0 or -errno like pyh_mem_read. */
int pyh_mem_read_from(pid_t pid, const void *have, uint64_t haveaddr, size_t havelen,
		      uint64_t src, void *dst, size_t len);

/* Read a pointer-sized value. Returns 0 or -errno like pyh_mem_read. */
int pyh_mem_read_u64(pid_t pid, uint64_t addr, uint64_t *out);

#define PYH_MEM_MAX_READ (16u << 20)
#define PYH_MEM_MAX_IOV 512	/* under IOV_MAX (1024); a sample's code objects and two more (record/ceiling.c) */
#endif
