/* python/threads.c: the rules that say a thread list read was cut by a
 * state freed under the walk: against the OS threads (pyh_threads_unmatched,
 * on states as pyh_threads_read leaves them) and against the list's own links
 * (pyh_threads_linked, on a state's bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "python/threads.h"

static const pid_t os_tids[] = { 100, 101, 102 };

static void test_all_listed(void **state)
{
	struct pyh_pythread py[] = {
		{ .tstate = 0x1000, .tid = 102, .frame = 0x5000 },
		{ .tstate = 0x2000, .tid = 100, .frame = 0x6000 },
		{ .tstate = 0x3000, .tid = 101, .frame = 0 },	/* idle in C: no frame */
	};

	(void)state;
	assert_int_equal(pyh_threads_unmatched(py, 3, os_tids, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pyh_threads_listed(&py[i], os_tids, 3), 1);
}

static void test_starting_thread_not_counted(void **state)
{
	/* made by its parent, not run yet: no OS thread, no frame */
	struct pyh_pythread py[] = {
		{ .tstate = 0x1000, .tid = 100, .frame = 0x5000 },
		{ .tstate = 0x2000, .thread_id = 0, .tid = 0, .frame = 0 },
		{ .tstate = 0x3000, .thread_id = 0x7f0000001000, .tid = 0, .frame = 0 },
	};

	(void)state;
	assert_int_equal(pyh_threads_unmatched(py, 3, os_tids, 3), 0);
	assert_int_equal(pyh_threads_listed(&py[1], os_tids, 3), 0);
	assert_int_equal(pyh_threads_listed(&py[2], os_tids, 3), 0);
}

static void test_freed_states_counted(void **state)
{
	struct pyh_pythread py[] = {
		{ .tstate = 0x1000, .tid = 100, .frame = 0x5000 },
		{ .tstate = 0x2000, .tid = 999, .frame = 0 },		/* names a thread that is gone */
		{ .tstate = 0x3000, .tid = 0, .frame = 0x6000 },	/* frames, no OS thread */
		{ .tstate = 0x4000, .tid = 998, .frame = 0x7000 },	/* both */
	};

	(void)state;
	assert_int_equal(pyh_threads_unmatched(py, 4, os_tids, 3), 3);
	assert_int_equal(pyh_threads_listed(&py[0], os_tids, 3), 1);
	assert_int_equal(pyh_threads_listed(&py[1], os_tids, 3), 0);
	assert_int_equal(pyh_threads_listed(&py[3], os_tids, 3), 0);
	/* only the first two OS threads listed: 102 is not among them */
	py[0].tid = 102;
	assert_int_equal(pyh_threads_unmatched(py, 1, os_tids, 2), 1);
}

/* A thread state image laid out as 3.12's: prev 0, next 8, interp 16,
 * thread_id 24 (put_state binds it to a thread). */
static const struct pyh_layout ts_layout = { .tstate_prev = 0, .tstate_next = 8, .tstate_interp = 16,
					     .tstate_thread_id = 24 };

static void put_state(uint8_t *tb, uint64_t prev, uint64_t next, uint64_t interp)
{
	uint64_t thread = 0x7f0000001000;

	memset(tb, 0, 64);
	memcpy(tb + 0, &prev, 8);
	memcpy(tb + 8, &next, 8);
	memcpy(tb + 16, &interp, 8);
	memcpy(tb + 24, &thread, 8);
}

static void test_linked(void **state)
{
	uint8_t tb[64];

	(void)state;
	put_state(tb, 0x1000, 0x3000, 0x9000);	/* after 0x1000, in 0x9000's list */
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0x1000), 1);
	/* the head: its prev may already name a state being added */
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0), 1);
	/* the last state, its thread running */
	put_state(tb, 0x1000, 0, 0x9000);
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0x1000), 1);
	/* a thread being started: made by its parent at the head, not bound yet */
	put_state(tb, 0, 0x3000, 0x9000);
	memset(tb + 24, 0, 8);
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0), 1);
}

static void test_freed_state_reused_not_linked(void **state)
{
	uint8_t tb[64];

	(void)state;
	/* a state freed as it was walked, its bytes now a new state not yet
	 * linked: prev and next 0, its walk would end here looking whole */
	put_state(tb, 0, 0, 0x9000);
	memset(tb + 24, 0, 8);
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0x1000), 0);
	/* the same read as the head: the list's last state, bound to no thread */
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0), 0);
	/* unlinked: its successor's prev now names the state before it */
	put_state(tb, 0x500, 0x3000, 0x9000);
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0x1000), 0);
	/* anything else's bytes: not this interpreter's */
	put_state(tb, 0x1000, 0x3000, 0x4141414141414141ull);
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, sizeof(tb), 0x9000, 0x1000), 0);
	/* a copy too short to hold interp proves nothing */
	assert_int_equal(pyh_threads_linked(&ts_layout, tb, 16, 0x9000, 0x1000), 0);
}

static void test_linked_without_prev(void **state)
{
	/* 2.7: next 0, interp 8, no prev: only the interpreter is checked */
	const struct pyh_layout l27 = { .tstate_prev = PYH_NO_FIELD, .tstate_next = 0, .tstate_interp = 8 };
	uint8_t tb[64] = { 0 };
	uint64_t interp = 0x9000;

	(void)state;
	memcpy(tb + 8, &interp, 8);
	assert_int_equal(pyh_threads_linked(&l27, tb, sizeof(tb), 0x9000, 0x1000), 1);
	assert_int_equal(pyh_threads_linked(&l27, tb, sizeof(tb), 0x8000, 0x1000), 0);
}

static void test_empty(void **state)
{
	struct pyh_pythread py[] = { { .tstate = 0x1000, .tid = 100, .frame = 0x5000 } };

	(void)state;
	assert_int_equal(pyh_threads_unmatched(NULL, 0, os_tids, 3), 0);
	assert_int_equal(pyh_threads_unmatched(py, 1, NULL, 0), 1);	/* no OS thread listed */
	assert_int_equal(pyh_threads_listed(&py[0], NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_listed),
		cmocka_unit_test(test_starting_thread_not_counted),
		cmocka_unit_test(test_freed_states_counted),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_linked),
		cmocka_unit_test(test_freed_state_reused_not_linked),
		cmocka_unit_test(test_linked_without_prev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
