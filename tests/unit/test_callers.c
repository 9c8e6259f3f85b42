/* Each thread's last whole callers (record/callers.h): given back only under
 * the hash and depth they were kept with (and the word on their
 * fingerprints they were kept with), replaced by the thread's next
 * whole sample, bounded in threads, forgotten with their process; and the
 * callers hash the sampler and this side share (pyhang/sample.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "record/callers.h"

static int cpl;	/* pyh_callers_get's word on the callers' fingerprints */

static void frames_of(struct pyh_raw_frame *f, int n, uint64_t base)
{
	for (int i = 0; i < n; i++)
		f[i] = (struct pyh_raw_frame){ .code = base + 0x40 * (uint64_t)i, .fp = 0,
					       .offset = (uint32_t)(2 * i), .flags = 0 };
}

static uint64_t hash_of(const struct pyh_raw_frame *f, int n)
{
	uint64_t h = PYH_CALLERS_SEED;

	for (int i = 0; i < n; i++)
		h = pyh_callers_mix(h, f[i].code, f[i].fp, f[i].offset, f[i].flags);
	return pyh_callers_end(h, (uint32_t)n + 1);
}

static void test_given_back_under_its_hash_only(void **state)
{
	struct pyh_callers *t = pyh_callers_new();
	struct pyh_raw_frame f[59];
	const struct pyh_raw_frame *got;

	(void)state;
	assert_non_null(t);
	frames_of(f, 59, 0x7f0000100000ull);
	assert_int_equal(pyh_callers_put(t, 100, 101, 0x1234, f, 59, 1), 0);
	got = pyh_callers_get(t, 100, 101, 0x1234, 59, &cpl);
	assert_non_null(got);
	assert_memory_equal(got, f, sizeof(f));
	assert_null(pyh_callers_get(t, 100, 101, 0x1235, 59, &cpl));	/* other callers */
	assert_null(pyh_callers_get(t, 100, 101, 0x1234, 58, &cpl));	/* other depth */
	assert_null(pyh_callers_get(t, 100, 102, 0x1234, 59, &cpl));	/* other thread */
	assert_null(pyh_callers_get(t, 200, 101, 0x1234, 59, &cpl));	/* other process */
	/* the thread's next whole sample replaces them */
	frames_of(f, 10, 0x7f0000200000ull);
	assert_int_equal(pyh_callers_put(t, 100, 101, 0x9999, f, 10, 1), 0);
	assert_null(pyh_callers_get(t, 100, 101, 0x1234, 59, &cpl));
	got = pyh_callers_get(t, 100, 101, 0x9999, 10, &cpl);
	assert_non_null(got);
	assert_memory_equal(got, f, sizeof(f[0]) * 10);
	assert_int_equal(cpl, 1);
	assert_int_equal(pyh_callers_count(t), 1);
	/* and what the caller said of their fingerprints comes back with them */
	f[3].fp = 0;
	assert_int_equal(pyh_callers_put(t, 100, 101, 0x7777, f, 10, 0), 0);
	assert_non_null(pyh_callers_get(t, 100, 101, 0x7777, 10, &cpl));
	assert_int_equal(cpl, 0);
	pyh_callers_free(t);
}

static void test_depth_bounds(void **state)
{
	struct pyh_callers *t = pyh_callers_new();
	static struct pyh_raw_frame f[PYH_SAMPLE_MAX_DEPTH];

	(void)state;
	frames_of(f, PYH_SAMPLE_MAX_DEPTH, 0x1000);
	assert_int_equal(pyh_callers_put(t, 1, 2, 7, f, PYH_SAMPLE_MAX_DEPTH - 1, 1), 0);
	assert_non_null(pyh_callers_get(t, 1, 2, 7, PYH_SAMPLE_MAX_DEPTH - 1, &cpl));
	/* out of range: refused, and the thread keeps nothing (never stale ones) */
	assert_int_equal(pyh_callers_put(t, 1, 2, 8, f, PYH_SAMPLE_MAX_DEPTH, 1), -1);
	assert_null(pyh_callers_get(t, 1, 2, 7, PYH_SAMPLE_MAX_DEPTH - 1, &cpl));
	assert_int_equal(pyh_callers_put(t, 1, 2, 8, f, 0, 1), -1);
	assert_int_equal(pyh_callers_put(t, 1, 0, 8, f, 3, 1), -1);	/* tid 0 marks a free slot */
	assert_int_equal(pyh_callers_count(t), 0);
	assert_int_equal(pyh_callers_bytes(t), 0);
	pyh_callers_free(t);
}

