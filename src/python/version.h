/* Which CPython version a process runs. */
#ifndef PYH_PYTHON_VERSION_H
#define PYH_PYTHON_VERSION_H
#include <sys/types.h>
#include "elf/elfsym.h"
#include "proc/maps.h"

struct pyh_pyversion {
	int major, minor, micro;
};

/* Detect the exact version: Py_Version (3.11+, read from the target at
 * load_bias + st_value), else the PY_VERSION string in .rodata ("2.7.18"),
 * checked against major.minor from the file name when it has one.
 * Returns 0, or -ENOENT when the file is not recognisably CPython. */
int pyh_version_detect(pid_t pid, const struct pyh_pybinary *bin, const struct pyh_elf *elf,
		       struct pyh_pyversion *out);

/* Parse "3.12.1", "2.7.18+", "3.13.0rc1" into *out. Returns 0 or -EINVAL. */
int pyh_version_parse(const char *s, struct pyh_pyversion *out);

/* For 2.7 and 3.6 with the local symbol interp_head stripped: decode the exported
 * PyInterpreterState_Head, `mov rax, [rip+disp32]; ret` (optionally after endbr64),
 * into the link-time address of interp_head (add load_bias for the target address).
 * Returns 0 and *link_addr, or -ENOENT when the function is missing or its code
 * has another shape; -EINVAL on NULL arguments. */
int pyh_find_interp_head_by_disasm(const struct pyh_elf *elf, uint64_t *link_addr);
#endif
