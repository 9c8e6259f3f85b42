/* The JSON writer: escaping, UTF-8 validation, commas and nesting, numbers.
 * Every document is also checked by the real json module of python3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "output/json.h"

/* A writer on a memory stream. */
struct mem_json {
	char *buf;
	size_t len;
	FILE *f;
	struct pyh_json j;
};

static void mj_open(struct mem_json *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	assert_non_null(m->f);
	pyh_json_init(&m->j, m->f);
}

static char *mj_close(struct mem_json *m)
{
	assert_int_equal(fclose(m->f), 0);
	return m->buf;
}

static char *string_json(const char *s)
{
	struct mem_json m;

	mj_open(&m);
	pyh_json_write_string(m.f, s);
	return mj_close(&m);
}

/* Parse doc with python3's json module (after strict UTF-8 decoding and return what it re-encodes it to
 * of the bytes) and return what it re-encodes it to (ensure_ascii, compact),
 * or NULL if python3 rejects it. Caller frees. */
static char *python_json(const char *doc)
{
	char path[] = "/tmp/pyh-test-json-XXXXXX";
	char cmd[256];
	char *out = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *p;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys; v = json.loads(sys.stdin.buffer.read().decode(\"utf-8\")); "
		 "sys.stdout.write(json.dumps(v, separators=(\",\", \":\")))' < %s 2>/dev/null",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = getdelim(&out, &cap, '\0', p);
	if (pclose(p) != 0 || n < 0) {
		free(out);
		out = NULL;
	}
	unlink(path);
	return out;
}

/* doc must be valid JSON, and python3 must read it as `want` (re-encoded). */
static void check_python(const char *doc, const char *want)
{
	char *got = python_json(doc);

	if (!got)
		fail_msg("python3 rejected: %s", doc);
	if (want && strcmp(got, want) != 0)
		fail_msg("python3 read %s as %s, want %s", doc, got, want);
	free(got);
}

static void check_string(const char *in, const char *want_json, const char *want_py)
{
	char *s = string_json(in);

	assert_string_equal(s, want_json);
	check_python(s, want_py);
	free(s);
}

static void test_escapes(void **state)
{
	(void)state;
	check_string("plain", "\"plain\"", "\"plain\"");
	check_string("q\"b\\s/", "\"q\\\"b\\\\s/\"", "\"q\\\"b\\\\s/\"");
	check_string("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"", "\"\\n\\t\\r\\b\\f\"");
	check_string("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001f\\u007f\"");
	/* C1 controls (U+0080-U+009F) escaped too: never raw to a terminal via jq */
	check_string("\xc2\x9b" "2J", "\"\\u009b2J\"", "\"\\u009b2J\"");
	check_string("", "\"\"", "\"\"");
	/* NULL pointer -> null */
	check_string(NULL, "null", "null");
}

static void test_utf8_passthrough(void **state)
{
	(void)state;
	/* é (2 bytes), 中文 (3), 😀 (4), U+10FFFF, U+FFFF, U+E000 */
	check_string("caf\xc3\xa9", "\"caf\xc3\xa9\"", "\"caf\\u00e9\"");
	check_string("\xe4\xb8\xad\xe6\x96\x87", "\"\xe4\xb8\xad\xe6\x96\x87\"",
		     "\"\\u4e2d\\u6587\"");
	check_string("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"", "\"\\ud83d\\ude00\"");
	check_string("\xf4\x8f\xbf\xbf\xef\xbf\xbf\xee\x80\x80",
		     "\"\xf4\x8f\xbf\xbf\xef\xbf\xbf\xee\x80\x80\"",
		     "\"\\udbff\\udfff\\uffff\\ue000\"");
}

static void test_utf8_invalid(void **state)
{
	(void)state;
	/* lone continuation, C0/C1 overlong leads, F5-FF */
	check_string("a\x80z", "\"a\\ufffdz\"", "\"a\\ufffdz\"");
	check_string("\xc0\xaf", "\"\\ufffd\\ufffd\"", "\"\\ufffd\\ufffd\"");
	check_string("\xc1\xbf", "\"\\ufffd\\ufffd\"", NULL);
	check_string("\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", NULL);
	check_string("\xff\xfe", "\"\\ufffd\\ufffd\"", NULL);
	/* overlong 3 and 4 byte forms */
	check_string("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"", NULL);
	check_string("\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", NULL);
	/* surrogates encoded in UTF-8 (CESU) */
	check_string("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", "\"\\ufffd\\ufffd\\ufffd\"");
	check_string("\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"", NULL);
	/* > U+10FFFF */
	check_string("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", NULL);
	/* truncated sequences, at the end and before ASCII */
	check_string("x\xe4\xb8", "\"x\\ufffd\\ufffd\"", NULL);
	check_string("\xe4\xb8y", "\"\\ufffd\\ufffdy\"", NULL);
	check_string("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"", NULL);
	/* a valid char right after an invalid byte survives */
	check_string("\x80\xc3\xa9", "\"\\ufffd\xc3\xa9\"", "\"\\ufffd\\u00e9\"");
}

static void test_document(void **state)
{
	struct mem_json m;
	char *doc;

	(void)state;
	mj_open(&m);
	pyh_json_object_begin(&m.j, NULL);
	pyh_json_int(&m.j, "pid", 4242);
	pyh_json_string(&m.j, "name", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x90\x8d");
	pyh_json_array_begin(&m.j, "threads");
	for (int t = 0; t < 2; t++) {
		pyh_json_object_begin(&m.j, NULL);
		pyh_json_int(&m.j, "tid", 100 + t);
		pyh_json_bool(&m.j, "gil", t == 0);
		pyh_json_double(&m.j, "blocked_s", t ? 0.5 : 12.345);
		pyh_json_array_begin(&m.j, "frames");
		pyh_json_string(&m.j, NULL, "f\"1\"\n");
		pyh_json_null(&m.j, NULL);
		pyh_json_array_end(&m.j);
		pyh_json_array_begin(&m.j, "empty");
		pyh_json_array_end(&m.j);
		pyh_json_object_begin(&m.j, "o");
		pyh_json_object_end(&m.j);
		pyh_json_object_end(&m.j);
	}
	pyh_json_array_end(&m.j);
	pyh_json_string(&m.j, "k\x01\xff", NULL);
	pyh_json_int(&m.j, "min", INT64_MIN);
	pyh_json_object_end(&m.j);
	doc = mj_close(&m);
	assert_string_equal(doc,
		"{\"pid\":4242,\"name\":\"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x90\x8d\","
		"\"threads\":["
		"{\"tid\":100,\"gil\":true,\"blocked_s\":12.345,\"frames\":[\"f\\\"1\\\"\\n\",null],"
		"\"empty\":[],\"o\":{}},"
		"{\"tid\":101,\"gil\":false,\"blocked_s\":0.5,\"frames\":[\"f\\\"1\\\"\\n\",null],"
		"\"empty\":[],\"o\":{}}],"
		"\"k\\u0001\\ufffd\":null,\"min\":-9223372036854775808}");
	check_python(doc,
		"{\"pid\":4242,\"name\":\"caf\\u00e9 \\u4e2d\\u6587 \\ud83d\\udc0d\","
		"\"threads\":["
		"{\"tid\":100,\"gil\":true,\"blocked_s\":12.345,\"frames\":[\"f\\\"1\\\"\\n\",null],"
		"\"empty\":[],\"o\":{}},"
		"{\"tid\":101,\"gil\":false,\"blocked_s\":0.5,\"frames\":[\"f\\\"1\\\"\\n\",null],"
		"\"empty\":[],\"o\":{}}],"
		"\"k\\u0001\\ufffd\":null,\"min\":-9223372036854775808}");
	free(doc);
}

static void test_doubles(void **state)
{
	static const struct { double v; const char *want; } cases[] = {
		{ 12.345, "12.345" }, { 0.1, "0.1" }, { 0.0, "0" }, { -0.0, "-0" },
		{ 1.0 / 3, "0.3333333333333333" }, { 1e300, "1e+300" }, { 5e-324, "5e-324" },
		{ 123456789.0, "123456789" }, { 2.5e-5, "2.5e-05" },
		{ NAN, "null" }, { INFINITY, "null" }, { -INFINITY, "null" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mem_json m;
		char *doc;

		mj_open(&m);
		pyh_json_array_begin(&m.j, NULL);
		pyh_json_double(&m.j, NULL, cases[i].v);
		pyh_json_array_end(&m.j);
		doc = mj_close(&m);
		assert_memory_equal(doc, "[", 1);
		if (strlen(doc) != strlen(cases[i].want) + 2 ||
		    strncmp(doc + 1, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("double %d: got %s, want [%s]", (int)i, doc, cases[i].want);
		check_python(doc, NULL);
		if (!isnan(cases[i].v) && !isinf(cases[i].v))
			assert_true(strtod(doc + 1, NULL) == cases[i].v);
		free(doc);
	}
}

static void test_json_lines_and_depth(void **state)
{
	struct mem_json m;
	char *doc, *line, *save = NULL;
	int lines = 0;

	(void)state;
	mj_open(&m);
	/* three top-level values: one per line */
	pyh_json_object_begin(&m.j, "ignored");
	pyh_json_int(&m.j, "a", 1);
	pyh_json_object_end(&m.j);
	pyh_json_int(&m.j, NULL, 7);
	/* nested far deeper than the limit */
	for (int i = 0; i < 3 * PYH_JSON_MAX_DEPTH; i++)
		pyh_json_array_begin(&m.j, NULL);
	pyh_json_string(&m.j, NULL, "deep");
	for (int i = 0; i < 3 * PYH_JSON_MAX_DEPTH; i++)
		pyh_json_array_end(&m.j);
	pyh_json_array_end(&m.j); /* unbalanced: ignored */
	assert_int_equal(m.j.depth, 0);
	doc = mj_close(&m);
	assert_memory_equal(doc, "{\"a\":1}\n7\n[[[", 13);
	for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		check_python(line, NULL);
		lines++;
	}
	assert_int_equal(lines, 3);
	free(doc);
	/* the too-deep container became null at the limit */
	{
		char want[4 * PYH_JSON_MAX_DEPTH];
		char *p = want;

		for (int i = 0; i < PYH_JSON_MAX_DEPTH - 1; i++)
			*p++ = '[';
		p += sprintf(p, "null");
		for (int i = 0; i < PYH_JSON_MAX_DEPTH - 1; i++)
			*p++ = ']';
		*p = '\0';
		mj_open(&m);
		for (int i = 0; i < PYH_JSON_MAX_DEPTH + 2; i++)
			pyh_json_array_begin(&m.j, NULL);
		pyh_json_int(&m.j, NULL, 1);
		for (int i = 0; i < PYH_JSON_MAX_DEPTH + 2; i++)
			pyh_json_array_end(&m.j);
		doc = mj_close(&m);
		assert_string_equal(doc, want);
		check_python(doc, NULL);
		free(doc);
	}
}

/* The validator itself must be able to fail. */
static void test_python_rejects(void **state)
{
	char *r;

	(void)state;
	r = python_json("{\"a\":1,}");
	assert_null(r);
	r = python_json("\"\xff\"");
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_utf8_passthrough),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_json_lines_and_depth),
		cmocka_unit_test(test_python_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
