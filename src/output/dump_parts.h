/* SPDX-License-Identifier: MIT */
/* What dump writes under a frame besides its name: the source around its line
 * and its local variables, in text and JSON (dump_text.c, dump_json.c and
 * dump_frame.c share these). */
#ifndef PYH_OUTPUT_DUMP_PARTS_H
#define PYH_OUTPUT_DUMP_PARTS_H
#include <stdio.h>

#include "dump/dump.h"
#include "output/json.h"
#include "output/source.h"
#include "python/stack.h"

/* Lines line-context .. line+context of the frame's file, gdb's py-list
 * style: right-aligned numbers, the current one as ">N". A file that cannot
 * be read is said so in one line; a frame without a line or a file prints
 * nothing. */
void pyh_text_source_context(FILE *f, const char *indent, struct pyh_source *src,
			     const struct pyh_frame *fr, int context);

/* One "name = repr" line per local (a cut value followed by its type and
 * length), or the reason they could not be read. Nothing when l was not read. */
void pyh_text_locals(FILE *f, const char *indent, const struct pyh_dump_locals *l);

/* "source": [{"line": N, "text": "…"}, …] and "source_error": null, or
 * "source": null and "source_error": "why", as members of the open object. */
void pyh_json_source(struct pyh_json *j, struct pyh_source *src, const struct pyh_frame *fr,
		     int context);

/* "locals": [{"name", "type", "repr", "truncated", "length"}, …] (type and
 * length null where not known) and "locals_error": null | "why", as members
 * of the open object; nothing when l is NULL or was not read. */
void pyh_json_locals(struct pyh_json *j, const struct pyh_dump_locals *l);
/* The process's asyncio tasks (d->tasks): in text, a tree of awaiters under
 * each event loop's thread with each task's frames (and their source as
 * v asks), cycles first; nothing when asyncio is not loaded. */
void pyh_text_tasks(FILE *f, const struct pyh_dump *d, struct pyh_source *src,
		    const struct pyh_dump_view *v);
/* As members of the open object: "tasks": [...], "tasks_total",
 * "tasks_truncated", "tasks_error", "task_cycles"; only "tasks_error" (when
 * set) without asyncio. */
void pyh_json_tasks(struct pyh_json *j, const struct pyh_dump *d, struct pyh_source *src,
		    const struct pyh_dump_view *v);
#endif
