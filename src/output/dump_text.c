/* pyhang dump, for people: one block per thread, innermost frame first, with source. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dump/dump.h"
#include "kernel/syscalls.h"
#include "output/dump_parts.h"
#include "output/frames_out.h"
#include "output/sanitize.h"
#include "output/source.h"
#include "snapshot/snapshot.h"

static void fmt_duration(double s, char *out, size_t outsz)
{
	if (s < 0)
		snprintf(out, outsz, "?");
	else if (s < 1)
		snprintf(out, outsz, "%.0fms", s * 1000);
	else if (s < 120)
		snprintf(out, outsz, "%.1fs", s);
	else if (s < 7200)
		snprintf(out, outsz, "%.0fm%02.0fs", s / 60 - 0.5, s - 60 * (int)(s / 60));
	else
		snprintf(out, outsz, "%.1fh", s / 3600);
}

/* "blocked 12.3s in clock_nanosleep: sleep 5.000s" / "running" / "sleeping" */
static void describe_state(const struct pyh_dump_thread *th, char *out, size_t outsz)
{
	const struct pyh_task_info *t = &th->task;
	const char *name;
	char dur[32], nrbuf[32];

	if (!th->task_known) {
		snprintf(out, outsz, "no OS thread found");
		return;
	}
	if (!t->in_syscall) {
		snprintf(out, outsz, "%s", t->state == 'R' ? "running" : pyh_task_state_name(t->state));
		return;
	}
	name = pyh_syscall_name(t->syscall_nr);
	if (!name) {
		snprintf(nrbuf, sizeof(nrbuf), "syscall %ld", t->syscall_nr);
		name = nrbuf;
	}
	fmt_duration(t->offcpu_s, dur, sizeof(dur));
	snprintf(out, outsz, "%s %s in %s()%s%s", t->state == 'D' ? "in disk wait" : "blocked", dur,
		 name, th->detail[0] ? ": " : "", th->detail);
}

/* "[kernel] hrtimer_nanosleep+0x74"
 * "[native] clock_nanosleep+0x23 (/usr/lib/x86_64-linux-gnu/libc.so.6+0xcf503)"
 * "[native] ?? (/usr/bin/python3.11+0x5d64b4)", "[native] ?? (0x7f0012345678)" */
static void write_sysframe(FILE *f, const struct pyh_dump_sysframe *fr)
{
	if (fr->kind == PYH_DUMP_KERNEL) {
		if (fr->function)
			fprintf(f, "    [kernel] %s+0x%llx\n", fr->function,
				(unsigned long long)fr->offset);
		else
			fprintf(f, "    [kernel] ?? (0x%llx)\n", (unsigned long long)fr->offset);
		return;
	}
	/* Native symbol and library names come from the target's files: sanitized. */
	if (fr->function) {
		fputs("    [native] ", f);
		pyh_fput_safe(f, fr->function);
		fprintf(f, "+0x%llx", (unsigned long long)fr->function_offset);
	} else {
		fprintf(f, "    [native] ??");
	}
	if (fr->library) {
		fputs(" (", f);
		pyh_fput_safe(f, fr->library);
		fprintf(f, "%s+0x%llx)\n", fr->deleted ? " (deleted)" : "", (unsigned long long)fr->offset);
	} else {
		fprintf(f, " (0x%llx)\n", (unsigned long long)fr->offset);
	}
}

/* Python frame k of th: its name, its source line (or --source N lines around
 * it) and its locals (--locals). */
static void write_python(FILE *f, struct pyh_source *src, const struct pyh_dump_thread *th, int k,
			 const struct pyh_dump_view *v)
{
	const struct pyh_frame *fr = &th->frames[k];
	char line[512];

	pyh_text_frame(f, "    ", fr);
	if (v->context >= 0)
		pyh_text_source_context(f, "        ", src, fr, v->context);
	else if (src && pyh_frame_file(fr) &&
		 pyh_source_line(src, pyh_frame_file(fr), fr->line, line, sizeof(line)) == 0 &&
		 line[0]) {
		fputs("        ", f);
		pyh_fput_safe(f, line);
		fputc('\n', f);
	}
	pyh_text_locals(f, "        ", th->locals ? &th->locals[k] : NULL);
}

/* --native: every frame of the thread, innermost first. */
static void write_whole_stack(FILE *f, struct pyh_source *src, const struct pyh_dump_thread *th,
			      const struct pyh_dump_view *v)
{
	for (int j = 0; j < th->nstack; j++) {
		const struct pyh_dump_entry *e = &th->stack[j];

		if (e->kind == PYH_DUMP_PYTHON)
			write_python(f, src, th, e->index, v);
		else if (e->kind == PYH_DUMP_GAP) {
			fputs("    ... ", f);
			pyh_fput_safe(f, th->native_error ? th->native_error : "native unwind stopped");
			fputc('\n', f);
		}
		else
			write_sysframe(f, &th->sys[e->index]);
	}
}

