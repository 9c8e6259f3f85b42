/* SPDX-License-Identifier: MIT */
/* dump's asyncio tasks: a tree of awaiters under each event loop's thread
 * (text), and the "tasks" array (JSON). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio/tasks.h"
#include "dump/dump.h"
#include "output/dump_parts.h"
#include "output/frames_out.h"
#include "output/json.h"
#include "output/sanitize.h"

#define PYH_TASK_INDENT 4	/* per level of the awaiter tree */
#define PYH_TASK_INDENT_MAX 64	/* a deeper tree is drawn at this depth, its depth said */
#define PYH_TASK_BY_SHOWN 4	/* awaiters named on a text line */
#define PYH_TASK_FINISHED_SHOWN 8	/* finished tasks named on their line */

static const char *pyh_task_label(const struct pyh_task *k, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s (0x%llx)", k->name[0] ? k->name : "task",
		 (unsigned long long)k->addr);
	return buf;
}

/* ------------------------------------------------------------ text */

static void pyh_text_task_line(FILE *f, const struct pyh_tasks *ts, int k, int depth)
{
	const struct pyh_agraph *g = &ts->graph;
	const struct pyh_task *t = &ts->v[g->order[k]];
	int node = g->order[k], nby = g->by_at[node + 1] - g->by_at[node];
	int pad = 2 + PYH_TASK_INDENT * (depth < PYH_TASK_INDENT_MAX ? depth : PYH_TASK_INDENT_MAX);
	const char *kind = pyh_await_kind_name(t->await.kind);
	char label[PYH_TASK_NAME_MAX + 32];

	fprintf(f, "%*s%s", pad, "", depth ? "└─ " : "");
	pyh_fput_safe(f, pyh_task_label(t, label, sizeof(label)));
	fprintf(f, " %s", pyh_task_state_text(t->state));
	if (depth >= PYH_TASK_INDENT_MAX)
		fprintf(f, " [depth %d]", depth);
	if (t->running)
		fprintf(f, ", its step is running%s", t->frames_from_thread ? " (frames: its thread's)"
			: "");
	if (kind) {
		fprintf(f, ", awaiting %s: ", kind);
		pyh_fput_safe(f, t->await.detail);
	} else if (t->state == PYH_FUT_PENDING && !t->running)
		fprintf(f, ", ready to run");
	if (g->cycle[node] >= 0)
		fprintf(f, " [in cycle %d]", g->cycle[node] + 1);
	if (nby > 1) {
		fprintf(f, "; awaited by");
		for (int e = 0; e < nby && e < PYH_TASK_BY_SHOWN; e++) {
			fputs(e ? ", " : " ", f);
			pyh_fput_safe(f, pyh_task_label(&ts->v[g->by[g->by_at[node] + e]], label, sizeof(label)));
		}
		if (nby > PYH_TASK_BY_SHOWN)
			fprintf(f, " and %d more", nby - PYH_TASK_BY_SHOWN);
	}
	fputc('\n', f);
}

static void pyh_text_task(FILE *f, const struct pyh_tasks *ts, int k, struct pyh_source *src,
			  const struct pyh_dump_view *v)
{
	const struct pyh_agraph *g = &ts->graph;
	const struct pyh_task *t = &ts->v[g->order[k]];
	int depth = g->depth[k];
	int pad = 2 + PYH_TASK_INDENT * (depth < PYH_TASK_INDENT_MAX ? depth : PYH_TASK_INDENT_MAX) +
		  (depth ? 3 : 0) + PYH_TASK_INDENT;
	char indent[PYH_TASK_INDENT * (PYH_TASK_INDENT_MAX + 4)], line[512];

	pyh_text_task_line(f, ts, k, depth);
	memset(indent, ' ', (size_t)pad);
	indent[pad] = '\0';
	for (int i = 0; i < t->nframes; i++) {
		const struct pyh_frame *fr = &t->frames[i];

		pyh_text_frame(f, indent, fr);
		if (v->context >= 0)
			pyh_text_source_context(f, indent, src, fr, v->context);
		else if (src && pyh_frame_file(fr) &&
			 pyh_source_line(src, pyh_frame_file(fr), fr->line, line, sizeof(line)) == 0 &&
			 line[0])
		{
			fprintf(f, "%s    ", indent);
			pyh_fput_safe(f, line);
			fputc('\n', f);
		}
	}
	if (t->frames_truncated)
		fprintf(f, "%s... deeper frames not shown (limit reached)\n", indent);
	if (t->stack_error[0]) {
		fprintf(f, "%s... stack incomplete: ", indent);
		pyh_fput_safe(f, t->stack_error);
		fputc('\n', f);
	}
}

