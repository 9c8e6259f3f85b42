/* ELF symbols, loaded bytes and read-only strings of one file, through libelf.
 *
 * The file is mapped read-only (ELF_C_READ_MMAP). At open, every defined symbol of
 * .symtab and .dynsym goes into one array sorted by name, so each lookup is a binary
 * search. Everything taken from the file (section sizes, entry sizes, name offsets,
 * program headers) is checked against the file size before it is used. */
#include "elf/elfsym.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYH_ELF_MAX_SYMS (8u << 20)  /* symbols indexed, both tables together */
#define PYH_ELF_MAX_NAME 4096u	     /* longer names are skipped */
#define PYH_ELF_MAX_PHDRS 4096u	     /* program headers considered */
#define PYH_ELF_MAX_SECTIONS 65536u  /* section headers considered */
#define PYH_ELF_MAX_RODATA 64u	     /* .rodata* sections remembered */
#define PYH_ELF_PAGE 4096u

struct pyh_elf_sym {
	const char *name; /* points into the mapped file, NUL-terminated within it */
	uint64_t value;
	uint64_t size;
	unsigned int table; /* 0: .symtab, 1: .dynsym (lower wins on equal names) */
	unsigned int order; /* position in its table: keeps the sort deterministic */
};

struct pyh_elf_load {
	uint64_t vaddr, offset, filesz;
};

struct pyh_elf_range {
	uint64_t offset, size;
};

struct pyh_elf {
	int fd;
	Elf *elf;
	const unsigned char *raw; /* the whole file, mapped by libelf */
	size_t rawsz;
	int is_dyn;
	struct pyh_elf_sym *syms;
	size_t nsyms;
	struct pyh_elf_load *loads;
	size_t nloads;
	uint64_t first_vaddr;
	struct pyh_elf_range rodata[PYH_ELF_MAX_RODATA];
	size_t nrodata;
	struct pyh_elf_range build_id; /* descriptor bytes of NT_GNU_BUILD_ID, size 0 if none */
};

static int sym_cmp(const void *a, const void *b)
{
	const struct pyh_elf_sym *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

/* Is [off, off+len) inside the file? */
static bool in_file(const struct pyh_elf *e, uint64_t off, uint64_t len)
{
	return off <= e->rawsz && len <= e->rawsz - off;
}

/* Index one symbol table section. Returns 0 or -EINVAL/-ENOMEM/-E2BIG. */
static int index_symtab(struct pyh_elf *e, Elf_Scn *scn, const GElf_Shdr *sh, unsigned int table,
			size_t *cap)
{
	GElf_Shdr strsh;
	Elf_Scn *strscn;
	Elf_Data *data;
	size_t entsz = gelf_fsize(e->elf, ELF_T_SYM, 1, EV_CURRENT);
	size_t count;
	const char *strtab;
	uint64_t strsz;

	if (sh->sh_type == SHT_NOBITS || sh->sh_size == 0)
		return 0;
	if (entsz == 0 || sh->sh_entsize != entsz || sh->sh_size % entsz != 0 ||
	    !in_file(e, sh->sh_offset, sh->sh_size))
		return -EINVAL;
	count = sh->sh_size / entsz;
	if (count > PYH_ELF_MAX_SYMS)
		return -E2BIG;

	strscn = elf_getscn(e->elf, sh->sh_link);
	if (!strscn || !gelf_getshdr(strscn, &strsh) || strsh.sh_type != SHT_STRTAB ||
	    !in_file(e, strsh.sh_offset, strsh.sh_size))
		return -EINVAL;
	strtab = (const char *)e->raw + strsh.sh_offset;
	strsz = strsh.sh_size;

	data = elf_getdata(scn, NULL);
	if (!data || data->d_size < count * entsz)
		return -EINVAL;

	for (size_t i = 0; i < count; i++) {
		GElf_Sym s;
		size_t len;

		if (!gelf_getsym(data, (int)i, &s))
			return -EINVAL;
		if (s.st_shndx == SHN_UNDEF || s.st_name == 0 || s.st_name >= strsz)
			continue;
		if (GELF_ST_TYPE(s.st_info) == STT_SECTION || GELF_ST_TYPE(s.st_info) == STT_FILE)
			continue;
		len = strnlen(strtab + s.st_name, strsz - s.st_name);
		if (len == strsz - s.st_name || len == 0 || len > PYH_ELF_MAX_NAME)
			continue; /* not terminated inside the table, empty or absurd */
		if (e->nsyms == *cap) {
			size_t ncap = *cap ? *cap * 2 : 1024;
			struct pyh_elf_sym *n;

			if (ncap > PYH_ELF_MAX_SYMS)
				ncap = PYH_ELF_MAX_SYMS;
			if (ncap <= e->nsyms)
				return -E2BIG;
			n = realloc(e->syms, ncap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			e->syms = n;
			*cap = ncap;
		}
		e->syms[e->nsyms++] = (struct pyh_elf_sym){
			.name = strtab + s.st_name,
			.value = s.st_value,
			.size = s.st_size,
			.table = table,
			.order = (unsigned int)i,
		};
	}
	return 0;
}

static void note_build_id(struct pyh_elf *e, Elf_Scn *scn, uint64_t sh_offset)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t off = 0, name_off, desc_off, next;
	GElf_Nhdr nh;
	int guard = 0;

	if (!data || !data->d_buf)
		return;
	while (off < data->d_size && guard++ < 1024 &&
	       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > off) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && nh.n_descsz > 0 &&
		    nh.n_descsz <= 64 && memcmp((const char *)data->d_buf + name_off, "GNU", 4) == 0) {
			e->build_id.offset = sh_offset + desc_off; /* notes keep file layout */
			e->build_id.size = nh.n_descsz;
			if (!in_file(e, e->build_id.offset, e->build_id.size))
				e->build_id.size = 0;
			return;
		}
		off = next;
	}
}

