/* The watch detectors for blocked calls, their ends, whole processes stuck,
 * and the counts the metrics show: synthetic scans (watch_fixture.h), no
 * process, no BPF. Locks: test_watch_detect_locks.c; CPU and GIL:
 * test_watch_detect_cpu.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "watch_fixture.h"

#define PID 100
#define THR (2 * NS_PER_S)
#define NOW (1000 * NS_PER_S)
#define SYS_READ 0

static const struct pyh_blocked_facts PYTHON_WAIT = { .python = 1 };

/* Threshold edges: a call is due exactly at the threshold, not 1 ns before. */
static void test_blocked_threshold_edges(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *under = world_call(w, PID, 1, SYS_READ, NOW - THR + 1, 0);
	struct pyh_wcall *at = world_call(w, PID, 2, SYS_READ, NOW - THR, 0);
	struct pyh_wcall *over = world_call(w, PID, 3, SYS_READ, NOW - THR - 1, 0);
	struct pyh_wcall *idle = world_call(w, PID, 4, SYS_READ, 0, 0);	/* ran again: in no call */
	struct pyh_wcall *later = world_call(w, PID, 5, SYS_READ, NOW + 1, 0);	/* began after the snapshot's now */

	(void)state;
	assert_non_null(tt);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 1), under, &w->s), 0);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 2), at, &w->s), 1);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 3), over, &w->s), 1);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 4), idle, &w->s), 0);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 5), later, &w->s), 0);
	/* 1 ns later the first one is due too */
	w->s.now_ns++;
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 1), under, &w->s), 1);
	pyh_wthreads_free(tt);
	free(w);
}

/* Each wait is judged once; the next wait of the thread is judged again. */
static void test_blocked_once_per_wait(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *c = world_call(w, PID, 7, SYS_READ, NOW - 3 * NS_PER_S, 0);
	struct pyh_wthr *t = pyh_wthreads_get(tt, 7);

	(void)state;
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 1);
	assert_int_equal(pyh_detect_blocked_verdict(t, &PYTHON_WAIT), PYH_BLK_REPORTED);
	w->s.now_ns += NS_PER_S;
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 0);	/* the same wait, a scan later */
	c->c.start_ns = w->s.now_ns - THR;				/* woke up, blocked again */
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 1);
	assert_int_equal(t->blk.state, PYH_BLK_NONE);
	pyh_wthreads_free(tt);
	free(w);
}

/* A wait whose thread's Python state could not be known (its thread list
 * changed while it was read) is put off: due again at the next scan, and
 * judged then; a GIL wait put off is reported at the next scan. */
static void test_deferred(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *c = world_call(w, PID, 7, SYS_READ, NOW - 3 * NS_PER_S, 0);
	struct pyh_wgil *g = world_gil_wait(w, PID, 9, NOW - 3 * NS_PER_S);
	struct pyh_wthr *t = pyh_wthreads_get(tt, 7), *gt = pyh_wthreads_get(tt, 9);

	(void)state;
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 1);
	pyh_detect_blocked_defer(t);
	assert_int_equal(t->blk.state, PYH_BLK_NONE);
	w->s.now_ns += NS_PER_S;
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 1);	/* the same wait, judged now */
	assert_int_equal(pyh_detect_blocked_verdict(t, &PYTHON_WAIT), PYH_BLK_REPORTED);
	w->s.now_ns += NS_PER_S;
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 0);	/* and once only */
	assert_int_equal(pyh_detect_gil(gt, g, &w->s), PYH_GIL_REPORT);
	pyh_detect_gil_defer(gt);
	pyh_detect_gil_defer(NULL);
	assert_int_equal(pyh_detect_gil(gt, g, &w->s), PYH_GIL_REPORT);
	assert_int_equal(pyh_detect_gil(gt, g, &w->s), PYH_GIL_HUNG);
	pyh_wthreads_free(tt);
	free(w);
}

