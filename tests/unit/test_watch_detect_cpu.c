/* The watch detectors that watch the CPU: spinning (the same stack on the
 * CPU for the threshold, judged from stacks given as input) and GIL
 * starvation. Synthetic looks at one thread every PYH_TEST_TICK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "watch_fixture.h"

#define PID 300
#define TID 301
#define THR (2 * NS_PER_S)
#define T0 (1000 * NS_PER_S)
#define TICK (NS_PER_S / 5)	/* the engine's scan period, 200 ms */

#define FRAME(c, o) { .code = (c), .offset = (o) }
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A thread looked at by the spinning detector: its run time so far and the scan. */
struct spinner {
	struct pyh_wthr t;
	struct world *w;
	uint64_t run;
};

static struct spinner *spinner_new(void)
{
	struct spinner *sp = calloc(1, sizeof(*sp));

	if (!sp)
		abort();
	sp->t.tid = TID;
	sp->w = world_new(T0, THR);
	return sp;
}

static void spinner_free(struct spinner *sp)
{
	free(sp->w);
	free(sp);
}

/* Look at the thread dt after the last look; it ran percent of dt meanwhile
 * and is (call non-NULL) or was in a call; its stack is frames[0..n). */
static enum pyh_spin look(struct spinner *sp, uint64_t dt, unsigned percent, const struct pyh_watch_call *call,
			  const struct pyh_raw_frame *frames, int n, int whole)
{
	sp->w->s.now_ns += dt;
	sp->run += dt * percent / 100;
	return pyh_detect_spin(&sp->t, sp->run, call, frames, n, whole, &sp->w->s);
}

static const struct pyh_raw_frame STACK[] = { FRAME(0x1000, 10), FRAME(0x2000, 20), FRAME(0x3000, 30) };

/* The same stack on the CPU past the threshold: spinning, reported once. */
static void test_spin_same_stack_reported_once(void **state)
{
	struct spinner *sp = spinner_new();
	int reports = 0, hung = 0;

	(void)state;
	assert_int_equal(look(sp, 0, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_OFF_CPU);	/* first look */
	assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_NEW);
	assert_int_equal(sp->t.spin.since, T0);
	for (int i = 0; i < 30; i++) {
		enum pyh_spin v = look(sp, TICK, 100, NULL, STACK, N(STACK), 1);

		if (v == PYH_SPIN_REPORT) {
			reports++;
			/* reported at the first look THR after it was first seen there */
			assert_int_equal(sp->w->s.now_ns, T0 + THR);
		}
		hung += v == PYH_SPIN_HUNG;
	}
	assert_int_equal(reports, 1);
	assert_int_equal(hung, 30 - 9);
	spinner_free(sp);
}

