/* /proc/PID/maps parsing, and finding the interpreter in live children of every Python. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/elfsym.h"
#include "proc/maps.h"
#include "proc/mem.h"

static const char *const pyenv_versions[] = { "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18",
					      "3.10.13", "3.11.7", "3.12.1", "3.13.0" };

/* ---- parsing ---- */

static void test_parse_lines(void **state)
{
	uint64_t s, e, off;
	char perms[5], path[PATH_MAX], small[8];

	(void)state;
	assert_int_equal(pyh_maps_parse_line("7f0e2c000000-7f0e2c021000 r-xp 00001000 fd:01 1234567"
					     "                    /usr/lib/libpython3.12.so.1.0\n",
					     &s, &e, perms, &off, path, sizeof(path)),
			 0);
	assert_int_equal(s, 0x7f0e2c000000ull);
	assert_int_equal(e, 0x7f0e2c021000ull);
	assert_string_equal(perms, "r-xp");
	assert_int_equal(off, 0x1000);
	assert_string_equal(path, "/usr/lib/libpython3.12.so.1.0");

	/* anonymous: no path */
	assert_int_equal(pyh_maps_parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0 \n", &s, &e,
					     perms, &off, path, sizeof(path)),
			 0);
	assert_string_equal(path, "");
	assert_int_equal(pyh_maps_parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0", &s, &e, perms,
					     &off, path, sizeof(path)),
			 0);
	assert_string_equal(path, "");
	/* pseudo paths */
	assert_int_equal(pyh_maps_parse_line("55d0c000-55d2d000 rw-p 00000000 00:00 0          [heap]",
					     &s, &e, perms, &off, path, sizeof(path)),
			 0);
	assert_string_equal(path, "[heap]");
	/* spaces inside, and a deleted file */
	assert_int_equal(pyh_maps_parse_line("400000-401000 r--s 0 08:02 42   /opt/my app/bin/py thon",
					     &s, &e, perms, &off, path, sizeof(path)),
			 0);
	assert_string_equal(path, "/opt/my app/bin/py thon");
	assert_string_equal(perms, "r--s");
	assert_int_equal(pyh_maps_parse_line("400000-401000 r-xp 0 08:02 42 /tmp/python3.11 (deleted)\n",
					     &s, &e, perms, &off, path, sizeof(path)),
			 0);
	assert_string_equal(path, "/tmp/python3.11 (deleted)");
	/* 64-bit top */
	assert_int_equal(pyh_maps_parse_line("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
					     "                  [vsyscall]",
					     &s, &e, perms, &off, path, sizeof(path)),
			 0);
	assert_int_equal(s, 0xffffffffff600000ull);

	/* malformed */
	static const char *const bad[] = {
		"",
		"\n",
		"7f00-7f10",
		"7f00 7f10 r-xp 0 08:02 1 /x",
		"7f10-7f00 r-xp 0 08:02 1 /x",	     /* end before start */
		"7f00-7f10 rwxq 0 08:02 1 /x",	     /* bad perms */
		"7f00-7f10 r-x 0 08:02 1 /x",
		"7f00-7f10 r-xp zz 08:02 1 /x",
		"7f00-7f10 r-xp 0 0802 1 /x",	     /* device without ':' */
		"7f00-7f10 r-xp 0 08:02 /x",	     /* no inode */
		"7f00-7f10 r-xp 0 08:02 1x /x",
		"g7f00-7f10 r-xp 0 08:02 1 /x",
		"17f0000000000000000-7f10 r-xp 0 08:02 1 /x", /* 17 hex digits */
		"7f00-7f10 r-xp 0 08:02 1 /x\nmore", /* two lines */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pyh_maps_parse_line(bad[i], &s, &e, perms, &off, path, sizeof(path)) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
	/* path longer than the buffer */
	assert_int_equal(pyh_maps_parse_line("7f00-7f10 r-xp 0 08:02 1 /usr/lib/x", &s, &e, perms,
					     &off, small, sizeof(small)),
			 -EINVAL);
	assert_int_equal(pyh_maps_parse_line(NULL, &s, &e, perms, &off, path, sizeof(path)), -EINVAL);
}

