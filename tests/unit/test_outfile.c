/* Unit tests for src/output/outfile.c: format names, and writing to a path
 * safely (rename over regular files and symlinks, direct writes to pipes and
 * devices, errors leave nothing behind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "profile/profile.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/pyh_outfile.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct pyh_profile *sample_profile(int stacks)
{
	struct pyh_profile *p = pyh_profile_new();
	char fn[32];

	for (int i = 0; i < stacks; i++) {
		struct pyh_pframe fr[2] = { { "main", "main.py", 1 }, { fn, "work.py", i + 1 } };

		snprintf(fn, sizeof(fn), "work_%d", i);
		assert_int_equal(pyh_profile_add(p, fr, 2, (uint64_t)i + 1), 0);
	}
	return p;
}

static char *folded_text(const struct pyh_profile *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_int_equal(pyh_write_folded(p, f), 0);
	fclose(f);
	return buf;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	FILE *m = open_memstream(&buf, &cap);
	int c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	*len = cap;
	return buf;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Entries in dir, not counting . and .. */
static int count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_formats(void **state)
{
	(void)state;
	assert_int_equal(pyh_format_parse("svg"), PYH_FMT_SVG);
	assert_int_equal(pyh_format_parse("folded"), PYH_FMT_FOLDED);
	assert_int_equal(pyh_format_parse("speedscope"), PYH_FMT_SPEEDSCOPE);
	assert_int_equal(pyh_format_parse("pprof"), PYH_FMT_PPROF);
	assert_int_equal(pyh_format_parse("flamegraph"), 0);
	assert_int_equal(pyh_format_parse(NULL), 0);
	assert_int_equal(pyh_format_from_path("out/profile.svg"), PYH_FMT_SVG);
	assert_int_equal(pyh_format_from_path("x.SVG"), PYH_FMT_SVG);
	assert_int_equal(pyh_format_from_path("x.folded"), PYH_FMT_FOLDED);
	assert_int_equal(pyh_format_from_path("x.txt"), PYH_FMT_FOLDED);
	assert_int_equal(pyh_format_from_path("x.speedscope.json"), PYH_FMT_SPEEDSCOPE);
	assert_int_equal(pyh_format_from_path("x.json"), PYH_FMT_SPEEDSCOPE);
	assert_int_equal(pyh_format_from_path("cpu.pb.gz"), PYH_FMT_PPROF);
	assert_int_equal(pyh_format_from_path("cpu.pprof"), PYH_FMT_PPROF);
	assert_int_equal(pyh_format_from_path("cpu.gz"), 0);
	assert_int_equal(pyh_format_from_path(".svg"), 0);
	assert_int_equal(pyh_format_from_path("noext"), 0);
}

static void test_new_and_replaced_file(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(20);
	char path[128], hard[128], err[256];
	size_t want_len, got_len;
	char *want = folded_text(p, &want_len), *got;
	struct stat st;

	snprintf(path, sizeof(path), "%s/new.folded", dir);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, path, err, sizeof(err)), 0);
	got = slurp(path, &got_len);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(got);
	assert_int_equal(count_entries(), 1); /* no temporary left behind */

	/* Replaced by rename, not rewritten in place: a hard link keeps the old
	 * contents; the old file's mode is kept. */
	put(path, "old\n");
	chmod(path, 0640);
	snprintf(hard, sizeof(hard), "%s/hardlink", dir);
	assert_int_equal(link(path, hard) == 0 ? 0 : errno, 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, path, err, sizeof(err)), 0);
	got = slurp(path, &got_len);
	assert_memory_equal(got, want, want_len);
	free(got);
	got = slurp(hard, &got_len);
	assert_string_equal(got, "old\n");
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(), 2);
	unlink(hard);
	unlink(path);
	free(want);
	pyh_profile_free(p);
}

static void test_symlink_replaced_not_followed(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(3);
	char path[128], target[128], err[256];
	size_t len;
	char *got;
	struct stat st;

	snprintf(target, sizeof(target), "%s/target.txt", dir);
	snprintf(path, sizeof(path), "%s/link.svg", dir);
	put(target, "keep me\n");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	got = slurp(target, &len);
	assert_string_equal(got, "keep me\n");
	free(got);
	got = slurp(path, &len);
	assert_true(strncmp(got, "<?xml", 5) == 0);
	free(got);
	unlink(path);
	unlink(target);
	pyh_profile_free(p);
}

static void test_devices_written_directly(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(5);
	char path[128], err[256];
	struct stat before, after;

	/* A character device node of our own first (a null device), then the real one. */
	snprintf(path, sizeof(path), "%s/mynull", dir);
	if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0) {
		assert_int_equal(stat(path, &before), 0);
		assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), 0);
		assert_int_equal(lstat(path, &after), 0);
		assert_true(S_ISCHR(after.st_mode));
		assert_int_equal(after.st_ino, before.st_ino);
		assert_int_equal(count_entries(), 1);
		unlink(path);
	}
	assert_int_equal(stat("/dev/null", &before), 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_PPROF, "/dev/null", err, sizeof(err)), 0);
	assert_int_equal(lstat("/dev/null", &after), 0);
	assert_true(S_ISCHR(after.st_mode));
	assert_int_equal(after.st_ino, before.st_ino);

	/* A write error on a device is reported with the reason. */
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, "/dev/full", err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "cannot write /dev/full: No space left on device");
	pyh_profile_free(p);
}

