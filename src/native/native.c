/* A process's native code for libdw: modules from /proc/PID/maps, files opened
 * through pyh_targetfile_open, debug files by build ID inside the target's root,
 * symbols by address. */
#include "native/native_int.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "native/targetfile.h"
#include "proc/mem.h"

#define PYH_NATIVE_DEBUG_DIR "/usr/lib/debug"
#define PYH_NATIVE_BUILD_ID_MAX 64	/* bytes; SHA-1 IDs are 20 */
#define PYH_NATIVE_VDSO "[vdso]"
#define PYH_NATIVE_VDSO_MAX (1u << 20)

/* libdw's find_elf: open the mapped file (never by its path: through
 * /proc/PID/map_files), read it with pread (ELF_C_READ, no mapping that a
 * target truncating the file could turn into a SIGBUS). */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct pyh_nmod *nm = *userdata;
	struct pyh_targetfile tf;
	Elf *elf;
	int fd;

	(void)mod;
	(void)modname;
	(void)base;
	*elfp = NULL;
	if (!nm)
		return -1;
	if (strcmp(nm->m->path, PYH_NATIVE_VDSO) == 0) {
		if (!nm->n->vdso)
			return -1;
		*elfp = elf_memory((char *)nm->n->vdso, nm->n->vdso_len);
		return -1;	/* no fd: libdw keeps the Elf */
	}
	tf = (struct pyh_targetfile){ .map_start = nm->m->map_start, .map_end = nm->m->map_end };
	fd = pyh_targetfile_open(nm->n->pid, &tf);
	if (fd < 0) {
		nm->open_err = fd;
		return -1;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		nm->open_err = -EINVAL;
		return -1;
	}
	*elfp = elf;
	*file_name = strdup(nm->m->path);
	return fd;
}

/* 1 when the ELF file open at fd has exactly this GNU build ID. */
static int build_id_matches(int fd, const unsigned char *id, int len)
{
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	const void *got = NULL;
	ssize_t n;
	int ok;

	if (!elf)
		return 0;
	n = pyh_dw->dwelf_elf_gnu_build_id(elf, &got);
	ok = n == len && got && memcmp(got, id, (size_t)len) == 0;
	elf_end(elf);
	return ok;
}

