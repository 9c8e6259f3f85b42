/* The watch detector of asyncio tasks (pyh_detect_task): a task at the same
 * await point for the threshold is reported once, and resumed when it moves
 * on; idle waits are judged once and never reported; the task ignore rules
 * (pyh_ignore_task_match) and the "awaiting" / "resumed" events' writers.
 * Synthetic looks at one task every TICK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame_fixture.h"
#include "watch_fixture.h"
#include "watch/event.h"
#include "watch/ignore.h"

#define THR (2 * NS_PER_S)
#define T0 (1000 * NS_PER_S)
#define TICK (NS_PER_S / 2)	/* the engine looks every half threshold */
#define FUT 0x7f0000001000ull

static struct pyh_frame chain[3];

static int setup(void **state)
{
	(void)state;
	chain[0] = pyh_test_frame("wait", "Event.wait", "/usr/lib/python3.12/asyncio/locks.py", 212);
	chain[1] = pyh_test_frame("lookup", "lookup", "/app/requests.py", 23);
	chain[2] = pyh_test_frame("fetch", "fetch", "/app/requests.py", 27);
	for (int i = 0; i < 3; i++)
		chain[i].offset = 10u * (unsigned)(i + 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PYH_TEST_RELEASE(chain);
	return 0;
}

static enum pyh_task_verdict look(struct pyh_wtask *t, struct world *w, uint64_t dt, uint64_t sig, int idle)
{
	w->s.now_ns += dt;
	return pyh_detect_task(t, sig, idle, &w->s);
}

static void test_signature(void **state)
{
	uint64_t a = pyh_task_signature(chain, 3, FUT, 0);

	(void)state;
	assert_int_equal(pyh_task_signature(chain, 3, 0, 0), 0);	/* not suspended */
	assert_true(a != 0);
	assert_true(pyh_task_signature(chain, 0, FUT, 0) != 0);
	assert_true(pyh_task_signature(chain, 3, FUT + 16, 0) != a);	/* a new wait: a new future */
	chain[1].offset++;
	assert_true(pyh_task_signature(chain, 3, FUT, 0) != a);	/* another call site */
	chain[1].offset--;
	assert_true(pyh_task_signature(chain, 2, FUT, 0) != a);	/* another depth */
	assert_int_equal(pyh_task_signature(chain, 3, FUT, 0), a);
	/* the same addresses, another task (3.8+ names) or another task awaited */
	assert_true(pyh_task_signature(chain, 3, FUT, pyh_task_salt(0, "short-16")) !=
		    pyh_task_signature(chain, 3, FUT, pyh_task_salt(0, "short-15")));
	assert_true(pyh_task_salt(pyh_task_salt(0, "ab"), "c") != pyh_task_salt(pyh_task_salt(0, "a"), "bc"));
	assert_int_equal(pyh_task_salt(7, ""), 7);
	assert_int_equal(pyh_task_salt(7, NULL), 7);
}

/* At the same await point: SAME until exactly the threshold, REPORT once,
 * HUNG after; RESUMED when it moves, then a new clock. */
static void test_reported_once_then_resumed(void **state)
{
	struct world *w = world_new(T0, THR);
	struct pyh_wtask t = { .addr = 0x1000 };
	uint64_t sig = pyh_task_signature(chain, 3, FUT, 0), sig2 = pyh_task_signature(chain, 3, FUT + 64, 0);

	(void)state;
	assert_int_equal(look(&t, w, 0, sig, 0), PYH_TASK_MOVING);	/* first look: the clock starts */
	assert_int_equal(t.since, T0);
	assert_int_equal(look(&t, w, TICK, sig, 0), PYH_TASK_SAME);
	assert_int_equal(pyh_detect_task_due(&t, sig, &w->s), 0);
	w->s.now_ns = T0 + THR - 1;
	assert_int_equal(pyh_detect_task(&t, sig, 0, &w->s), PYH_TASK_SAME);
	w->s.now_ns = T0 + THR;				/* exactly the threshold counts */
	assert_int_equal(pyh_detect_task_due(&t, sig, &w->s), 1);
	assert_int_equal(pyh_detect_task(&t, sig, 0, &w->s), PYH_TASK_REPORT);
	assert_int_equal(pyh_detect_task_due(&t, sig, &w->s), 0);
	assert_int_equal(pyh_detect_task_gone(&t), 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(look(&t, w, TICK, sig, 0), PYH_TASK_HUNG);
	assert_int_equal(look(&t, w, TICK, sig2, 0), PYH_TASK_RESUMED);	/* a new wait */
	assert_int_equal(t.since, w->s.now_ns);
	assert_int_equal(pyh_detect_task_gone(&t), 0);
	assert_int_equal(look(&t, w, THR, sig2, 0), PYH_TASK_REPORT);		/* and that one hangs too */
	assert_int_equal(look(&t, w, TICK, 0, 0), PYH_TASK_RESUMED);		/* running now */
	assert_int_equal(t.since, 0);
	assert_int_equal(look(&t, w, TICK, 0, 0), PYH_TASK_MOVING);
	free(w);
}

/* A busy task seen at a new await point at every look is never reported. */
static void test_moving_never_reported(void **state)
{
	struct world *w = world_new(T0, THR);
	struct pyh_wtask t = { .addr = 0x1000 };

	(void)state;
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(look(&t, w, TICK, pyh_task_signature(chain, 3, FUT + 32 * (i % 3), 0), 0),
				 PYH_TASK_MOVING);
	for (int i = 0; i < 100; i++)	/* running or ready at every look */
		assert_int_equal(look(&t, w, TICK, i % 2 ? pyh_task_signature(chain, 3, FUT, 0) : 0, 0),
				 PYH_TASK_MOVING);
	free(w);
}

/* An idle wait is judged once at the threshold and never reported, nor resumed. */
static void test_idle(void **state)
{
	struct world *w = world_new(T0, THR);
	struct pyh_wtask t = { .addr = 0x1000 };
	uint64_t sig = pyh_task_signature(chain, 3, FUT, 0);

	(void)state;
	assert_int_equal(look(&t, w, 0, sig, 1), PYH_TASK_MOVING);
	assert_int_equal(look(&t, w, THR, sig, 1), PYH_TASK_IDLE);
	assert_int_equal(pyh_detect_task_due(&t, sig, &w->s), 0);	/* judged: not asked again */
	assert_int_equal(look(&t, w, THR, sig, 0), PYH_TASK_IDLE);
	assert_int_equal(pyh_detect_task_gone(&t), 0);
	assert_int_equal(look(&t, w, TICK, 0, 0), PYH_TASK_MOVING);	/* no "resumed" for it */
	free(w);
}

/* A clock going backwards (a look older than the first one) is never a hang. */
static void test_clock_backwards(void **state)
{
	struct world *w = world_new(T0, THR);
	struct pyh_wtask t = { .addr = 0x1000 };
	uint64_t sig = pyh_task_signature(chain, 3, FUT, 0);

	(void)state;
	look(&t, w, 0, sig, 0);
	w->s.now_ns = T0 - 10 * THR;
	assert_int_equal(pyh_detect_task_due(&t, sig, &w->s), 0);
	assert_int_equal(pyh_detect_task(&t, sig, 0, &w->s), PYH_TASK_SAME);
	free(w);
}

static void test_task_ignores(void **state)
{
	struct pyh_ignore ig = { .defaults = 1 };
	struct pyh_frame keepalive[] = {
		pyh_test_frame("start", "RequestHandler.start", "/usr/lib/python3/dist-packages/aiohttp/web_protocol.py",
			       500),
	};
	const char *why = NULL;

	(void)state;
	assert_int_equal(pyh_ignore_task_match(&ig, chain, 3, "event", &why), 0);
	assert_null(why);
	assert_int_equal(pyh_ignore_task_match(&ig, chain, 3, "sleep", &why), 1);
	assert_non_null(strstr(why, "asyncio.sleep"));
	assert_int_equal(pyh_ignore_task_match(&ig, chain, 3, "server", &why), 1);
	assert_int_equal(pyh_ignore_task_match(&ig, keepalive, 1, "io", &why), 1);
	assert_non_null(strstr(why, "keep-alive"));
	assert_int_equal(pyh_ignore_task_match(&ig, chain, 3, NULL, &why), 0);
	assert_int_equal(pyh_ignore_task_match(&ig, NULL, 0, NULL, &why), 0);
	/* the rule on aiohttp's start is for the innermost frame only: a handler
	 * running under it is not idle */
	{
		struct pyh_frame handler[] = { chain[0], keepalive[0] };

		assert_int_equal(pyh_ignore_task_match(&ig, handler, 2, "event", &why), 0);
	}
	ig.user[ig.nuser++] = "*/app/requests.py:fetch";	/* --ignore: any frame */
	assert_int_equal(pyh_ignore_task_match(&ig, chain, 3, "event", &why), 1);
	assert_string_equal(why, "*/app/requests.py:fetch");
	ig.nuser = 0;
	ig.defaults = 0;					/* --no-default-ignores */
	assert_int_equal(pyh_ignore_task_match(&ig, chain, 3, "sleep", &why), 0);
	assert_int_equal(pyh_ignore_task_match(&ig, keepalive, 1, "io", &why), 0);
	PYH_TEST_RELEASE(keepalive);
}

static struct pyh_wevent *awaiting_event(const char *kind)
{
	struct pyh_wevent *e = calloc(1, sizeof(*e));

	if (!e)
		abort();
	e->kind = kind;
	e->wall = 1700000000.25;
	e->pid = 42;
	e->seconds = 2.5;
	snprintf(e->cmdline, sizeof(e->cmdline), "python3 app.py");
	snprintf(e->version, sizeof(e->version), "3.12.1");
	e->nth = 1;
	e->th[0].tid = 42;
	e->th[0].seconds = 2.5;
	snprintf(e->th[0].comm, sizeof(e->th[0].comm), "python3");
	e->th[0].frames = calloc(3, sizeof(struct pyh_frame));
	if (!e->th[0].frames)
		abort();
	for (int i = 0; i < 3; i++)
		pyh_frame_copy(&e->th[0].frames[i], &chain[i]);
	e->th[0].nframes = 3;
	e->has_task = 1;
	e->task.id = 0x7f00beef;
	snprintf(e->task.name, sizeof(e->task.name), "request-1");
	e->task.state = "pending";
	snprintf(e->task.await_kind, sizeof(e->task.await_kind), "event");
	snprintf(e->task.await_detail, sizeof(e->task.await_detail), "Event 0x7f01 (not set, 3 waiters)");
	e->task.awaited_by[0] = 0x7f00cafe;
	snprintf(e->task.awaited_by_name[0], sizeof(e->task.awaited_by_name[0]), "main");
	e->task.nawaited_by = 1;
	return e;
}

static char *written(const struct pyh_wevent *e, int json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(json ? pyh_wevent_write_json(e, f) : pyh_wevent_write_text(e, f), 0);
	fclose(f);
	return buf;
}

static void test_event_writers(void **state)
{
	struct pyh_wevent *e = awaiting_event("awaiting");
	char *text = written(e, 0), *json = written(e, 1);

	(void)state;
	assert_non_null(strstr(text, "AWAITING: asyncio task request-1 (0x7f00beef) of process 42 has "
				     "awaited the same thing for 2.5 s"));
	assert_non_null(strstr(text, "  awaits event: Event 0x7f01 (not set, 3 waiters)\n"));
	assert_non_null(strstr(text, "  awaited by: main (0x7f00cafe)\n"));
	assert_non_null(strstr(text, "the task's loop: thread 42 \"python3\""));
	assert_true(strstr(text, "Event.wait") < strstr(text, "lookup"));
	assert_true(strstr(text, "lookup") < strstr(text, "fetch"));
	assert_non_null(strstr(json, "\"event\":\"awaiting\""));
	assert_non_null(strstr(json, "\"task\":{\"id\":\"0x7f00beef\",\"name\":\"request-1\",\"state\":\"pending\","
				     "\"awaiting\":{\"kind\":\"event\",\"detail\":\"Event 0x7f01 (not set, 3 waiters)\"},"
				     "\"awaited_by\":[{\"id\":\"0x7f00cafe\",\"name\":\"main\"}],\"awaited_by_more\":0}"));
	free(text);
	free(json);
	pyh_wevent_free(e);
	free(e);

	e = awaiting_event("resumed");
	e->task.finished = 1;
	text = written(e, 0);
	json = written(e, 1);
	assert_non_null(strstr(text, "RESUMED: asyncio task request-1 (0x7f00beef) of process 42 finished after 2.5 s"));
	assert_non_null(strstr(json, "\"finished\":true"));
	free(text);
	free(json);
	pyh_wevent_free(e);
	free(e);

	/* a task's name and what it awaits come from the target: never raw in the text */
	e = awaiting_event("awaiting");
	snprintf(e->task.name, sizeof(e->task.name), "evil\nAWAITING: forged\x1b[2J");
	snprintf(e->task.await_detail, sizeof(e->task.await_detail), "x\ny");
	text = written(e, 0);
	assert_null(strstr(text, "\nAWAITING: forged"));
	assert_null(strchr(text, '\x1b'));
	assert_null(strstr(text, "x\ny"));
	free(text);
	pyh_wevent_free(e);
	free(e);

	/* a blocked loop thread names the task whose step it runs */
	e = awaiting_event("blocked");
	e->task.nawaited_by = 0;
	text = written(e, 0);
	json = written(e, 1);
	assert_non_null(strstr(text, "  in the step of asyncio task request-1 (0x7f00beef)\n"));
	assert_non_null(strstr(json, "\"task\":{\"id\":\"0x7f00beef\",\"name\":\"request-1\"}"));
	free(text);
	free(json);
	e->has_task = 0;
	json = written(e, 1);
	assert_non_null(strstr(json, "\"task\":null"));
	free(json);
	pyh_wevent_free(e);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_reported_once_then_resumed),
		cmocka_unit_test(test_moving_never_reported),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_task_ignores),
		cmocka_unit_test(test_event_writers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
