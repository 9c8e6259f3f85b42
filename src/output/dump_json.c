/* pyhang dump --json: exactly one JSON object. */
#include <errno.h>
#include <stdio.h>

#include "dump/dump.h"
#include "kernel/syscalls.h"
#include "output/dump_parts.h"
#include "output/frames_out.h"
#include "output/json.h"
#include "snapshot/snapshot.h"

/* {"kind": "native", "function": … | null, "library": … | null, "offset": N[, "deleted": true]}
 * {"kind": "kernel", "function": … | null, "offset": N} */
static void write_sysframe(struct pyh_json *j, const struct pyh_dump_sysframe *fr)
{
	pyh_json_object_begin(j, NULL);
	pyh_json_string(j, "kind", fr->kind == PYH_DUMP_KERNEL ? "kernel" : "native");
	pyh_json_string(j, "function", fr->function);
	if (fr->kind == PYH_DUMP_NATIVE)
		pyh_json_string(j, "library", fr->library);
	pyh_json_int(j, "offset", (int64_t)fr->offset);
	if (fr->deleted)
		pyh_json_bool(j, "deleted", 1);
	pyh_json_object_end(j);
}

/* Python frame k of th, with its locals (--locals) and source (--source N). */
static void write_python_frame(struct pyh_json *j, const struct pyh_dump_thread *th, int k,
			       const struct pyh_dump_view *v, struct pyh_source *src)
{
	pyh_json_object_begin(j, NULL);
	pyh_json_frame_fields(j, &th->frames[k]);
	pyh_json_locals(j, th->locals ? &th->locals[k] : NULL);
	if (v->context >= 0)
		pyh_json_source(j, src, &th->frames[k], v->context);
	pyh_json_object_end(j);
}

/* "frames": the Python ones, or with a native stack all of them in order. */
static void write_frames(struct pyh_json *j, const struct pyh_dump_thread *th,
			 const struct pyh_dump_view *v, struct pyh_source *src)
{
	pyh_json_array_begin(j, "frames");
	if (!th->stack) {
		for (int k = 0; k < th->nframes; k++)
			write_python_frame(j, th, k, v, src);
	}
	for (int k = 0; th->stack && k < th->nstack; k++) {
		const struct pyh_dump_entry *e = &th->stack[k];

		if (e->kind == PYH_DUMP_PYTHON)
			write_python_frame(j, th, e->index, v, src);
		else if (e->kind != PYH_DUMP_GAP)
			write_sysframe(j, &th->sys[e->index]);
	}
	pyh_json_array_end(j);
}

/* "native_error": why the native stack is missing or incomplete (null: whole);
 * "native_gap": the index in "frames" of the first frame beyond where the
 * native unwind stopped (null: it did not stop early). */
static void write_native_status(struct pyh_json *j, const struct pyh_dump_thread *th)
{
	int at = -1, k = 0;

	for (int i = 0; th->stack && i < th->nstack && at < 0; i++) {
		if (th->stack[i].kind == PYH_DUMP_GAP)
			at = k;
		else
			k++;
	}
	pyh_json_string(j, "native_error", th->native_error);
	if (at >= 0)
		pyh_json_int(j, "native_gap", at);
	else
		pyh_json_null(j, "native_gap");
}

int pyh_dump_write_json(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v)
{
	struct pyh_source *src = v->context >= 0 ? pyh_source_new(d->target.pid) : NULL;
	struct pyh_json j;
	char ver[32];

	pyh_dump_version(d, ver, sizeof(ver));
	pyh_json_init(&j, f);
	pyh_json_object_begin(&j, NULL);
	pyh_json_int(&j, "pid", d->target.pid);
	pyh_json_string(&j, "python", ver);
	pyh_json_string(&j, "binary", d->target.bin.path);
	pyh_json_string(&j, "cmdline", d->cmdline);
	pyh_json_bool(&j, "free_threaded", !!(d->target.layout.flags & PYH_LAYOUT_FREE_THREADED));
	pyh_json_bool(&j, "gil_known", d->gil_known);
	pyh_json_int(&j, "threads_unmatched", d->threads_unmatched);
	if (d->native_missing[0])	/* --native asked, impossible here: why */
		pyh_json_string(&j, "native_missing", d->native_missing);
	if (d->locals_read)
		pyh_json_string(&j, "locals_error", d->locals_error[0] ? d->locals_error : NULL);
	pyh_json_array_begin(&j, "threads");
	for (int i = 0; i < d->nthreads; i++) {
		const struct pyh_dump_thread *th = &d->threads[i];
		const struct pyh_task_info *t = &th->task;

		if (v->tid && t->tid != v->tid)
			continue;

		pyh_json_object_begin(&j, NULL);
		pyh_json_int(&j, "tid", t->tid);
		pyh_json_string(&j, "name", th->task_known ? t->comm : NULL);
		pyh_json_bool(&j, "main", t->tid == d->target.pid);
		pyh_json_bool(&j, "python", th->python);
		pyh_json_bool(&j, "gil", th->gil);
		pyh_json_string(&j, "state", th->task_known ? pyh_task_state_name(t->state) : "unknown");
		if (th->task_known && t->in_syscall) {
			pyh_json_object_begin(&j, "syscall");
			pyh_json_int(&j, "nr", t->syscall_nr);
			pyh_json_string(&j, "name", pyh_syscall_name(t->syscall_nr));
			if (t->offcpu_s >= 0)
				pyh_json_double(&j, "blocked_s", t->offcpu_s);
			else
				pyh_json_null(&j, "blocked_s");
			pyh_json_string(&j, "detail", th->detail);
			pyh_json_string(&j, "wchan", t->wchan);
			pyh_json_object_end(&j);
		} else {
			pyh_json_null(&j, "syscall");
		}
		write_frames(&j, th, v, src);
		pyh_json_bool(&j, "truncated", th->truncated);
		pyh_json_string(&j, "snapshot", !th->python ? NULL
				: th->snapshot == PYH_SNAP_KERNEL ? "kernel"
				: th->snapshot == PYH_SNAP_MEMORY ? "memory" : NULL);
		if (th->gone)
			pyh_json_bool(&j, "gone", 1);
		pyh_json_string(&j, "stack_error", th->broken[0] ? th->broken : NULL);
		if (th->native)
			write_native_status(&j, th);
		pyh_json_object_end(&j);
	}
	pyh_json_array_end(&j);
	if (!v->tid)
		pyh_json_tasks(&j, d, src, v);
	if (d->host) {
		pyh_json_int(&j, "ns_pid", d->host->ns_pid);
		pyh_json_string(&j, "label", d->host->label);
		pyh_json_string(&j, "cgroup", d->host->cgroup);
	}
	pyh_json_object_end(&j);
	fputc('\n', f);
	pyh_source_free(src);
	return ferror(f) ? -EIO : 0;
}