static void test_spin_threshold_edges(void **state)
{
	struct spinner *sp = spinner_new();

	(void)state;
	look(sp, 0, 100, NULL, STACK, N(STACK), 1);
	assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_NEW);	/* since T0 */
	assert_int_equal(look(sp, THR - TICK - 1, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_SAME);
	assert_int_equal(sp->w->s.now_ns, T0 + THR - 1);	/* 1 ns short */
	assert_int_equal(look(sp, 1, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_REPORT);	/* exactly */
	spinner_free(sp);

	sp = spinner_new();
	look(sp, 0, 100, NULL, STACK, N(STACK), 1);
	look(sp, TICK, 100, NULL, STACK, N(STACK), 1);
	assert_int_equal(look(sp, THR, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_REPORT);	/* just over */
	spinner_free(sp);
}

/* A loop that goes round two stacks differing by one frame (a deeper call,
 * another call site, another function): spinning, reported once the
 * threshold has passed and no new stack came for half of it. */
static void test_spin_loop_of_two_stacks(void **state)
{
	static const struct pyh_raw_frame deeper[] = { FRAME(0x4000, 0), FRAME(0x1000, 10), FRAME(0x2000, 20),
						       FRAME(0x3000, 30) };
	static const struct pyh_raw_frame other_site[] = { FRAME(0x1000, 10), FRAME(0x2000, 22), FRAME(0x3000, 30) };
	static const struct pyh_raw_frame other_code[] = { FRAME(0x1000, 10), FRAME(0x2800, 20), FRAME(0x3000, 30) };
	const struct pyh_raw_frame *alt[] = { deeper, other_site, other_code };
	const int nalt[] = { N(deeper), N(other_site), N(other_code) };

	(void)state;
	for (int k = 0; k < 3; k++) {
		struct spinner *sp = spinner_new();
		int reports = 0;

		look(sp, 0, 100, NULL, STACK, N(STACK), 1);
		assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_NEW);	/* since T0 */
		for (int i = 0; i < 40; i++) {
			enum pyh_spin v = i % 2 ? look(sp, TICK, 100, NULL, STACK, N(STACK), 1)
						: look(sp, TICK, 100, NULL, alt[k], nalt[k], 1);

			assert_int_not_equal(v, PYH_SPIN_NEW);
			if (v == PYH_SPIN_REPORT) {
				reports++;
				assert_int_equal(sp->w->s.now_ns, T0 + THR);	/* the second stack came at once */
			}
		}
		assert_int_equal(reports, 1);
		spinner_free(sp);
	}
}

/* A loop whose stacks keep coming for a while: the report waits for half the
 * threshold without a new one. */
static void test_spin_loop_still_growing(void **state)
{
	struct spinner *sp = spinner_new();
	struct pyh_raw_frame f[N(STACK)];
	uint64_t last_new = 0;
	int i;

	(void)state;
	memcpy(f, STACK, sizeof(f));
	look(sp, 0, 100, NULL, f, N(f), 1);
	look(sp, TICK, 100, NULL, f, N(f), 1);	/* since T0 */
	for (i = 1; i < 15; i++) {	/* a new call site every look, 14 of them: within the bound */
		f[1].offset = (uint32_t)(100 + i);
		assert_int_equal(look(sp, TICK, 100, NULL, f, N(f), 1), PYH_SPIN_SAME);
		last_new = sp->w->s.now_ns;
	}
	/* past the threshold since T0, but the last new stack is recent */
	for (;;) {
		enum pyh_spin v = look(sp, TICK, 100, NULL, f, N(f), 1);

		if (v == PYH_SPIN_REPORT)
			break;
		assert_int_equal(v, PYH_SPIN_SAME);
	}
	assert_true(sp->w->s.now_ns >= last_new + THR / 2);
	assert_true(sp->w->s.now_ns < last_new + THR / 2 + TICK);
	spinner_free(sp);
}

/* Changing work: a new stack at every look. Past PYH_SPIN_MAX_STACKS the
 * clock starts again, so it is never spinning however long it runs. */
static void test_spin_changing_work_never(void **state)
{
	struct spinner *sp = spinner_new();
	struct pyh_raw_frame f[N(STACK)];
	int news = 0;

	(void)state;
	memcpy(f, STACK, sizeof(f));
	look(sp, 0, 100, NULL, f, N(f), 1);
	for (int i = 0; i < 400; i++) {	/* 80 s on the CPU */
		enum pyh_spin v;

		f[2].code = 0x10000 + (uint64_t)i * 0x100;
		v = look(sp, TICK, 100, NULL, f, N(f), 1);
		assert_true(v == PYH_SPIN_NEW || v == PYH_SPIN_SAME);
		news += v == PYH_SPIN_NEW;
	}
	assert_int_equal(news, (400 + PYH_SPIN_MAX_STACKS - 1) / PYH_SPIN_MAX_STACKS);
	spinner_free(sp);
}

/* Only the innermost frame's instruction moves (a loop in one function): spinning. */
static void test_spin_loop_in_innermost_frame(void **state)
{
	struct spinner *sp = spinner_new();
	struct pyh_raw_frame f[N(STACK)];
	int reports = 0;

	(void)state;
	memcpy(f, STACK, sizeof(f));
	look(sp, 0, 100, NULL, f, N(f), 1);
	for (int i = 0; i < 20; i++) {
		f[0].offset = (uint32_t)(10 + 2 * (i % 7));
		reports += look(sp, TICK, 100, NULL, f, N(f), 1) == PYH_SPIN_REPORT;
	}
	assert_int_equal(reports, 1);
	spinner_free(sp);
}

/* Off the CPU for a look (too little run time, a wait started or ended): the clock starts again. */
static void test_spin_off_cpu(void **state)
{
	struct spinner *sp = spinner_new();
	struct pyh_watch_call waiting = { .start_ns = 1, .tgid = PID };
	struct pyh_watch_call woke = { .tgid = PID };
	struct pyh_watch_call earlier = { .tgid = PID, .end_ns = 5 };

	(void)state;
	look(sp, 0, 100, NULL, STACK, N(STACK), 1);
	assert_int_equal(look(sp, TICK, PYH_SPIN_MIN_CPU_PERCENT - 1, NULL, STACK, N(STACK), 1), PYH_SPIN_OFF_CPU);
	assert_int_equal(look(sp, TICK, PYH_SPIN_MIN_CPU_PERCENT, NULL, STACK, N(STACK), 1), PYH_SPIN_NEW);
	assert_int_equal(look(sp, TICK, PYH_SPIN_MIN_CPU_PERCENT, &earlier, STACK, N(STACK), 1), PYH_SPIN_SAME);
	assert_int_equal(look(sp, TICK, 100, &waiting, STACK, N(STACK), 1), PYH_SPIN_LEFT);
	assert_int_equal(sp->t.spin.since, 0);
	assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_NEW);
	woke.end_ns = sp->w->s.now_ns + TICK / 2;	/* slept and woke up in the next interval */
	assert_int_equal(look(sp, TICK, 100, &woke, STACK, N(STACK), 1), PYH_SPIN_LEFT);
	/* it ran less than it did before: another thread reused the tid */
	sp->run -= 2 * TICK;
	assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_OFF_CPU);
	assert_int_equal(pyh_detect_spin_ran(&sp->t, sp->run + TICK, NULL, sp->w->s.now_ns + TICK), 1);
	spinner_free(sp);
}

