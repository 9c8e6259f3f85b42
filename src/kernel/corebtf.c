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
	const char *build_id;	/* the build's kernel's GNU build ID, hex; "" none */
	int fd;			/* memfd holding btf; -1 not made; -2 failed */
	char path[40];
};

static struct pyh_corebtf pyh_corebtf[PYH_COREBTF_UNITS] = {
	[PYH_COREBTF_SAMPLER] = { "sampler", pyh_corebtf_sampler, sizeof(pyh_corebtf_sampler),
				  PYH_COREBTF_sampler_VMLINUX_SIZE, PYH_COREBTF_sampler_VMLINUX_CRC,
				  PYH_COREBTF_sampler_KERNEL_BUILD_ID, -1, "" },
	[PYH_COREBTF_PROCTRACK] = { "proctrack", pyh_corebtf_proctrack, sizeof(pyh_corebtf_proctrack),
				    PYH_COREBTF_proctrack_VMLINUX_SIZE, PYH_COREBTF_proctrack_VMLINUX_CRC,
				  PYH_COREBTF_proctrack_KERNEL_BUILD_ID, -1, "" },
	[PYH_COREBTF_TASKINFO] = { "taskinfo", pyh_corebtf_taskinfo, sizeof(pyh_corebtf_taskinfo),
				   PYH_COREBTF_taskinfo_VMLINUX_SIZE, PYH_COREBTF_taskinfo_VMLINUX_CRC,
				  PYH_COREBTF_taskinfo_KERNEL_BUILD_ID, -1, "" },
	[PYH_COREBTF_WATCH] = { "watch", pyh_corebtf_watch, sizeof(pyh_corebtf_watch),
				PYH_COREBTF_watch_VMLINUX_SIZE, PYH_COREBTF_watch_VMLINUX_CRC,
				  PYH_COREBTF_watch_KERNEL_BUILD_ID, -1, "" },
};

#define PYH_KERNEL_NOTES "/sys/kernel/notes"
#define PYH_NOTES_MAX 4096
#define PYH_BUILD_ID_MAX 64

static uint32_t le32_at(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The running kernel's GNU build ID as hex (read once; its notes are ELF
 * notes, 4-byte aligned, as tools/gen-corebtf.sh reads them). Returns 0, or
 * -1 when there is none. */
static int pyh_kernel_build_id(const char **hex)
{
	static int done, ok;
	static char id[2 * PYH_BUILD_ID_MAX + 1];
	unsigned char buf[PYH_NOTES_MAX];
	size_t len = 0, o = 0;
	ssize_t n;
	int fd;

	if (!done) {
		done = 1;
		fd = open(PYH_KERNEL_NOTES, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
				len += (size_t)n;
			close(fd);
		}
		while (o + 12 <= len) {
			uint32_t ns = le32_at(buf + o), ds = le32_at(buf + o + 4), ty = le32_at(buf + o + 8);
			size_t nm = o + 12, d, next;

			if (ns > PYH_NOTES_MAX || ds > PYH_NOTES_MAX)
				break;
			d = nm + ((size_t)ns + 3) / 4 * 4;
			next = d + ((size_t)ds + 3) / 4 * 4;
			if (next > len)
				break;
			if (ty == 3 /* NT_GNU_BUILD_ID */ && ns == 4 && !memcmp(buf + nm, "GNU", 4) &&
			    ds > 0 && ds <= PYH_BUILD_ID_MAX) {
				for (uint32_t k = 0; k < ds; k++)
					snprintf(id + 2 * k, 3, "%02x", buf[d + k]);
				ok = 1;
				break;
			}
			o = next;
		}
	}
	*hex = id;
	return ok ? 0 : -1;
}

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

/* Whether the running kernel's BTF is the one b was cut from. Where the build
 * recorded its kernel's build ID (which covers the kernel's BTF) and this
 * kernel has one, the two and the BTF's size are compared: a few hundred
 * bytes read. Else the BTF is read whole for its size and CRC-32. */
static int pyh_corebtf_same_kernel(const struct pyh_corebtf *b)
{
	const char *id;
	uint64_t size;
	uint32_t crc;

	if (b->build_id[0] && pyh_kernel_build_id(&id) == 0) {
		struct stat st;

		return !strcmp(id, b->build_id) && stat(PYH_VMLINUX_BTF, &st) == 0 &&
		       (uint64_t)st.st_size == b->vmlinux_size;
	}
	return pyh_vmlinux_identity(&size, &crc) == 0 && size == b->vmlinux_size &&
	       crc == b->vmlinux_crc;
}

const char *pyh_corebtf_path(enum pyh_corebtf_unit u)
{
	struct pyh_corebtf *b;
	size_t done = 0;

	if ((unsigned)u >= PYH_COREBTF_UNITS)
		return NULL;
	b = &pyh_corebtf[u];
	if (b->fd >= 0)
		return b->path;
	if (b->fd == -2)
		return NULL;
	b->fd = -2;
	if (!pyh_corebtf_same_kernel(b))
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
