/* CPython version detection on live children of every interpreter; interp_head by code. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/elfsym.h"
#include "proc/maps.h"
#include "python/version.h"

static const char *const pyenv_versions[] = { "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18",
					      "3.10.13", "3.11.7", "3.12.1", "3.13.0" };

static void test_parse(void **state)
{
	static const struct {
		const char *s;
		int ok, major, minor, micro;
	} cases[] = {
		{ "3.12.1", 1, 3, 12, 1 },    { "2.7.18", 1, 2, 7, 18 },   { "2.7.18+", 1, 2, 7, 18 },
		{ "3.13.0rc1", 1, 3, 13, 0 }, { "3.11.0a7", 1, 3, 11, 0 }, { "3.12.0b1+", 1, 3, 12, 0 },
		{ "3.6.15", 1, 3, 6, 15 },    { "3.12", 0, 0, 0, 0 },	   { "3.12.", 0, 0, 0, 0 },
		{ "3.12.1.4", 0, 0, 0, 0 },   { "3.12.1rc", 0, 0, 0, 0 },  { "3.12.1x", 0, 0, 0, 0 },
		{ "v3.12.1", 0, 0, 0, 0 },    { "", 0, 0, 0, 0 },	   { "3..1", 0, 0, 0, 0 },
		{ "3.1234.1", 0, 0, 0, 0 },   { "3.12.1 ", 0, 0, 0, 0 },   { "3.12.1++", 0, 0, 0, 0 },
		{ "3.12.1rc1rc1", 0, 0, 0, 0 },
	};
	struct pyh_pyversion v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = pyh_version_parse(cases[i].s, &v);

		if (cases[i].ok) {
			if (r != 0)
				fail_msg("rejected \"%s\"", cases[i].s);
			assert_int_equal(v.major, cases[i].major);
			assert_int_equal(v.minor, cases[i].minor);
			assert_int_equal(v.micro, cases[i].micro);
		} else if (r != -EINVAL) {
			fail_msg("accepted \"%s\"", cases[i].s);
		}
	}
	assert_int_equal(pyh_version_parse(NULL, &v), -EINVAL);
}

static pid_t spawn_sleeper(const char *exe)
{
	char *argv[] = { "python", "-c", "import time; time.sleep(30)", NULL };
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
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

/* Wait until pid has exec'd exe and its maps show the interpreter (up to 10 s). */
static int wait_python(pid_t pid, const char *exe, struct pyh_pybinary *b)
{
	char link[64], buf[PATH_MAX], real[PATH_MAX];
	struct timespec ts = { 0, 10 * 1000000 };

	if (!realpath(exe, real))
		return -1;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 1000; i++, nanosleep(&ts, NULL)) {
		ssize_t n = readlink(link, buf, sizeof(buf) - 1);

		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strcmp(buf, real) != 0 || pyh_maps_find_python(pid, b) != 0)
			continue;
		if (b->is_lib || strstr(exe, "/usr/bin/") != NULL)
			return 0;
	}
	return -1;
}

/* What the interpreter itself says, "X.Y.Z". */
static void ask_python(const char *exe, char *out, size_t outsz)
{
	char cmd[PATH_MAX + 128];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "%s -c 'import sys; print(\"%%d.%%d.%%d\" %% tuple(sys.version_info[:3]))'", exe);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)outsz, p));
	out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static void check_live(const char *exe, const char *want)
{
	struct pyh_pybinary b;
	struct pyh_elf *e = NULL;
	struct pyh_pyversion v = { 0 }, f = { 0 };
	char got[32];
	pid_t pid = spawn_sleeper(exe);

	if (wait_python(pid, exe, &b)) {
		stop(pid);
		fail_msg("%s: interpreter not found in maps", exe);
	}
	assert_int_equal(pyh_elf_open(b.host_path, &e), 0);
	assert_int_equal(pyh_version_detect(pid, &b, e, &v), 0);
	snprintf(got, sizeof(got), "%d.%d.%d", v.major, v.minor, v.micro);
	assert_string_equal(got, want);
	/* From the file alone (no process) the answer is the same. */
	assert_int_equal(pyh_version_detect(0, NULL, e, &f), 0);
	assert_int_equal(f.major, v.major);
	assert_int_equal(f.minor, v.minor);
	assert_int_equal(f.micro, v.micro);
	/* A file name that claims another version is not believed: no version matches it. */
	b.minor += 1;
	assert_int_equal(pyh_version_detect(pid, &b, e, &f), -ENOENT);
	pyh_elf_close(e);
	stop(pid);
}

static void test_detect_pyenv_live(void **state)
{
	int done = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(pyenv_versions) / sizeof(pyenv_versions[0]); i++) {
		char exe[PATH_MAX], said[32];

		snprintf(exe, sizeof(exe), "/root/.pyenv/versions/%s/bin/python", pyenv_versions[i]);
		if (access(exe, X_OK)) {
			print_message("skip %s: not installed\n", pyenv_versions[i]);
			continue;
		}
		ask_python(exe, said, sizeof(said));
		assert_string_equal(said, pyenv_versions[i]);
		check_live(exe, pyenv_versions[i]);
		done++;
	}
	if (done == 0)
		skip(); /* no pyenv interpreter on this machine */
}

static void test_detect_debian_live(void **state)
{
	char said[32];

	(void)state;
	if (access("/usr/bin/python3.11", X_OK))
		skip();
	ask_python("/usr/bin/python3.11", said, sizeof(said));
	check_live("/usr/bin/python3.11", said);
}

static void test_not_cpython(void **state)
{
	struct pyh_elf *e = NULL;
	struct pyh_pyversion v;

	(void)state;
	assert_int_equal(pyh_elf_open("/bin/ls", &e), 0);
	assert_int_equal(pyh_version_detect(0, NULL, e, &v), -ENOENT);
	pyh_elf_close(e);
	/* libpython3.so (the stable-ABI shim) has no interpreter in it. */
	if (pyh_elf_open("/root/.pyenv/versions/3.12.1/lib/libpython3.so", &e) == 0) {
		assert_int_equal(pyh_version_detect(0, NULL, e, &v), -ENOENT);
		pyh_elf_close(e);
	}
	assert_int_equal(pyh_version_detect(0, NULL, NULL, &v), -EINVAL);
}

static void test_interp_head_by_disasm(void **state)
{
	static const char *const libs[] = {
		"/root/.pyenv/versions/2.7.18/lib/libpython2.7.so.1.0",
		"/root/.pyenv/versions/3.6.15/lib/libpython3.6m.so.1.0",
	};
	struct pyh_elf *e = NULL;
	uint64_t sym, size, got;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		if (access(libs[i], R_OK))
			continue;
		assert_int_equal(pyh_elf_open(libs[i], &e), 0);
		assert_int_equal(pyh_elf_symbol(e, "interp_head", &sym, &size), 0);
		assert_int_equal(pyh_find_interp_head_by_disasm(e, &got), 0);
		assert_int_equal(got, sym);
		pyh_elf_close(e);
		e = NULL;
	}
	/* No such function: the Debian binary is 3.11; /bin/ls has nothing. */
	assert_int_equal(pyh_elf_open("/bin/ls", &e), 0);
	assert_int_equal(pyh_find_interp_head_by_disasm(e, &got), -ENOENT);
	pyh_elf_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_detect_pyenv_live),
		cmocka_unit_test(test_detect_debian_live),
		cmocka_unit_test(test_not_cpython),
		cmocka_unit_test(test_interp_head_by_disasm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
