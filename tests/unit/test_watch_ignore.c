/* pyhang watch: which waits are idle (ignored) and the event writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame_fixture.h"
#include "watch/ignore.h"
#include "watch/event.h"

#define F(fn, file, line) pyh_test_frame(fn, fn, file, line)

static void test_frame_patterns(void **state)
{
	struct pyh_frame f = F("get", "/usr/lib/python3.12/queue.py", 171);
	struct pyh_frame m = pyh_test_frame("run", "Server.run", "/srv/app/server.py", 3);

	(void)state;
	assert_int_equal(pyh_ignore_frame_match("get", &f), 1);
	assert_int_equal(pyh_ignore_frame_match("g*", &f), 1);
	assert_int_equal(pyh_ignore_frame_match("put", &f), 0);
	assert_int_equal(pyh_ignore_frame_match("*queue.py:get", &f), 1);
	assert_int_equal(pyh_ignore_frame_match("*/queue.py:get", &f), 1);
	assert_int_equal(pyh_ignore_frame_match("queue.py:get", &f), 0); /* FILE is the whole path */
	assert_int_equal(pyh_ignore_frame_match("*threading.py:get", &f), 0);
	assert_int_equal(pyh_ignore_frame_match("Server.run", &m), 1);	/* qualified name */
	assert_int_equal(pyh_ignore_frame_match("*/app/*.py:Server.*", &m), 1);
	assert_int_equal(pyh_ignore_frame_match(NULL, &m), 0);
	pyh_frame_release(&f);
	pyh_frame_release(&m);
}

static void test_default_rules(void **state)
{
	struct pyh_ignore ig = { .defaults = 1 };
	/* Queue.get from a user loop: idle. */
	struct pyh_frame q[] = {
		F("wait", "/x/lib/python3.12/threading.py", 320),
		F("get", "/x/lib/python3.12/queue.py", 171),
		F("worker", "/app/w.py", 10),
	};
	/* 2.7's module is Queue.py. */
	struct pyh_frame q27[] = {
		F("wait", "/x/lib/python2.7/threading.py", 340),
		F("get", "/x/lib/python2.7/Queue.py", 168),
		F("worker", "/app/w.py", 10),
	};
	/* Event.wait called from user code: a hang candidate, not idle. */
	struct pyh_frame ev[] = {
		F("wait", "/x/lib/python3.12/threading.py", 320),
		F("wait", "/x/lib/python3.12/threading.py", 622),
		F("main", "/app/w.py", 22),
	};
	/* selectors.select in serve_forever: idle; in user code: not. */
	struct pyh_frame srv[] = {
		F("select", "/x/lib/python3.12/selectors.py", 415),
		F("serve_forever", "/x/lib/python3.12/socketserver.py", 233),
	};
	struct pyh_frame usel[] = {
		F("select", "/x/lib/python3.12/selectors.py", 415),
		F("poll", "/app/w.py", 5),
	};
	/* A deadlock inside a ThreadPoolExecutor task is not idle: _worker is outer. */
	struct pyh_frame task[] = {
		F("transfer", "/app/bank.py", 12),
		F("run", "/x/lib/python3.12/concurrent/futures/thread.py", 58),
		F("_worker", "/x/lib/python3.12/concurrent/futures/thread.py", 83),
	};
	struct pyh_frame idle_worker[] = {
		F("_worker", "/x/lib/python3.12/concurrent/futures/thread.py", 89),
		F("run", "/x/lib/python3.12/threading.py", 1010),
	};
	const char *why = NULL;

	(void)state;
	assert_int_equal(pyh_ignore_match(&ig, q, 3, &why), 1);
	assert_non_null(why);
	assert_int_equal(pyh_ignore_match(&ig, q27, 3, NULL), 1);
	assert_int_equal(pyh_ignore_match(&ig, ev, 3, &why), 0);
	assert_null(why);
	assert_int_equal(pyh_ignore_match(&ig, srv, 2, NULL), 1);
	assert_int_equal(pyh_ignore_match(&ig, usel, 2, NULL), 0);
	assert_int_equal(pyh_ignore_match(&ig, task, 3, NULL), 0);
	assert_int_equal(pyh_ignore_match(&ig, idle_worker, 2, NULL), 1);
	assert_int_equal(pyh_ignore_match(&ig, q, 0, NULL), 0);
	/* --no-default-ignores */
	ig.defaults = 0;
	assert_int_equal(pyh_ignore_match(&ig, q, 3, NULL), 0);
	/* --ignore matches any frame */
	ig.user[ig.nuser++] = "*/app/w.py:main";
	assert_int_equal(pyh_ignore_match(&ig, ev, 3, &why), 1);
	assert_string_equal(why, "*/app/w.py:main");
	PYH_TEST_RELEASE(q);
	PYH_TEST_RELEASE(q27);
	PYH_TEST_RELEASE(ev);
	PYH_TEST_RELEASE(srv);
	PYH_TEST_RELEASE(usel);
	PYH_TEST_RELEASE(task);
	PYH_TEST_RELEASE(idle_worker);
}

static void test_json_event(void **state)
{
	struct pyh_wevent e;
	char *s;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.kind = "deadlock";
	e.pid = 42;
	e.wall = 1700000000.5;
	e.seconds = 2.5;
	snprintf(e.cmdline, sizeof(e.cmdline), "python \"x\".py");
	e.nth = 2;
	for (int i = 0; i < 2; i++) {
		e.th[i].tid = 43 + i;
		e.th[i].has_call = 1;
		e.th[i].nr = 202;
		e.th[i].lock = 0x1000u + (unsigned)i;
		e.th[i].holder = 44 - i;
		e.th[i].frames = calloc(1, sizeof(*e.th[i].frames));
		assert_non_null(e.th[i].frames);
		e.th[i].frames[0] = pyh_test_frame("first", "first", "/t/dead\tlock.py", 17 + i);
		e.th[i].nframes = 1;
	}
	s = pyh_wevent_json_string(&e);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"event\":\"deadlock\""));
	assert_non_null(strstr(s, "\"pid\":42"));
	assert_non_null(strstr(s, "\"tid\":43"));
	assert_non_null(strstr(s, "\"name\":\"futex\""));
	assert_non_null(strstr(s, "\"threads\":[{"));
	assert_non_null(strstr(s, "\"holder\":44"));
	assert_non_null(strstr(s, "\"line\":18"));
	assert_non_null(strstr(s, "python \\\"x\\\".py"));
	assert_non_null(strstr(s, "dead\\tlock.py"));
	assert_null(strchr(s, '\n'));
	free(s);
	pyh_wevent_free(&e);
	assert_int_equal(e.nth, 0);
	pyh_wevent_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_patterns),
		cmocka_unit_test(test_default_rules),
		cmocka_unit_test(test_json_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
