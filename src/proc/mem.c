#include "proc/mem.h"

#include <errno.h>
#include <string.h>
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

int pyh_mem_readv_prefix(pid_t pid, const struct pyh_mem_iov *iov, int n)
{
	struct iovec local[PYH_MEM_MAX_IOV], remote[PYH_MEM_MAX_IOV];
	ssize_t got;
	int m = 0;

	if (n < 0 || n > PYH_MEM_MAX_IOV)
		return -EINVAL;
	/* a region that cannot be asked for ends the read where it is */
	for (; m < n; m++) {
		if (iov[m].addr == 0 || iov[m].len > PYH_MEM_MAX_READ ||
		    iov[m].addr + iov[m].len < iov[m].addr)
			break;
		local[m].iov_base = iov[m].buf;
		local[m].iov_len = iov[m].len;
		remote[m].iov_base = (void *)(uintptr_t)iov[m].addr;
		remote[m].iov_len = iov[m].len;
	}
	if (m == 0)
		return 0;
	got = process_vm_readv(pid, local, (unsigned long)m, remote, (unsigned long)m, 0);
	if (got < 0)
		return errno == EFAULT ? 0 : -errno;	/* EFAULT: not even the first byte */
	/* the kernel reads the regions in order and stops at the first fault */
	for (int i = 0; i < m; i++) {
		if ((size_t)got < iov[i].len)
			return i;
		got -= (ssize_t)iov[i].len;
	}
	return m;
}

int pyh_mem_read_from(pid_t pid, const void *have, uint64_t haveaddr, size_t havelen,
		      uint64_t src, void *dst, size_t len)
{
	size_t from = 0;

	if (have && src >= haveaddr && src - haveaddr < havelen) {
		from = havelen - (size_t)(src - haveaddr);
		if (from > len)
			from = len;
		memcpy(dst, (const uint8_t *)have + (src - haveaddr), from);
	}
	return pyh_mem_read(pid, src + from, (uint8_t *)dst + from, len - from);
}