/* A stack not read whole is judged at the next look, without starting the clock again. */
static void test_spin_torn_read(void **state)
{
	struct spinner *sp = spinner_new();
	int reports = 0;

	(void)state;
	look(sp, 0, 100, NULL, STACK, N(STACK), 1);
	assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_NEW);
	for (int i = 0; i < 9; i++) {
		enum pyh_spin v = i % 3 ? look(sp, TICK, 100, NULL, STACK, N(STACK), 0)
					: look(sp, TICK, 100, NULL, STACK, i ? N(STACK) : 0, i ? 1 : 0);

		assert_true(v == PYH_SPIN_TORN || v == PYH_SPIN_SAME || v == PYH_SPIN_REPORT);
		reports += v == PYH_SPIN_REPORT;
	}
	assert_int_equal(look(sp, TICK, 100, NULL, STACK, N(STACK), 1), PYH_SPIN_REPORT);
	assert_int_equal(reports, 0);	/* the look at T0 + THR was torn */
	assert_int_equal(sp->w->s.now_ns, T0 + THR + TICK);
	/* not a Python thread: no stack at all */
	assert_int_equal(look(sp, TICK, 100, NULL, NULL, -ESRCH, 0), PYH_SPIN_TORN);
	spinner_free(sp);
}

static void test_spin_signature(void **state)
{
	struct pyh_raw_frame a[N(STACK)], b[N(STACK)];

	(void)state;
	memcpy(a, STACK, sizeof(a));
	memcpy(b, STACK, sizeof(b));
	assert_true(pyh_spin_signature(a, N(a)) == pyh_spin_signature(b, N(b)));
	b[0].offset = 99;	/* the innermost call site does not count */
	assert_true(pyh_spin_signature(a, N(a)) == pyh_spin_signature(b, N(b)));
	b[2].offset = 99;
	assert_true(pyh_spin_signature(a, N(a)) != pyh_spin_signature(b, N(b)));
	assert_true(pyh_spin_signature(a, 2) != pyh_spin_signature(a, 3));
}

