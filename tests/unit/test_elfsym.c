/* ELF symbol lookup on the real interpreters, checked against readelf; malformed files. */
#include <errno.h>
#include <fcntl.h>
#include <elf.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/elfsym.h"

#define DEBIAN_PY "/usr/bin/python3.11"
#define PY27_LIB "/root/.pyenv/versions/2.7.18/lib/libpython2.7.so.1.0"
#define PY312_LIB "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"

struct ref_sym {
	char *name;
	uint64_t value;
	int table; /* 0 .symtab, 1 .dynsym */
	int order;
};

struct ref {
	struct ref_sym *v;
	size_t n, cap;
};

static void ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].name);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_sym *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->table != y->table)
		return y->table - x->table;	/* .dynsym first */
	return x->order - y->order;
}

/* Every defined, named, non-section symbol readelf lists, both tables. */
static void ref_load(const char *path, struct ref *r)
{
	char cmd[1024], line[4096];
	FILE *p;
	int table = -1, order = 0;

	snprintf(cmd, sizeof(cmd), "readelf -W -s '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char num[32], value[32], size[32], type[32], bind[32], vis[32], ndx[32], name[2048];
		char *at;

		if (strstr(line, "Symbol table '.dynsym'")) {
			table = 1;
			order = 0;
			continue;
		}
		if (strstr(line, "Symbol table '.symtab'")) {
			table = 0;
			order = 0;
			continue;
		}
		if (table < 0 || sscanf(line, " %31s %31s %31s %31s %31s %31s %31s %2047s", num, value,
					size, type, bind, vis, ndx, name) != 8)
			continue;
		if (num[strlen(num) - 1] != ':' || strcmp(num, "Num:") == 0)
			continue;
		order++;
		if (strcmp(ndx, "UND") == 0 || strcmp(type, "SECTION") == 0 ||
		    strcmp(type, "FILE") == 0)
			continue;
		at = strchr(name, '@'); /* version suffix printed by readelf */
		if (at)
			*at = '\0';
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 4096;
			r->v = realloc(r->v, r->cap * sizeof(*r->v));
			assert_non_null(r->v);
		}
		r->v[r->n++] = (struct ref_sym){ .name = strdup(name),
						 .value = strtoull(value, NULL, 16),
						 .table = table,
						 .order = order };
	}
	pclose(p);
	qsort(r->v, r->n, sizeof(*r->v), ref_cmp);
}

/* Every name readelf shows resolves to the value of its first entry, .dynsym first
 * (2.7-3.7's _PyParser_Grammar is both a local in .symtab and an export). */
static size_t check_against_readelf(const char *path)
{
	struct pyh_elf *e = NULL;
	struct ref r = { 0 };
	size_t checked = 0;

	ref_load(path, &r);
	assert_true(r.n > 0);
	assert_int_equal(pyh_elf_open(path, &e), 0);
	for (size_t i = 0; i < r.n; i++) {
		uint64_t v = 0, sz = 0;

		if (i > 0 && strcmp(r.v[i].name, r.v[i - 1].name) == 0)
			continue;
		if (pyh_elf_symbol(e, r.v[i].name, &v, &sz) != 0)
			fail_msg("%s: %s not found", path, r.v[i].name);
		if (v != r.v[i].value)
			fail_msg("%s: %s = %#llx, readelf says %#llx", path, r.v[i].name,
				 (unsigned long long)v, (unsigned long long)r.v[i].value);
		checked++;
	}
	pyh_elf_close(e);
	ref_free(&r);
	return checked;
}

static void test_all_pyenv_libpythons(void **state)
{
	glob_t g;
	size_t files = 0;

	(void)state;
	if (glob("/root/.pyenv/versions/*/lib/libpython*.so*", 0, NULL, &g) != 0)
		skip();
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		size_t n;

		if (lstat(g.gl_pathv[i], &st) || S_ISLNK(st.st_mode))
			continue; /* libpython3.12.so -> libpython3.12.so.1.0: same file */
		n = check_against_readelf(g.gl_pathv[i]);
		if (strstr(g.gl_pathv[i], "libpython3.so") == NULL)
			assert_true(n > 3000); /* a real libpython has thousands */
		files++;
	}
	globfree(&g);
	assert_true(files >= 9);
}

