/* Jobs with a deadline (proc/guard.h): results, abandonment, reuse of threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc/guard.h"

static int add_one(void *arg)
{
	return *(int *)arg + 1;
}

static void test_result(void **state)
{
	int x = 41, result = 0;

	(void)state;
	assert_int_equal(pyh_guard_run(add_one, &x, NULL, 1000, &result), 0);
	assert_int_equal(result, 42);
}

/* A job that waits until told: "blocked", it uses no CPU. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open, released;
};

static int wait_gate(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 7;
}

static void gate_release(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->mu);
	g->released = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void test_abandoned_then_released(void **state)
{
	static struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	uint64_t before = pyh_guard_stalls_total();
	int result = 0, x = 1;

	(void)state;
	assert_int_equal(pyh_guard_run(wait_gate, &g, gate_release, 50, &result), -ETIMEDOUT);
	assert_int_equal(pyh_guard_stalled_now(), 1);
	assert_true(pyh_guard_stalls_total() == before + 1);
	/* others still run meanwhile */
	assert_int_equal(pyh_guard_run(add_one, &x, NULL, 1000, &result), 0);
	assert_int_equal(result, 2);
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	while (!g.released)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	for (int i = 0; i < 1000 && pyh_guard_stalled_now(); i++)
		usleep(1000);
	assert_int_equal(pyh_guard_stalled_now(), 0);
}

static void mark(void *arg)
{
	*(int *)arg = 1;
}

static void wait_gate_release(void *arg)
{
	(void)wait_gate(arg);
}

/* A release that ends in time runs on the worker; one that blocks is left
 * to its job (never run on the caller's thread), which releases it later. */
static void test_release(void **state)
{
	static struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	int done = 0;

	(void)state;
	assert_int_equal(pyh_guard_release(mark, &done, 1000), 0);
	assert_int_equal(done, 1);
	assert_int_equal(pyh_guard_release(wait_gate_release, &g, 50), -ETIMEDOUT);
	assert_int_equal(pyh_guard_stalled_now(), 1);
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	for (int i = 0; i < 1000 && pyh_guard_stalled_now(); i++)
		usleep(1000);
	assert_int_equal(pyh_guard_stalled_now(), 0);
}

static int count_threads(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/self/status", "r");
	int n = -1;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Many jobs in a row: threads are kept for the next job, not one started
 * per job; the cost of one job is printed (it is not a bound). */
static void test_many(void **state)
{
	struct timespec t0, t1, c0, c1;
	int result = 0, x = 0, n = 2000, threads;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(pyh_guard_run(add_one, &x, NULL, 1000, &result), 0);
		x = result;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	assert_int_equal(x, n);
	threads = count_threads();
	assert_true(threads >= 1 && threads <= 2 + PYH_GUARD_IDLE_WORKERS);
	fprintf(stderr, "# %d jobs: %.1f us each, %.1f us CPU each, %d threads after\n", n,
		((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n / 1e3,
		((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) / n / 1e3,
		threads);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_abandoned_then_released),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