static int index_sections(struct pyh_elf *e)
{
	size_t shnum, shstrndx, cap = 0;
	Elf_Scn *scn = NULL;
	int err;

	if (elf_getshdrnum(e->elf, &shnum) || elf_getshdrstrndx(e->elf, &shstrndx))
		return -EINVAL;
	if (shnum > PYH_ELF_MAX_SECTIONS)
		return -EINVAL;
	for (size_t i = 1; i < shnum; i++) {
		GElf_Shdr sh;
		const char *name;

		scn = elf_getscn(e->elf, i);
		if (!scn || !gelf_getshdr(scn, &sh))
			return -EINVAL;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			err = index_symtab(e, scn, &sh, sh.sh_type == SHT_SYMTAB ? 0 : 1, &cap);
			if (err)
				return err;
			continue;
		}
		if (sh.sh_type == SHT_NOTE && !e->build_id.size && in_file(e, sh.sh_offset, sh.sh_size)) {
			note_build_id(e, scn, sh.sh_offset);
			continue;
		}
		name = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_PROGBITS && name && strncmp(name, ".rodata", 7) == 0 &&
		    (sh.sh_flags & SHF_ALLOC) && !(sh.sh_flags & (SHF_EXECINSTR | SHF_WRITE)) &&
		    e->nrodata < PYH_ELF_MAX_RODATA && in_file(e, sh.sh_offset, sh.sh_size))
			e->rodata[e->nrodata++] =
				(struct pyh_elf_range){ .offset = sh.sh_offset, .size = sh.sh_size };
	}
	if (e->nsyms)
		qsort(e->syms, e->nsyms, sizeof(*e->syms), sym_cmp);
	return 0;
}

static int index_loads(struct pyh_elf *e)
{
	size_t phnum;
	bool have = false;

	if (elf_getphdrnum(e->elf, &phnum))
		return -EINVAL;
	if (phnum > PYH_ELF_MAX_PHDRS)
		return -EINVAL;
	if (phnum == 0)
		return 0;
	e->loads = calloc(phnum, sizeof(*e->loads));
	if (!e->loads)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		uint64_t align, start;

		if (!gelf_getphdr(e->elf, (int)i, &ph))
			return -EINVAL;
		if (ph.p_type != PT_LOAD)
			continue;
		align = ph.p_align;
		if (align == 0 || (align & (align - 1)) || align > PYH_ELF_PAGE)
			align = PYH_ELF_PAGE; /* the loader maps whole pages */
		start = ph.p_vaddr & ~(align - 1);
		if (!have || start < e->first_vaddr)
			e->first_vaddr = start;
		have = true;
		if (ph.p_filesz == 0)
			continue;
		if (!in_file(e, ph.p_offset, ph.p_filesz) || ph.p_vaddr + ph.p_filesz < ph.p_vaddr)
			return -EINVAL;
		e->loads[e->nloads++] = (struct pyh_elf_load){
			.vaddr = ph.p_vaddr, .offset = ph.p_offset, .filesz = ph.p_filesz
		};
	}
	return 0;
}

