/* python/threads.c: the rule that says a thread list read against the OS
 * threads was cut by a state freed under the walk (pyh_threads_unmatched),
 * on states as pyh_threads_read leaves them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