/* Every line of our own maps parses. */
static void test_parse_self(void **state)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 256], path[PATH_MAX], perms[5];
	uint64_t s, e, off;
	int n = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (pyh_maps_parse_line(line, &s, &e, perms, &off, path, sizeof(path)))
			fail_msg("rejected: %s", line);
		assert_true(s < e);
		n++;
	}
	fclose(f);
	assert_true(n > 5);
}

/* ---- live processes ---- */

static pid_t spawn(const char *exe, char *const argv[])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execv(exe, argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Wait (at most 10 s) until pid runs `want_exe` and has `want_map` (substring) mapped. */
static int wait_exec(pid_t pid, const char *want_exe, const char *want_map)
{
	char link[64], buf[PATH_MAX], real[PATH_MAX];

	if (!realpath(want_exe, real))
		return -1;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 1000; i++) {
		ssize_t n = readlink(link, buf, sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = '\0';
			if (strcmp(buf, real) == 0) {
				char mpath[64], line[PATH_MAX + 256];
				FILE *f;
				int found = !want_map;

				snprintf(mpath, sizeof(mpath), "/proc/%d/maps", (int)pid);
				f = fopen(mpath, "r");
				while (f && !found && fgets(line, sizeof(line), f))
					found = strstr(line, want_map) != NULL;
				if (f)
					fclose(f);
				if (found)
					return 0;
			}
		}
		sleep_ms(10);
	}
	return -1;
}

/* The load bias is right when code at bias + st_value in the target equals the file's. */
static void check_bias(pid_t pid, const struct pyh_pybinary *b)
{
	struct pyh_elf *e = NULL;
	unsigned char in_file[32], in_proc[32];
	uint64_t v, sz;

	assert_int_equal(pyh_elf_open_fd(pyh_pybinary_open(pid, b), &e), 0);
	assert_int_equal(pyh_elf_symbol(e, "Py_GetVersion", &v, &sz), 0);
	assert_int_equal(pyh_elf_read_vaddr(e, v, in_file, sizeof(in_file)), 0);
	assert_int_equal(pyh_mem_read(pid, b->load_bias + v, in_proc, sizeof(in_proc)), 0);
	assert_memory_equal(in_file, in_proc, sizeof(in_file));
	/* And a wrong bias would not match: the check can fail. */
	if (pyh_mem_read(pid, b->load_bias + v + 0x1000, in_proc, sizeof(in_proc)) == 0)
		assert_memory_not_equal(in_file, in_proc, sizeof(in_file));
	pyh_elf_close(e);
}

static void test_find_python_pyenv(void **state)
{
	int done = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(pyenv_versions) / sizeof(pyenv_versions[0]); i++) {
		const char *ver = pyenv_versions[i];
		char exe[PATH_MAX], libdir[PATH_MAX], want_lib[PATH_MAX], prefix[64], libname[64];
		char *argv[] = { "python", "-c", "import time; time.sleep(30)", NULL };
		struct pyh_pybinary b;
		int maj = ver[0] - '0', min = atoi(ver + 2);
		pid_t pid;

		snprintf(exe, sizeof(exe), "/root/.pyenv/versions/%s/bin/python", ver);
		if (access(exe, X_OK)) {
			print_message("skip %s: not installed\n", ver);
			continue;
		}
		snprintf(libname, sizeof(libname), "libpython%d.%d%s.so.1.0", maj, min,
			 (maj == 3 && min < 8) ? "m" : "");
		snprintf(libdir, sizeof(libdir), "/root/.pyenv/versions/%s/lib/%s", ver, libname);
		assert_non_null(realpath(libdir, want_lib));

		pid = spawn(exe, argv);
		if (wait_exec(pid, exe, libname)) {
			stop(pid);
			fail_msg("%s did not start", ver);
		}
		assert_int_equal(pyh_maps_find_python(pid, &b), 0);
		assert_string_equal(b.path, want_lib);
		/* As root, the mapped file itself; the mapping's device and inode. */
		snprintf(prefix, sizeof(prefix), "/proc/%d/map_files/", (int)pid);
		assert_memory_equal(b.host_path, prefix, strlen(prefix));
		{
			struct stat st;

			assert_int_equal(stat(want_lib, &st), 0);
			assert_int_equal(b.inode, st.st_ino);
			assert_int_equal(b.dev_major, major(st.st_dev));
			assert_int_equal(b.dev_minor, minor(st.st_dev));
		}
		assert_int_equal(b.is_lib, 1);
		assert_int_equal(b.major, maj);
		assert_int_equal(b.minor, min);
		assert_true(b.load_bias != 0 && (b.load_bias & 0xfff) == 0);
		check_bias(pid, &b);
		stop(pid);
		done++;
	}
	if (done == 0)
		skip(); /* no pyenv interpreter on this machine */
}

