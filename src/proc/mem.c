#include "proc/mem.h"

#include <errno.h>
#include <sys/uio.h>

int pyh_mem_readv(pid_t pid, const struct pyh_mem_iov *iov, int n)
{
	struct iovec local[PYH_MEM_MAX_IOV], remote[PYH_MEM_MAX_IOV];
	size_t want = 0;
	ssize_t got;

	if (n <= 0 || n > PYH_MEM_MAX_IOV)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (iov[i].addr == 0 || iov[i].len > PYH_MEM_MAX_READ ||
		    iov[i].addr + iov[i].len < iov[i].addr)
			return -EFAULT;
		local[i].iov_base = iov[i].buf;
		local[i].iov_len = iov[i].len;
		remote[i].iov_base = (void *)(uintptr_t)iov[i].addr;
		remote[i].iov_len = iov[i].len;
		want += iov[i].len;
	}
	got = process_vm_readv(pid, local, (unsigned long)n, remote, (unsigned long)n, 0);
	if (got < 0)
		return -errno;
	return (size_t)got == want ? 0 : -EFAULT;
}

int pyh_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct pyh_mem_iov iov = { .addr = addr, .buf = buf, .len = len };

	if (len == 0)
		return 0;
	return pyh_mem_readv(pid, &iov, 1);
}

int pyh_mem_read_u64(pid_t pid, uint64_t addr, uint64_t *out)
{
	return pyh_mem_read(pid, addr, out, sizeof(*out));
}

ssize_t pyh_mem_read_some(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t got;

	if (addr == 0 || len > PYH_MEM_MAX_READ || addr + len < addr)
		return -EFAULT;
	if (len == 0)
		return 0;
	got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (got < 0)
		return -errno;
	return got;
}
