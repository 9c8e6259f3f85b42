/* libFuzzer: ELF files (an interpreter binary inside a container can be anything). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf/elfsym.h"

static int any(const char *s, void *arg)
{
	(void)arg;
	return s[0] == '3';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pyh_elf *elf = NULL;
	char path[64], out[64];
	uint64_t value, sz;
	uint8_t buf[16];
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (pyh_elf_open(path, &elf) == 0) {
			pyh_elf_symbol(elf, "_PyRuntime", &value, &sz);
			pyh_elf_read_vaddr(elf, pyh_elf_first_load_vaddr(elf), buf, sizeof(buf));
			pyh_elf_find_string(elf, any, NULL, out, sizeof(out));
			pyh_elf_close(elf);
		}
	}
	close(fd);
	return 0;
}
