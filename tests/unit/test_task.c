/* Tests for src/kernel/task.c against real processes: sleeping, spinning,
 * zombie and vanished children, a kernel thread, and threads of our own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel/task.h"
#include "proc/procfs.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Poll (up to 5 s) until the child is blocked in system call nr. */
static int wait_in_syscall(pid_t pid, long nr, struct pyh_task_info *ti)
{
	for (int i = 0; i < 500; i++) {
		if (pyh_task_info(pid, pid, ti) == 0 && ti->state == 'S' &&
		    ti->in_syscall && ti->syscall_nr == nr)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

static pid_t spawn_sleeper(const char *name)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);	/* never outlive a failed test */
		if (name)
			prctl(PR_SET_NAME, name, 0, 0, 0);
		for (;;)
			pause();
	}
	return pid;
}

static void test_sleeping_child(void **state)
{
	struct pyh_task_info ti;
	pid_t pid = spawn_sleeper(NULL);

	(void)state;
	assert_true(pid > 0);
	assert_int_equal(wait_in_syscall(pid, SYS_pause, &ti), 0);
	assert_int_equal(ti.tid, pid);
	assert_int_equal(ti.state, 'S');
	assert_string_equal(pyh_task_state_name(ti.state), "sleeping");
	assert_true(ti.sp != 0 && ti.pc != 0);
	assert_true(ti.wchan[0] != '\0');
	assert_true(ti.start_time > 0);
	reap(pid);
}

/* comm may hold ')' and spaces: stat must be split at the last ')'. */
static void test_comm_with_parens(void **state)
{
	struct pyh_task_info ti;
	pid_t pid = spawn_sleeper("a) b (S) 1 2");

	(void)state;
	assert_true(pid > 0);
	assert_int_equal(wait_in_syscall(pid, SYS_pause, &ti), 0);
	assert_string_equal(ti.comm, "a) b (S) 1 2");
	assert_int_equal(ti.state, 'S');
	reap(pid);
}

/* A thread asleep for 2 s reads as off CPU for about 2 s: the scheduler's
 * clock and ours agree once the per-CPU offset is taken out. */
static void test_offcpu_grows(void **state)
{
	struct pyh_task_info ti;
	pid_t pid = spawn_sleeper(NULL);

	(void)state;
	assert_true(pid > 0);
	assert_int_equal(wait_in_syscall(pid, SYS_pause, &ti), 0);
	sleep_ms(2000);
	assert_int_equal(pyh_task_info(pid, pid, &ti), 0);
	assert_true(ti.offcpu_s >= 1.5);
	assert_true(ti.offcpu_s <= 2.6);
	reap(pid);
}

static void test_spinning_child(void **state)
{
	struct pyh_task_info ti;
	volatile unsigned long x = 0;
	int seen = 0;
	pid_t pid = fork();

	(void)state;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		for (;;)
			x++;
	}
	assert_true(pid > 0);
	for (int i = 0; i < 100 && !seen; i++) {
		assert_int_equal(pyh_task_info(pid, pid, &ti), 0);
		if (ti.state == 'R') {
			assert_false(ti.in_syscall);
			assert_int_equal(ti.syscall_nr, -1);
			assert_true(ti.offcpu_s == -1);
			seen = 1;
		}
		sleep_ms(20);
	}
	assert_true(seen);
	assert_string_equal(pyh_task_state_name('R'), "running");
	reap(pid);
}

static void test_zombie_child(void **state)
{
	struct pyh_task_info ti;
	char st = '?';
	int kt = -1, found = 0;
	pid_t pid = fork();

	(void)state;
	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	for (int i = 0; i < 500 && !found; i++) {
		assert_int_equal(pyh_proc_state(pid, &st, &kt), 0);
		found = st == 'Z';
		if (!found)
			sleep_ms(10);
	}
	assert_true(found);
	assert_int_equal(kt, 0);
	assert_int_equal(pyh_task_info(pid, pid, &ti), 0);
	assert_int_equal(ti.state, 'Z');
	assert_string_equal(pyh_task_state_name(ti.state), "zombie");
	waitpid(pid, NULL, 0);
}

