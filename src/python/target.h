/* A Python process attached for reading: its interpreter, version, layout and
 * the addresses everything else starts from. Attaching never stops the process. */
#ifndef PYH_PYTHON_TARGET_H
#define PYH_PYTHON_TARGET_H
#include <stdint.h>
#include <sys/types.h>
#include "pyhang/layout.h"
#include "proc/maps.h"
#include "python/objects.h"
#include "python/version.h"

struct pyh_target {
	pid_t pid;
	struct pyh_pybinary bin;
	struct pyh_pyversion ver;
	struct pyh_layout layout;
	uint64_t runtime;		/* &_PyRuntime (3.7+), else 0 */
	uint64_t interp_head_ptr;	/* address of the PyInterpreterState * list head */
	uint64_t tstate_current_ptr;	/* gil_kind TSTATE_CURRENT: address of that pointer */
	uint64_t code_type;		/* &PyCode_Type, to check that a code object is one */
	uint64_t str_type;		/* &PyUnicode_Type (&PyString_Type on 2.7); 0 if unknown */
	/* The code-version counter and interpreters.next_id (pyhang/sample.h,
	 * PYH_SAMPLE_CEILING). 3.13+: the main interpreter's counter, only for the
	 * exact version the committed table was measured on, with a layout read
	 * from the target that the table agrees with (the debug offsets do not
	 * carry them). 3.12, when opened with PYH_TARGET_OPEN_CODE_COUNTER: the
	 * process's one counter, _Py_next_func_version (from .symtab), which
	 * every interpreter shares but bumps without
	 * atomics (3.12's subinterpreters may have a GIL each), with next_id
	 * from the exact version's table. Else both 0. */
	uint64_t code_counter_ptr;
	uint64_t interp_next_id_ptr;
	int layout_from_target;		/* 1: read from _Py_DebugOffsets */
	int table_mismatch;		/* fields where that and our committed table disagree */
	struct pyh_obj_syms objsyms;	/* resolved while the file was open, for
					 * pyh_objects_from_target */
};

/* Attach to pid. On failure returns -errno and writes a one-line reason
 * (without "pyhang:") into err: "process 42 is not running Python", ... */
int pyh_target_open(pid_t pid, struct pyh_target *t, char *err, size_t errsz);

/* What pyh_target_open_flags looks for beyond what every reader needs. */
#define PYH_TARGET_OPEN_CODE_COUNTER 0x1u /* 3.12's code-version counter: a local
					   * symbol, so the interpreter's .symtab is
					   * read (~760 KB on a libpython with symbols).
					   * record asks for it (its ceiling saves the
					   * sampler a read per code object); a dump or
					   * a watch does not, and 3.12's code_counter_ptr
					   * is then 0 (fingerprints, as on 3.11). */
/* pyh_target_open with PYH_TARGET_OPEN_* flags. */
int pyh_target_open_flags(pid_t pid, struct pyh_target *t, unsigned flags, char *err,
			  size_t errsz);

/* strerror() for the errors of opening a target's files, including
 * proc/rootfs.h's -ENODEV and -ESTALE. */
const char *pyh_target_strerror(int err);
#endif