/* A thread waiting for the GIL is the GIL detector's, not blocked. */
static void test_blocked_not_while_waiting_for_gil(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *c = world_call(w, PID, 8, SYS_futex, NOW - 5 * NS_PER_S, 0x1000);

	(void)state;
	world_gil_wait(w, PID, 8, NOW - 5 * NS_PER_S);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 8), c, &w->s), 0);
	w->s.ngil = 0;	/* got the GIL, still in the futex wait */
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 8), c, &w->s), 1);
	pyh_wthreads_free(tt);
	free(w);
}

static void test_blocked_verdicts(void **state)
{
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wthr *t = pyh_wthreads_get(tt, 9);
	struct pyh_blocked_facts native = { .python = 0 };
	struct pyh_blocked_facts idle = { .python = 1, .ignored = 1 };
	struct pyh_blocked_facts acquire = { .python = 1, .futex = 1, .in_acquire = 1 };
	struct pyh_blocked_facts held = { .python = 1, .futex = 1, .holder = 12, .in_acquire = 1 };
	struct pyh_blocked_facts read_in_with = { .python = 1, .futex = 0, .in_acquire = 1 };

	(void)state;
	assert_int_equal(pyh_detect_blocked_verdict(t, &native), PYH_BLK_SKIPPED);
	assert_int_equal(pyh_detect_blocked_verdict(t, &idle), PYH_BLK_IGNORED);
	assert_int_equal(t->blk.acquire, 0);
	assert_int_equal(pyh_detect_blocked_verdict(t, &PYTHON_WAIT), PYH_BLK_REPORTED);
	assert_int_equal(t->blk.acquire, 0);
	/* a futex wait in an acquire whose holder is unknown: for the possible-deadlock detector */
	assert_int_equal(pyh_detect_blocked_verdict(t, &acquire), PYH_BLK_REPORTED);
	assert_int_equal(t->blk.acquire, 1);
	/* a known holder: a cycle would have been found, nothing possible about it */
	assert_int_equal(pyh_detect_blocked_verdict(t, &held), PYH_BLK_REPORTED);
	assert_int_equal(t->blk.acquire, 0);
	assert_int_equal(pyh_detect_blocked_verdict(t, &read_in_with), PYH_BLK_REPORTED);
	assert_int_equal(t->blk.acquire, 0);
	pyh_wthreads_free(tt);
}

/* The end of a wait is reported when the wait was: blocked or deadlock, not idle. */
static void test_returned(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	uint64_t start = NOW - 4 * NS_PER_S;
	struct pyh_wcall *c = world_call(w, PID, 10, SYS_READ, start, 0);
	struct pyh_wthr *t = pyh_wthreads_get(tt, 10);
	struct pyh_blocked_facts idle = { .python = 1, .ignored = 1 };

	(void)state;
	assert_int_equal(pyh_detect_returned(t, start), 0);	/* never judged */
	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 1);
	pyh_detect_blocked_verdict(t, &idle);
	assert_int_equal(pyh_detect_returned(t, start), 0);	/* idle: its end is not news */
	t->blk.state = PYH_BLK_REPORTED;
	assert_int_equal(pyh_detect_returned(t, start - 1), 0);	/* another wait ended */
	assert_int_equal(pyh_detect_returned(t, start), 1);
	assert_int_equal(pyh_detect_returned(t, start), 0);	/* once */
	t->blk.state = PYH_BLK_DEADLOCK;
	assert_int_equal(pyh_detect_returned(t, start), 1);
	pyh_wthreads_free(tt);
	free(w);
}

/* Judge every due wait of the world as a Python thread's (reported) or idle. */
static void judge_all(struct world *w, struct pyh_wthreads *tt, int idle)
{
	struct pyh_blocked_facts f = { .python = 1, .ignored = idle };

	for (int i = 0; i < w->s.ncalls; i++) {
		struct pyh_wthr *t = pyh_wthreads_get(tt, (pid_t)w->calls[i].tid);

		if (pyh_detect_blocked_due(t, &w->calls[i], &w->s))
			pyh_detect_blocked_verdict(t, &f);
	}
}

