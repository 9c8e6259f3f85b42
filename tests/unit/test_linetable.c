/* Line-table decoders against the real interpreters' own answers.
 *
 * The vectors in fixtures/linetable_*.h were written by
 * tools/gen-linetable-fixtures.py under each installed CPython: for every byte
 * offset of every code object, the line PyCode_Addr2Line returned. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "python/linetable.h"

#include "fixtures/linetable_27.h"
#include "fixtures/linetable_36.h"
#include "fixtures/linetable_37.h"
#include "fixtures/linetable_38.h"
#include "fixtures/linetable_39.h"
#include "fixtures/linetable_310.h"
#include "fixtures/linetable_311.h"
#include "fixtures/linetable_312.h"
#include "fixtures/linetable_313.h"

#define NV(a) (sizeof(a) / sizeof((a)[0]))

struct version_set {
	const char *version;
	const struct pyh_lt_vector *v;
	size_t n;
};

static const struct version_set sets[] = {
	{ lt27_version, lt27_vectors, NV(lt27_vectors) },
	{ lt36_version, lt36_vectors, NV(lt36_vectors) },
	{ lt37_version, lt37_vectors, NV(lt37_vectors) },
	{ lt38_version, lt38_vectors, NV(lt38_vectors) },
	{ lt39_version, lt39_vectors, NV(lt39_vectors) },
	{ lt310_version, lt310_vectors, NV(lt310_vectors) },
	{ lt311_version, lt311_vectors, NV(lt311_vectors) },
	{ lt312_version, lt312_vectors, NV(lt312_vectors) },
	{ lt313_version, lt313_vectors, NV(lt313_vectors) },
};

/* Copy the table into an exactly-sized heap block so that ASan catches any
 * read past its end. */
static uint8_t *heap_copy(const uint8_t *t, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, t, len);
	return p;
}

static void test_real_interpreters(void **state)
{
	size_t total = 0, vectors = 0;

	(void)state;
	for (size_t s = 0; s < NV(sets); s++) {
		size_t checked = 0;

		for (size_t i = 0; i < sets[s].n; i++) {
			const struct pyh_lt_vector *v = &sets[s].v[i];
			uint8_t *t = heap_copy(v->table, v->table_len);

			for (size_t off = 0; off < v->nlines; off++) {
				int got = pyh_linetable_line(v->kind, t, v->table_len,
							     v->firstlineno, (uint32_t)off);
				if (got != v->lines[off])
					fail_msg("Python %s %s offset %zu: got %d, want %d",
						 sets[s].version, v->name, off, got, v->lines[off]);
				checked++;
			}
			free(t);
		}
		printf("  Python %-7s %3zu code objects, %5zu offsets checked\n",
		       sets[s].version, sets[s].n, checked);
		total += checked;
		vectors += sets[s].n;
	}
	printf("  total: %zu code objects, %zu offsets checked\n", vectors, total);
	assert_true(total > 10000);
}

/* Offsets past the code: -1 where the format knows where the code ends. */
static void test_past_end(void **state)
{
	(void)state;
	for (size_t s = 0; s < NV(sets); s++) {
		for (size_t i = 0; i < sets[s].n; i++) {
			const struct pyh_lt_vector *v = &sets[s].v[i];
			uint8_t *t = heap_copy(v->table, v->table_len);
			int r = pyh_linetable_line(v->kind, t, v->table_len, v->firstlineno,
						   0xffffffffu);

			if (v->kind == PYH_LINETABLE_310 || v->kind == PYH_LOCATIONS_311)
				assert_int_equal(r, -1);
			else /* lnotab has no end: the last line stays */
				assert_int_equal(r, pyh_linetable_line(v->kind, t, v->table_len,
							v->firstlineno, (uint32_t)v->nlines - 1));
			free(t);
		}
	}
}

/* Every prefix of every real table: never reads past len (ASan), and the
 * answer is either the true line or -1 / a line the prefix still implies. */
static void test_truncated_real_tables(void **state)
{
	size_t calls = 0;

	(void)state;
	for (size_t s = 0; s < NV(sets); s++) {
		for (size_t i = 0; i < sets[s].n; i++) {
			const struct pyh_lt_vector *v = &sets[s].v[i];

			for (size_t cut = 0; cut < v->table_len; cut++) {
				uint8_t *t = heap_copy(v->table, cut);

				for (size_t off = 0; off < v->nlines; off += 7) {
					int r = pyh_linetable_line(v->kind, t, cut, v->firstlineno,
								   (uint32_t)off);
					if (v->kind == PYH_LOCATIONS_311 ||
					    v->kind == PYH_LINETABLE_310)
						assert_true(r == -1 || r == v->lines[off]);
					calls++;
				}
				free(t);
			}
		}
	}
	printf("  %zu decodes of truncated real tables\n", calls);
}

static void test_lnotab_hand(void **state)
{
	/* 2.7: unsigned increments; 3.6: signed. (4, 1) (6, 0xfe) */
	static const uint8_t t[] = { 4, 1, 6, 0xfe, 0 /* odd byte ignored */ };
	uint8_t *h = heap_copy(t, sizeof(t));

	(void)state;
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, h, sizeof(t), 10, 0), 10);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, h, sizeof(t), 10, 3), 10);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, h, sizeof(t), 10, 4), 11);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, h, sizeof(t), 10, 10), 11 + 254);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_36, h, sizeof(t), 10, 10), 9);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_36, h, sizeof(t), 10, 9), 11);
	/* empty table: the first line everywhere */
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_36, h, 0, 7, 100), 7);
	/* a line driven below 0 is malformed */
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_36, h, sizeof(t), 0, 10), -1);
	free(h);
}

