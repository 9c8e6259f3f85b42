/* Tests for src/kernel/syscalls.c: the name table, and the description of
 * calls real children are blocked in (Python sleeps, pipes, TCP, futex, ...). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel/sockets.h"
#include "kernel/syscalls.h"
#include "kernel/task.h"

#define PY312 "/root/.pyenv/versions/3.12.1/bin/python"
#define PY27 "/root/.pyenv/versions/2.7.18/bin/python"

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

static void child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);	/* never outlive a failed test */
}

/* Poll (up to 10 s) until the child's main thread is blocked in call nr,
 * then describe it into out. */
static int wait_detail(pid_t pid, long nr, char *out, size_t outsz)
{
	struct pyh_task_info ti;

	for (int i = 0; i < 1000; i++) {
		if (pyh_task_info(pid, pid, &ti) == 0 && ti.state == 'S' &&
		    ti.in_syscall && ti.syscall_nr == nr)
			return pyh_syscall_detail(pid, &ti, out, outsz);
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

static pid_t spawn_python(const char *python, const char *code)
{
	pid_t pid = fork();

	if (pid == 0) {
		child_setup();
		execl(python, python, "-c", code, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(pyh_syscall_name(0), "read");
	assert_string_equal(pyh_syscall_name(SYS_futex), "futex");
	assert_string_equal(pyh_syscall_name(230), "clock_nanosleep");
	assert_string_equal(pyh_syscall_name(SYS_epoll_wait), "epoll_wait");
	assert_string_equal(pyh_syscall_name(SYS_pselect6), "pselect6");
	assert_null(pyh_syscall_name(-1));
	assert_null(pyh_syscall_name(100000));
}

static void test_python312_sleep(void **state)
{
	char d[256];
	double left = 0;
	pid_t pid = spawn_python(PY312, "import time; time.sleep(100)");

	(void)state;
	assert_true(pid > 0);
	/* 3.11+ sleeps to an absolute CLOCK_MONOTONIC deadline. */
	assert_int_equal(wait_detail(pid, SYS_clock_nanosleep, d, sizeof(d)), 0);
	assert_int_equal(sscanf(d, "sleep %lfs left", &left), 1);
	assert_true(left > 90.0 && left <= 100.0);
	reap(pid);
}

static void test_python27_sleep(void **state)
{
	char d[256];
	pid_t pid = spawn_python(PY27, "import time; time.sleep(100)");

	(void)state;
	assert_true(pid > 0);
	/* 2.7 sleeps in select(0, NULL, NULL, NULL, &tv); glibc makes it pselect6. */
	assert_int_equal(wait_detail(pid, SYS_pselect6, d, sizeof(d)), 0);
	assert_string_equal(d, "sleep 100.000s");
	reap(pid);
}

static void test_nanosleep(void **state)
{
	char d[256];
	pid_t pid = fork();

	(void)state;
	if (pid == 0) {
		struct timespec ts = { 77, 250000000 };

		child_setup();
		syscall(SYS_nanosleep, &ts, NULL);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(wait_detail(pid, SYS_nanosleep, d, sizeof(d)), 0);
	assert_string_equal(d, "sleep 77.250s");
	reap(pid);
}

static void test_pipe_read(void **state)
{
	char d[256], want[64];
	struct stat st;
	int p[2];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fstat(p[0], &st), 0);
	pid = fork();
	if (pid == 0) {
		char c;

		child_setup();
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(wait_detail(pid, SYS_read, d, sizeof(d)), 0);
	snprintf(want, sizeof(want), "fd %d pipe:[%lu]", p[0], (unsigned long)st.st_ino);
	assert_string_equal(d, want);
	reap(pid);
	close(p[0]);
	close(p[1]);
}

static void test_poll_pipe(void **state)
{
	char d[512], want[128];
	struct stat st;
	int p[2];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fstat(p[0], &st), 0);
	pid = fork();
	if (pid == 0) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };

		child_setup();
		_exit(poll(&pf, 1, 60000));
	}
	assert_true(pid > 0);
	assert_int_equal(wait_detail(pid, SYS_poll, d, sizeof(d)), 0);
	snprintf(want, sizeof(want), "1 fd: fd %d pipe:[%lu] (in), timeout 60.000s",
		 p[0], (unsigned long)st.st_ino);
	assert_string_equal(d, want);
	reap(pid);
	close(p[0]);
	close(p[1]);
}

/* A child blocked in recv() on a loopback TCP connection we accepted. */
static void test_tcp_recv(void **state)
{
	struct sockaddr_in addr = { .sin_family = AF_INET }, peer;
	socklen_t len = sizeof(addr), plen = sizeof(peer);
	char d[256], want[128];
	int ls, cs;
	pid_t pid;

	(void)state;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&addr, &len), 0);
	pid = fork();
	if (pid == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		char c;

		child_setup();
		if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0)
			_exit(1);
		_exit(recv(s, &c, 1, 0) == 1 ? 0 : 1);
	}
	assert_true(pid > 0);
	cs = accept(ls, (struct sockaddr *)&peer, &plen);
	assert_true(cs >= 0);
	assert_int_equal(wait_detail(pid, SYS_recvfrom, d, sizeof(d)), 0);
	/* The child's fd number is whatever socket() gave it: check the rest. */
	snprintf(want, sizeof(want), " TCP 127.0.0.1:%u -> 127.0.0.1:%u (ESTABLISHED)",
		 ntohs(peer.sin_port), ntohs(addr.sin_port));
	assert_non_null(strstr(d, want));
	assert_true(strncmp(d, "fd ", 3) == 0);
	reap(pid);
	close(cs);
	close(ls);
}

