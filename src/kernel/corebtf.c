/* The small CO-RE BTF of each BPF object, used when the kernel is the build's. */
#include "kernel/corebtf.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "proctrack.corebtf.h"
#include "sampler.corebtf.h"
#include "taskinfo.corebtf.h"
#include "watch.corebtf.h"

#define PYH_VMLINUX_BTF "/sys/kernel/btf/vmlinux"
#define PYH_COREBTF_READ (1u << 20)

struct pyh_corebtf {
	const char *name;
	const unsigned char *btf;
	size_t len;
	uint64_t vmlinux_size;
	uint32_t vmlinux_crc;
	int fd;			/* memfd holding btf; -1 not made; -2 failed */
	char path[40];
};

static struct pyh_corebtf pyh_corebtf[PYH_COREBTF_UNITS] = {
	[PYH_COREBTF_SAMPLER] = { "sampler", pyh_corebtf_sampler, sizeof(pyh_corebtf_sampler),
				  PYH_COREBTF_sampler_VMLINUX_SIZE, PYH_COREBTF_sampler_VMLINUX_CRC, -1, "" },
	[PYH_COREBTF_PROCTRACK] = { "proctrack", pyh_corebtf_proctrack, sizeof(pyh_corebtf_proctrack),
				    PYH_COREBTF_proctrack_VMLINUX_SIZE, PYH_COREBTF_proctrack_VMLINUX_CRC, -1, "" },
	[PYH_COREBTF_TASKINFO] = { "taskinfo", pyh_corebtf_taskinfo, sizeof(pyh_corebtf_taskinfo),
				   PYH_COREBTF_taskinfo_VMLINUX_SIZE, PYH_COREBTF_taskinfo_VMLINUX_CRC, -1, "" },
	[PYH_COREBTF_WATCH] = { "watch", pyh_corebtf_watch, sizeof(pyh_corebtf_watch),
				PYH_COREBTF_watch_VMLINUX_SIZE, PYH_COREBTF_watch_VMLINUX_CRC, -1, "" },
};

/* The running kernel's BTF: its size and CRC-32 (computed once). Returns 0 or -1. */
static int pyh_vmlinux_identity(uint64_t *size, uint32_t *crc)
{
	static int done, ok;
	static uint64_t s;
	static uint32_t c;
	unsigned char buf[64 << 10];
	uLong cc = crc32(0, Z_NULL, 0);
	uint64_t total = 0;
	ssize_t n;
	int fd;

	if (!done) {
		done = 1;
		fd = open(PYH_VMLINUX_BTF, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			while ((n = read(fd, buf, sizeof(buf))) > 0) {
				cc = crc32(cc, buf, (uInt)n);
				total += (uint64_t)n;
			}
			ok = n == 0;
			close(fd);
		}
		s = total;
		c = (uint32_t)cc;
	}
	*size = s;
	*crc = c;
	return ok ? 0 : -1;
}

const char *pyh_corebtf_path(enum pyh_corebtf_unit u)
{
	struct pyh_corebtf *b;
	uint64_t size;
	uint32_t crc;
	size_t done = 0;

	if ((unsigned)u >= PYH_COREBTF_UNITS)
		return NULL;
	b = &pyh_corebtf[u];
	if (b->fd >= 0)
		return b->path;
	if (b->fd == -2)
		return NULL;
	b->fd = -2;
	if (pyh_vmlinux_identity(&size, &crc) || size != b->vmlinux_size || crc != b->vmlinux_crc)
		return NULL;	/* another kernel than the build's: its own BTF, as libbpf does */
	{
		int fd = memfd_create(b->name, MFD_CLOEXEC);

		if (fd < 0)
			return NULL;
		while (done < b->len) {
			ssize_t w = write(fd, b->btf + done, b->len - done);

			if (w <= 0) {
				close(fd);
				return NULL;
			}
			done += (size_t)w;
		}
		b->fd = fd;
	}
	snprintf(b->path, sizeof(b->path), "/proc/self/fd/%d", b->fd);
	return b->path;
}