int pyh_dump_write_text(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v)
{
	struct pyh_source *src = v->source || v->context >= 0 ? pyh_source_new(d->target.pid) : NULL;
	char ver[32], state[768];
	int python_threads = 0;

	pyh_dump_version(d, ver, sizeof(ver));
	for (int i = 0; i < d->nthreads; i++)
		python_threads += d->threads[i].python;
	if (d->host) {
		fputs("== ", f);
		pyh_fput_safe(f, d->host->label);
		fputs(", cgroup ", f);
		pyh_fput_safe(f, d->host->cgroup);
		fputs(" ==\n", f);
	}
	fprintf(f, "Process %d: ", d->target.pid);
	pyh_fput_safe(f, d->cmdline[0] ? d->cmdline : "?");
	fprintf(f, "\nPython %s (", ver);
	pyh_fput_safe(f, d->target.bin.path);
	fprintf(f, ")%s", d->target.layout_from_target ? ", layout from _Py_DebugOffsets" : "");
	if (d->target.table_mismatch)
		fprintf(f, " (differs from pyhang's %d.%d table in %d fields)", d->target.ver.major,
			d->target.ver.minor, d->target.table_mismatch);
	fputc('\n', f);
	fprintf(f, "%d thread%s, %d with Python state%s\n", d->nthreads, d->nthreads == 1 ? "" : "s",
		python_threads, d->target.layout.flags & PYH_LAYOUT_FREE_THREADED ? "; free-threaded: no GIL"
				: !d->gil_known ? "; GIL holder unknown" : "");
	if (d->threads_unmatched)
		fprintf(f, "The thread list changed while it was read (%d thread state%s matched no OS "
			"thread or its place in the list, in each of %d reads): threads shown without "
			"Python state may have one\n",
			d->threads_unmatched, d->threads_unmatched == 1 ? "" : "s", PYH_THREADS_LIST_READS);
	if (d->locals_read && d->locals_error[0])
		fprintf(f, "Locals not available: %s\n", d->locals_error);
	for (int i = 0; i < d->nthreads; i++) {
		const struct pyh_dump_thread *th = &d->threads[i];

		if (v->tid && th->task.tid != v->tid)
			continue;

		describe_state(th, state, sizeof(state));
		fprintf(f, "\nThread %d \"", th->task.tid);
		pyh_fput_safe(f, th->task.comm);
		fprintf(f, "\"%s%s: ", th->task.tid == d->target.pid ? " (main)" : "",
			th->gil ? " [holds the GIL]" : "");
		pyh_fput_safe(f, state);
		fprintf(f, "%s%s\n", th->snapshot == PYH_SNAP_KERNEL ? " [stack taken on the CPU]" : "",
			th->gone ? " [exited during the dump]" : "");
		if (th->task_known && th->task.wchan[0] && th->task.in_syscall && !th->stack) {
			fputs("    kernel: ", f);
			pyh_fput_safe(f, th->task.wchan);
			fputc('\n', f);
		}
		if (!th->python)
			fprintf(f, d->threads_unmatched ? "    (no Python thread state found: the list was changing)\n"
							: "    (no Python thread state: a native thread)\n");
		if (th->native_error && !th->stack)
			fprintf(f, "    (no native frames: %s)\n", th->native_error);
		if (th->stack) {
			write_whole_stack(f, src, th, v);
		} else if (th->python) {
			if (th->nframes == 0 && !th->broken[0])
				fprintf(f, "    (no Python frames: idle or in native code)\n");
			for (int j = 0; j < th->nframes; j++)
				write_python(f, src, th, j, v);
		}
		if (!th->python)
			continue;
		if (th->truncated)
			fprintf(f, "    ... deeper frames not shown (limit reached; see --max-frames)\n");
		if (th->broken[0]) {
			fputs("    ... stack incomplete: ", f);
			pyh_fput_safe(f, th->broken);
			fputc('\n', f);
		}
	}
	if (!v->tid)
		pyh_text_tasks(f, d, src, v);
	if (d->budget_evictions || d->budget_refusals)
		fprintf(f, "\n(memory budget reached: %llu code objects evicted, %llu not kept; their "
			"line tables were read again)\n", (unsigned long long)d->budget_evictions,
			(unsigned long long)d->budget_refusals);
	if (pyh_source_stalled(src))
		fprintf(f, "\n(source lines stopped: a file of this process did not answer in time)\n");
	pyh_source_free(src);
	return ferror(f) ? -EIO : 0;
}
