/* Inside src/native/: the session both native.c and unwind.c use. */
#ifndef PYH_NATIVE_NATIVE_INT_H
#define PYH_NATIVE_NATIVE_INT_H
#include "native/dwlib.h"	/* libdw, loaded by pyh_native_open */
#include <limits.h>
#include <time.h>

#include "native/modules.h"
#include "native/native.h"

/* One function symbol, at its address in the process. */
struct pyh_nsym {
	uint64_t addr, size;
	const char *name;	/* libdw's copy, valid while the Dwfl lives */
	int rank;		/* among symbols at one address: the higher is shown */
};

/* What libdw's module user data points at. */
struct pyh_nmod {
	const struct pyh_nmodule *m;
	struct pyh_native *n;
	int open_err;		/* -errno of opening the file, 0 if fine or not tried */
	int has_debug;		/* a debug file was found and opened */
	/* Its function symbols sorted by address (libdw looks an address up by
	 * scanning them all: too slow for thousands of frames), built on first use. */
	struct pyh_nsym *syms;
	size_t nsyms;
	int syms_built;
};

#define PYH_NATIVE_MAX_SYMS (8u << 20)	/* symbols indexed per module */

#define PYH_NATIVE_PAGE 4096u
#define PYH_NATIVE_PAGES 16	/* pages of the reader's memory kept during one unwind */

/* The one unwind in progress (libdw's thread callbacks read it). */
struct pyh_unwind_ctx {
	pid_t tid;
	const struct pyh_native_stack *in;
	struct pyh_native_limits lim;
	size_t read_bytes;
	uint64_t start_ns;		/* pyh_mono_ns() when the unwind began */
	char stop[PATH_MAX + 128];	/* set by whatever stops the unwind */
	int stop_unmapped;		/* it stopped at a pc in no module we know of */
	struct {
		uint64_t addr;	/* page address, 0: empty */
		uint8_t bytes[PYH_NATIVE_PAGE];
	} page[PYH_NATIVE_PAGES];
	unsigned next_page;
};

/* The modules one read of the maps added: libdw keeps pointers to them, so
 * a later read (pyh_native_refresh) adds a generation, never moves one. */
struct pyh_ngen {
	struct pyh_nmodule *mods;
	int nmods;
	struct pyh_nmod *nm;	/* one per mods[i] */
};

#define PYH_NATIVE_MAX_GENS 64

struct pyh_native {
	pid_t pid;
	Dwfl *dwfl;
	int attached;		/* dwfl_attach_state done */
	struct pyh_ngen gens[PYH_NATIVE_MAX_GENS];
	int ngens;
	struct pyh_native_opts opts;
	char debug_dir[PATH_MAX];
	uint8_t *vdso;		/* our own vDSO's bytes (the kernel's, so the target's too) */
	size_t vdso_len;
	struct pyh_unwind_ctx u;
};

/* dwfl_attach_state with the unwinder's callbacks (unwind.c). */
int pyh_native_attach(struct pyh_native *n);
#endif
