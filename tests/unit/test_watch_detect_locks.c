/* The watch detectors for Python locks: deadlock cycles of 2 and 3 threads,
 * chains that are not cycles (a holder itself blocked elsewhere, unknown
 * holders), the possible deadlock when holders are unknown, and what counts
 * as waiting in a lock acquire. Synthetic scans (watch_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "frame_fixture.h"
#include "watch_fixture.h"

#define PID 200
#define THR (2 * NS_PER_S)
#define NOW (1000 * NS_PER_S)
#define T0 (NOW - 10 * NS_PER_S)
#define LOCK_A 0x7f0000001000ull
#define LOCK_B 0x7f0000002000ull
#define LOCK_C 0x7f0000003000ull
#define SYS_RECVFROM 45

/* Two threads, each holding the lock the other waits for. */
static void test_cycle_of_two(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_cycle cy;

	(void)state;
	world_waits_for(w, PID, 11, LOCK_A, 12, T0);
	world_waits_for(w, PID, 12, LOCK_B, 11, T0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 11, &cy), 2);
	assert_int_equal(cy.n, 2);
	assert_int_equal(cy.tid[0], 11);
	assert_int_equal(cy.lock[0], LOCK_A);	/* 11 waits for A, which 12 holds */
	assert_int_equal(cy.tid[1], 12);
	assert_int_equal(cy.lock[1], LOCK_B);
	/* the same cycle from the other member */
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 12, &cy), 2);
	assert_int_equal(cy.tid[0], 12);
	/* the holders are of another process: lock addresses of two processes may be equal */
	assert_int_equal(pyh_detect_cycle(&w->s, PID + 1, 11, &cy), 0);
	assert_int_equal(cy.n, 0);
	free(w);
}

static void test_cycle_of_three(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_cycle cy;

	(void)state;
	world_waits_for(w, PID, 21, LOCK_A, 22, T0);
	world_waits_for(w, PID, 22, LOCK_B, 23, T0);
	world_waits_for(w, PID, 23, LOCK_C, 21, T0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 22, &cy), 3);
	assert_int_equal(cy.tid[0], 22);
	assert_int_equal(cy.tid[1], 23);
	assert_int_equal(cy.tid[2], 21);
	assert_int_equal(cy.lock[0], LOCK_B);
	assert_int_equal(cy.lock[1], LOCK_C);
	assert_int_equal(cy.lock[2], LOCK_A);
	free(w);
}

/* 3.14's PyMutex: each waiter parks on a futex of its own; the lock is the
 * one the probes saw it start to acquire. */
static void test_cycle_of_parked_waiters(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_cycle cy;

	(void)state;
	world_holds(w, PID, 12, LOCK_A);
	world_holds(w, PID, 11, LOCK_B);
	world_lock_wait(w, PID, 11, 0x7f00000a0000ull, T0);	/* 11's own parking futex */
	world_lock_wait(w, PID, 12, 0x7f00000b0000ull, T0);
	/* without the acquires, the futex words name no lock: nothing known */
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 11, &cy), 0);
	world_acquires(w, PID, 11, LOCK_A);
	world_acquires(w, PID, 12, LOCK_B);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 11, &cy), 2);
	assert_int_equal(cy.tid[0], 11);
	assert_int_equal(cy.lock[0], LOCK_A);
	assert_int_equal(cy.tid[1], 12);
	assert_int_equal(cy.lock[1], LOCK_B);
	free(w);
}

/* A holder that is itself blocked, but not on a lock of the chain: no cycle. */
static void test_holder_blocked_elsewhere(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wcall *c;
	struct pyh_cycle cy;

	(void)state;
	world_waits_for(w, PID, 31, LOCK_A, 32, T0);
	c = world_call(w, PID, 32, SYS_RECVFROM, T0, 7);	/* holds A, waits on a socket */
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 31, &cy), 0);
	/* waits in futex() for a lock whose holder is unknown */
	c->c.nr = SYS_futex;
	c->c.args[0] = LOCK_B;
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 31, &cy), 0);
	/* for a lock a third thread holds, that waits on nothing */
	world_holds(w, PID, 33, LOCK_B);
	world_call(w, PID, 33, SYS_RECVFROM, 0, 0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 31, &cy), 0);
	/* a holder not seen in any call */
	world_holds(w, PID, 34, LOCK_C);
	c->c.args[0] = LOCK_C;
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 31, &cy), 0);
	free(w);
}