static void test_stuck_all_blocked(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	int reported = 0;
	double least = 0;

	(void)state;
	world_call(w, PID, 100, SYS_READ, NOW - 9 * NS_PER_S, 0);
	world_call(w, PID, 101, SYS_READ, NOW - 3 * NS_PER_S, 0);
	world_call(w, PID, 102, SYS_futex, NOW - 5 * NS_PER_S, 0x10);
	world_call(w, PID + 1, 200, SYS_READ, NOW - 9 * NS_PER_S, 0);	/* another process */
	judge_all(w, tt, 0);
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 3, tt, &reported, &least), 1);
	assert_int_equal(reported, 1);
	assert_true(least > 2.99 && least < 3.01);
	w->s.now_ns += NS_PER_S;
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 3, tt, &reported, &least), 0);	/* once */
	pyh_wthreads_free(tt);
	free(w);
}

/* One thread still runnable (in no call, or not blocked for the threshold): not stuck. */
static void test_stuck_one_thread_runnable(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *c;
	int reported = 1;
	double least;

	(void)state;
	world_call(w, PID, 100, SYS_READ, NOW - 9 * NS_PER_S, 0);
	world_call(w, PID, 101, SYS_READ, NOW - 9 * NS_PER_S, 0);
	c = world_call(w, PID, 102, SYS_READ, 0, 0);
	judge_all(w, tt, 0);
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 3, tt, &reported, &least), 0);
	assert_int_equal(reported, 0);	/* so the next time it is stuck is reported */
	c->c.start_ns = NOW - THR + 1;	/* blocked, 1 ns short of the threshold */
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 3, tt, &reported, &least), 0);
	c->c.start_ns = NOW - THR;	/* exactly at it */
	judge_all(w, tt, 0);
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 3, tt, &reported, &least), 1);
	/* a thread /proc lists and BPF never saw in a call */
	reported = 0;
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 4, tt, &reported, &least), 0);
	pyh_wthreads_free(tt);
	free(w);
}

/* Every thread blocked, every wait idle (a pool waiting for work): not stuck. */
static void test_stuck_not_when_all_idle(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	int reported = 0;
	double least;

	(void)state;
	world_call(w, PID, 100, SYS_futex, NOW - 9 * NS_PER_S, 0x10);
	world_call(w, PID, 101, SYS_futex, NOW - 9 * NS_PER_S, 0x20);
	judge_all(w, tt, 1);
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 2, tt, &reported, &least), 0);
	/* nor before any wait was judged */
	pyh_wthreads_free(tt);
	tt = pyh_wthreads_new();
	assert_int_equal(pyh_detect_stuck(&w->s, PID, 2, tt, &reported, &least), 0);
	pyh_wthreads_free(tt);
	free(w);
}

static void test_count_hung(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_blocked_facts idle = { .python = 1, .ignored = 1 };
	struct pyh_hung_count hc;
	struct pyh_wthr *t;

	(void)state;
	world_call(w, PID, 1, SYS_READ, NOW - 3 * NS_PER_S, 0);
	world_call(w, PID, 2, SYS_READ, NOW - 3 * NS_PER_S, 0);
	world_call(w, PID, 3, SYS_READ, NOW - 3 * NS_PER_S, 0);
	world_call(w, PID, 4, SYS_READ, NOW - NS_PER_S, 0);	/* under the threshold */
	world_call(w, PID + 1, 5, SYS_READ, NOW - 3 * NS_PER_S, 0);
	judge_all(w, tt, 0);
	pyh_detect_blocked_verdict(pyh_wthreads_get(tt, 2), &idle);
	t = pyh_wthreads_get(tt, 3);
	t->blk.state = PYH_BLK_DEADLOCK;
	pyh_detect_count_hung(&w->s, PID, tt, &hc);
	assert_int_equal(hc.over, 3);
	assert_int_equal(hc.blocked, 1);
	assert_int_equal(hc.deadlock, 1);
	pyh_wthreads_free(tt);
	free(w);
}