/* The trees whose root belongs to loop (0: to no loop known). */
static int pyh_text_loop_trees(FILE *f, const struct pyh_tasks *ts, uint64_t loop,
			       const int *loop_known, struct pyh_source *src,
			       const struct pyh_dump_view *v)
{
	const struct pyh_agraph *g = &ts->graph;
	int shown = 0, in = 0;

	char label[PYH_TASK_NAME_MAX + 32];
	int finished = 0;

	for (int k = 0; k < g->n; k++) {
		const struct pyh_task *root;

		if (g->parent[k] < 0) {
			root = &ts->v[g->order[k]];
			in = loop ? root->loop == loop : !loop_known[g->order[k]];
			/* a finished task nobody awaits: listed on one line below */
			if (in && root->state != PYH_FUT_PENDING &&
			    g->awaits_at[g->order[k]] == g->awaits_at[g->order[k] + 1]) {
				finished++;
				in = 0;
			}
		}
		if (!in)
			continue;
		pyh_text_task(f, ts, k, src, v);
		shown++;
	}
	if (!finished)
		return shown;
	fprintf(f, "  and %d finished task%s not freed yet:", finished, finished == 1 ? "" : "s");
	for (int k = 0, listed = 0; k < g->n; k++) {
		const struct pyh_task *t = &ts->v[g->order[k]];

		if (g->parent[k] >= 0 || t->state == PYH_FUT_PENDING ||
		    (loop ? t->loop != loop : loop_known[g->order[k]]) ||
		    g->awaits_at[g->order[k]] != g->awaits_at[g->order[k] + 1])
			continue;
		if (listed++ == PYH_TASK_FINISHED_SHOWN) {
			fprintf(f, " …");
			break;
		}
		fputs(listed > 1 ? ", " : " ", f);
		pyh_fput_safe(f, pyh_task_label(t, label, sizeof(label)));
		fprintf(f, " %s", pyh_task_state_text(t->state));
	}
	fputc('\n', f);
	return shown;
}

static void pyh_text_cycles(FILE *f, const struct pyh_tasks *ts)
{
	const struct pyh_agraph *g = &ts->graph;
	char label[PYH_TASK_NAME_MAX + 32];

	for (int c = 0; c < g->ncycles; c++) {
		int first = g->cycle_nodes[g->cycle_at[c]];

		fprintf(f, "  cycle %d: ", c + 1);
		for (int e = g->cycle_at[c]; e < g->cycle_at[c + 1]; e++) {
			fputs(e > g->cycle_at[c] ? " awaits " : "", f);
			pyh_fput_safe(f, pyh_task_label(&ts->v[g->cycle_nodes[e]], label, sizeof(label)));
		}
		fputs(" awaits ", f);
		pyh_fput_safe(f, pyh_task_label(&ts->v[first], label, sizeof(label)));
		fputs(": none of them can finish\n", f);
	}
}

void pyh_text_tasks(FILE *f, const struct pyh_dump *d, struct pyh_source *src,
		    const struct pyh_dump_view *v)
{
	const struct pyh_tasks *ts = &d->tasks;
	int *known = NULL;

	if (!ts->present) {
		if (ts->error[0])
			fprintf(f, "\nasyncio tasks not available: %s\n", ts->error);
		return;
	}
	fprintf(f, "\nasyncio: %d task%s", ts->n, ts->n == 1 ? "" : "s");
	if (ts->truncated)
		fprintf(f, " shown of %zu (the limit; see --max-tasks)", ts->total);
	fprintf(f, "\n");
	if (ts->error[0])
		fprintf(f, "  ... tasks incomplete: %s\n", ts->error);
	pyh_text_cycles(f, ts);
	known = calloc((size_t)ts->n + 1, sizeof(int));
	if (!known)
		return;
	for (int l = 0; l < ts->nloops; l++) {
		const struct pyh_task_loop *lp = &ts->loops[l];
		const struct pyh_dump_thread *th = lp->tid ? pyh_dump_thread_by_tid(d, lp->tid) : NULL;
		int count = 0;

		for (int i = 0; i < ts->n; i++) {
			count += ts->v[i].loop == lp->loop;
			known[i] |= ts->v[i].loop == lp->loop;
		}
		if (!count)
			continue;
		fprintf(f, "\nEvent loop 0x%llx", (unsigned long long)lp->loop);
		if (th)
			fprintf(f, " on thread %d \"%s\"%s", th->task.tid, th->task.comm,
				th->task.tid == d->target.pid ? " (main)" : "");
		else if (lp->tid)
			fprintf(f, " on thread %d", lp->tid);
		else
			fprintf(f, " (not running)");
		fprintf(f, ", %d task%s:\n", count, count == 1 ? "" : "s");
		pyh_text_loop_trees(f, ts, lp->loop, known, src, v);
	}
	for (int i = 0; i < ts->n; i++) {
		if (!known[i]) {
			fprintf(f, "\nTasks of no known event loop:\n");
			pyh_text_loop_trees(f, ts, 0, known, src, v);
			break;
		}
	}
	free(known);
}

