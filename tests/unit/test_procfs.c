/* src/proc/procfs.c against real processes: our own, a child with an odd
 * comm, a zombie and a vanished one, a kernel thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/procfs.h"

static pid_t child_named(const char *name)
{
	int pfd[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		prctl(PR_SET_NAME, name, 0, 0, 0);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	return pid;
}

static void test_self(void **state)
{
	struct pyh_proc_stat st;
	char comm[32], exe[256], buf[64];
	pid_t tid = (pid_t)syscall(SYS_gettid), v = 0;
	uint64_t run = 0;

	(void)state;
	assert_int_equal(pyh_proc_stat(getpid(), 0, &st), 0);
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, getppid());
	assert_true(st.num_threads >= 1);
	assert_true(st.start_ticks > 0);
	assert_true(st.cpu >= 0);
	assert_int_equal(st.flags & PYH_PF_KTHREAD, 0);
	assert_int_equal(pyh_proc_stat(getpid(), tid, &st), 0);
	assert_int_equal(pyh_proc_status_id(getpid(), 0, "Tgid", &v), 0);
	assert_int_equal(v, getpid());
	assert_int_equal(pyh_proc_status_id(getpid(), 0, "PPid", &v), 0);
	assert_int_equal(v, getppid());
	assert_int_equal(pyh_proc_status_id(getpid(), 0, "NSpid", &v), 0);
	assert_int_equal(v, getpid());	/* not in a child namespace */
	assert_int_equal(pyh_proc_status_id(getpid(), 0, "NoSuchKey", &v), -ENOENT);
	assert_int_equal(pyh_proc_status_id(getpid(), 0, "Name", &v), -ENOENT); /* not a number */
	assert_int_equal(pyh_proc_comm(getpid(), 0, comm, sizeof(comm)), 0);
	assert_non_null(strstr(comm, "test_procfs"));
	assert_null(strchr(comm, '\n'));
	assert_int_equal(pyh_proc_exe(getpid(), exe, sizeof(exe)), 0);
	assert_non_null(strstr(exe, "test_procfs"));
	assert_int_equal(pyh_proc_run_ns(getpid(), tid, &run), 0);
	assert_true(run > 0);
	assert_true(pyh_proc_exists(getpid(), 0));
	assert_true(pyh_proc_exists(getpid(), tid));
	assert_false(pyh_proc_exists(getpid(), 0x7ffffff0));
	/* bounded reads: a buffer of 4 gets 3 bytes and a NUL */
	assert_int_equal(pyh_proc_read(getpid(), 0, "stat", buf, 4), 3);
	assert_int_equal(buf[3], '\0');
	assert_true(pyh_proc_cmdline(getpid(), buf, sizeof(buf)) > 0);
}

/* comm may hold ')' and spaces: stat is split at the last ')'. */
static void test_odd_comm(void **state)
{
	struct pyh_proc_stat st;
	char comm[32];
	pid_t pid = child_named("a) b (c) d");

	(void)state;
	assert_int_equal(pyh_proc_stat(pid, 0, &st), 0);
	assert_string_equal(st.comm, "a) b (c) d");
	assert_int_equal(st.ppid, getpid());
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(pyh_proc_comm(pid, 0, comm, sizeof(comm)), 0);
	assert_string_equal(comm, "a) b (c) d");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_zombie_and_gone(void **state)
{
	struct pyh_proc_stat st;
	pid_t tids[4], v;
	char comm[32];
	int n = 9;
	pid_t pid = child_named("zomb");

	(void)state;
	kill(pid, SIGKILL);
	for (int i = 0; i < 500; i++) {	/* until it is a zombie */
		if (!pyh_proc_stat(pid, 0, &st) && pyh_proc_stat_dead(&st))
			break;
		usleep(10000);
	}
	assert_int_equal(pyh_proc_stat(pid, 0, &st), 0);
	assert_true(pyh_proc_stat_dead(&st));
	assert_int_equal(pyh_proc_cmdline(pid, comm, sizeof(comm)), 0);	/* a zombie has none */
	waitpid(pid, NULL, 0);
	/* gone: every reader says -ESRCH */
	assert_int_equal(pyh_proc_stat(pid, 0, &st), -ESRCH);
	assert_int_equal(st.state, '?');
	assert_int_equal(pyh_proc_status_id(pid, 0, "Tgid", &v), -ESRCH);
	assert_int_equal(pyh_proc_comm(pid, 0, comm, sizeof(comm)), -ESRCH);
	assert_string_equal(comm, "");
	assert_int_equal(pyh_proc_tasks(pid, tids, 4, &n), -ESRCH);
	assert_int_equal(n, 0);
	assert_int_equal(pyh_proc_exe(pid, comm, sizeof(comm)), -ESRCH);
	assert_false(pyh_proc_exists(pid, 0));
	assert_int_equal(pyh_proc_stat(-1, 0, &st), -ESRCH);
	assert_int_equal(pyh_proc_stat(0, 0, &st), -ESRCH);
}

static void test_kthread(void **state)
{
	struct pyh_proc_stat st;
	char state_c;
	int kt = 0;

	(void)state;
	assert_int_equal(pyh_proc_stat(2, 0, &st), 0);	/* kthreadd */
	assert_true(st.flags & PYH_PF_KTHREAD);
	assert_int_equal(pyh_proc_state(2, &state_c, &kt), 0);
	assert_int_equal(kt, 1);
	assert_int_equal(pyh_proc_cmdline(2, (char[8]){ 0 }, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_odd_comm),
		cmocka_unit_test(test_zombie_and_gone),
		cmocka_unit_test(test_kthread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