/* libdw's find_debuginfo: DEBUG_DIR/.build-id/xx/yyyy.debug inside the
 * target's root (what Debian's -dbg and -dbgsym packages install), checked
 * to carry the same build ID. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct pyh_nmod *nm = *userdata;
	const unsigned char *id = NULL;
	char path[PATH_MAX], *p;
	struct pyh_targetfile tf;
	GElf_Addr vaddr;
	int len, fd;

	(void)modname;
	(void)base;
	(void)file_name;
	(void)debuglink_file;
	(void)debuglink_crc;
	if (!nm || nm->n->opts.no_debug_files)
		return -1;
	len = pyh_dw->dwfl_module_build_id(mod, &id, &vaddr);
	if (len < 2 || len > PYH_NATIVE_BUILD_ID_MAX || !id)
		return -1;
	p = path + snprintf(path, sizeof(path), "%s/.build-id/%02x/", nm->n->debug_dir, id[0]);
	if (p >= path + sizeof(path) - 2 * PYH_NATIVE_BUILD_ID_MAX - 8)
		return -1;
	for (int i = 1; i < len; i++)
		p += sprintf(p, "%02x", id[i]);
	strcpy(p, ".debug");
	tf = (struct pyh_targetfile){ .path = path };
	fd = pyh_targetfile_open(nm->n->pid, &tf);
	if (fd < 0)
		return -1;
	if (!build_id_matches(fd, id, len)) {
		close(fd);
		return -1;
	}
	nm->has_debug = 1;
	*debuginfo_file_name = strdup(path);
	return fd;
}

static const Dwfl_Callbacks pyh_dwfl_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
};

/* A copy of our own vDSO: the kernel maps the same image into every process. */
static void copy_vdso(struct pyh_native *n)
{
	const unsigned char *p = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	size_t len;

	if (!p || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return;
	len = (size_t)eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	if (eh->e_shoff == 0 || len > PYH_NATIVE_VDSO_MAX)
		return;
	n->vdso = malloc(len);
	if (!n->vdso)
		return;
	memcpy(n->vdso, p, len);
	n->vdso_len = len;
}

/* The module of an earlier generation at m's place, if any. */
static const struct pyh_nmodule *known_at(const struct pyh_native *n, const struct pyh_nmodule *m)
{
	for (int g = 0; g < n->ngens; g++)
		for (int i = 0; i < n->gens[g].nmods; i++) {
			const struct pyh_nmodule *k = &n->gens[g].mods[i];

			if (k->executable && m->start < k->end && k->start < m->end)
				return k;
		}
	return NULL;
}

/* Read the maps and report to libdw each file with code not reported yet
 * (all of them the first time). Returns 0, -EEXIST when a file now lies where
 * another one was (unloaded and replaced: this session is stale), -E2BIG past
 * PYH_NATIVE_MAX_GENS, or -errno of reading the maps. */
static int add_generation(struct pyh_native *n, int adding)
{
	struct pyh_ngen *g;
	int rc;

	if (n->ngens == PYH_NATIVE_MAX_GENS)
		return -E2BIG;
	g = &n->gens[n->ngens];
	rc = pyh_nmodules_read(n->pid, &g->mods, &g->nmods);
	if (rc)
		return rc;
	g->nm = calloc((size_t)(g->nmods ? g->nmods : 1), sizeof(*g->nm));
	if (!g->nm) {
		free(g->mods);
		return -ENOMEM;
	}
	for (int i = 0; adding && i < g->nmods; i++) {
		const struct pyh_nmodule *m = &g->mods[i], *k;

		if (m->executable && (k = known_at(n, m)) &&
		    (strcmp(k->path, m->path) || k->base != m->base || k->end != m->end)) {
			free(g->nm);
			free(g->mods);
			return -EEXIST;
		}
	}
	if (adding)
		pyh_dw->dwfl_report_begin_add(n->dwfl);
	else
		pyh_dw->dwfl_report_begin(n->dwfl);
	for (int i = 0; i < g->nmods; i++) {
		const struct pyh_nmodule *m = &g->mods[i];
		Dwfl_Module *mod;
		void **ud = NULL;

		g->nm[i] = (struct pyh_nmod){ .m = m, .n = n };
		if (!m->executable || (adding && known_at(n, m)))
			continue;
		mod = pyh_dw->dwfl_report_module(n->dwfl, m->path, m->base, m->end);
		if (!mod)
			continue;	/* overlaps another: its frames say "in no file" */
		pyh_dw->dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
		if (ud)
			*ud = &g->nm[i];
	}
	pyh_dw->dwfl_report_end(n->dwfl, NULL, NULL);
	n->ngens++;
	return 0;
}

int pyh_native_refresh(struct pyh_native *n)
{
	return add_generation(n, 1);
}

int pyh_native_open(pid_t pid, const struct pyh_native_opts *o, struct pyh_native **out,
		    char *err, size_t errsz)
{
	struct pyh_native *n = calloc(1, sizeof(*n));
	int rc;

	*out = NULL;
	if (!n) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	rc = pyh_dwlib_load(err, errsz);
	if (rc) {
		free(n);
		return rc;
	}
	n->pid = pid;
	if (o)
		n->opts = *o;
	snprintf(n->debug_dir, sizeof(n->debug_dir), "%s",
		 n->opts.debug_dir ? n->opts.debug_dir : PYH_NATIVE_DEBUG_DIR);
	n->opts.debug_dir = n->debug_dir;
	n->dwfl = pyh_dw->dwfl_begin(&pyh_dwfl_callbacks);
	if (!n->dwfl) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	copy_vdso(n);
	rc = add_generation(n, 0);
	if (rc) {
		snprintf(err, errsz, rc == -ESRCH ? "process %d exited" : "cannot read the maps of "
			 "process %d: %s", (int)pid, strerror(-rc));
		goto fail;
	}
	rc = pyh_native_attach(n);
	if (rc) {
		snprintf(err, errsz, "libdw cannot unwind process %d: %s", (int)pid, pyh_dw->dwfl_errmsg(-1));
		goto fail;
	}
	*out = n;
	return 0;
fail:
	pyh_native_close(n);
	return rc;
}

void pyh_native_close(struct pyh_native *n)
{
	if (!n)
		return;
	if (n->dwfl)
		pyh_dw->dwfl_end(n->dwfl);
	free(n->vdso);
	for (int g = 0; g < n->ngens; g++) {
		for (int i = 0; i < n->gens[g].nmods; i++)
			free(n->gens[g].nm[i].syms);
		free(n->gens[g].nm);
		free(n->gens[g].mods);
	}
	free(n);
}

static struct pyh_nmod *mod_of(Dwfl_Module *mod)
{
	void **ud = NULL;

	if (!mod)
		return NULL;
	pyh_dw->dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	return ud ? *ud : NULL;
}

static int nsym_cmp(const void *a, const void *b)
{
	const struct pyh_nsym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->rank - y->rank;	/* the best last among equals */
}

/* Global before weak before local; a versioned default ("@@") name last-but-best. */
static int sym_rank(const GElf_Sym *sym, const char *name)
{
	int bind = GELF_ST_BIND(sym->st_info);
	int r = bind == STB_GLOBAL ? 3 : bind == STB_WEAK ? 2 : 1;

	return r * 2 + (strchr(name, '@') == NULL);
}

/* The sorted function symbols of mod (whichever table libdw chose: .symtab,
 * the debug file's, or .dynsym). Returns 0 or -ENOMEM (then no index). */
static int build_index(struct pyh_nmod *nm, Dwfl_Module *mod)
{
	int total = pyh_dw->dwfl_module_getsymtab(mod);
	size_t cap;

	nm->syms_built = 1;
	if (total <= 1)
		return 0;
	cap = (size_t)total < PYH_NATIVE_MAX_SYMS ? (size_t)total : PYH_NATIVE_MAX_SYMS;
	nm->syms = calloc(cap, sizeof(*nm->syms));
	if (!nm->syms)
		return -ENOMEM;
	for (int i = 1; i < total && nm->nsyms < cap; i++) {
		GElf_Sym sym;
		GElf_Addr addr = 0;
		GElf_Word shndx = 0;
		const char *name = pyh_dw->dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);

		if (!name || !name[0] || shndx == SHN_UNDEF || addr == 0 ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		nm->syms[nm->nsyms++] = (struct pyh_nsym){
			.addr = addr, .size = sym.st_size, .name = name, .rank = sym_rank(&sym, name),
		};
	}
	qsort(nm->syms, nm->nsyms, sizeof(*nm->syms), nsym_cmp);
	return 0;
}

/* The function holding addr, or NULL. */
static const struct pyh_nsym *lookup(const struct pyh_nmod *nm, uint64_t addr)
{
	size_t lo = 0, hi = nm->nsyms;
	const struct pyh_nsym *s;

	while (lo < hi) {	/* the first symbol starting after addr */
		size_t mid = lo + (hi - lo) / 2;

		if (nm->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &nm->syms[lo - 1];	/* the best of those starting at its address */
	if (s->size && addr - s->addr >= s->size)
		return NULL;	/* past its end: in no known function */
	return s;
}

/* Without a symbol: the start of the CFI range (FDE) holding addr. */
static void cfi_range(Dwfl_Module *mod, uint64_t addr, Dwarf_Addr bias, struct pyh_native_sym *out)
{
	Dwarf_CFI *cfi = pyh_dw->dwfl_module_eh_cfi(mod, &bias);
	Dwarf_Frame *fr = NULL;
	Dwarf_Addr start, end;

	if (!cfi || pyh_dw->dwarf_cfi_addrframe(cfi, addr - bias, &fr))
		return;
	if (pyh_dw->dwarf_frame_info(fr, &start, &end, NULL) >= 0) {
		out->range_start = start;
		out->range_known = 1;
	}
	free(fr);
}

void pyh_native_symbolize(struct pyh_native *n, const struct pyh_native_frame *f,
			  struct pyh_native_sym *out)
{
	uint64_t look = f->activation || f->pc == 0 ? f->pc : f->pc - 1;
	Dwfl_Module *mod = pyh_dw->dwfl_addrmodule(n->dwfl, look);
	struct pyh_nmod *nm = mod_of(mod);
	const struct pyh_nsym *s;
	Dwarf_Addr bias = 0;

	memset(out, 0, sizeof(*out));
	if (!mod || !nm)
		return;
	out->library = nm->m->path;
	out->deleted = nm->m->deleted;
	if (pyh_dw->dwfl_module_getelf(mod, &bias))
		out->offset = f->pc - bias;
	else
		out->offset = f->pc - nm->m->base;
	if (!nm->syms_built)
		build_index(nm, mod);
	s = lookup(nm, look);
	if (!s)
		cfi_range(mod, look, bias, out);
	if (s) {
		size_t len = strcspn(s->name, "@");

		if (len >= sizeof(out->function))
			len = sizeof(out->function) - 1;
		memcpy(out->function, s->name, len);
		out->function[len] = '\0';
		out->function_offset = f->pc - s->addr;
	}
}

int pyh_native_has_debug_file(struct pyh_native *n, uint64_t pc)
{
	struct pyh_nmod *nm = mod_of(pyh_dw->dwfl_addrmodule(n->dwfl, pc));

	return nm ? nm->has_debug : 0;
}

int pyh_native_proc_read(void *arg, uint64_t addr, void *buf, size_t len)
{
	return pyh_mem_read(*(const pid_t *)arg, addr, buf, len);
}