static void test_310_hand(void **state)
{
	/* (6 bytes, +1) (0, +127) (2, no line) (4, -3) */
	static const uint8_t t[] = { 6, 1, 0, 127, 2, 0x80, 4, 0xfd };
	uint8_t *h = heap_copy(t, sizeof(t));

	(void)state;
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 0), 2);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 5), 2);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 6), -1);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 7), -1);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 8), 126);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 11), 126);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(t), 1, 12), -1);
	/* odd trailing byte: ignored, not read as half a pair */
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, 3, 1, 6), -1);
	free(h);
}

static void test_311_hand(void **state)
{
	static const uint8_t t[] = {
		0x80 | (0 << 3) | 1, 5,			/* short, 2 units: line 10 */
		0x80 | (11 << 3) | 0, 1, 4,		/* one-line +1, 1 unit: 11 */
		0x80 | (13 << 3) | 0, 0x49, 0x01,	/* no-col, svarint 0x49 = -36... */
		0x80 | (15 << 3) | 2,			/* no location, 3 units */
		0x80 | (14 << 3) | 0, 0x04, 0x00, 0x41, 0x02, 0x05, /* long +2 */
	};
	uint8_t *h = heap_copy(t, sizeof(t));

	(void)state;
	/* svarint 0x49 0x01: chunks 9 | 1 << 6 = 73 -> odd -> -(36) */
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 0), 100);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 3), 100);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 4), 101);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 6), 65);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 8), -1);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 13), -1);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 14), 67);
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 100, 16), -1);
	free(h);
}

static void test_malformed(void **state)
{
	uint8_t ff[64], zero[64], cont[64];
	uint8_t *h;

	(void)state;
	memset(ff, 0xff, sizeof(ff));
	memset(zero, 0, sizeof(zero));
	memset(cont, 0x7f, sizeof(cont)); /* varint continuation forever */

	/* all 0xff: 3.11 = "no location" entries of 8 units; 3.10 = 255-byte
	 * ranges with line delta -1, so line 0 then negative lines (-1) */
	h = heap_copy(ff, sizeof(ff));
	for (uint32_t off = 0; off < 40000; off += 97) {
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(ff), 1, off), -1);
		assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(ff), 1, off),
				 off < 255 ? 0 : -1);
	}
	/* lnotab 2.7 all 0xff: the line grows by 255 per 255 bytes, no overflow */
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, h, sizeof(ff), 1, 255 * 32 + 1),
			 1 + 255 * 32);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_36, h, sizeof(ff), 40, 0xffffffffu), 8);
	free(h);

	/* all zeros: 3.11 entries must start with bit 7 */
	h = heap_copy(zero, sizeof(zero));
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(zero), 1, 0), -1);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, h, sizeof(zero), 1, 0), -1);
	free(h);

	/* empty and NULL tables */
	assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, NULL, 0, 1, 0), -1);
	assert_int_equal(pyh_linetable_line(PYH_LINETABLE_310, NULL, 0, 1, 0), -1);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, NULL, 0, 5, 0), 5);
	assert_int_equal(pyh_linetable_line(PYH_LNOTAB_27, NULL, 8, 5, 0), -1);
	assert_int_equal(pyh_linetable_line((enum pyh_linetable_kind)99, zero, 8, 5, 0), -1);

	/* 3.11: long-form varint that never ends, within the table and at its end */
	{
		uint8_t t[65];

		t[0] = 0x80 | (14 << 3);
		memcpy(t + 1, cont, sizeof(cont));
		h = heap_copy(t, sizeof(t));
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 1, 0), -1);
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, 4, 1, 0), -1);
		free(h);
	}
	/* 3.11: entries cut inside their column bytes */
	{
		static const uint8_t t1[] = { 0x80 | (0 << 3) };
		static const uint8_t t2[] = { 0x80 | (10 << 3), 1 };
		static const uint8_t t3[] = { 0x80 | (13 << 3), 0x40 };
		/* varint byte with bit 7 set: the next entry started too early */
		static const uint8_t t4[] = { 0x80 | (13 << 3), 0x80 };

		h = heap_copy(t1, sizeof(t1));
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t1), 1, 0), -1);
		free(h);
		h = heap_copy(t2, sizeof(t2));
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t2), 1, 0), -1);
		free(h);
		h = heap_copy(t3, sizeof(t3));
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t3), 1, 0), -1);
		free(h);
		h = heap_copy(t4, sizeof(t4));
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t4), 1, 0), -1);
		free(h);
	}
	/* 3.11: line deltas that would overflow an int */
	{
		uint8_t t[8 * 7];

		for (int i = 0; i < 8; i++) {
			uint8_t *e = t + i * 7;

			e[0] = 0x80 | (13 << 3);
			/* svarint 2 * 0x3fffffff = 0x7ffffffe: 6 chunks */
			e[1] = 0x40 | 0x3e; e[2] = 0x40 | 0x3f; e[3] = 0x40 | 0x3f;
			e[4] = 0x40 | 0x3f; e[5] = 0x40 | 0x3f; e[6] = 0x01;
		}
		h = heap_copy(t, sizeof(t));
		assert_int_equal(pyh_linetable_line(PYH_LOCATIONS_311, h, sizeof(t), 1, 14), -1);
		free(h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_interpreters),
		cmocka_unit_test(test_past_end),
		cmocka_unit_test(test_truncated_real_tables),
		cmocka_unit_test(test_lnotab_hand),
		cmocka_unit_test(test_310_hand),
		cmocka_unit_test(test_311_hand),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
