/* Which CPython version a file holds, from its symbols, its code and its strings. */
#include "python/version.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proc/mem.h"

#define PYH_VERSION_MAX_SUFFIX 16 /* "rc1", "+", "a7", "b1+" */
#define PYH_GETVERSION_SCAN 96	  /* bytes of Py_GetVersion's code searched for a lea */

/* 1..3 decimal digits at *p. Returns the number or -1. */
static int parse_small(const char **p)
{
	int v = 0, n = 0;

	while (isdigit((unsigned char)**p)) {
		if (++n > 3)
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	return n ? v : -1;
}

int pyh_version_parse(const char *s, struct pyh_pyversion *out)
{
	struct pyh_pyversion v;
	const char *p = s;
	size_t slen;

	if (!s || !out)
		return -EINVAL;
	if ((v.major = parse_small(&p)) < 0 || *p++ != '.')
		return -EINVAL;
	if ((v.minor = parse_small(&p)) < 0 || *p++ != '.')
		return -EINVAL;
	if ((v.micro = parse_small(&p)) < 0)
		return -EINVAL;
	/* Optional release suffix: a/b/rc + digits, then an optional '+' (Debian's "2.7.18+"). */
	slen = strlen(p);
	if (slen > PYH_VERSION_MAX_SUFFIX)
		return -EINVAL;
	if (*p == 'a' || *p == 'b' || (p[0] == 'r' && p[1] == 'c')) {
		p += *p == 'r' ? 2 : 1;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == '+')
		p++;
	if (*p != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static bool plausible(const struct pyh_pyversion *v, const struct pyh_pybinary *bin)
{
	if (v->major != 2 && v->major != 3)
		return false;
	if (v->minor > 99 || v->micro > 99)
		return false;
	if (bin && bin->major && (bin->major != v->major || bin->minor != v->minor))
		return false;
	return true;
}

/* (a) Py_Version, 3.11+: the PY_VERSION_HEX constant. Looked for among the
 * exports alone (it is API data, exported wherever it is defined): before
 * 3.11 it is nowhere, and a look in .symtab would read a megabyte of a
 * libpython with symbols for nothing. A binary that does not export it is
 * dated by (b) or (c). */
static int from_py_version(pid_t pid, const struct pyh_pybinary *bin, const struct pyh_elf *elf,
			   struct pyh_pyversion *out)
{
	uint64_t value, size;
	uint32_t hex = 0;
	int err = -ENOENT;
	struct pyh_pyversion v;

	if (pyh_elf_export(elf, "Py_Version", &value, &size))
		return -ENOENT;
	/* Little-endian x86_64: the low 4 bytes of the unsigned long hold the value. */
	if (pid > 0 && bin)
		err = pyh_mem_read(pid, bin->load_bias + value, &hex, sizeof(hex));
	if (err)
		err = pyh_elf_read_vaddr(elf, value, &hex, sizeof(hex));
	if (err)
		return err;
	v.major = (int)(hex >> 24);
	v.minor = (int)((hex >> 16) & 0xff);
	v.micro = (int)((hex >> 8) & 0xff);
	if (!plausible(&v, bin))
		return -ENOENT;
	*out = v;
	return 0;
}

/* Read a NUL-terminated string of at most outsz-1 bytes at vaddr from the file. */
static int read_cstr(const struct pyh_elf *elf, uint64_t vaddr, char *out, size_t outsz)
{
	for (size_t i = 0; i < outsz; i++) {
		if (pyh_elf_read_vaddr(elf, vaddr + i, &out[i], 1))
			return -EFAULT;
		if (out[i] == '\0')
			return 0;
	}
	return -E2BIG;
}

/* (b1) Py_GetVersion formats "%.80s (%.80s) %.80s" with PY_VERSION: follow each
 * rip-relative lea in its first bytes and take the target that reads as a version.
 * The literal is often tail-merged into a longer string, so a pointer finds it
 * where a scan of whole strings cannot. */
static int from_getversion_code(const struct pyh_pybinary *bin, const struct pyh_elf *elf,
				struct pyh_pyversion *out)
{
	unsigned char code[PYH_GETVERSION_SCAN];
	uint64_t fn, size, n;
	char s[32];

	if (pyh_elf_symbol(elf, "Py_GetVersion", &fn, &size))
		return -ENOENT;
	n = size && size < sizeof(code) ? size : sizeof(code);
	while (n >= 7 && pyh_elf_read_vaddr(elf, fn, code, n))
		n /= 2; /* function near the end of a segment */
	if (n < 7)
		return -ENOENT;
	for (uint64_t i = 0; i + 7 <= n; i++) {
		struct pyh_pyversion v;
		int32_t disp;

		/* REX.W (+R) 8d modrm(mod=00, rm=101): lea r64, [rip + disp32] */
		if ((code[i] != 0x48 && code[i] != 0x4c) || code[i + 1] != 0x8d ||
		    (code[i + 2] & 0xc7) != 0x05)
			continue;
		memcpy(&disp, &code[i + 3], sizeof(disp));
		if (read_cstr(elf, fn + i + 7 + (uint64_t)(int64_t)disp, s, sizeof(s)))
			continue;
		if (pyh_version_parse(s, &v) == 0 && plausible(&v, bin)) {
			*out = v;
			return 0;
		}
	}
	return -ENOENT;
}

struct match_ctx {
	const struct pyh_pybinary *bin;
	bool suffix; /* accept a version at the end of a longer string, after '-' or '/' */
	struct pyh_pyversion found;
};

static int match_version(const char *s, void *arg)
{
	struct match_ctx *m = arg;
	struct pyh_pyversion v;
	const char *p = s;

	if (m->suffix) {
		const char *cut = strrchr(s, '-'), *slash = strrchr(s, '/');

		if (slash > cut)
			cut = slash;
		if (!cut)
			return 0;
		p = cut + 1;
	}
	if (pyh_version_parse(p, &v) || !plausible(&v, m->bin))
		return 0;
	m->found = v;
	return 1;
}

/* (b2) A string in .rodata that is exactly a version; with major.minor from the
 * file name, also one that ends a build path ("/tmp/.../Python-2.7.18"). */
static int from_rodata(const struct pyh_pybinary *bin, const struct pyh_elf *elf,
		       struct pyh_pyversion *out)
{
	struct match_ctx m = { .bin = bin };
	char s[64];

	if (pyh_elf_find_string(elf, match_version, &m, s, sizeof(s)) == 0) {
		*out = m.found;
		return 0;
	}
	if (!bin || !bin->major)
		return -ENOENT; /* a path suffix alone is too weak a clue */
	m.suffix = true;
	if (pyh_elf_find_string(elf, match_version, &m, s, sizeof(s)) == 0) {
		*out = m.found;
		return 0;
	}
	return -ENOENT;
}

static bool is_cpython(const struct pyh_elf *elf)
{
	static const char *const names[] = { "PyCode_Type", "Py_Initialize", "PyEval_SaveThread" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (pyh_elf_symbol(elf, names[i], NULL, NULL) == 0)
			return true;
	return false;
}

int pyh_version_detect(pid_t pid, const struct pyh_pybinary *bin, const struct pyh_elf *elf,
		       struct pyh_pyversion *out)
{
	struct pyh_pyversion v;

	if (!elf || !out)
		return -EINVAL;
	if (!is_cpython(elf))
		return -ENOENT;
	if (from_py_version(pid, bin, elf, &v) == 0 || from_getversion_code(bin, elf, &v) == 0 ||
	    from_rodata(bin, elf, &v) == 0) {
		*out = v;
		return 0;
	}
	return -ENOENT;
}

int pyh_find_interp_head_by_disasm(const struct pyh_elf *elf, uint64_t *link_addr)
{
	static const unsigned char endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	unsigned char code[12];
	uint64_t fn, size, at = 0;
	int32_t disp;

	if (!elf || !link_addr)
		return -EINVAL;
	if (pyh_elf_symbol(elf, "PyInterpreterState_Head", &fn, &size))
		return -ENOENT;
	if (pyh_elf_read_vaddr(elf, fn, code, 8))
		return -ENOENT;
	if (memcmp(code, endbr64, sizeof(endbr64)) == 0) { /* CET builds start with endbr64 */
		if (pyh_elf_read_vaddr(elf, fn, code, sizeof(code)))
			return -ENOENT;
		at = 4;
	}
	/* mov rax, [rip + disp32]; ret */
	if (code[at] != 0x48 || code[at + 1] != 0x8b || code[at + 2] != 0x05 || code[at + 7] != 0xc3)
		return -ENOENT;
	memcpy(&disp, &code[at + 3], sizeof(disp));
	*link_addr = fn + at + 7 + (uint64_t)(int64_t)disp;
	return 0;
}
