/* Files a target names, opened inside its root (proc/rootfs.h), with openat2
 * and with the fallback walk: a child chrooted into a scratch tree full of
 * traps (absolute and relative symlinks out, "..", magic links, a FIFO, a
 * directory) and a file mapped then hidden. Needs root (chroot). */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/rootfs.h"

static char dir[64];
static char secret[96];	/* a file outside the tree */
static pid_t child;

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void link_at(const char *target, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
	char p[PATH_MAX];
	int ready[2];
	char c;

	(void)state;
	if (geteuid() != 0)
		return 0;
	snprintf(dir, sizeof(dir), "/tmp/pyh_rootfs_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(secret, sizeof(secret), "%s.secret", dir);
	{
		FILE *f = fopen(secret, "w");

		assert_non_null(f);
		fputs("host secret\n", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/app", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/app/sub", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	put("app/m.py", "inside\n");
	put("etc_secret", "the container's own\n");
	link_at(secret, "app/abs.py");			/* absolute: inside it names nothing */
	link_at("/etc_secret", "app/abs_in.py");	/* absolute, to a file inside */
	link_at("../../../../../../../../etc/passwd", "app/up.py");
	link_at("sub/../m.py", "app/rel.py");
	link_at("/proc/self/root/etc/passwd", "app/magic.py");
	link_at("loop2.py", "app/loop1.py");
	link_at("loop1.py", "app/loop2.py");
	snprintf(p, sizeof(p), "%s/app/fifo.py", dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (chroot(dir) || chdir("/app"))
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	if (geteuid() != 0)
		return 0;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, secret);
	return system(cmd) == 0 ? 0 : -1;
}

static char *read_path(const char *path, int *err)
{
	char *buf = NULL;
	size_t len;
	int fd = pyh_rootfs_open(child, path, NULL);

	*err = 0;
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	assert_int_equal(pyh_rootfs_read_all(fd, 1 << 20, &buf, &len), 0);
	close(fd);
	return buf;
}

static void expect_text(const char *path, const char *want)
{
	int err;
	char *t = read_path(path, &err);

	if (!t)
		fail_msg("%s: %s", path, strerror(-err));
	assert_string_equal(t, want);
	free(t);
}

static void expect_err(const char *path, int want)
{
	int err;
	char *t = read_path(path, &err);

	if (t)
		fail_msg("%s was read: '%s'", path, t);
	if (err != want)
		fail_msg("%s: %s, want %s", path, strerror(-err), strerror(-want));
}

static void traps(void)
{
	expect_text("/app/m.py", "inside\n");
	expect_text("m.py", "inside\n");			/* relative: beneath the cwd */
	expect_text("./sub/../m.py", "inside\n");
	expect_text("/app/rel.py", "inside\n");
	expect_text("/app/abs_in.py", "the container's own\n");	/* resolved in its root */
	expect_text("/../../app/m.py", "inside\n");		/* ".." stops at the root */
	expect_err("/app/abs.py", -ENOENT);			/* the host path is not in its root */
	expect_err("/app/up.py", -ENOENT);			/* climbs to its root: no /etc/passwd there */
	expect_err("abs.py", -EXDEV);				/* relative names stay beneath the cwd */
	expect_err("../etc_secret", -EXDEV);
	expect_err("/app/loop1.py", -ELOOP);
	expect_err("/app/fifo.py", -ENODEV);			/* never opened, never blocks */
	expect_err("/app", -ENODEV);
	expect_err("/app/sub/", -ENODEV);
	{
		int err;
		char *t = read_path("/app/magic.py", &err);

		/* No magic link is followed: /proc is not mounted in the tree. */
		assert_null(t);
		assert_true(err == -ENOENT || err == -ELOOP || err == -EXDEV);
	}
}

static void test_openat2(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	pyh_rootfs_force_fallback(0);
	traps();
}

static void test_fallback(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	pyh_rootfs_force_fallback(1);
	traps();
	pyh_rootfs_force_fallback(0);
}

/* A file mapped, then unlinked and replaced: map_files finds the mapped one;
 * by path only a file with the mapping's device and inode is accepted. */
static void test_mapped(void **state)
{
	char path[PATH_MAX], *buf = NULL, line[PATH_MAX + 256];
	struct pyh_rootfs_map m = { 0 };
	enum pyh_rootfs_via via = 0;
	struct stat st;
	void *addr;
	FILE *f;
	size_t len;
	int fd;

	(void)state;
	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/mapped.bin", dir);
	put("mapped.bin", "mapped contents\n");
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	addr = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(addr != MAP_FAILED);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && s == (uintptr_t)addr) {
			m.start = s;
			m.end = e;
		}
	}
	fclose(f);
	assert_true(m.start != 0);
	m.dev_major = major(st.st_dev);
	m.dev_minor = minor(st.st_dev);
	m.inode = st.st_ino;
	m.path = path;
	fd = pyh_rootfs_open_mapped(getpid(), &m, NULL, &via);
	assert_true(fd >= 0);
	assert_int_equal(via, PYH_VIA_MAP_FILES);
	close(fd);
	/* Replace the path with another file: map_files still gives the mapped one. */
	unlink(path);
	put("mapped.bin", "an impostor\n");
	fd = pyh_rootfs_open_mapped(getpid(), &m, NULL, &via);
	assert_true(fd >= 0);
	assert_int_equal(pyh_rootfs_read_all(fd, 4096, &buf, &len), 0);
	assert_string_equal(buf, "mapped contents\n");
	free(buf);
	close(fd);
	/* Without map_files (a wrong range) the impostor is refused. */
	m.start += 1 << 30;
	m.end += 1 << 30;
	assert_int_equal(pyh_rootfs_open_mapped(getpid(), &m, NULL, &via), -ESTALE);
	munmap(addr, 4096);
}

/* Local file systems are not served: their reads end. */
static void test_served(void **state)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_null(pyh_rootfs_served_fs(fd));
	close(fd);
	fd = open("/usr/bin/env", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_null(pyh_rootfs_served_fs(fd));
	close(fd);
	assert_string_equal(pyh_rootfs_served_fs(-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openat2),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_served),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
