/* SPDX-License-Identifier: MIT */
/*
 * test_reprfmt.c - the pure formatters of repr() against what real CPythons
 * print (tests/unit/fixtures/repr_cases.h, tools/gen-repr-fixtures.py):
 * shortest float digits, multi-digit ints, str / bytes / 2.7 unicode literals
 * per version; and the bounded buffer and cut markers.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures/repr_cases.h"
#include "python/reprfmt.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void test_float_table(void **state)
{
	char out[PYH_FLOAT_REPR_MAX];

	(void)state;
	for (size_t i = 0; i < N_OF(float_cases); i++) {
		double d;

		memcpy(&d, &float_cases[i].bits, sizeof(d));
		pyh_fmt_float(d, out, sizeof(out));
		if (strcmp(out, float_cases[i].repr))
			fail_msg("0x%016llx: got %s, Python %s", (unsigned long long)float_cases[i].bits,
				 out, float_cases[i].repr);
	}
	pyh_fmt_float(NAN, out, sizeof(out));
	assert_string_equal(out, "nan");
	pyh_fmt_float(-NAN, out, sizeof(out));
	assert_string_equal(out, "nan");	/* Python drops the sign of a NaN */
	pyh_fmt_float(-0.0, out, sizeof(out));
	assert_string_equal(out, "-0.0");
	printf("  %zu floats as Python prints them\n", N_OF(float_cases));
}

/* Many more random doubles against the machine's own python3, when it has one. */
static void test_float_live(void **state)
{
	const char *py = "/usr/bin/python3";
	char cmd[256], path[] = "/tmp/pyhang-floatXXXXXX", line[64], out[PYH_FLOAT_REPR_MAX];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int fd, n = 20000, checked = 0;
	FILE *f, *p;

	(void)state;
	if (access(py, X_OK)) {
		skip();
		return;
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	for (int i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fprintf(f, "%016llx\n", (unsigned long long)x);
	}
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "%s -c 'import struct,sys\nfor l in open(sys.argv[1]):\n"
		 " print(repr(struct.unpack(\"<d\",struct.pack(\"<Q\",int(l,16)))[0]))' %s", py, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	x = 0x9e3779b97f4a7c15ull;
	while (fgets(line, sizeof(line), p)) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		line[strcspn(line, "\n")] = '\0';
		pyh_fmt_float(d, out, sizeof(out));
		if (strcmp(out, line))
			fail_msg("0x%016llx: got %s, python3 %s", (unsigned long long)x, out, line);
		checked++;
	}
	pclose(p);
	unlink(path);
	assert_int_equal(checked, n);
	printf("  %d random doubles as %s prints them\n", checked, py);
}

static void test_long_table(void **state)
{
	char out[512];

	(void)state;
	for (size_t i = 0; i < N_OF(long_cases); i++) {
		struct pyh_long v = { .sign = long_cases[i].sign, .shift = 30,
				      .ndigits = long_cases[i].ndigits };
		char l27[520];

		memcpy(v.digits, long_cases[i].digits, sizeof(uint32_t) * v.ndigits);
		assert_int_equal(pyh_fmt_long(&v, 0, out, sizeof(out)), strlen(long_cases[i].repr));
		assert_string_equal(out, long_cases[i].repr);
		/* 2.7 long: the same digits and "L" */
		snprintf(l27, sizeof(l27), "%sL", long_cases[i].repr);
		assert_true(pyh_fmt_long(&v, 1, out, sizeof(out)) > 0);
		assert_string_equal(out, l27);
		/* too small an out: -ENOSPC and "" */
		assert_int_equal(pyh_fmt_long(&v, 0, out, strlen(long_cases[i].repr)), -ENOSPC);
		assert_string_equal(out, "");
	}
	/* the biggest int read whole: 512 digits of 2^30 - 1 */
	{
		struct pyh_long *v = calloc(1, sizeof(*v));
		char *big = malloc(8000);

		assert_non_null(v);
		v->sign = -1;
		v->shift = 30;
		v->ndigits = PYH_LONG_MAX_DIGITS;
		for (size_t i = 0; i < v->ndigits; i++)
			v->digits[i] = (1u << 30) - 1;
		/* -(2^15360 - 1): 4624 digits and the sign */
		assert_int_equal(pyh_fmt_long(v, 0, big, 8000), 4625);
		assert_int_equal(big[0], '-');
		v->ndigits = PYH_LONG_MAX_DIGITS + 1;
		assert_int_equal(pyh_fmt_long(v, 0, big, 8000), -EINVAL);
		v->ndigits = 1;
		v->shift = 0;
		assert_int_equal(pyh_fmt_long(v, 0, big, 8000), -EINVAL);
		free(big);
		free(v);
	}
}

static void test_text_table(void **state)
{
	char out[1024];
	int checked = 0;

	(void)state;
	for (size_t i = 0; i < N_OF(text_cases); i++) {
		const struct text_case *c = &text_cases[i];
		const struct text_def *t = &texts[c->index];
		uint32_t bytes[64];
		unsigned nb = 0;
		struct pyh_rbuf b;

		for (unsigned k = 0; k < t->n; k++)
			if (t->cps[k] < 256)
				bytes[nb++] = t->cps[k];
		pyh_rbuf_init(&b, out, sizeof(out));
		assert_int_equal(pyh_fmt_text(&b, c->major == 2 ? PYH_TEXT_UNICODE27 : PYH_TEXT_STR3,
					      (unsigned)c->minor, t->cps, t->n, t->n), 0);
		if (strcmp(out, c->str))
			fail_msg("%d.%d text %d: got %s, Python %s", c->major, c->minor, c->index, out,
				 c->str);
		pyh_rbuf_init(&b, out, sizeof(out));
		assert_int_equal(pyh_fmt_text(&b, c->major == 2 ? PYH_TEXT_STR27 : PYH_TEXT_BYTES3,
					      (unsigned)c->minor, bytes, nb, nb), 0);
		if (strcmp(out, c->bytes))
			fail_msg("%d.%d bytes %d: got %s, Python %s", c->major, c->minor, c->index, out,
				 c->bytes);
		checked += 2;
	}
	printf("  %d literals as 2.7 - 3.14 print them\n", checked);
}