/* Chains that come back, but not to the thread asked about, or to itself at once. */
static void test_not_a_cycle_through_tid(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_cycle cy;

	(void)state;
	/* 41 -> 42 -> 43 -> 42: 42 and 43 deadlock, 41 waits on them */
	world_waits_for(w, PID, 41, LOCK_A, 42, T0);
	world_waits_for(w, PID, 42, LOCK_B, 43, T0);
	world_waits_for(w, PID, 43, LOCK_C, 42, T0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 41, &cy), 0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 42, &cy), 2);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 43, &cy), 2);
	free(w);

	/* waiting for a lock it holds itself (a non-reentrant lock taken twice) */
	w = world_new(NOW, THR);
	world_waits_for(w, PID, 44, LOCK_A, 44, T0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 44, &cy), 0);
	/* a thread in no futex wait starts no cycle */
	world_call(w, PID, 45, SYS_RECVFROM, T0, 0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 45, &cy), 0);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 46, &cy), 0);	/* unknown thread */
	free(w);
}

/* A ring longer than the chain followed is not reported. */
static void test_cycle_longer_than_chain(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_cycle cy;
	int n;

	(void)state;
	for (n = 2; n <= PYH_WATCH_CHAIN_MAX + 1; n++) {
		w->s.ncalls = 0;
		w->nholders = 0;
		for (int i = 0; i < n; i++)
			world_waits_for(w, PID, 500 + (uint32_t)i, LOCK_A + (uint64_t)i * 64, 500 + (i + 1) % n, T0);
		assert_int_equal(pyh_detect_cycle(&w->s, PID, 500, &cy), n <= PYH_WATCH_CHAIN_MAX ? n : 0);
	}
	free(w);
}

/* The members of a reported cycle are judged: none reported again as blocked. */
static void test_cycle_mark(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *a = world_waits_for(w, PID, 11, LOCK_A, 12, T0);
	struct pyh_wcall *b = world_waits_for(w, PID, 12, LOCK_B, 11, T0 + NS_PER_S);
	struct pyh_cycle cy;

	(void)state;
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 11), a, &w->s), 1);
	assert_int_equal(pyh_detect_cycle(&w->s, PID, 11, &cy), 2);
	pyh_detect_cycle_mark(tt, &w->s, &cy);
	assert_int_equal(pyh_wthreads_find(tt, 11)->blk.state, PYH_BLK_DEADLOCK);
	assert_int_equal(pyh_wthreads_find(tt, 12)->blk.state, PYH_BLK_DEADLOCK);
	assert_int_equal(pyh_wthreads_find(tt, 12)->blk.start, T0 + NS_PER_S);
	assert_int_equal(pyh_detect_blocked_due(pyh_wthreads_get(tt, 12), b, &w->s), 0);
	/* and when the waits end, both ends are reported */
	assert_int_equal(pyh_detect_returned(pyh_wthreads_find(tt, 11), T0), 1);
	assert_int_equal(pyh_detect_returned(pyh_wthreads_find(tt, 12), T0 + NS_PER_S), 1);
	pyh_wthreads_free(tt);
	free(w);
}

/* Mark tid's futex wait (c) reported, in a lock acquire with an unknown holder. */
static void wait_in_acquire(struct pyh_wthreads *tt, struct world *w, const struct pyh_wcall *c)
{
	struct pyh_blocked_facts f = { .python = 1, .futex = 1, .in_acquire = 1 };
	struct pyh_wthr *t = pyh_wthreads_get(tt, (pid_t)c->tid);

	assert_int_equal(pyh_detect_blocked_due(t, c, &w->s), 1);
	assert_int_equal(pyh_detect_blocked_verdict(t, &f), PYH_BLK_REPORTED);
}

