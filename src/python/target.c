/* Attaching to a Python process: interpreter file, version, layout, root addresses. */
#include "python/target.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "elf/elfsym.h"
#include "proc/mem.h"
#include "proc/procfs.h"
#include "pyhang/frame.h"
#include "python/layouts.h"

const char *pyh_target_strerror(int err)
{
	switch (err) {
	case -ENODEV:
		return "not a regular file (a FIFO, device or directory in its place)";
	case -ESTALE:
		return "the file at its path is not the one mapped";
	case -ETIMEDOUT:
		return "reading it did not finish in time";
	default:
		return strerror(-err);
	}
}

static int sym_addr(const struct pyh_elf *elf, const struct pyh_target *t, const char *name,
		    uint64_t *addr)
{
	uint64_t value, size;

	if (pyh_elf_symbol(elf, name, &value, &size) || value == 0)
		return -ENOENT;
	*addr = t->bin.load_bias + value;
	return 0;
}

/* 3.13+: the layout comes from the target's own _Py_DebugOffsets; the
 * committed table of the same version and build only cross-checks it (a
 * disagreement means the table is stale). */
static int layout_from_target(struct pyh_target *t, char *err, size_t errsz)
{
	uint8_t buf[PYH_DEBUG_OFFSETS_READ];
	char why[160] = "";
	int rc;

	rc = pyh_mem_read(t->pid, t->runtime, buf, sizeof(buf));
	if (rc) {
		snprintf(err, errsz, "cannot read _PyRuntime of process %d: %s", t->pid, strerror(-rc));
		return rc;
	}
	rc = pyh_layout_from_debug_offsets(buf, sizeof(buf), &t->layout, why, sizeof(why));
	if (rc) {
		snprintf(err, errsz, "process %d: Python %d.%d.%d debug offsets unusable: %s", t->pid,
			 t->ver.major, t->ver.minor, t->ver.micro, why);
		return rc;
	}
	t->layout_from_target = 1;
	return 0;
}

/* On a version we also have a table for (3.13, 3.14, 3.14t), count the fields where the
 * target's own offsets and the committed table disagree. */
static int cross_check(const struct pyh_layout *a, const struct pyh_layout *b)
{
	const uint32_t pa[] = { a->runtime_interp_head, a->interp_next, a->interp_tstate_head,
				a->tstate_next, a->tstate_prev, a->tstate_frame, a->tstate_thread_id,
				a->tstate_native_thread_id, a->frame_back, a->frame_code,
				a->frame_lasti, a->frame_owner, a->code_filename, a->code_name,
				a->code_qualname, a->code_firstlineno, a->code_linetable,
				a->code_adaptive, a->frame_tlbc_index, a->code_tlbc, a->object_type };
	const uint32_t pb[] = { b->runtime_interp_head, b->interp_next, b->interp_tstate_head,
				b->tstate_next, b->tstate_prev, b->tstate_frame, b->tstate_thread_id,
				b->tstate_native_thread_id, b->frame_back, b->frame_code,
				b->frame_lasti, b->frame_owner, b->code_filename, b->code_name,
				b->code_qualname, b->code_firstlineno, b->code_linetable,
				b->code_adaptive, b->frame_tlbc_index, b->code_tlbc, b->object_type };
	int diff = 0;

	for (unsigned i = 0; i < sizeof(pa) / sizeof(pa[0]); i++)
		diff += pa[i] != pb[i];
	return diff;
}

