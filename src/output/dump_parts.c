/* SPDX-License-Identifier: MIT */
/* Source context and local variables under a frame, text and JSON. */
#include "output/dump_parts.h"

#include <errno.h>
#include <string.h>

#include "output/sanitize.h"
#include "python/repr.h"

#define PYH_LINENO_MIN_WIDTH 4	/* as py-list: "%4s" */

struct pyh_ctx_text {
	FILE *f;
	const char *indent;
	int current, width;
};

static int print_line(void *arg, int line, const char *text)
{
	struct pyh_ctx_text *c = arg;
	char num[16];

	snprintf(num, sizeof(num), "%s%d", line == c->current ? ">" : "", line);
	fprintf(c->f, "%s%*s    ", c->indent, c->width, num);
	pyh_fput_safe(c->f, text);	/* a target's file: sanitized */
	fputc('\n', c->f);
	return 0;
}

static int digits(int n)
{
	int d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

static int ctx_first(const struct pyh_frame *fr, int context)
{
	return fr->line > context ? fr->line - context : 1;
}

static int ctx_last(const struct pyh_frame *fr, int context)
{
	return fr->line > (int)(0x7fffffff - context) ? 0x7fffffff : fr->line + context;
}

void pyh_text_source_context(FILE *f, const char *indent, struct pyh_source *src,
			     const struct pyh_frame *fr, int context)
{
	const char *file = pyh_frame_file(fr);
	struct pyh_ctx_text c = { f, indent, fr->line, 0 };
	int rc;

	if (!file || fr->line == PYH_LINE_UNKNOWN || fr->line < 1 || file[0] == '<')
		return;
	c.width = digits(ctx_last(fr, context)) + 1;
	if (c.width < PYH_LINENO_MIN_WIDTH)
		c.width = PYH_LINENO_MIN_WIDTH;
	rc = pyh_source_lines(src, file, ctx_first(fr, context), ctx_last(fr, context), print_line,
			      &c);
	if (rc) {
		fprintf(f, "%s(source not available: ", indent);
		pyh_fput_safe(f, file);
		fprintf(f, ": %s)\n", strerror(-rc));
	}
}

/* "items", "chars", "bytes": what len() counts for a type. */
static const char *length_unit(const char *type)
{
	if (!type)
		return "items";
	if (!strcmp(type, "str") || !strcmp(type, "unicode"))
		return "chars";
	if (!strcmp(type, "bytes"))
		return "bytes";
	return "items";
}

void pyh_text_locals(FILE *f, const char *indent, const struct pyh_dump_locals *l)
{
	if (!l || !l->read)
		return;
	if (l->error[0]) {
		fprintf(f, "%s(locals unreadable: ", indent);
		pyh_fput_safe(f, l->error);
		fputs(")\n", f);
		return;
	}
	for (int i = 0; i < l->n; i++) {
		const struct pyh_dump_local *v = &l->v[i];

		/* Names, reprs and type names are the target's: sanitized. */
		fputs(indent, f);
		pyh_fput_safe(f, v->name);
		fputs(" = ", f);
		pyh_fput_safe(f, v->repr);
		if (v->truncated) {
			fputs(" (", f);
			pyh_fput_safe(f, v->type ? v->type : "?");
			if (v->length >= 0)
				fprintf(f, ", %lld %s", (long long)v->length, length_unit(v->type));
			fputc(')', f);
		}
		fputc('\n', f);
	}
	if (l->more)
		fprintf(f, "%s(more locals than pyhang reads)\n", indent);
}

struct pyh_ctx_json {
	struct pyh_json *j;
	int begun;
};

/* The array begins with its first line: a file that cannot be read leaves
 * no half-written array behind. */
static int json_line(void *arg, int line, const char *text)
{
	struct pyh_ctx_json *c = arg;

	if (!c->begun) {
		pyh_json_array_begin(c->j, "source");
		c->begun = 1;
	}
	pyh_json_object_begin(c->j, NULL);
	pyh_json_int(c->j, "line", line);
	pyh_json_string(c->j, "text", text);
	pyh_json_object_end(c->j);
	return 0;
}

void pyh_json_source(struct pyh_json *j, struct pyh_source *src, const struct pyh_frame *fr,
		     int context)
{
	const char *file = pyh_frame_file(fr);
	struct pyh_ctx_json c = { j, 0 };
	int rc;

	if (!file || file[0] == '<') {
		pyh_json_null(j, "source");
		pyh_json_string(j, "source_error", "no source file");
		return;
	}
	if (fr->line == PYH_LINE_UNKNOWN || fr->line < 1) {
		pyh_json_null(j, "source");
		pyh_json_string(j, "source_error", "line not known");
		return;
	}
	rc = pyh_source_lines(src, file, ctx_first(fr, context), ctx_last(fr, context), json_line,
			      &c);
	if (rc && !c.begun) {
		pyh_json_null(j, "source");
		pyh_json_string(j, "source_error", strerror(-rc));
		return;
	}
	if (!c.begun)
		pyh_json_array_begin(j, "source");	/* the file ends before the line */
	pyh_json_array_end(j);
	pyh_json_null(j, "source_error");
}

void pyh_json_locals(struct pyh_json *j, const struct pyh_dump_locals *l)
{
	if (!l || !l->read)
		return;
	if (l->error[0]) {
		pyh_json_null(j, "locals");
		pyh_json_string(j, "locals_error", l->error);
		return;
	}
	pyh_json_array_begin(j, "locals");
	for (int i = 0; i < l->n; i++) {
		const struct pyh_dump_local *v = &l->v[i];

		pyh_json_object_begin(j, NULL);
		pyh_json_string(j, "name", v->name);
		pyh_json_string(j, "type", v->type);
		pyh_json_string(j, "repr", v->repr);
		pyh_json_bool(j, "truncated", v->truncated);
		if (v->length >= 0)
			pyh_json_int(j, "length", v->length);
		else
			pyh_json_null(j, "length");
		pyh_json_object_end(j);
	}
	pyh_json_array_end(j);
	pyh_json_string(j, "locals_error", l->more ? "more locals than pyhang reads" : NULL);
}
