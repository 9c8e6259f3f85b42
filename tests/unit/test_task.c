/* Tests for src/kernel/task.c against real processes: sleeping, spinning,
 * zombie, stopped and vanished children, a kernel thread, and threads of our
 * own; each read from /proc and, where the store of pinned BPF programs is
 * there, from the kernel's task iterator too (kernel/taskinfo.h), which must
 * say the same. */
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
#include "kernel/taskinfo.h"
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

/* The iterator's view of tid (a thread of pid) as pyh_task_info_from makes
 * it. Returns 0, -ESRCH when the walk did not see it, or 1 when this machine
 * has no store of pinned programs (nothing to compare). */
static int kernel_view(pid_t pid, pid_t tid, struct pyh_task_info *ti)
{
	static struct pyh_taskinfo_thread_rec r[64];
	int n = 0, rc = pyh_taskinfo_threads(pid, r, 64, &n);

	/* another pyhang's dump holds the store's entry a moment: wait for it */
	for (int i = 0; i < 250 && rc == -EWOULDBLOCK; i++) {
		sleep_ms(20);
		rc = pyh_taskinfo_threads(pid, r, 64, &n);
	}
	if (rc == -EWOULDBLOCK)
		fprintf(stderr, "# the store's threads entry stayed busy for 5 s: /proc's view only\n");
	if (rc == -ENOENT || rc == -EPERM || rc == -EWOULDBLOCK)
		return 1;
	if (rc)
		return rc;
	for (int i = 0; i < n; i++)
		if (r[i].tid == (__u32)tid)
			return pyh_task_info_from(&r[i], ti);
	return -ESRCH;
}

/* /proc's and the kernel's view of a thread that stays as it is agree. */
static void assert_views_agree(pid_t pid, pid_t tid)
{
	struct pyh_task_info a, b;
	int rc;

	assert_int_equal(pyh_task_info(pid, tid, &a), 0);
	rc = kernel_view(pid, tid, &b);
	if (rc == 1)
		return;
	assert_int_equal(rc, 0);
	assert_int_equal(b.tid, a.tid);
	assert_string_equal(b.comm, a.comm);
	assert_int_equal(b.state, a.state);
	assert_int_equal(b.in_syscall, a.in_syscall);
	assert_int_equal(b.syscall_nr, a.syscall_nr);
	assert_memory_equal(b.args, a.args, sizeof(a.args));
	assert_true(b.sp == a.sp && b.pc == a.pc);
	assert_string_equal(b.wchan, a.wchan);
	assert_true(b.start_time == a.start_time);
	assert_true((b.offcpu_s < 0) == (a.offcpu_s < 0));
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
	assert_views_agree(pid, pid);
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
	assert_views_agree(pid, pid);
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
	if (kernel_view(pid, pid, &ti) == 0) {
		assert_true(ti.offcpu_s >= 1.5);
		assert_true(ti.offcpu_s <= 2.6);
	}
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
	for (int i = 0; i < 200 && seen < 2; i++) {
		if (i & 1) {
			int rc = kernel_view(pid, pid, &ti);

			if (rc == 1) {
				seen |= 2;	/* no store: /proc's view only */
				continue;
			}
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(pyh_task_info(pid, pid, &ti), 0);
		}
		if (ti.state == 'R') {
			assert_false(ti.in_syscall);
			assert_int_equal(ti.syscall_nr, -1);
			assert_true(ti.offcpu_s == -1);
			seen |= 1 << (i & 1);
		}
		sleep_ms(20);
	}
	assert_int_equal(seen, 3);
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
	if (kernel_view(pid, pid, &ti) != 1) {
		assert_int_equal(kernel_view(pid, pid, &ti), 0);
		assert_int_equal(ti.state, 'Z');
		assert_false(ti.in_syscall);
	}
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
	if (kernel_view(getpid(), getpid(), &ti) != 1) {
		struct pyh_taskinfo_thread_rec r[4];

		assert_int_equal(pyh_taskinfo_threads(pid, r, 4, &n), -ESRCH);
		assert_int_equal(n, 0);
		assert_int_equal(kernel_view(getpid(), pid, &ti), -ESRCH);
	}
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
	assert_views_agree(2, 2);
}

/* A stopped child: T in both views, and its saved registers are those it
 * stopped with (in pause()). */
static void test_stopped_child(void **state)
{
	struct pyh_task_info ti;
	pid_t pid = spawn_sleeper(NULL);
	int stopped = 0;

	(void)state;
	assert_true(pid > 0);
	assert_int_equal(wait_in_syscall(pid, SYS_pause, &ti), 0);
	kill(pid, SIGSTOP);
	for (int i = 0; i < 500 && !stopped; i++) {
		assert_int_equal(pyh_task_info(pid, pid, &ti), 0);
		stopped = ti.state == 'T';
		if (!stopped)
			sleep_ms(10);
	}
	assert_true(stopped);
	assert_views_agree(pid, pid);
	reap(pid);
}

/* The kernel's task_state_index(): the letter of each state bit, and the
 * states it reports as another. */
static void test_state_letters(void **state)
{
	(void)state;
	assert_int_equal(pyh_task_state_letter(0, 0), 'R');
	assert_int_equal(pyh_task_state_letter(0x1, 0), 'S');
	assert_int_equal(pyh_task_state_letter(0x101, 0), 'S');	/* | TASK_WAKEKILL */
	assert_int_equal(pyh_task_state_letter(0x2, 0), 'D');
	assert_int_equal(pyh_task_state_letter(0x102, 0), 'D');	/* TASK_KILLABLE */
	assert_int_equal(pyh_task_state_letter(0x402, 0), 'I');	/* TASK_IDLE */
	assert_int_equal(pyh_task_state_letter(0x4, 0), 'T');
	assert_int_equal(pyh_task_state_letter(0x8, 0), 't');
	assert_int_equal(pyh_task_state_letter(0x80, 0x10), 'X');
	assert_int_equal(pyh_task_state_letter(0x80, 0x20), 'Z');
	assert_int_equal(pyh_task_state_letter(0x40, 0), 'P');
	assert_int_equal(pyh_task_state_letter(0x1000, 0), 'D');	/* TASK_RTLOCK_WAIT */
	assert_int_equal(pyh_task_state_letter(0x8001, 0), 'D');	/* TASK_FROZEN */
	assert_int_equal(pyh_task_state_letter(0x2001, 0), 'S');	/* TASK_FREEZABLE */
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
	assert_views_agree(getpid(), tid[0]);
	assert_views_agree(getpid(), tid[1]);
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
		cmocka_unit_test(test_stopped_child),
		cmocka_unit_test(test_state_letters),
		cmocka_unit_test(test_list_threads),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
