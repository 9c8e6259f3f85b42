/* ELF symbols, loaded bytes and read-only strings of one file, through libelf.
 *
 * The file is never mapped: libelf reads it with pread (ELF_C_READ) into
 * buffers it owns, section by section as they are asked for, so a file that
 * shrinks while it is parsed gives short reads and -EINVAL, never SIGBUS.
 * Nothing is indexed at open. A name is looked up in .dynsym first through
 * its GNU hash table (.gnu.hash: a few words read per name, as the dynamic
 * linker finds it), and only a name .dynsym does not define is looked for in
 * .symtab, by one pass over it (read once, when first needed, at most
 * PYH_ELF_MAX_SYMTAB bytes): a file with millions of symbols costs a pass
 * per local name looked up, not a sort. A hash table that is malformed (a
 * bucket or chain outside .dynsym) is not used: .dynsym is then scanned.
 * Everything taken from the file (section sizes, entry sizes, name offsets,
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

#define PYH_ELF_MAX_SYMTAB (32u << 20) /* bytes of one symbol table (~1.4 M symbols) */
#define PYH_ELF_MAX_STRTAB (64u << 20) /* bytes of its string table */
#define PYH_ELF_MAX_PHDRS 4096u	     /* program headers considered */
#define PYH_ELF_MAX_SECTIONS 65536u  /* section headers considered */
#define PYH_ELF_MAX_RODATA 64u	     /* .rodata* sections remembered */
#define PYH_ELF_PAGE 4096u

/* One symbol table, read when first needed. */
struct pyh_elf_symtab {
	size_t scn;		/* section index, 0: none */
	int loaded;		/* 1: data and strings read (or found unusable: count 0) */
	Elf_Data *data;		/* owned by libelf */
	size_t count;
	const char *strtab;	/* owned by libelf */
	uint64_t strsz;
};

/* .dynsym's GNU hash table (ELF64, the host's byte order), read when first
 * needed; usable 0: none, or malformed (scan instead). */
struct pyh_elf_gnuhash {
	size_t scn;		/* section index, 0: none */
	int loaded, usable;
	const unsigned char *buf; /* owned by libelf */
	size_t size;
	uint32_t nbuckets, symoffset;
	size_t buckets_at, chain_at; /* byte offsets in buf */
	size_t nchain;		/* chain words */
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
	uint64_t rawsz;		  /* the file's size when opened */
	int is_dyn;
	int is64;		  /* ELFCLASS64 */
	int host_order;		  /* the file's byte order is the host's */
	struct pyh_elf_symtab tabs[2]; /* .symtab, .dynsym */
	struct pyh_elf_gnuhash gnuhash;	/* of .dynsym */
	struct pyh_elf_load *loads;
	size_t nloads;
	uint64_t first_vaddr;
	struct pyh_elf_range rodata[PYH_ELF_MAX_RODATA];
	size_t nrodata;
	struct pyh_elf_range build_id; /* descriptor bytes of NT_GNU_BUILD_ID, size 0 if none */
	unsigned char build_id_bytes[64];
};

/* Is [off, off+len) inside the file? */
static bool in_file(const struct pyh_elf *e, uint64_t off, uint64_t len)
{
	return off <= e->rawsz && len <= e->rawsz - off;
}

/* len bytes at off into buf. Returns 0, or -EFAULT on a short read (the file
 * shrank) or an error. */