static void test_debian_stripped(void **state)
{
	struct pyh_elf *e = NULL;
	uint64_t v, sz, vv;
	char hex[64];
	uint32_t pyver = 0;

	(void)state;
	if (access(DEBIAN_PY, R_OK))
		skip();
	assert_true(check_against_readelf(DEBIAN_PY) > 1000);
	assert_int_equal(pyh_elf_open(DEBIAN_PY, &e), 0);
	assert_int_equal(pyh_elf_symbol(e, "_PyRuntime", &v, &sz), 0);
	assert_true(sz > 1000);
	assert_int_equal(pyh_elf_symbol(e, "PyCode_Type", &v, &sz), 0);
	assert_int_equal(pyh_elf_symbol(e, "Py_Version", &vv, &sz), 0);
	assert_int_equal(sz, 8);
	assert_int_equal(pyh_elf_read_vaddr(e, vv, &pyver, sizeof(pyver)), 0);
	assert_int_equal(pyver >> 16, 0x030b); /* 3.11 */
	/* Stripped: no local symbols. */
	assert_int_equal(pyh_elf_symbol(e, "interp_head", NULL, NULL), -ENOENT);
	assert_int_equal(pyh_elf_is_dyn(e), 0);
	assert_int_equal(pyh_elf_first_load_vaddr(e), 0x400000);
	assert_int_equal(pyh_elf_build_id(e, hex, sizeof(hex)), 0);
	assert_int_equal(strlen(hex), 40);
	assert_int_equal(pyh_elf_build_id(e, hex, 8), -ENOSPC);
	pyh_elf_close(e);
}

static void test_build_id_matches_file(void **state)
{
	struct pyh_elf *e = NULL;
	char hex[130], want[130] = "", line[512];
	FILE *p;

	(void)state;
	p = popen("readelf -n " DEBIAN_PY " 2>/dev/null", "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, " Build ID: %129s", want) == 1)
			break;
	pclose(p);
	assert_true(strlen(want) == 40);
	assert_int_equal(pyh_elf_open(DEBIAN_PY, &e), 0);
	assert_int_equal(pyh_elf_build_id(e, hex, sizeof(hex)), 0);
	assert_string_equal(hex, want);
	pyh_elf_close(e);
}

static void test_local_symbol_and_missing(void **state)
{
	struct pyh_elf *e = NULL;
	uint64_t v = 0, sz = 0;
	unsigned char b[8];

	(void)state;
	if (access(PY27_LIB, R_OK))
		skip();
	assert_int_equal(pyh_elf_open(PY27_LIB, &e), 0);
	assert_int_equal(pyh_elf_symbol(e, "interp_head", &v, &sz), 0);
	assert_int_equal(sz, 8);
	assert_true(v != 0);
	/* .bss: not in the file. */
	assert_int_equal(pyh_elf_read_vaddr(e, v, b, sizeof(b)), -EFAULT);
	assert_int_equal(pyh_elf_symbol(e, "no_such_symbol_pyhang", &v, &sz), -ENOENT);
	assert_int_equal(pyh_elf_symbol(e, "", &v, &sz), -ENOENT);
	assert_int_equal(pyh_elf_symbol(e, "interp_hea", &v, &sz), -ENOENT);
	assert_int_equal(pyh_elf_symbol(e, "interp_headx", &v, &sz), -ENOENT);
	assert_int_equal(pyh_elf_read_vaddr(e, 0x7fffffff0000ull, b, sizeof(b)), -EFAULT);
	assert_int_equal(pyh_elf_read_vaddr(e, UINT64_MAX - 2, b, sizeof(b)), -EFAULT);
	assert_int_equal(pyh_elf_is_dyn(e), 1);
	assert_int_equal(pyh_elf_first_load_vaddr(e), 0);
	pyh_elf_close(e);
	pyh_elf_close(NULL);
}

/* pyh_elf_read_vaddr must agree with the file bytes at the section's offset. */
static void test_read_vaddr_matches_section(void **state)
{
	struct pyh_elf *e = NULL;
	char line[512], name[64];
	unsigned long long addr = 0, off = 0, size = 0;
	unsigned char a[256], b[256];
	FILE *p;
	int fd;

	(void)state;
	p = popen("readelf -SW " PY312_LIB " 2>/dev/null", "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char *br = strchr(line, ']');
		char type[64];

		if (br && sscanf(br + 1, " %63s %63s %llx %llx %llx", name, type, &addr, &off,
				 &size) == 5 && strcmp(name, ".data") == 0)
			break;
		addr = 0;
	}
	pclose(p);
	assert_true(addr != 0 && addr != off && size > sizeof(a)); /* vaddr differs from offset */
	assert_int_equal(pyh_elf_open(PY312_LIB, &e), 0);
	assert_int_equal(pyh_elf_read_vaddr(e, addr + 64, a, sizeof(a)), 0);
	fd = open(PY312_LIB, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, sizeof(b), (off_t)(off + 64)), sizeof(b));
	close(fd);
	assert_memory_equal(a, b, sizeof(a));
	pyh_elf_close(e);
}

