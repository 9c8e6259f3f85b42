/* The host tracker (host/host.h) with a user that is full: a Python process
 * refused for capacity waits and is attached when room frees, never given up.
 * Two live Python children; needs root (reads their memory). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock/clock.h"
#include "host/host.h"

#define PY "/root/.pyenv/versions/3.12.1/bin/python"

struct user {
	pid_t kids[2];
	pid_t attached[4];
	int n, cap, refusals;
};

static int is_kid(const struct user *u, pid_t pid)
{
	return pid == u->kids[0] || pid == u->kids[1];
}

static int attach(void *arg, const struct pyh_target *t, const struct pyh_host_proc *p, uint32_t gen)
{
	struct user *u = arg;

	(void)p;
	(void)gen;
	if (!is_kid(u, t->pid))
		return -EPERM;	/* other Python processes on the host: not ours */
	if (u->n >= u->cap) {
		u->refusals++;
		return -E2BIG;
	}
	u->attached[u->n++] = t->pid;
	return 0;
}

static void detach(void *arg, pid_t pid)
{
	struct user *u = arg;

	for (int i = 0; i < u->n; i++)
		if (u->attached[i] == pid)
			u->attached[i] = u->attached[--u->n];
}

static pid_t spawn_python(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(PY, PY, "-c", "import time; time.sleep(600)", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int has(const struct user *u, pid_t pid)
{
	for (int i = 0; i < u->n; i++)
		if (u->attached[i] == pid)
			return 1;
	return 0;
}

static void test_waits_for_room(void **state)
{
	struct pyh_host_ops ops = { .attach = attach, .detach = detach };
	struct user u = { .cap = 1 };
	struct pyh_host_tracker *tr;
	struct pyh_host_stats st;
	uint64_t now;

	(void)state;
	if (geteuid() != 0 || access(PY, X_OK))
		skip();
	u.kids[0] = spawn_python();
	usleep(300 * 1000);	/* the first one is surely Python by the scan */
	u.kids[1] = spawn_python();
	usleep(700 * 1000);
	tr = pyh_host_tracker_new(&ops, &u, getpid());
	assert_non_null(tr);
	now = pyh_mono_ms();
	pyh_host_tracker_scan(tr, now);
	for (int i = 0; i < 50 && u.n < 1; i++) {
		usleep(20 * 1000);
		pyh_host_tracker_tick(tr, pyh_mono_ms());
	}
	assert_int_equal(u.n, 1);
	assert_true(u.refusals >= 1);
	pyh_host_tracker_stats(tr, &st);
	assert_int_equal(st.refused_capacity, 1);
	assert_int_equal(st.waiting, 1);
	/* The attached one exits: the waiting one takes its place at once. */
	{
		pid_t first = u.attached[0], second = first == u.kids[0] ? u.kids[1] : u.kids[0];

		kill(first, SIGKILL);
		waitpid(first, NULL, 0);
		pyh_host_tracker_exit(tr, first);
		pyh_host_tracker_tick(tr, pyh_mono_ms());
		assert_true(has(&u, second));
		assert_false(has(&u, first));
	}
	pyh_host_tracker_stats(tr, &st);
	assert_int_equal(st.waiting, 0);
	pyh_host_tracker_free(tr);
	for (int i = 0; i < 2; i++) {
		kill(u.kids[i], SIGKILL);
		waitpid(u.kids[i], NULL, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_for_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