static int pread_full(int fd, void *buf, uint64_t len, uint64_t off)
{
	char *b = buf;

	while (len > 0) {
		ssize_t r = pread(fd, b, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EFAULT;
		b += r;
		len -= (uint64_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Read symbol table t (once): its data and its string table, checked.
 * A table that is malformed or larger than the bounds counts as empty. */
static void load_symtab(struct pyh_elf *e, struct pyh_elf_symtab *t)
{
	size_t entsz = gelf_fsize(e->elf, ELF_T_SYM, 1, EV_CURRENT);
	GElf_Shdr sh, strsh;
	Elf_Scn *scn, *strscn;
	Elf_Data *strdata;

	if (t->loaded)
		return;
	t->loaded = 1;
	t->count = 0;
	if (!t->scn || !(scn = elf_getscn(e->elf, t->scn)) || !gelf_getshdr(scn, &sh))
		return;
	if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0 || entsz == 0 || sh.sh_entsize != entsz ||
	    sh.sh_size % entsz != 0 || sh.sh_size > PYH_ELF_MAX_SYMTAB ||
	    !in_file(e, sh.sh_offset, sh.sh_size))
		return;
	strscn = elf_getscn(e->elf, sh.sh_link);
	if (!strscn || !gelf_getshdr(strscn, &strsh) || strsh.sh_type != SHT_STRTAB ||
	    strsh.sh_size > PYH_ELF_MAX_STRTAB || !in_file(e, strsh.sh_offset, strsh.sh_size))
		return;
	t->data = elf_getdata(scn, NULL);
	strdata = elf_getdata(strscn, NULL);
	if (!t->data || !strdata || !strdata->d_buf || t->data->d_size < sh.sh_size / entsz * entsz ||
	    strdata->d_size != strsh.sh_size)
		return;
	t->strtab = strdata->d_buf;
	t->strsz = strdata->d_size;
	t->count = sh.sh_size / entsz;
}

/* Symbol i of table t (loaded): 0, or -ENOENT past its end or unreadable.
 * ELF64 in memory form is read directly (gelf_getsym's call and copy per
 * symbol was most of a lookup's time). */
static int sym_at(const struct pyh_elf *e, const struct pyh_elf_symtab *t, size_t i, GElf_Sym *s)
{
	if (i >= t->count)
		return -ENOENT;
	if (e->is64 && t->data->d_type == ELF_T_SYM) {
		memcpy(s, (const char *)t->data->d_buf + i * sizeof(Elf64_Sym), sizeof(Elf64_Sym));
		return 0;
	}
	return gelf_getsym(t->data, (int)i, s) ? 0 : -ENOENT;
}

/* Whether symbol s of t is a defined one named name (nlen bytes). */
static int sym_is(const struct pyh_elf_symtab *t, const GElf_Sym *s, const char *name, size_t nlen)
{
	if (s->st_shndx == SHN_UNDEF || s->st_name == 0 || s->st_name >= t->strsz ||
	    t->strsz - s->st_name <= nlen)
		return 0;	/* also: the name would not end inside the table */
	if (t->strtab[s->st_name] != name[0] || memcmp(t->strtab + s->st_name, name, nlen + 1))
		return 0;
	return GELF_ST_TYPE(s->st_info) != STT_SECTION && GELF_ST_TYPE(s->st_info) != STT_FILE;
}

/* Look name up in one table by one pass: the first defined symbol of that name. */
static int symtab_find(struct pyh_elf *e, struct pyh_elf_symtab *t, const char *name,
		       uint64_t *value, uint64_t *size)
{
	size_t nlen = strlen(name);

	load_symtab(e, t);
	for (size_t i = 0; i < t->count; i++) {
		GElf_Sym s;

		if (sym_at(e, t, i, &s))
			return -ENOENT;
		if (!sym_is(t, &s, name, nlen))
			continue;
		if (value)
			*value = s.st_value;
		if (size)
			*size = s.st_size;
		return 0;
	}
	return -ENOENT;
}

static uint32_t word_at(const unsigned char *buf, size_t off)
{
	uint32_t w;

	memcpy(&w, buf + off, sizeof(w));
	return w;
}

/* Read .gnu.hash (once) and check its shape against .dynsym (t, loaded):
 * header, bloom words, buckets and chain inside the section, the hashed
 * symbols inside .dynsym. Anything else leaves it unusable. */
static void load_gnuhash(struct pyh_elf *e, const struct pyh_elf_symtab *t)
{
	struct pyh_elf_gnuhash *h = &e->gnuhash;
	uint64_t bloom, need;
	Elf_Data *data;
	Elf_Scn *scn;
	GElf_Shdr sh;

	if (h->loaded)
		return;
	h->loaded = 1;
	if (!h->scn || !e->is64 || !e->host_order || !t->count ||
	    !(scn = elf_getscn(e->elf, h->scn)) || !gelf_getshdr(scn, &sh) ||
	    sh.sh_link != t->scn || sh.sh_size > PYH_ELF_MAX_SYMTAB ||
	    !in_file(e, sh.sh_offset, sh.sh_size))
		return;
	/* Raw bytes: in the host's byte order the file's layout is the memory's. */
	data = elf_rawdata(scn, NULL);
	if (!data || !data->d_buf || data->d_size != sh.sh_size || data->d_size < 16)
		return;
	h->buf = data->d_buf;
	h->size = data->d_size;
	h->nbuckets = word_at(h->buf, 0);
	h->symoffset = word_at(h->buf, 4);
	bloom = word_at(h->buf, 8);
	need = 16 + bloom * 8 + (uint64_t)h->nbuckets * 4;
	if (h->nbuckets == 0 || need > h->size || h->symoffset > t->count)
		return;
	h->buckets_at = (size_t)(16 + bloom * 8);
	h->chain_at = (size_t)need;
	h->nchain = (h->size - (size_t)need) / 4;
	h->usable = 1;
}

/* name in .dynsym through the GNU hash table. Returns 0 (found), -ENOENT (not
 * defined there), or -EINVAL (no usable table: scan instead). Every index is
 * checked; a chain is walked at most to the end of .dynsym. */
static int gnuhash_find(struct pyh_elf *e, const char *name, uint64_t *value, uint64_t *size)
{
	struct pyh_elf_symtab *t = &e->tabs[1];
	struct pyh_elf_gnuhash *h = &e->gnuhash;
	size_t nlen = strlen(name);
	uint32_t hash = 5381, b;

	load_symtab(e, t);
	load_gnuhash(e, t);
	if (!h->usable)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		hash = hash * 33 + *p;
	b = word_at(h->buf, h->buckets_at + (size_t)(hash % h->nbuckets) * 4);
	if (b == 0)
		return -ENOENT;
	if (b < h->symoffset || b >= t->count)
		return -EINVAL;
	for (size_t i = b; i < t->count && i - h->symoffset < h->nchain; i++) {
		uint32_t c = word_at(h->buf, h->chain_at + (i - h->symoffset) * 4);
		GElf_Sym s;

		if ((c | 1) == (hash | 1) && !sym_at(e, t, i, &s) && sym_is(t, &s, name, nlen)) {
			if (value)
				*value = s.st_value;
			if (size)
				*size = s.st_size;
			return 0;
		}
		if (c & 1)
			return -ENOENT;
	}
	return -EINVAL;	/* the chain ran off the table */
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
		    nh.n_descsz <= sizeof(e->build_id_bytes) && desc_off <= data->d_size &&
		    nh.n_descsz <= data->d_size - desc_off &&
		    memcmp((const char *)data->d_buf + name_off, "GNU", 4) == 0) {
			e->build_id.offset = sh_offset + desc_off; /* notes keep file layout */
			e->build_id.size = nh.n_descsz;
			memcpy(e->build_id_bytes, (const char *)data->d_buf + desc_off, nh.n_descsz);
			if (!in_file(e, e->build_id.offset, e->build_id.size))
				e->build_id.size = 0;
			return;
		}
		off = next;
	}
}

static int index_sections(struct pyh_elf *e)
{
	size_t shnum, shstrndx;
	Elf_Scn *scn = NULL;

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
			struct pyh_elf_symtab *t = &e->tabs[sh.sh_type == SHT_SYMTAB ? 0 : 1];

			if (!t->scn)
				t->scn = i;	/* read when a symbol is first looked up */
			continue;
		}
		if (sh.sh_type == SHT_GNU_HASH) {
			if (!e->gnuhash.scn)
				e->gnuhash.scn = i;	/* its sh_link is checked when read */
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

int pyh_elf_open_fd(int fd, struct pyh_elf **out)
{
	struct pyh_elf *e = NULL;
	struct stat st;
	GElf_Ehdr eh;
	int err;

	if (fd < 0 || !out) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		close(fd);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		return -ENOMEM;
	}
	e->fd = fd;
	if (fstat(e->fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf32_Ehdr)) {
		err = -EINVAL;
		goto cleanup;
	}
	e->rawsz = (uint64_t)st.st_size;
	/* Read with pread into libelf's own buffers: never mapped, never SIGBUS. */
	e->elf = elf_begin(e->fd, ELF_C_READ, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &eh)) {
		err = -EINVAL;
		goto cleanup;
	}
	e->is_dyn = eh.e_type == ET_DYN;
	e->is64 = eh.e_ident[EI_CLASS] == ELFCLASS64;
	e->host_order = eh.e_ident[EI_DATA] == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ?
						ELFDATA2LSB : ELFDATA2MSB);
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