static void test_possible_deadlock(void **state)
{
	struct world *w = world_new(NOW, THR);
	struct pyh_wthreads *tt = pyh_wthreads_new();
	struct pyh_wcall *a = world_lock_wait(w, PID, 61, LOCK_A, T0);
	struct pyh_wcall *b = world_lock_wait(w, PID, 62, LOCK_B, T0);
	struct pyh_wcall *c = world_lock_wait(w, PID, 63, LOCK_C, T0);
	pid_t who[PYH_WATCH_EV_MAX_THREADS];
	int reported = 0, other = 0;

	(void)state;
	wait_in_acquire(tt, w, a);
	assert_int_equal(pyh_detect_possible_deadlock(&w->s, PID, tt, &reported, who), 0);	/* one alone */
	wait_in_acquire(tt, w, b);
	assert_int_equal(pyh_detect_possible_deadlock(&w->s, PID, tt, &reported, who), 2);
	assert_int_equal(who[0], 61);
	assert_int_equal(who[1], 62);
	assert_int_equal(pyh_detect_possible_deadlock(&w->s, PID, tt, &reported, who), 0);	/* once */
	assert_int_equal(pyh_detect_possible_deadlock(&w->s, PID + 1, tt, &other, who), 0);
	wait_in_acquire(tt, w, c);
	assert_int_equal(pyh_detect_possible_deadlock(&w->s, PID, tt, &reported, who), 3);	/* one more */
	/* two of them got their lock and wait elsewhere now: fewer than 2 */
	a->c.start_ns = NOW - NS_PER_S / 2;
	b->c.start_ns = 0;
	assert_int_equal(pyh_detect_possible_deadlock(&w->s, PID, tt, &reported, who), 0);
	assert_int_equal(reported, 0);
	pyh_wthreads_free(tt);
	free(w);
}

static void test_in_acquire(void **state)
{
	struct pyh_frame f[] = {
		pyh_test_frame("acquire", "Lock.acquire", "/app/locks.py", 10),
		pyh_test_frame("__enter__", "Guard.__enter__", "/app/locks.py", 20),
		pyh_test_frame("transfer", "Bank.transfer", "/app/bank.py", 30),
		pyh_test_frame("wait", "Condition.wait", "/usr/lib/python3.12/threading.py", 320),
		pyh_test_frame("join", "Thread.join", "/usr/lib/python2.7/threading.py", 940),
	};
	struct pyh_frame unreadable = { .line = 5 };

	(void)state;
	assert_int_equal(pyh_detect_in_acquire(&f[0], NULL), 1);
	assert_int_equal(pyh_detect_in_acquire(&f[1], NULL), 1);
	assert_int_equal(pyh_detect_in_acquire(&f[2], "with self.lock_a:"), 1);
	assert_int_equal(pyh_detect_in_acquire(&f[2], "self.lock_b.acquire()"), 1);
	assert_int_equal(pyh_detect_in_acquire(&f[2], "time.sleep(1)"), 0);
	assert_int_equal(pyh_detect_in_acquire(&f[2], "without = 1"), 0);
	assert_int_equal(pyh_detect_in_acquire(&f[2], NULL), 0);	/* no source */
	assert_int_equal(pyh_detect_in_acquire(&f[3], "with self._lock:"), 0);
	assert_int_equal(pyh_detect_in_acquire(&f[4], "self.__block.acquire()"), 0);
	assert_int_equal(pyh_detect_in_acquire(&unreadable, "with a:"), 0);
	assert_int_equal(pyh_detect_in_acquire(NULL, "with a:"), 0);
	PYH_TEST_RELEASE(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cycle_of_two),
		cmocka_unit_test(test_cycle_of_three),
		cmocka_unit_test(test_cycle_of_parked_waiters),
		cmocka_unit_test(test_holder_blocked_elsewhere),
		cmocka_unit_test(test_not_a_cycle_through_tid),
		cmocka_unit_test(test_cycle_longer_than_chain),
		cmocka_unit_test(test_cycle_mark),
		cmocka_unit_test(test_possible_deadlock),
		cmocka_unit_test(test_in_acquire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