/* GIL starvation at the threshold edges, once per wait. */
static void test_gil_threshold_edges(void **state)
{
	struct world *w = world_new(T0, THR);
	struct pyh_wthr t = { .tid = TID };
	struct pyh_wgil *under = world_gil_wait(w, PID, TID, T0 - THR + 1);
	struct pyh_wgil *at = world_gil_wait(w, PID, TID + 1, T0 - THR);
	struct pyh_wgil *later = world_gil_wait(w, PID, TID + 2, T0 + 1);
	struct pyh_wgil *none = world_gil_wait(w, PID, TID + 3, 0);
	struct pyh_wthr t2 = { .tid = TID + 1 };

	(void)state;
	assert_int_equal(pyh_detect_gil(&t, under, &w->s), PYH_GIL_NO);
	assert_int_equal(pyh_detect_gil(&t2, at, &w->s), PYH_GIL_REPORT);
	assert_int_equal(pyh_detect_gil(&t2, at, &w->s), PYH_GIL_HUNG);	/* once */
	assert_int_equal(pyh_detect_gil(&t, later, &w->s), PYH_GIL_NO);
	assert_int_equal(pyh_detect_gil(&t, none, &w->s), PYH_GIL_NO);
	/* nothing remembered: hung, never reported */
	assert_int_equal(pyh_detect_gil(NULL, at, &w->s), PYH_GIL_HUNG);
	assert_int_equal(pyh_detect_gil(NULL, under, &w->s), PYH_GIL_NO);
	w->s.now_ns += 1;
	assert_int_equal(pyh_detect_gil(&t, under, &w->s), PYH_GIL_REPORT);	/* just over */
	free(w);
}

/* The holder releases the GIL just before the threshold: no report. The
 * waiter's next wait is judged on its own. */
static void test_gil_released_in_time(void **state)
{
	struct world *w = world_new(T0, THR);
	struct pyh_wthr t = { .tid = TID };
	uint64_t start = T0 - THR + TICK / 10;
	struct pyh_wgil *g = world_gil_wait(w, PID, TID, start);
	int reports = 0;

	(void)state;
	/* scans up to 1 ns before the threshold */
	for (w->s.now_ns = start; w->s.now_ns < start + THR; w->s.now_ns += TICK)
		reports += pyh_detect_gil(&t, g, &w->s) == PYH_GIL_REPORT;
	w->s.now_ns = start + THR - 1;
	reports += pyh_detect_gil(&t, g, &w->s) == PYH_GIL_REPORT;
	assert_int_equal(reports, 0);
	/* got it: the entry is gone (nothing to judge); waits again 1 ms later */
	g->g.start_ns = start + THR + NS_PER_S / 1000;
	w->s.now_ns = g->g.start_ns + THR - 1;
	assert_int_equal(pyh_detect_gil(&t, g, &w->s), PYH_GIL_NO);
	w->s.now_ns++;
	assert_int_equal(pyh_detect_gil(&t, g, &w->s), PYH_GIL_REPORT);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spin_same_stack_reported_once),
		cmocka_unit_test(test_spin_threshold_edges),
		cmocka_unit_test(test_spin_loop_of_two_stacks),
		cmocka_unit_test(test_spin_loop_still_growing),
		cmocka_unit_test(test_spin_changing_work_never),
		cmocka_unit_test(test_spin_loop_in_innermost_frame),
		cmocka_unit_test(test_spin_off_cpu),
		cmocka_unit_test(test_spin_torn_read),
		cmocka_unit_test(test_spin_signature),
		cmocka_unit_test(test_gil_threshold_edges),
		cmocka_unit_test(test_gil_released_in_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