static int find_roots(struct pyh_target *t, const struct pyh_elf *elf, char *err, size_t errsz)
{
	const struct pyh_layout *l = &t->layout;
	uint64_t link;

	if (sym_addr(elf, t, "PyCode_Type", &t->code_type)) {
		snprintf(err, errsz, "process %d: %s has no PyCode_Type symbol", t->pid, t->bin.path);
		return -ENOENT;
	}
	if (sym_addr(elf, t, t->ver.major == 2 ? "PyString_Type" : "PyUnicode_Type", &t->str_type))
		t->str_type = 0;	/* names are then read without the type check */
	if (t->ver.major == 3 && t->ver.minor >= 7) {
		if (sym_addr(elf, t, "_PyRuntime", &t->runtime)) {
			snprintf(err, errsz, "process %d: %s has no _PyRuntime symbol", t->pid, t->bin.path);
			return -ENOENT;
		}
		t->interp_head_ptr = t->runtime + l->runtime_interp_head;
		if (l->gil_kind == PYH_GIL_TSTATE_CURRENT)
			t->tstate_current_ptr = t->runtime + l->runtime_tstate_current;
		return 0;
	}
	/* 2.7 and 3.6: interp_head is static; stripped builds still export
	 * PyInterpreterState_Head(), whose body names its address. */
	if (sym_addr(elf, t, "interp_head", &t->interp_head_ptr)) {
		if (pyh_find_interp_head_by_disasm(elf, &link)) {
			snprintf(err, errsz, "process %d: cannot locate interp_head in %s", t->pid,
				 t->bin.path);
			return -ENOENT;
		}
		t->interp_head_ptr = t->bin.load_bias + link;
	}
	if (sym_addr(elf, t, "_PyThreadState_Current", &t->tstate_current_ptr))
		t->tstate_current_ptr = 0;	/* GIL holder unknown, stacks still fine */
	return 0;
}

int pyh_target_open(pid_t pid, struct pyh_target *t, char *err, size_t errsz)
{
	return pyh_target_open_flags(pid, t, 0, err, errsz);
}

