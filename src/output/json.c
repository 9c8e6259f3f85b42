/* A small streaming JSON writer: exactly one valid JSON value, correct escaping.
 *
 * Commas come from j->count[depth]: a value is preceded by "," when it is not
 * the first at its level. Nesting deeper than PYH_JSON_MAX_DEPTH - 1 writes
 * null in place of the too-deep container and drops everything inside it, so
 * the output stays valid JSON and count[] is never indexed out of range. */
#include "output/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "output/sanitize.h"

void pyh_json_init(struct pyh_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

void pyh_json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *end;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	end = s + strlen(str);
	while (*s) {
		unsigned char c = *s;
		int n;

		switch (c) {
		case '"': fputs("\\\"", f); s++; continue;
		case '\\': fputs("\\\\", f); s++; continue;
		case '\b': fputs("\\b", f); s++; continue;
		case '\f': fputs("\\f", f); s++; continue;
		case '\n': fputs("\\n", f); s++; continue;
		case '\r': fputs("\\r", f); s++; continue;
		case '\t': fputs("\\t", f); s++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			s++;
			continue;
		}
		n = pyh_utf8_len(s, (size_t)(end - s));
		if (n == 0) {
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		if (n == 2 && c == 0xc2 && s[1] <= 0x9f) {
			fprintf(f, "\\u%04x", s[1]);	/* C1 control: escaped, never raw */
			s += n;
			continue;
		}
		fwrite(s, 1, (size_t)n, f);
		s += n;
	}
	fputc('"', f);
}

/* Before a value at the current level: the separator and the member name.
 * Returns 0 when the value must be dropped (inside a too-deep container). */
static int value_prefix(struct pyh_json *j, const char *key)
{
	if (j->depth < 0)
		j->depth = 0;
	if (j->depth >= PYH_JSON_MAX_DEPTH)
		return 0;
	if (j->count[j->depth]++ > 0)
		fputc(j->depth == 0 ? '\n' : ',', j->f);
	if (key && j->depth > 0) {
		pyh_json_write_string(j->f, key);
		fputc(':', j->f);
	}
	return 1;
}

static void container_begin(struct pyh_json *j, const char *key, char open)
{
	if (j->depth >= PYH_JSON_MAX_DEPTH) {
		j->depth++;
		return;
	}
	if (!value_prefix(j, key))
		return;
	if (j->depth + 1 >= PYH_JSON_MAX_DEPTH) {
		fputs("null", j->f);	/* too deep: stands for the container */
		j->depth++;
		return;
	}
	fputc(open, j->f);
	j->depth++;
	j->count[j->depth] = 0;
}

static void container_end(struct pyh_json *j, char close)
{
	if (j->depth <= 0)
		return;			/* unbalanced end: ignored */
	if (j->depth < PYH_JSON_MAX_DEPTH)
		fputc(close, j->f);
	j->depth--;
}

void pyh_json_object_begin(struct pyh_json *j, const char *key)
{
	container_begin(j, key, '{');
}

void pyh_json_object_end(struct pyh_json *j)
{
	container_end(j, '}');
}

void pyh_json_array_begin(struct pyh_json *j, const char *key)
{
	container_begin(j, key, '[');
}

void pyh_json_array_end(struct pyh_json *j)
{
	container_end(j, ']');
}

void pyh_json_string(struct pyh_json *j, const char *key, const char *value)
{
	if (value_prefix(j, key))
		pyh_json_write_string(j->f, value);
}

void pyh_json_int(struct pyh_json *j, const char *key, int64_t value)
{
	if (value_prefix(j, key))
		fprintf(j->f, "%lld", (long long)value);
}

/* The shortest %.Ng (N = 1..17) that reads back as exactly the same double:
 * 12.345 prints as 12.345, 0.1 as 0.1, 1e300 as 1e+300, all valid JSON.
 * Assumes the "C" numeric locale (pyhang never calls setlocale for LC_NUMERIC). */
static void write_double(FILE *f, double v)
{
	char buf[40];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, f);
}

void pyh_json_double(struct pyh_json *j, const char *key, double value)
{
	if (!value_prefix(j, key))
		return;
	if (isnan(value) || isinf(value))
		fputs("null", j->f);
	else
		write_double(j->f, value);
}

void pyh_json_bool(struct pyh_json *j, const char *key, int value)
{
	if (value_prefix(j, key))
		fputs(value ? "true" : "false", j->f);
}

void pyh_json_null(struct pyh_json *j, const char *key)
{
	if (value_prefix(j, key))
		fputs("null", j->f);
}