static void test_futex(void **state)
{
	char d[256];
	pid_t pid = fork();

	(void)state;
	if (pid == 0) {
		static uint32_t word = 7;

		child_setup();
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 7, NULL, NULL, 0);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(wait_detail(pid, SYS_futex, d, sizeof(d)), 0);
	assert_true(strncmp(d, "0x", 2) == 0);
	assert_non_null(strstr(d, " FUTEX_WAIT_PRIVATE val 7"));
	reap(pid);
}

static void test_open_fifo(void **state)
{
	char path[64], d[256], want[128];
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/pyh-test-fifo.%d", (int)getpid());
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	if (pid == 0) {
		child_setup();
		_exit(open(path, O_RDONLY | O_CLOEXEC) >= 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(wait_detail(pid, SYS_openat, d, sizeof(d)), 0);
	snprintf(want, sizeof(want), "path %s O_RDONLY|O_CLOEXEC", path);
	assert_string_equal(d, want);
	reap(pid);
	unlink(path);
}

static void test_wait4(void **state)
{
	char d[256], want[64];
	int p[2];
	pid_t pid, grandchild = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		pid_t g;

		child_setup();
		g = fork();
		if (g == 0) {
			child_setup();
			prctl(PR_SET_NAME, "pyh-grandchild", 0, 0, 0);
			for (;;)
				pause();
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		waitpid(g, NULL, 0);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(read(p[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	/* The grandchild names itself right after fork: wait for that too. */
	for (int i = 0; i < 500; i++) {
		struct pyh_task_info ti;

		if (pyh_task_info(grandchild, grandchild, &ti) == 0 &&
		    strcmp(ti.comm, "pyh-grandchild") == 0)
			break;
		sleep_ms(10);
	}
	assert_int_equal(wait_detail(pid, SYS_wait4, d, sizeof(d)), 0);
	snprintf(want, sizeof(want), "pid %d (pyh-grandchild)", (int)grandchild);
	assert_string_equal(d, want);
	kill(grandchild, SIGKILL);
	reap(pid);
	close(p[0]);
	close(p[1]);
}

static void test_unix_socket(void **state)
{
	char d[256];
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	if (pid == 0) {
		char c;

		child_setup();
		_exit(recv(sv[1], &c, 1, 0) == 1 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(wait_detail(pid, SYS_recvfrom, d, sizeof(d)), 0);
	assert_non_null(strstr(d, " UNIX (unnamed)"));
	reap(pid);
	close(sv[0]);
	close(sv[1]);
}

/* Nothing to say about a thread that is not in a call; a short buffer truncates. */
static void test_not_in_syscall_and_truncation(void **state)
{
	struct pyh_task_info ti;
	char d[8];

	(void)state;
	memset(&ti, 0, sizeof(ti));
	ti.tid = getpid();
	ti.syscall_nr = -1;
	assert_int_equal(pyh_syscall_detail(getpid(), &ti, d, sizeof(d)), 0);
	assert_string_equal(d, "");
	ti.in_syscall = 1;
	ti.syscall_nr = SYS_read;
	ti.args[0] = 0;
	assert_int_equal(pyh_syscall_detail(getpid(), &ti, d, sizeof(d)), 0);
	assert_int_equal(strlen(d), sizeof(d) - 1);
	/* A bad pointer argument: "?" instead of a crash. */
	ti.syscall_nr = SYS_nanosleep;
	ti.args[0] = 8;
	pyh_syscall_detail(getpid(), &ti, d, sizeof(d));
	assert_string_equal(d, "sleep ?");
}

/* Many socket descriptors described with one cache: each /proc/net table is
 * scanned once, not once per descriptor. */
static void test_socket_cache(void **state)
{
	enum { N = 24 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd, cfd[N], afd[N];
	struct pyh_sockets *socks;
	struct pyh_task_info ti;
	unsigned long before;
	char out[512];

	(void)state;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, N), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	for (int i = 0; i < N; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(cfd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		afd[i] = accept(lfd, NULL, NULL);
		assert_true(afd[i] >= 0);
	}
	memset(&ti, 0, sizeof(ti));
	ti.tid = getpid();
	ti.in_syscall = 1;
	ti.syscall_nr = SYS_read;
	socks = pyh_sockets_new(getpid());
	assert_non_null(socks);
	before = pyh_sockets_scans();
	for (int i = 0; i < N; i++) {
		ti.args[0] = (uint64_t)cfd[i];
		assert_int_equal(pyh_syscall_detail_cached(getpid(), &ti, socks, out, sizeof(out)), 0);
		assert_non_null(strstr(out, "TCP 127.0.0.1:"));
		assert_non_null(strstr(out, "(ESTABLISHED)"));
	}
	assert_true(pyh_sockets_scans() - before <= 5);	/* tcp tcp6 udp udp6 unix */
	pyh_sockets_free(socks);
	for (int i = 0; i < N; i++) {
		close(cfd[i]);
		close(afd[i]);
	}
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_python312_sleep),
		cmocka_unit_test(test_python27_sleep),
		cmocka_unit_test(test_nanosleep),
		cmocka_unit_test(test_pipe_read),
		cmocka_unit_test(test_poll_pipe),
		cmocka_unit_test(test_tcp_recv),
		cmocka_unit_test(test_futex),
		cmocka_unit_test(test_open_fifo),
		cmocka_unit_test(test_wait4),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_not_in_syscall_and_truncation),
		cmocka_unit_test(test_socket_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