static void test_gone(void **state)
{
	struct pyh_task_info ti;
	pid_t tids[4];
	char st;
	int kt, n = -1;
	pid_t pid = spawn_sleeper(NULL);

	(void)state;
	assert_true(pid > 0);
	reap(pid);
	assert_int_equal(pyh_task_info(pid, pid, &ti), -ESRCH);
	assert_int_equal(pyh_proc_tasks(pid, tids, 4, &n), -ESRCH);
	assert_int_equal(n, 0);
	assert_int_equal(pyh_proc_state(pid, &st, &kt), -ESRCH);
	/* A tid that is not a thread of that process is gone too. */
	assert_int_equal(pyh_task_info(getpid(), pid, &ti), -ESRCH);
}

static void test_kthread(void **state)
{
	struct pyh_task_info ti;
	char st = '?';
	int kt = -1;

	(void)state;
	assert_int_equal(pyh_proc_state(2, &st, &kt), 0);	/* kthreadd */
	assert_int_equal(kt, 1);
	assert_int_equal(pyh_proc_state(getpid(), &st, &kt), 0);
	assert_int_equal(kt, 0);
	assert_int_equal(st, 'R');
	/* No user registers: not "in read()". */
	assert_int_equal(pyh_task_info(2, 2, &ti), 0);
	assert_string_equal(ti.comm, "kthreadd");
	assert_false(ti.in_syscall);
}

static pthread_barrier_t barrier;

static void *idle_thread(void *arg)
{
	pid_t *tid = arg;

	*tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	return NULL;
}

static int has(const pid_t *v, int n, pid_t x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static void test_list_threads(void **state)
{
	pthread_t th[2];
	pid_t tid[2], tids[16];
	struct pyh_task_info ti;
	int n = 0, before = 0;

	(void)state;
	/* the threads of this process before: the main one, and kernel/task.c's
	 * calibration thread once an earlier test measured an off-CPU time */
	assert_int_equal(pyh_proc_tasks(getpid(), tids, 16, &before), 0);
	pthread_barrier_init(&barrier, NULL, 3);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, idle_thread, &tid[i]), 0);
	pthread_barrier_wait(&barrier);
	assert_int_equal(pyh_proc_tasks(getpid(), tids, 16, &n), 0);
	assert_int_equal(n, before + 2);
	assert_true(has(tids, n, getpid()));
	assert_true(has(tids, n, tid[0]));
	assert_true(has(tids, n, tid[1]));
	assert_int_equal(pyh_proc_tasks(getpid(), tids, 2, &n), -E2BIG);
	assert_int_equal(n, 2);
	/* A thread blocked on the barrier is in futex(). */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(pyh_task_info(getpid(), tid[0], &ti), 0);
		if (ti.in_syscall)
			break;
		sleep_ms(5);
	}
	assert_int_equal(ti.syscall_nr, SYS_futex);
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(pyh_task_state_name('D'), "disk");
	assert_string_equal(pyh_task_state_name('T'), "stopped");
	assert_string_equal(pyh_task_state_name('t'), "stopped");
	assert_string_equal(pyh_task_state_name('X'), "dead");
	assert_string_equal(pyh_task_state_name('I'), "idle");
	assert_string_equal(pyh_task_state_name('?'), "unknown");
	assert_string_equal(pyh_task_state_name('\0'), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sleeping_child),
		cmocka_unit_test(test_comm_with_parens),
		cmocka_unit_test(test_offcpu_grows),
		cmocka_unit_test(test_spinning_child),
		cmocka_unit_test(test_zombie_child),
		cmocka_unit_test(test_gone),
		cmocka_unit_test(test_kthread),
		cmocka_unit_test(test_list_threads),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