int pyh_elf_open(const char *path, struct pyh_elf **out)
{
	struct pyh_elf *e = NULL;
	struct stat st;
	GElf_Ehdr eh;
	int err;

	if (!path || !out)
		return -EINVAL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(e->fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf32_Ehdr)) {
		err = -EINVAL;
		goto cleanup;
	}
	e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF) {
		err = -EINVAL;
		goto cleanup;
	}
	e->raw = (const unsigned char *)elf_rawfile(e->elf, &e->rawsz);
	if (!e->raw || e->rawsz != (size_t)st.st_size || !gelf_getehdr(e->elf, &eh)) {
		err = -EINVAL;
		goto cleanup;
	}
	e->is_dyn = eh.e_type == ET_DYN;
	/* libelf quietly reports no sections when the table lies past the end (a
	 * truncated copy): refuse such files instead of answering "no symbol". */
	if ((eh.e_shoff && !in_file(e, eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize)) ||
	    (eh.e_phoff && !in_file(e, eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize))) {
		err = -EINVAL;
		goto cleanup;
	}
	err = index_loads(e);
	if (err)
		goto cleanup;
	err = index_sections(e);
	if (err)
		goto cleanup;
	*out = e;
	e = NULL;
	err = 0;
cleanup:
	pyh_elf_close(e);
	return err;
}

void pyh_elf_close(struct pyh_elf *elf)
{
	if (!elf)
		return;
	if (elf->elf)
		elf_end(elf->elf);
	if (elf->fd >= 0)
		close(elf->fd);
	free(elf->syms);
	free(elf->loads);
	free(elf);
}

int pyh_elf_symbol(const struct pyh_elf *elf, const char *name, uint64_t *value, uint64_t *size)
{
	size_t lo = 0, hi;

	if (!elf || !name)
		return -ENOENT;
	hi = elf->nsyms;
	/* Lower bound: the first entry not less than name; .symtab sorts before .dynsym. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(elf->syms[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == elf->nsyms || strcmp(elf->syms[lo].name, name) != 0)
		return -ENOENT;
	if (value)
		*value = elf->syms[lo].value;
	if (size)
		*size = elf->syms[lo].size;
	return 0;
}

int pyh_elf_read_vaddr(const struct pyh_elf *elf, uint64_t vaddr, void *buf, size_t len)
{
	unsigned char *dst = buf;

	if (!elf || (!buf && len))
		return -EFAULT;
	/* A read may span two adjacent segments; each piece must come from file bytes. */
	while (len > 0) {
		const struct pyh_elf_load *seg = NULL;
		uint64_t delta, n;

		for (size_t i = 0; i < elf->nloads; i++) {
			const struct pyh_elf_load *l = &elf->loads[i];

			if (vaddr >= l->vaddr && vaddr - l->vaddr < l->filesz) {
				seg = l;
				break;
			}
		}
		if (!seg)
			return -EFAULT;
		delta = vaddr - seg->vaddr;
		n = seg->filesz - delta;
		if (n > len)
			n = len;
		memcpy(dst, elf->raw + seg->offset + delta, n);
		dst += n;
		vaddr += n;
		len -= n;
	}
	return 0;
}

uint64_t pyh_elf_first_load_vaddr(const struct pyh_elf *elf)
{
	return elf ? elf->first_vaddr : 0;
}

int pyh_elf_is_dyn(const struct pyh_elf *elf)
{
	return elf ? elf->is_dyn : 0;
}

int pyh_elf_find_string(const struct pyh_elf *elf, int (*match)(const char *s, void *arg),
			void *arg, char *out, size_t outsz)
{
	uint64_t budget = PYH_ELF_MAX_SCAN;
	char tmp[512];

	if (!elf || !match)
		return -ENOENT;
	for (size_t r = 0; r < elf->nrodata && budget > 0; r++) {
		const char *p = (const char *)elf->raw + elf->rodata[r].offset;
		uint64_t left = elf->rodata[r].size;

		if (left > budget)
			left = budget;
		budget -= left;
		while (left > 0) {
			size_t len = strnlen(p, left);

			if (len == left)
				break; /* unterminated tail of the section */
			/* Hand the matcher a bounded copy: strings past sizeof(tmp) are not of interest. */
			if (len > 0 && len < sizeof(tmp)) {
				memcpy(tmp, p, len + 1);
				if (match(tmp, arg)) {
					if (out && outsz) {
						snprintf(out, outsz, "%s", tmp);
					}
					return 0;
				}
			}
			p += len + 1;
			left -= len + 1;
		}
	}
	return -ENOENT;
}

int pyh_elf_build_id(const struct pyh_elf *elf, char *hex, size_t hexsz)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *id;

	if (!elf || !elf->build_id.size)
		return -ENOENT;
	if (!hex || hexsz < elf->build_id.size * 2 + 1)
		return -ENOSPC;
	id = elf->raw + elf->build_id.offset;
	for (uint64_t i = 0; i < elf->build_id.size; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 15];
	}
	hex[elf->build_id.size * 2] = '\0';
	return 0;
}
