/* Tests for src/kernel/taskinfo.c: the BPF task iterator's fs base of every
 * thread of a live Python child equals that thread's pthread_self(), which
 * Python reports as threading.get_ident(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/taskinfo.h"

#define PY312 "/root/.pyenv/versions/3.12.1/bin/python"

/* Prints "native_id ident" for the main thread and two more, then sleeps. */
static const char child_code[] =
	"import threading, time, sys\n"
	"ready = threading.Barrier(3)\n"
	"lock = threading.Lock()\n"
	"def report():\n"
	"    with lock:\n"
	"        print(threading.get_native_id(), threading.get_ident(), flush=True)\n"
	"def worker():\n"
	"    report(); ready.wait(); time.sleep(100)\n"
	"for _ in range(2):\n"
	"    threading.Thread(target=worker, daemon=True).start()\n"
	"report(); ready.wait()\n"
	"print('ready', flush=True)\n"
	"time.sleep(100)\n";

static void test_fsbase_is_pthread_self(void **state)
{
	struct pyh_fsbase fb[16];
	pid_t tids[3];
	uint64_t idents[3];
	char line[128];
	int p[2], n = -1, err, got = 0;
	FILE *f;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		dup2(p[1], 1);
		close(p[0]);
		execl(PY312, PY312, "-c", child_code, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	close(p[1]);
	f = fdopen(p[0], "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && strncmp(line, "ready", 5) != 0) {
		int tid;
		unsigned long long ident;

		assert_true(got < 3);
		assert_int_equal(sscanf(line, "%d %llu", &tid, &ident), 2);
		tids[got] = tid;
		idents[got] = ident;
		got++;
	}
	assert_int_equal(got, 3);

	err = pyh_taskinfo_fsbase(pid, fb, 16, &n);
	assert_int_equal(err, 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		int found = 0;

		for (int j = 0; j < n; j++) {
			if (fb[j].tid != tids[i])
				continue;
			assert_true(fb[j].fsbase == idents[i]);
			found = 1;
		}
		assert_true(found);
	}
	/* max bounds the output. */
	assert_int_equal(pyh_taskinfo_fsbase(pid, fb, 1, &n), 0);
	assert_int_equal(n, 1);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fclose(f);
	/* Gone: no thread to report. */
	assert_int_equal(pyh_taskinfo_fsbase(pid, fb, 16, &n), -ESRCH);
	assert_int_equal(n, 0);
}

/* Our own fs base, from the kernel, is our pthread_self(). */
static void test_self(void **state)
{
	struct pyh_fsbase fb[4];
	int n = -1;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(pyh_taskinfo_fsbase(getpid(), fb, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fb[0].tid, getpid());
	assert_true(fb[0].fsbase == (uint64_t)pthread_self());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsbase_is_pthread_self),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