static void test_text_narrow27(void **state)
{
	/* a narrow (UCS-2) 2.7 keeps U+1F600 as a surrogate pair and prints one \U */
	static const uint32_t pair[] = { 'a', 0xd83d, 0xde00, 0xd800, 'b' };
	char out[64];
	struct pyh_rbuf b;

	(void)state;
	pyh_rbuf_init(&b, out, sizeof(out));
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_UNICODE27N, 0, pair, 5, 5), 0);
	assert_string_equal(out, "u'a\\U0001f600\\ud800b'");
	pyh_rbuf_init(&b, out, sizeof(out));
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_UNICODE27, 0, pair, 5, 5), 0);
	assert_string_equal(out, "u'a\\ud83d\\ude00\\ud800b'");
}

static void test_text_cut(void **state)
{
	uint32_t abc[40];
	char out[64];
	struct pyh_rbuf b;

	(void)state;
	for (int i = 0; i < 40; i++)
		abc[i] = (uint32_t)('a' + i % 26);
	/* fewer read than the object has: closed, then the marker */
	pyh_rbuf_init(&b, out, sizeof(out));
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_STR3, 12, abc, 5, 1000), 1);
	assert_string_equal(out, "'abcde'" PYH_REPR_CUT);
	/* the buffer ends first: as much as fits with its quote and marker */
	pyh_rbuf_init(&b, out, 16);
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_STR3, 12, abc, 40, 40), 2);
	assert_string_equal(out, "'abcdefghij'" PYH_REPR_CUT);
	assert_true(strlen(out) < 16);
	/* an escape is never split */
	{
		static const uint32_t esc[] = { 'x', 0x1f, 0x1f, 0x1f, 0x1f };

		pyh_rbuf_init(&b, out, 14);	/* 'x\x1f\x1f'… needs 15 with its NUL */
		assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_STR3, 12, esc, 5, 5), 2);
		assert_string_equal(out, "'x\\x1f'" PYH_REPR_CUT);
		pyh_rbuf_init(&b, out, 15);
		assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_STR3, 12, esc, 5, 5), 2);
		assert_string_equal(out, "'x\\x1f\\x1f'" PYH_REPR_CUT);
	}
	/* a b'' prefix counts; nothing fits: -ENOSPC, nothing written */
	pyh_rbuf_init(&b, out, 5);
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_BYTES3, 12, abc, 40, 40), -ENOSPC);
	assert_string_equal(out, "");
	pyh_rbuf_init(&b, out, 1);
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_STR3, 12, abc, 1, 1), -ENOSPC);
	/* whole when it fits exactly */
	pyh_rbuf_init(&b, out, 8);
	assert_int_equal(pyh_fmt_text(&b, PYH_TEXT_STR3, 12, abc, 5, 5), 0);
	assert_string_equal(out, "'abcde'");
}

static void test_rbuf(void **state)
{
	char out[8];
	struct pyh_rbuf b;

	(void)state;
	pyh_rbuf_init(&b, out, sizeof(out));
	assert_int_equal(pyh_rbuf_puts(&b, "abc"), 0);
	assert_int_equal(pyh_rbuf_room(&b), 4);
	assert_int_equal(pyh_rbuf_puts(&b, "defgh"), -ENOSPC);	/* whole or not at all */
	assert_string_equal(out, "abc");
	assert_true(b.full);
	assert_int_equal(pyh_rbuf_puts(&b, "d"), -ENOSPC);	/* and nothing after */
	pyh_rbuf_rewind(&b, 1);
	assert_false(b.full);
	assert_int_equal(pyh_rbuf_printf(&b, "%d", 42), 0);
	assert_string_equal(out, "a42");
	pyh_rbuf_init(&b, out, 0);	/* no room at all: everything fails */
	assert_int_equal(pyh_rbuf_puts(&b, "x"), -ENOSPC);
	assert_int_equal(pyh_rbuf_room(&b), 0);
}

static void test_printable(void **state)
{
	(void)state;
	assert_true(pyh_fmt_printable('a', 6));
	assert_false(pyh_fmt_printable(0x7f, 14));
	assert_false(pyh_fmt_printable(0xa0, 14));	/* NO-BREAK SPACE: Zs, not printable */
	assert_true(pyh_fmt_printable(0xe9, 6));
	assert_false(pyh_fmt_printable(0xd800, 14));
	/* U+1FAE8 (Unicode 15.0) is printable from 3.12 on */
	assert_false(pyh_fmt_printable(0x1fae8, 11));
	assert_true(pyh_fmt_printable(0x1fae8, 12));
	assert_false(pyh_fmt_printable(0x110000, 14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_float_table),
		cmocka_unit_test(test_float_live),
		cmocka_unit_test(test_long_table),
		cmocka_unit_test(test_text_table),
		cmocka_unit_test(test_text_narrow27),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_rbuf),
		cmocka_unit_test(test_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