static int match_exact(const char *s, void *arg)
{
	return strcmp(s, (const char *)arg) == 0;
}

static int match_prefix_py(const char *s, void *arg)
{
	(void)arg;
	return strcmp(s, "Py_Initialize must be called first") == 0;
}

static void test_find_string(void **state)
{
	struct pyh_elf *e = NULL;
	char out[64];

	(void)state;
	assert_int_equal(pyh_elf_open(DEBIAN_PY, &e), 0);
	assert_int_equal(pyh_elf_find_string(e, match_exact, "3.11.2", out, sizeof(out)), 0);
	assert_string_equal(out, "3.11.2");
	assert_int_equal(pyh_elf_find_string(e, match_exact, "no such string in pyhang", out,
					     sizeof(out)),
			 -ENOENT);
	/* A long match is truncated to outsz, NUL-terminated. */
	assert_int_equal(pyh_elf_find_string(e, match_prefix_py, NULL, out, 8), 0);
	assert_int_equal(strlen(out), 7);
	assert_memory_equal(out, "Py_Init", 7);
	pyh_elf_close(e);
}

static char *write_tmp(const char *tag, const void *buf, size_t len)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "/tmp/pyh_test_elfsym_%d_%s", (int)getpid(), tag);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	return path;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Use whatever opened: every call must stay in bounds. */
static void exercise(struct pyh_elf *e)
{
	uint64_t v, sz;
	char out[32], hex[130];
	unsigned char b[64];

	pyh_elf_symbol(e, "PyCode_Type", &v, &sz);
	pyh_elf_symbol(e, "interp_head", &v, &sz);
	pyh_elf_read_vaddr(e, 0x1000, b, sizeof(b));
	pyh_elf_find_string(e, match_exact, "2.7.18", out, sizeof(out));
	pyh_elf_build_id(e, hex, sizeof(hex));
}