/* ------------------------------------------------------------ JSON */

static void pyh_json_addr(struct pyh_json *j, const char *key, uint64_t addr)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
	pyh_json_string(j, key, buf);
}

static void pyh_json_task(struct pyh_json *j, const struct pyh_tasks *ts, int i,
			  struct pyh_source *src, const struct pyh_dump_view *v)
{
	const struct pyh_agraph *g = &ts->graph;
	const struct pyh_task *t = &ts->v[i];
	const char *kind = pyh_await_kind_name(t->await.kind);

	pyh_json_object_begin(j, NULL);
	pyh_json_addr(j, "id", t->addr);
	pyh_json_string(j, "name", t->name[0] ? t->name : NULL);
	pyh_json_string(j, "state", pyh_task_state_text(t->state));
	pyh_json_bool(j, "running", t->running);
	if (t->tid)
		pyh_json_int(j, "thread", t->tid);
	else
		pyh_json_null(j, "thread");
	pyh_json_addr(j, "loop", t->loop);
	pyh_json_array_begin(j, "frames");
	for (int k = 0; k < t->nframes; k++) {
		pyh_json_object_begin(j, NULL);
		pyh_json_frame_fields(j, &t->frames[k]);
		if (v->context >= 0)
			pyh_json_source(j, src, &t->frames[k], v->context);
		pyh_json_object_end(j);
	}
	pyh_json_array_end(j);
	pyh_json_bool(j, "truncated", t->frames_truncated);
	pyh_json_bool(j, "frames_from_thread", t->frames_from_thread);
	pyh_json_string(j, "stack_error", t->stack_error[0] ? t->stack_error : NULL);
	if (kind) {
		pyh_json_object_begin(j, "awaiting");
		pyh_json_string(j, "kind", kind);
		pyh_json_string(j, "detail", t->await.detail);
		pyh_json_object_end(j);
	} else {
		pyh_json_null(j, "awaiting");
	}
	pyh_json_array_begin(j, "awaits");
	for (int e = g->awaits_at[i]; e < g->awaits_at[i + 1]; e++)
		pyh_json_addr(j, NULL, ts->v[g->awaits[e]].addr);
	pyh_json_array_end(j);
	pyh_json_array_begin(j, "awaited_by");
	for (int e = g->by_at[i]; e < g->by_at[i + 1]; e++)
		pyh_json_addr(j, NULL, ts->v[g->by[e]].addr);
	pyh_json_array_end(j);
	if (g->cycle[i] >= 0)
		pyh_json_int(j, "cycle", g->cycle[i]);
	else
		pyh_json_null(j, "cycle");
	pyh_json_object_end(j);
}

void pyh_json_tasks(struct pyh_json *j, const struct pyh_dump *d, struct pyh_source *src,
		    const struct pyh_dump_view *v)
{
	const struct pyh_tasks *ts = &d->tasks;
	const struct pyh_agraph *g = &ts->graph;

	if (!ts->present) {
		if (ts->error[0])
			pyh_json_string(j, "tasks_error", ts->error);
		return;
	}
	pyh_json_array_begin(j, "tasks");
	for (int i = 0; i < ts->n; i++)
		pyh_json_task(j, ts, i, src, v);
	pyh_json_array_end(j);
	pyh_json_int(j, "tasks_total", (int64_t)ts->total);
	pyh_json_bool(j, "tasks_truncated", ts->truncated);
	pyh_json_string(j, "tasks_error", ts->error[0] ? ts->error : NULL);
	pyh_json_array_begin(j, "task_cycles");
	for (int c = 0; c < g->ncycles; c++) {
		pyh_json_array_begin(j, NULL);
		for (int e = g->cycle_at[c]; e < g->cycle_at[c + 1]; e++)
			pyh_json_addr(j, NULL, ts->v[g->cycle_nodes[e]].addr);
		pyh_json_array_end(j);
	}
	pyh_json_array_end(j);
}
