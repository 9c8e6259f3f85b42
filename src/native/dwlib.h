/* libdw (elfutils), loaded at its first use instead of at every start:
 * only native stacks (dump --native, record --native) need it, and linking it
 * would make every run load it and what it links (libz, liblzma, libbz2).
 * It stays a shared library of the system's (LGPL-3 / GPL-2: not linked
 * into pyhang); libelf, which everything reading ELF files uses, is linked
 * as before and is the one libdw itself links.
 *
 * pyh_dw holds the few functions src/native/ calls, each looked up with the
 * symbol version the headers pyhang is built with declare, so a libdw too
 * old for one of them is refused by name, not called wrongly. */
#ifndef PYH_NATIVE_DWLIB_H
#define PYH_NATIVE_DWLIB_H
#include <stddef.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>

/* Each member has the type the elfutils headers declare for its function. */
struct pyh_dwlib {
	__typeof__(dwfl_begin) *dwfl_begin;
	__typeof__(dwfl_end) *dwfl_end;
	__typeof__(dwfl_errmsg) *dwfl_errmsg;
	__typeof__(dwfl_report_begin) *dwfl_report_begin;
	__typeof__(dwfl_report_begin_add) *dwfl_report_begin_add;
	__typeof__(dwfl_report_module) *dwfl_report_module;
	__typeof__(dwfl_report_end) *dwfl_report_end;
	__typeof__(dwfl_module_info) *dwfl_module_info;
	__typeof__(dwfl_module_build_id) *dwfl_module_build_id;
	__typeof__(dwfl_module_getsymtab) *dwfl_module_getsymtab;
	__typeof__(dwfl_module_getsym_info) *dwfl_module_getsym_info;
	__typeof__(dwfl_module_eh_cfi) *dwfl_module_eh_cfi;
	__typeof__(dwfl_module_dwarf_cfi) *dwfl_module_dwarf_cfi;
	__typeof__(dwfl_module_getelf) *dwfl_module_getelf;
	__typeof__(dwfl_addrmodule) *dwfl_addrmodule;
	__typeof__(dwfl_attach_state) *dwfl_attach_state;
	__typeof__(dwfl_thread_state_registers) *dwfl_thread_state_registers;
	__typeof__(dwfl_getthread_frames) *dwfl_getthread_frames;
	__typeof__(dwfl_frame_pc) *dwfl_frame_pc;
	__typeof__(dwfl_frame_reg) *dwfl_frame_reg;
	__typeof__(dwarf_cfi_addrframe) *dwarf_cfi_addrframe;
	__typeof__(dwarf_frame_info) *dwarf_frame_info;
	__typeof__(dwelf_elf_gnu_build_id) *dwelf_elf_gnu_build_id;
};

/* The functions, once pyh_dwlib_load() returned 0 (NULL before). */
extern const struct pyh_dwlib *pyh_dw;

/* Load libdw.so.1 and look its functions up (once; thread-safe; later calls
 * return the first result). Returns 0 with pyh_dw set, or -ENOENT with err
 * saying what is missing ("native stacks need elfutils' libdw (libdw.so.1):
 * ..."), and pyh_dw stays NULL. */
int pyh_dwlib_load(char *err, size_t errsz);
#endif
