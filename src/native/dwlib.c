/* libdw loaded at first use (see dwlib.h). */
#include "native/dwlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#define PYH_DWLIB_SONAME "libdw.so.1"

const struct pyh_dwlib *pyh_dw;

static struct pyh_dwlib pyh_dwlib_fns;
static pthread_once_t pyh_dwlib_once = PTHREAD_ONCE_INIT;
static char pyh_dwlib_err[256];

/* Each function with the symbol version pyhang's build links against (as
 * `nm -D` of a binary linked with -ldw names them). */
#define PYH_DW_SYM(name, version) { #name, version, (void **)&pyh_dwlib_fns.name }
static const struct {
	const char *name, *version;
	void **slot;
} pyh_dwlib_syms[] = {
	PYH_DW_SYM(dwfl_begin, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_end, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_errmsg, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_report_begin, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_report_begin_add, "ELFUTILS_0.127"),
	PYH_DW_SYM(dwfl_report_module, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_report_end, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_module_info, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_module_build_id, "ELFUTILS_0.138"),
	PYH_DW_SYM(dwfl_module_getsymtab, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_module_getsym_info, "ELFUTILS_0.158"),
	PYH_DW_SYM(dwfl_module_eh_cfi, "ELFUTILS_0.142"),
	PYH_DW_SYM(dwfl_module_dwarf_cfi, "ELFUTILS_0.142"),
	PYH_DW_SYM(dwfl_module_getelf, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_addrmodule, "ELFUTILS_0.122"),
	PYH_DW_SYM(dwfl_attach_state, "ELFUTILS_0.158"),
	PYH_DW_SYM(dwfl_thread_state_registers, "ELFUTILS_0.158"),
	PYH_DW_SYM(dwfl_getthread_frames, "ELFUTILS_0.158"),
	PYH_DW_SYM(dwfl_frame_pc, "ELFUTILS_0.158"),
	PYH_DW_SYM(dwfl_frame_reg, "ELFUTILS_0.188"),
	PYH_DW_SYM(dwarf_cfi_addrframe, "ELFUTILS_0.142"),
	PYH_DW_SYM(dwarf_frame_info, "ELFUTILS_0.142"),
	PYH_DW_SYM(dwelf_elf_gnu_build_id, "ELFUTILS_0.159"),
};

static void pyh_dwlib_open(void)
{
	void *h = dlopen(PYH_DWLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *why;

	if (!h) {
		why = dlerror();
		snprintf(pyh_dwlib_err, sizeof(pyh_dwlib_err),
			 "native stacks need elfutils' libdw (%s, Debian package libdw1): %s",
			 PYH_DWLIB_SONAME, why ? why : "not found");
		return;
	}
	for (size_t i = 0; i < sizeof(pyh_dwlib_syms) / sizeof(pyh_dwlib_syms[0]); i++) {
		*pyh_dwlib_syms[i].slot = dlvsym(h, pyh_dwlib_syms[i].name, pyh_dwlib_syms[i].version);
		if (!*pyh_dwlib_syms[i].slot) {
			snprintf(pyh_dwlib_err, sizeof(pyh_dwlib_err),
				 "native stacks need elfutils' libdw with %s@%s; the %s found has not "
				 "(elfutils older than 0.188?)", pyh_dwlib_syms[i].name,
				 pyh_dwlib_syms[i].version, PYH_DWLIB_SONAME);
			dlclose(h);
			return;
		}
	}
	pyh_dw = &pyh_dwlib_fns;	/* h stays open: its functions are in use until exit */
}

int pyh_dwlib_load(char *err, size_t errsz)
{
	pthread_once(&pyh_dwlib_once, pyh_dwlib_open);
	if (pyh_dw)
		return 0;
	if (err && errsz)
		snprintf(err, errsz, "%s", pyh_dwlib_err);
	return -ENOENT;
}