static void test_garbage_files(void **state)
{
	struct pyh_elf *e = NULL;
	unsigned char *real, *rnd;
	size_t len;
	char *path;
	const size_t cuts[] = { 1, 16, 63, 64, 4096, 100000 };
	unsigned int seed = 12345;
	int opened = 0;

	(void)state;
	/* empty */
	path = write_tmp("empty", "", 0);
	assert_true(pyh_elf_open(path, &e) < 0);
	assert_null(e);
	unlink(path);
	/* random */
	rnd = malloc(1 << 20);
	assert_non_null(rnd);
	for (size_t i = 0; i < (1u << 20); i++)
		rnd[i] = (unsigned char)rand_r(&seed);
	path = write_tmp("random", rnd, 1 << 20);
	assert_int_equal(pyh_elf_open(path, &e), -EINVAL);
	unlink(path);
	/* random after a valid ELF identification */
	real = slurp(PY27_LIB, &len);
	memcpy(rnd, real, 64);
	path = write_tmp("rndbody", rnd, 1 << 20);
	if (pyh_elf_open(path, &e) == 0) {
		exercise(e);
		pyh_elf_close(e);
		e = NULL;
	}
	unlink(path);
	free(rnd);
	/* missing file, directory */
	assert_int_equal(pyh_elf_open("/nonexistent/pyhang", &e), -ENOENT);
	assert_int_equal(pyh_elf_open("/tmp", &e), -EINVAL);
	/* truncated copies of a real libpython: the section headers are at the end */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		path = write_tmp("trunc", real, cuts[i]);
		assert_true(pyh_elf_open(path, &e) < 0);
		assert_null(e);
		unlink(path);
	}
	path = write_tmp("trunc", real, len / 2);
	assert_true(pyh_elf_open(path, &e) < 0);
	unlink(path);
	path = write_tmp("trunc", real, len - 1);
	assert_true(pyh_elf_open(path, &e) < 0);
	unlink(path);
	/* Mutations of the headers and the section header table: never a crash. */
	{
		uint64_t shoff;
		unsigned char *m = malloc(len);

		assert_non_null(m);
		memcpy(&shoff, real + 0x28, sizeof(shoff));
		assert_true(shoff < len);
		for (int it = 0; it < 300; it++) {
			memcpy(m, real, len);
			for (int k = 0; k < 8; k++) {
				size_t at;

				if (rand_r(&seed) % 2)
					at = (size_t)rand_r(&seed) % 64;
				else
					at = (size_t)(shoff + (size_t)rand_r(&seed) % (len - shoff));
				m[at] = (unsigned char)rand_r(&seed);
			}
			path = write_tmp("mut", m, len);
			if (pyh_elf_open(path, &e) == 0) {
				opened++;
				exercise(e);
				pyh_elf_close(e);
				e = NULL;
			}
			unlink(path);
		}
		free(m);
	}
	/* A huge symbol table size must be refused, not trusted: that table counts
	 * as empty (the local interp_head is gone), the other one still answers. */
	{
		FILE *p;
		char line[512];
		unsigned int idx = 0;
		uint64_t shoff;
		uint16_t shentsize;
		unsigned char *m = malloc(len);

		p = popen("readelf -SW " PY27_LIB " | grep -E '\\] \\.symtab '", "r");
		assert_non_null(p);
		assert_non_null(fgets(line, sizeof(line), p));
		pclose(p);
		assert_int_equal(sscanf(strchr(line, '[') + 1, "%u", &idx), 1);
		memcpy(m, real, len);
		memcpy(&shoff, m + 0x28, 8);
		memcpy(&shentsize, m + 0x3a, 2);
		/* sh_size of .symtab at +0x20 in Elf64_Shdr */
		{
			uint64_t huge = (uint64_t)len * 4 / 24 * 24;
			memcpy(m + shoff + (uint64_t)idx * shentsize + 0x20, &huge, 8);
		}
		path = write_tmp("bigsym", m, len);
		if (pyh_elf_open(path, &e) == 0) {
			uint64_t v;

			assert_int_equal(pyh_elf_symbol(e, "interp_head", &v, NULL), -ENOENT);
			assert_int_equal(pyh_elf_symbol(e, "PyCode_Type", &v, NULL), 0);
			pyh_elf_close(e);
			e = NULL;
		}
		unlink(path);
		free(m);
	}
	print_message("mutated files that still opened: %d of 300\n", opened);
	free(real);
}

/* A .gnu.hash that lies (buckets past .dynsym, no buckets, chains that never
 * end or never match) is not used: the stripped interpreter, which has no
 * .symtab to fall back on, still answers every export from .dynsym, and
 * with the same values. */