int pyh_elf_open(const char *path, struct pyh_elf **out)
{
	int fd;

	if (!path || !out)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return pyh_elf_open_fd(fd, out);
}

void pyh_elf_close(struct pyh_elf *elf)
{
	if (!elf)
		return;
	if (elf->elf)
		elf_end(elf->elf);
	if (elf->fd >= 0)
		close(elf->fd);
	free(elf->loads);
	free(elf);
}

int pyh_elf_export(const struct pyh_elf *celf, const char *name, uint64_t *value, uint64_t *size)
{
	struct pyh_elf *elf = (struct pyh_elf *)celf;	/* tables are read lazily */
	int rc;

	if (!elf || !name || !*name)
		return -ENOENT;
	rc = gnuhash_find(elf, name, value, size);
	if (rc == -EINVAL)	/* no usable hash table: .dynsym by a pass */
		rc = symtab_find(elf, &elf->tabs[1], name, value, size);
	return rc == 0 ? 0 : -ENOENT;
}

int pyh_elf_symbol(const struct pyh_elf *celf, const char *name, uint64_t *value, uint64_t *size)
{
	struct pyh_elf *elf = (struct pyh_elf *)celf;	/* tables are read lazily */

	if (pyh_elf_export(celf, name, value, size) == 0)
		return 0;
	if (elf && name && *name && symtab_find(elf, &elf->tabs[0], name, value, size) == 0)
		return 0;
	return -ENOENT;
}