static void test_bounded_and_recent_kept(void **state)
{
	struct pyh_callers *t = pyh_callers_new();
	struct pyh_raw_frame f[20];
	int held = 0;

	(void)state;
	frames_of(f, 20, 0x5000);
	for (int i = 1; i <= 3 * PYH_CALLERS_SLOTS; i++) {
		assert_int_equal(pyh_callers_put(t, 7, i, (uint64_t)i, f, 20, 1), 0);
		assert_true(pyh_callers_count(t) <= PYH_CALLERS_SLOTS);
		assert_non_null(pyh_callers_get(t, 7, i, (uint64_t)i, 20, &cpl));	/* the newest is held */
	}
	assert_true(pyh_callers_bytes(t) <= (size_t)PYH_CALLERS_SLOTS * 20 * sizeof(f[0]));
	for (int i = 1; i <= 3 * PYH_CALLERS_SLOTS; i++)
		held += pyh_callers_get(t, 7, i, (uint64_t)i, 20, &cpl) != NULL;
	assert_int_equal(held, pyh_callers_count(t));
	assert_true(held > PYH_CALLERS_SLOTS / 2);
	pyh_callers_free(t);
}

static void test_forget_drops_one_process(void **state)
{
	struct pyh_callers *t = pyh_callers_new();
	struct pyh_raw_frame f[5];

	(void)state;
	frames_of(f, 5, 0x9000);
	for (int i = 1; i <= 50; i++) {
		assert_int_equal(pyh_callers_put(t, 10, 10 + i, 1, f, 5, 1), 0);
		assert_int_equal(pyh_callers_put(t, 20, 20 + i, 1, f, 5, 1), 0);
	}
	pyh_callers_forget(t, 10);
	assert_int_equal(pyh_callers_count(t), 50);
	for (int i = 1; i <= 50; i++) {
		assert_null(pyh_callers_get(t, 10, 10 + i, 1, 5, &cpl));
		assert_non_null(pyh_callers_get(t, 20, 20 + i, 1, 5, &cpl));
	}
	pyh_callers_free(t);
}

/* The hash tells apart what a thread's callers differ in from one sample to
 * the next: an offset, a code object, a fingerprint, a flag, the order, the
 * depth; and is never 0 (an entry's "none sent"). */
static void test_hash_tells_callers_apart(void **state)
{
	struct pyh_raw_frame f[60], g[60];
	uint64_t h = 0;

	(void)state;
	frames_of(f, 60, 0x7f1234560000ull);
	h = hash_of(f, 60);
	assert_true(h != 0);
	assert_true(hash_of(f, 59) != h);
	for (int i = 0; i < 60; i++) {
		memcpy(g, f, sizeof(f));
		g[i].offset += 2;
		assert_true(hash_of(g, 60) != h);
		memcpy(g, f, sizeof(f));
		g[i].code += 0x10;
		assert_true(hash_of(g, 60) != h);
		memcpy(g, f, sizeof(f));
		g[i].fp ^= 1;
		assert_true(hash_of(g, 60) != h);
		memcpy(g, f, sizeof(f));
		g[i].flags |= PYH_RAWF_ENTRY;
		assert_true(hash_of(g, 60) != h);
	}
	memcpy(g, f, sizeof(f));
	g[3] = f[4];
	g[4] = f[3];
	assert_true(hash_of(g, 60) != h);
	/* a recursion's frames differ only in where each is: still apart */
	for (int i = 0; i < 60; i++)
		f[i] = (struct pyh_raw_frame){ .code = 0x7f0000001000ull, .offset = 40 };
	memcpy(g, f, sizeof(f));
	g[59].offset = 12;
	assert_true(hash_of(g, 60) != hash_of(f, 60));
	assert_true(hash_of(f, 60) != hash_of(f, 61 - 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_given_back_under_its_hash_only),
		cmocka_unit_test(test_depth_bounds),
		cmocka_unit_test(test_bounded_and_recent_kept),
		cmocka_unit_test(test_forget_drops_one_process),
		cmocka_unit_test(test_hash_tells_callers_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