static void test_bad_gnu_hash(void **state)
{
	static const char *const names[] = { "PyCode_Type", "_PyRuntime", "Py_Version",
					      "PyUnicode_Type", "PyEval_SaveThread" };
	uint64_t want[5], v, off = 0, size = 0;
	unsigned char *real, *m;
	struct pyh_elf *e = NULL;
	char line[512];
	size_t len;
	FILE *p;

	(void)state;
	if (access(DEBIAN_PY, R_OK))
		skip();
	p = popen("readelf -SW " DEBIAN_PY " | grep -E '\\] \\.gnu\\.hash '", "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	{
		char name[64], type[64];
		unsigned long long addr, o, sz;

		assert_int_equal(sscanf(strchr(line, ']') + 1, " %63s %63s %llx %llx %llx", name, type,
					&addr, &o, &sz), 5);
		off = o;
		size = sz;
	}
	assert_true(size > 16);
	assert_int_equal(pyh_elf_open(DEBIAN_PY, &e), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(pyh_elf_symbol(e, names[i], &want[i], NULL), 0);
	pyh_elf_close(e);
	e = NULL;
	real = slurp(DEBIAN_PY, &len);
	m = malloc(len);
	assert_non_null(m);
	for (int kind = 0; kind < 3; kind++) {
		uint32_t nb, bloom, w;
		size_t buckets, chain;

		memcpy(m, real, len);
		memcpy(&nb, m + off, 4);
		memcpy(&bloom, m + off + 8, 4);
		buckets = (size_t)(off + 16 + (uint64_t)bloom * 8);
		chain = buckets + (size_t)nb * 4;
		if (kind == 0) {		/* every bucket past the end of .dynsym */
			w = 0xfffffff0u;
			for (uint32_t b = 0; b < nb; b++)
				memcpy(m + buckets + b * 4, &w, 4);
		} else if (kind == 1) {		/* no buckets */
			w = 0;
			memcpy(m + off, &w, 4);
		} else {			/* chains that never match nor end */
			memset(m + chain, 0, (size_t)(off + size - chain));
		}
		assert_int_equal(pyh_elf_open(write_tmp("badhash", m, len), &e), 0);
		for (int i = 0; i < 5; i++) {
			assert_int_equal(pyh_elf_symbol(e, names[i], &v, NULL), 0);
			assert_int_equal(v, want[i]);
		}
		assert_int_equal(pyh_elf_symbol(e, "no_such_symbol_pyhang", &v, NULL), -ENOENT);
		pyh_elf_close(e);
		e = NULL;
		unlink(write_tmp("badhash", "", 0));
	}
	free(m);
	free(real);
}

/* A file with a million symbols: opening it reads no symbol table, and a
 * lookup is one pass over the table. The result is checked, not the time. */
static void test_million_symbols(void **state)
{
	const uint32_t nsym = 1000000;
	const size_t namelen = 12;	/* "s0000000000\0" */
	size_t symoff = 64, symsz = (size_t)(nsym + 1) * sizeof(Elf64_Sym);
	size_t stroff = symoff + symsz, strsz = 1 + (size_t)nsym * namelen + 10;
	size_t shstroff = stroff + strsz, shoff = (shstroff + 32 + 7) & ~(size_t)7;
	size_t total = shoff + 4 * sizeof(Elf64_Shdr);
	static const char shstr[] = "\0.symtab\0.strtab\0.shstrtab";
	unsigned char *img = calloc(1, total);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Sym *sym = (Elf64_Sym *)(img + symoff);
	char *str = (char *)img + stroff;
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + shoff);
	struct pyh_elf *e = NULL;
	uint64_t v = 0;
	char *path;

	(void)state;
	assert_non_null(img);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(*eh);
	eh->e_shoff = shoff;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 4;
	eh->e_shstrndx = 3;
	for (uint32_t i = 0; i < nsym; i++) {
		size_t at = 1 + (size_t)i * namelen;

		snprintf(str + at, namelen, "s%010u", i);
		sym[i + 1].st_name = (uint32_t)at;
		sym[i + 1].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
		sym[i + 1].st_shndx = 1;
		sym[i + 1].st_value = 0x1000 + i;
	}
	memcpy(img + shstroff, shstr, sizeof(shstr));
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_SYMTAB, .sh_offset = symoff, .sh_size = symsz,
			      .sh_link = 2, .sh_entsize = sizeof(Elf64_Sym), .sh_addralign = 8 };
	sh[2] = (Elf64_Shdr){ .sh_name = 9, .sh_type = SHT_STRTAB, .sh_offset = stroff, .sh_size = strsz,
			      .sh_addralign = 1 };
	sh[3] = (Elf64_Shdr){ .sh_name = 17, .sh_type = SHT_STRTAB, .sh_offset = shstroff,
			      .sh_size = sizeof(shstr), .sh_addralign = 1 };
	path = write_tmp("million", img, total);
	free(img);
	assert_int_equal(pyh_elf_open(path, &e), 0);
	assert_int_equal(pyh_elf_symbol(e, "s0000999999", &v, NULL), 0);
	assert_int_equal(v, 0x1000 + 999999);
	assert_int_equal(pyh_elf_symbol(e, "s0000000000", &v, NULL), 0);
	assert_int_equal(v, 0x1000);
	assert_int_equal(pyh_elf_symbol(e, "_PyRuntime", &v, NULL), -ENOENT);
	pyh_elf_close(e);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_pyenv_libpythons),
		cmocka_unit_test(test_debian_stripped),
		cmocka_unit_test(test_build_id_matches_file),
		cmocka_unit_test(test_local_symbol_and_missing),
		cmocka_unit_test(test_read_vaddr_matches_section),
		cmocka_unit_test(test_find_string),
		cmocka_unit_test(test_garbage_files),
		cmocka_unit_test(test_bad_gnu_hash),
		cmocka_unit_test(test_million_symbols),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
