/* SPDX-License-Identifier: MIT */
/* pyhang dump --thread TID --frame N: one frame in full, as gdb's py-up /
 * py-down + py-list + py-locals show it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dump/dump.h"
#include "output/dump_parts.h"
#include "output/frames_out.h"
#include "output/json.h"

int pyh_dump_write_frame_text(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v)
{
	const struct pyh_dump_thread *th = pyh_dump_thread_by_tid(d, v->tid);
	const struct pyh_frame *fr;
	struct pyh_source *src;
	char ver[32];

	if (!th || v->frame < 0 || v->frame >= th->nframes)
		return -EINVAL;
	fr = &th->frames[v->frame];
	pyh_dump_version(d, ver, sizeof(ver));
	fprintf(f, "Process %d: %s (Python %s)\n", d->target.pid, d->cmdline[0] ? d->cmdline : "?",
		ver);
	fprintf(f, "Thread %d \"%s\"%s, frame %d of %d (0 is the innermost, %d the outermost):\n",
		th->task.tid, th->task.comm, th->task.tid == d->target.pid ? " (main)" : "",
		v->frame, th->nframes, th->nframes - 1);
	pyh_text_frame(f, "    ", fr);
	if (v->context >= 0) {
		src = pyh_source_new(d->target.pid);
		fprintf(f, "\n    source:\n");
		pyh_text_source_context(f, "    ", src, fr, v->context);
		pyh_source_free(src);
	}
	fprintf(f, "\n    locals:\n");
	if (d->locals_error[0])
		fprintf(f, "        (not available: %s)\n", d->locals_error);
	else if (th->locals && th->locals[v->frame].read && th->locals[v->frame].n == 0 &&
		 !th->locals[v->frame].error[0])
		fprintf(f, "        (none%s)\n", !strcmp(pyh_frame_function(fr), "<module>") ?
			": at module level the variables are the module's globals" : "");
	else
		pyh_text_locals(f, "        ", th->locals ? &th->locals[v->frame] : NULL);
	return ferror(f) ? -EIO : 0;
}

int pyh_dump_write_frame_json(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v)
{
	const struct pyh_dump_thread *th = pyh_dump_thread_by_tid(d, v->tid);
	struct pyh_source *src = NULL;
	struct pyh_json j;
	char ver[32];

	if (!th || v->frame < 0 || v->frame >= th->nframes)
		return -EINVAL;
	pyh_dump_version(d, ver, sizeof(ver));
	pyh_json_init(&j, f);
	pyh_json_object_begin(&j, NULL);
	pyh_json_int(&j, "pid", d->target.pid);
	pyh_json_string(&j, "python", ver);
	pyh_json_int(&j, "tid", th->task.tid);
	pyh_json_int(&j, "frame", v->frame);
	pyh_json_int(&j, "frames", th->nframes);
	pyh_json_frame_fields(&j, &th->frames[v->frame]);
	if (d->locals_error[0]) {
		pyh_json_null(&j, "locals");
		pyh_json_string(&j, "locals_error", d->locals_error);
	} else {
		pyh_json_locals(&j, th->locals ? &th->locals[v->frame] : NULL);
	}
	if (v->context >= 0) {
		src = pyh_source_new(d->target.pid);
		pyh_json_source(&j, src, &th->frames[v->frame], v->context);
	}
	pyh_json_object_end(&j);
	fputc('\n', f);
	pyh_source_free(src);
	return ferror(f) ? -EIO : 0;
}