int pyh_elf_section(const struct pyh_elf *elf, const char *name, uint64_t *vaddr,
		    uint64_t *size)
{
	size_t shnum, shstrndx;

	if (!elf || !name || elf_getshdrnum(elf->elf, &shnum) ||
	    elf_getshdrstrndx(elf->elf, &shstrndx) || shnum > PYH_ELF_MAX_SECTIONS)
		return -ENOENT;
	for (size_t i = 1; i < shnum; i++) {
		Elf_Scn *scn = elf_getscn(elf->elf, i);
		const char *n;
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC))
			continue;
		n = elf_strptr(elf->elf, shstrndx, sh.sh_name);
		if (n && strcmp(n, name) == 0) {
			*vaddr = sh.sh_addr;
			*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
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
		if (pread_full(elf->fd, dst, n, seg->offset + delta))
			return -EFAULT;
		dst += n;
		vaddr += n;
		len -= n;
	}
	return 0;
}

int pyh_elf_file_offset(const struct pyh_elf *elf, uint64_t vaddr, uint64_t *off)
{
	for (size_t i = 0; elf && i < elf->nloads; i++) {
		const struct pyh_elf_load *l = &elf->loads[i];

		if (vaddr >= l->vaddr && vaddr - l->vaddr < l->filesz) {
			*off = l->offset + (vaddr - l->vaddr);
			return 0;
		}
	}
	return -EFAULT;
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
		uint64_t left = elf->rodata[r].size;
		char *data, *p;

		if (left > budget)
			left = budget;
		budget -= left;
		data = malloc(left ? left : 1);
		if (!data)
			return -ENOENT;
		if (pread_full(elf->fd, data, left, elf->rodata[r].offset)) {
			free(data);
			continue;
		}
		for (p = data; left > 0;) {
			size_t len = strnlen(p, left);

			if (len == left)
				break; /* unterminated tail of the section */
			/* Hand the matcher a bounded copy: strings past sizeof(tmp) are not of interest. */
			if (len > 0 && len < sizeof(tmp)) {
				memcpy(tmp, p, len + 1);
				if (match(tmp, arg)) {
					if (out && outsz)
						snprintf(out, outsz, "%s", tmp);
					free(data);
					return 0;
				}
			}
			p += len + 1;
			left -= len + 1;
		}
		free(data);
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
	id = elf->build_id_bytes;
	for (uint64_t i = 0; i < elf->build_id.size; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 15];
	}
	hex[elf->build_id.size * 2] = '\0';
	return 0;
}