int pyh_target_open_flags(pid_t pid, struct pyh_target *t, unsigned flags, char *err,
			  size_t errsz)
{
	struct pyh_elf *elf = NULL;
	const struct pyh_layout *table = NULL;
	uint64_t head = 0;
	char state = '?';
	int kthread = 0, rc;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	rc = pyh_proc_state(pid, &state, &kthread);
	if (rc) {
		snprintf(err, errsz, "no process with PID %d", pid);
		return -ESRCH;
	}
	if (kthread) {
		snprintf(err, errsz, "PID %d is a kernel thread, not a Python process", pid);
		return -EINVAL;
	}
	if (pyh_state_dead(state)) {
		snprintf(err, errsz, "process %d is a zombie (exited, not yet reaped): nothing to show",
			 pid);
		return -ESRCH;
	}
	rc = pyh_maps_find_python(pid, &t->bin);
	if (rc == -EACCES || rc == -EPERM) {
		snprintf(err, errsz, "cannot read process %d: permission denied (run as root)", pid);
		goto cleanup;
	}
	if (rc == -ESRCH) {
		snprintf(err, errsz, "process %d exited", pid);
		goto cleanup;
	}
	if (rc == -ENODEV || rc == -ESTALE || rc == -ETIMEDOUT) {
		snprintf(err, errsz, "process %d: its interpreter file is unreadable: %s", pid,
			 pyh_target_strerror(rc));
		goto cleanup;
	}
	if (rc) {
		snprintf(err, errsz, "process %d is not running Python (no Python interpreter mapped)",
			 pid);
		goto cleanup;
	}
	rc = pyh_pybinary_open(pid, &t->bin);
	if (rc >= 0)
		rc = pyh_elf_open_fd(rc, &elf);
	if (rc) {
		snprintf(err, errsz, "cannot read %s of process %d: %s", t->bin.path, pid,
			 pyh_target_strerror(rc));
		goto cleanup;
	}
	rc = pyh_version_detect(pid, &t->bin, elf, &t->ver);
	if (rc) {
		snprintf(err, errsz, "process %d is not running Python (%s is not CPython)", pid,
			 t->bin.path);
		goto cleanup;
	}
	if (t->ver.major == 3 && t->ver.minor >= 13) {
		/* _PyRuntime is needed first: find_roots sets it; redo after the layout. */
		if (sym_addr(elf, t, "_PyRuntime", &t->runtime)) {
			snprintf(err, errsz, "process %d: %s has no _PyRuntime symbol", pid, t->bin.path);
			rc = -ENOENT;
			goto cleanup;
		}
		rc = layout_from_target(t, err, errsz);
		if (rc)
			goto cleanup;
		table = pyh_layout_table(t->ver.major, t->ver.minor,
					 !!(t->layout.flags & PYH_LAYOUT_FREE_THREADED));
		if (table)
			t->table_mismatch = cross_check(&t->layout, table);
	} else if ((table = pyh_layout_table(t->ver.major, t->ver.minor, 0))) {
		t->layout = *table;
	} else {
		snprintf(err, errsz, "process %d runs Python %d.%d.%d, which pyhang does not support", pid,
			 t->ver.major, t->ver.minor, t->ver.micro);
		rc = -ENOTSUP;
		goto cleanup;
	}
	t->layout.version_hex = (uint32_t)t->ver.major << 24 | (uint32_t)t->ver.minor << 16 |
				(uint32_t)t->ver.micro << 8;
	if (!pyh_frame_layout_ok(&t->layout)) {
		snprintf(err, errsz, "process %d: Python %d.%d.%d frames have fields beyond the %u bytes "
			 "pyhang reads of a frame", pid, t->ver.major, t->ver.minor, t->ver.micro,
			 PYH_FRAME_WINDOW);
		rc = -ENOTSUP;
		goto cleanup;
	}
	rc = find_roots(t, elf, err, errsz);
	if (rc)
		goto cleanup;
	if (table && t->layout_from_target && !t->table_mismatch && t->runtime &&
	    table->version_hex == t->layout.version_hex &&
	    t->layout.runtime_code_counter != PYH_NO_FIELD &&
	    t->layout.runtime_interp_next_id != PYH_NO_FIELD) {
		t->code_counter_ptr = t->runtime + t->layout.runtime_code_counter;
		t->interp_next_id_ptr = t->runtime + t->layout.runtime_interp_next_id;
	} else if ((flags & PYH_TARGET_OPEN_CODE_COUNTER) && t->ver.major == 3 && t->ver.minor == 12 &&
		   t->layout.code_version != PYH_NO_FIELD &&
		   table && table->version_hex == t->layout.version_hex && t->runtime &&
		   t->layout.runtime_interp_next_id != PYH_NO_FIELD) {
		/* 3.12: one counter for the process, every interpreter's code objects
		 * take their version from it; a local symbol (.symtab only: a stripped
		 * 3.12 keeps the fingerprints). It is bumped without atomics, and
		 * 3.12's subinterpreters may each have their own GIL: two of them can
		 * give a code object a version below a ceiling read before it was made.
		 * So, as on 3.13+, the ceiling holds only while no interpreter but the
		 * main one was ever made (interpreters.next_id, on the exact version
		 * the table was measured on). */
		uint64_t value, size;

		if (!pyh_elf_symbol(elf, "_Py_next_func_version", &value, &size) && value && size == 4) {
			t->code_counter_ptr = t->bin.load_bias + value;
			t->interp_next_id_ptr = t->runtime + t->layout.runtime_interp_next_id;
		}
	}
	rc = pyh_mem_read_u64(pid, t->interp_head_ptr, &head);
	if (rc == -EPERM || rc == -EACCES) {
		snprintf(err, errsz, "cannot read process %d's memory: permission denied (run as root)",
			 pid);
		goto cleanup;
	}
	if (rc == -ESRCH) {
		snprintf(err, errsz, "process %d exited", pid);
		goto cleanup;
	}
	if (rc) {
		snprintf(err, errsz, "cannot read process %d's memory at 0x%llx: %s", pid,
			 (unsigned long long)t->interp_head_ptr, strerror(-rc));
		goto cleanup;
	}
	if (head == 0) {
		snprintf(err, errsz, "process %d: Python %d.%d.%d has no interpreter yet (starting up or "
			 "shutting down)", pid, t->ver.major, t->ver.minor, t->ver.micro);
		rc = -EAGAIN;
		goto cleanup;
	}
	pyh_obj_syms_resolve(elf, &t->bin, t->ver.major, &t->objsyms);
	rc = 0;
cleanup:
	pyh_elf_close(elf);
	return rc;
}