static void test_thread_table(void **state)
{
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wthr *t;
	int got = 0;

	(void)state;
	assert_null(pyh_wthreads_find(tt, 5));
	t = pyh_wthreads_get(tt, 5);
	assert_non_null(t);
	assert_int_equal(t->tid, 5);
	t->blk.start = 77;
	assert_ptr_equal(pyh_wthreads_find(tt, 5), t);
	assert_ptr_equal(pyh_wthreads_get(tt, 5), t);
	assert_int_equal(pyh_wthreads_find(tt, 5)->blk.start, 77);
	/* bounded: half the slots */
	for (pid_t tid = 1000; tid < 1000 + PYH_WATCH_THR_SLOTS; tid++)
		got += pyh_wthreads_get(tt, tid) != NULL;
	assert_int_equal(got, PYH_WATCH_THR_SLOTS / 2 - 1);
	assert_ptr_equal(pyh_wthreads_find(tt, 5), t);
	pyh_wthreads_free(tt);
	pyh_wthreads_free(NULL);
}

/* The table's memory follows the threads it remembers: small for a small
 * process, grown for many threads, and back to its first size once they
 * ended and a prune saw it; the state of a live thread stays where it was. */
static void test_thread_table_shrinks(void **state)
{
	struct pyh_wthreads *tt = pyh_wthreads_new();
	size_t empty = pyh_wthreads_bytes(tt), full;
	pid_t live[3] = { 7, 2000, 4999 }, all[4001];
	struct pyh_wthr *keep;
	uint64_t now = PYH_WATCH_THR_PRUNE_NS;

	(void)state;
	assert_true(empty < 1024);
	keep = pyh_wthreads_get(tt, 7);
	keep->blk.start = 42;
	for (pid_t tid = 1000; tid < 5000; tid++)
		assert_non_null(pyh_wthreads_get(tt, tid));
	assert_ptr_equal(pyh_wthreads_find(tt, 7), keep);	/* growing moved no thread's state */
	assert_int_equal(pyh_wthreads_count(tt), 4001);
	full = pyh_wthreads_bytes(tt);
	assert_true(full > 4000 * sizeof(struct pyh_wthr));
	/* all alive: nothing dropped, nothing moved */
	all[0] = 7;
	for (pid_t tid = 1000; tid < 5000; tid++)
		all[tid - 999] = tid;
	pyh_wthreads_prune(tt, all, 4001, now);
	assert_int_equal(pyh_wthreads_count(tt), 4001);
	assert_int_equal(pyh_wthreads_bytes(tt), full);
	/* 3 left alive: the others go, and the table shrinks back */
	now += PYH_WATCH_THR_PRUNE_NS;
	pyh_wthreads_prune(tt, live, 3, now);
	assert_int_equal(pyh_wthreads_count(tt), 3);
	assert_ptr_equal(pyh_wthreads_find(tt, 7), keep);
	assert_int_equal(keep->blk.start, 42);
	assert_non_null(pyh_wthreads_find(tt, 2000));
	assert_null(pyh_wthreads_find(tt, 2001));
	assert_true(pyh_wthreads_bytes(tt) < empty + 3 * 2 * sizeof(struct pyh_wthr));
	/* not again within the period, even when more ended */
	pyh_wthreads_prune(tt, live, 1, now + PYH_WATCH_THR_PRUNE_NS - 1);
	assert_int_equal(pyh_wthreads_count(tt), 3);
	/* the last one ends: back to the empty table's size */
	pyh_wthreads_prune(tt, live, 0, now + PYH_WATCH_THR_PRUNE_NS);
	assert_int_equal(pyh_wthreads_count(tt), 0);
	assert_int_equal(pyh_wthreads_bytes(tt), empty);
	assert_int_equal(pyh_wthreads_refused(tt), 0);
	pyh_wthreads_free(tt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_threshold_edges),
		cmocka_unit_test(test_blocked_once_per_wait),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_blocked_not_while_waiting_for_gil),
		cmocka_unit_test(test_blocked_verdicts),
		cmocka_unit_test(test_returned),
		cmocka_unit_test(test_stuck_all_blocked),
		cmocka_unit_test(test_stuck_one_thread_runnable),
		cmocka_unit_test(test_stuck_not_when_all_idle),
		cmocka_unit_test(test_count_hung),
		cmocka_unit_test(test_thread_table),
		cmocka_unit_test(test_thread_table_shrinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