static void test_find_python_debian_static(void **state)
{
	char *argv[] = { "python3.11", "-c", "import time; time.sleep(30)", NULL };
	struct pyh_pybinary b;
	pid_t pid;

	(void)state;
	if (access("/usr/bin/python3.11", X_OK))
		skip();
	pid = spawn("/usr/bin/python3.11", argv);
	assert_int_equal(wait_exec(pid, "/usr/bin/python3.11", NULL), 0);
	assert_int_equal(pyh_maps_find_python(pid, &b), 0);
	assert_string_equal(b.path, "/usr/bin/python3.11");
	assert_int_equal(b.is_lib, 0);
	assert_int_equal(b.load_bias, 0); /* ET_EXEC */
	assert_int_equal(b.major, 3);
	assert_int_equal(b.minor, 11);
	check_bias(pid, &b);
	stop(pid);
}

/* A Python whose file was deleted after it started (an upgrade in place). */
static void test_find_python_deleted(void **state)
{
	char dir[64], tmp[96], want[128], cmd[256];
	char *argv[] = { "python3.11", "-c", "import time; time.sleep(30)", NULL };
	struct pyh_pybinary b;
	pid_t pid;

	(void)state;
	if (access("/usr/bin/python3.11", X_OK))
		skip();
	snprintf(dir, sizeof(dir), "/tmp/pyh_test_maps_%d", (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s/python3.11", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp /usr/bin/python3.11 %s", dir, tmp);
	assert_int_equal(system(cmd), 0);
	pid = spawn(tmp, argv);
	assert_int_equal(wait_exec(pid, tmp, NULL), 0);
	unlink(tmp);
	rmdir(dir);
	snprintf(want, sizeof(want), "%s (deleted)", tmp);
	assert_int_equal(pyh_maps_find_python(pid, &b), 0);
	assert_string_equal(b.path, want);
	assert_int_equal(b.is_lib, 0);
	assert_int_equal(b.major, 3);
	assert_int_equal(b.minor, 11);
	assert_non_null(strstr(b.host_path, "/map_files/"));
	check_bias(pid, &b); /* the deleted file is still readable through map_files */
	stop(pid);
}

static void test_find_python_errors(void **state)
{
	char *argv[] = { "sleep", "30", NULL };
	struct pyh_pybinary b;
	pid_t pid;

	(void)state;
	/* A process that is gone. */
	pid = spawn("/bin/true", (char *[]){ "true", NULL });
	waitpid(pid, NULL, 0);
	assert_int_equal(pyh_maps_find_python(pid, &b), -ESRCH);
	/* A kernel thread: no maps, no executable. */
	assert_int_equal(pyh_maps_find_python(2, &b), -ENOENT);
	/* Not Python: the executable is returned for the caller to reject by symbols. */
	pid = spawn("/bin/sleep", argv);
	assert_int_equal(wait_exec(pid, "/bin/sleep", NULL), 0);
	assert_int_equal(pyh_maps_find_python(pid, &b), 0);
	assert_int_equal(b.is_lib, 0);
	assert_int_equal(b.major, 0);
	stop(pid);
	assert_int_equal(pyh_maps_find_python(0, &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lines),
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_find_python_pyenv),
		cmocka_unit_test(test_find_python_debian_static),
		cmocka_unit_test(test_find_python_deleted),
		cmocka_unit_test(test_find_python_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