struct reader {
	const char *path;
	char *buf;
	size_t len;
};

static void *read_fifo(void *arg)
{
	struct reader *r = arg;
	FILE *f = fopen(r->path, "r");
	FILE *m = open_memstream(&r->buf, &r->len);
	char chunk[4096];
	size_t n;

	if (f) {
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(f);
	}
	fclose(m);
	return NULL;
}

static void test_fifo_written_directly(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(2000); /* more than a pipe buffer */
	char path[128], err[256];
	struct reader r = { .path = path };
	size_t want_len;
	char *want = folded_text(p, &want_len);
	pthread_t t;
	struct stat st;

	snprintf(path, sizeof(path), "%s/pipe.folded", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(pthread_create(&t, NULL, read_fifo, &r), 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, path, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_true(want_len > 65536);
	assert_int_equal(r.len, want_len);
	assert_memory_equal(r.buf, want, want_len);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(count_entries(), 1);
	unlink(path);
	free(r.buf);
	free(want);
	pyh_profile_free(p);
}

static void test_errors_leave_nothing(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(3000);
	char path[128], err[256];
	struct rlimit old, small = { 4096, 4096 };
	size_t len;
	char *got;

	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, "/nonexistent/x.svg", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "cannot write /nonexistent/x.svg: No such file or directory");
	assert_int_equal(access("/nonexistent", F_OK), -1);

	/* A directory component that is a file. */
	snprintf(path, sizeof(path), "%s/file", dir);
	put(path, "x");
	snprintf(path, sizeof(path), "%s/file/out.svg", dir);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), -ENOTDIR);
	assert_int_equal(count_entries(), 1);
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);

	/* A write that fails half way (file size limit): the old file stays
	 * exactly as it was and the temporary is removed. */
	snprintf(path, sizeof(path), "%s/big.folded", dir);
	put(path, "previous profile\n");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;	/* so that the old limit can come back */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int r = pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, path, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, -EFBIG);
	assert_non_null(strstr(err, "big.folded: File too large"));
	got = slurp(path, &len);
	assert_string_equal(got, "previous profile\n");
	free(got);
	assert_int_equal(count_entries(), 1);
	unlink(path);

	/* Bad arguments. */
	assert_int_equal(pyh_profile_write_path(p, NULL, 0, path, err, sizeof(err)), -EINVAL);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, "", err, sizeof(err)), -EINVAL);
	assert_int_equal(count_entries(), 0);
	pyh_profile_free(p);
}

/* A symlink to a FIFO (or to a device) is replaced, never opened: nothing
 * blocks, the FIFO is untouched; a FIFO named directly with no reader is an
 * error after a bounded wait, not a hang. */
static void test_planted_fifo(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(3);
	char path[128], fifo[128], err[256];
	struct stat st;

	snprintf(fifo, sizeof(fifo), "%s/planted.fifo", dir);
	snprintf(path, sizeof(path), "%s/out.svg", dir);
	assert_int_equal(mkfifo(fifo, 0666), 0);
	assert_int_equal(symlink(fifo, path), 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	unlink(path);
	/* Directly, nobody reading: refused (EPIPE), the FIFO left as it was. */
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_SVG, fifo, err, sizeof(err)), -EPIPE);
	assert_non_null(strstr(err, fifo));
	unlink(fifo);
	/* A symlink to /dev/null is replaced too. */
	assert_int_equal(symlink("/dev/null", path), 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, path, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size > 0);
	unlink(path);
	assert_int_equal(count_entries(), 0);
	pyh_profile_free(p);
}

/* The mode of a file replaced never carries setuid, setgid or sticky bits. */
static void test_no_setuid(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(3);
	char path[128], err[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/suid.folded", dir);
	put(path, "old\n");
	assert_int_equal(chmod(path, 06755 | S_ISVTX), 0);
	assert_int_equal(pyh_profile_write_path(p, NULL, PYH_FMT_FOLDED, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	unlink(path);
	pyh_profile_free(p);
}

/* Default names: created exclusively; anything planted there is refused
 * (EEXIST), never written into nor replaced. */
static void test_write_new_exclusive(void **state)
{
	(void)state;
	struct pyh_profile *p = sample_profile(3);
	char path[128], other[128], err[256];
	size_t len;
	char *got;
	struct stat st;

	snprintf(path, sizeof(path), "%s/pyhang-42.svg", dir);
	snprintf(other, sizeof(other), "%s/victim", dir);
	assert_int_equal(pyh_profile_write_new(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(pyh_profile_write_new(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), -EEXIST);
	unlink(path);
	put(other, "victim\n");
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(pyh_profile_write_new(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), -EEXIST);
	got = slurp(other, &len);
	assert_string_equal(got, "victim\n");
	free(got);
	unlink(path);
	assert_int_equal(mkfifo(path, 0666), 0);
	assert_int_equal(pyh_profile_write_new(p, NULL, PYH_FMT_SVG, path, err, sizeof(err)), -EEXIST);
	unlink(path);
	unlink(other);
	assert_int_equal(count_entries(), 0);
	pyh_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test_setup_teardown(test_new_and_replaced_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_replaced_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devices_written_directly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_written_directly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_setuid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_new_exclusive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
