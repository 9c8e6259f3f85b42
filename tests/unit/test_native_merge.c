/* Tests for the pure pieces of native stacks: merging kernel, native and
 * Python frames (src/native/merge.c), grouping maps into modules
 * (src/native/modules.c) and naming kernel addresses (src/kernel/kallsyms.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/kallsyms.h"
#include "native/merge.h"
#include "native/modules.h"

#define K PYH_MERGED_KERNEL
#define N PYH_MERGED_NATIVE
#define P PYH_MERGED_PYTHON
#define G PYH_MERGED_GAP

static void expect(const struct pyh_merged *got, int n, const int (*want)[2], int nwant)
{
	assert_int_equal(n, nwant);
	for (int i = 0; i < n; i++) {
		if ((int)got[i].kind != want[i][0] || got[i].index != want[i][1])
			fail_msg("frame %d: got kind %d index %d, want kind %d index %d", i,
				 got[i].kind, got[i].index, want[i][0], want[i][1]);
	}
}

/* 3.12 blocked in time.sleep: one eval call runs next() and <module>. */
static void test_merge_one_eval_two_frames(void **state)
{
	/* clock_nanosleep, time_sleep, cfunction_vectorcall_O, EVAL, PyEval_EvalCode, _start */
	const int eval[] = { 0, 0, 0, 1, 0, 0 };
	const int entry[] = { 0, 1 };	/* next, <module> (entered by PyEval_EvalCode) */
	const struct pyh_merge_in in = { .nkernel = 2, .native_eval = eval, .nnative = 6,
					 .native_complete = 1, .python_entry = entry, .npython = 2 };
	const int want[][2] = { { K, 0 }, { K, 1 }, { N, 0 }, { N, 1 }, { N, 2 },
				{ P, 0 }, { P, 1 }, { N, 4 }, { N, 5 } };
	struct pyh_merged out[32];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&in, out, 32, &n), 0);
	expect(out, n, want, 9);
}

/* 2.7: one PyEval_EvalFrameEx per Python frame. */
static void test_merge_eval_per_frame(void **state)
{
	/* select, time_sleep, call_function, EVAL, call_function, EVAL, PyEval_EvalCodeEx */
	const int eval[] = { 0, 0, 0, 1, 0, 1, 0 };
	const int entry[] = { 1, 1 };
	const struct pyh_merge_in in = { .native_eval = eval, .nnative = 7, .native_complete = 1,
					 .python_entry = entry, .npython = 2 };
	const int want[][2] = { { N, 0 }, { N, 1 }, { N, 2 }, { P, 0 }, { N, 4 }, { P, 1 }, { N, 6 } };
	struct pyh_merged out[32];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&in, out, 32, &n), 0);
	expect(out, n, want, 7);
}

/* 3.11+: a generator resumed from C runs in an eval call of its own. */
static void test_merge_nested_eval_calls(void **state)
{
	/* read, EVAL (gen, inner fn), gen_send_ex2, EVAL (caller, <module>), main */
	const int eval[] = { 0, 1, 0, 1, 0 };
	const int entry[] = { 0, 1, 0, 1 };
	const struct pyh_merge_in in = { .native_eval = eval, .nnative = 5, .native_complete = 1,
					 .python_entry = entry, .npython = 4 };
	const int want[][2] = { { N, 0 }, { P, 0 }, { P, 1 }, { N, 2 }, { P, 2 }, { P, 3 }, { N, 4 } };
	struct pyh_merged out[32];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&in, out, 32, &n), 0);
	expect(out, n, want, 7);
}

/* The native unwind stopped before the outer eval calls: a gap, then the
 * rest of the Python frames, in order, and no mismatch. */
static void test_merge_incomplete_unwind(void **state)
{
	const int eval[] = { 0, 1, 0 };
	const int entry[] = { 1, 1, 1 };
	const struct pyh_merge_in in = { .nkernel = 1, .native_eval = eval, .nnative = 3,
					 .native_complete = 0, .python_entry = entry, .npython = 3 };
	const int want[][2] = { { K, 0 }, { N, 0 }, { P, 0 }, { N, 2 }, { G, -1 }, { P, 1 }, { P, 2 } };
	struct pyh_merged out[32];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&in, out, 32, &n), 0);
	expect(out, n, want, 7);
}

/* More eval calls than Python frames, or Python frames left after a
 * complete unwind: counted, nothing lost, nothing invented. */
static void test_merge_mismatch(void **state)
{
	const int eval[] = { 1, 1, 0 };
	const int entry1[] = { 1 };
	const struct pyh_merge_in extra_eval = { .native_eval = eval, .nnative = 3,
						 .native_complete = 1, .python_entry = entry1,
						 .npython = 1 };
	const int want1[][2] = { { P, 0 }, { N, 1 }, { N, 2 } };
	const int entry3[] = { 1, 1, 1 };
	const int noeval[] = { 0, 0 };
	const struct pyh_merge_in extra_py = { .native_eval = noeval, .nnative = 2,
					       .native_complete = 1, .python_entry = entry3,
					       .npython = 3 };
	const int want2[][2] = { { N, 0 }, { N, 1 }, { P, 0 }, { P, 1 }, { P, 2 } };
	struct pyh_merged out[32];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&extra_eval, out, 32, &n), 1);
	expect(out, n, want1, 3);
	assert_int_equal(pyh_native_merge(&extra_py, out, 32, &n), 3);
	expect(out, n, want2, 5);
}

/* No native frames at all (the unwind could not start): Python frames after a gap. */
static void test_merge_no_native(void **state)
{
	const int entry[] = { 0, 1 };
	const struct pyh_merge_in in = { .nkernel = 2, .python_entry = entry, .npython = 2 };
	const int want[][2] = { { K, 0 }, { K, 1 }, { G, -1 }, { P, 0 }, { P, 1 } };
	struct pyh_merged out[8];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&in, out, 8, &n), 0);
	expect(out, n, want, 5);
}

/* max keeps the innermost frames. */
static void test_merge_bounded(void **state)
{
	const int eval[] = { 0, 1, 0, 1 };
	const int entry[] = { 1, 1 };
	const struct pyh_merge_in in = { .nkernel = 1, .native_eval = eval, .nnative = 4,
					 .native_complete = 1, .python_entry = entry, .npython = 2 };
	const int want[][2] = { { K, 0 }, { N, 0 }, { P, 0 } };
	struct pyh_merged out[3];
	int n;

	(void)state;
	assert_int_equal(pyh_native_merge(&in, out, 3, &n), 0);
	expect(out, n, want, 3);
}

static const char maps_text[] =
	"55d0c0000000-55d0c0001000 r--p 00000000 08:01 100 /usr/bin/python3.12\n"
	"55d0c0001000-55d0c0002000 r-xp 00001000 08:01 100 /usr/bin/python3.12\n"
	"55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0   [heap]\n"
	"7f0000000000-7f0000028000 r--p 00000000 08:01 200 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f0000028000-7f000019d000 r-xp 00028000 08:01 200 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f000019d000-7f00001f5000 r--p 0019d000 08:01 200 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f0000200000-7f0000201000 r--p 00000000 08:01 300 /opt/app/libold.so (deleted)\n"
	"7f0000201000-7f0000202000 r-xp 00001000 08:01 300 /opt/app/libold.so (deleted)\n"
	"7f0000300000-7f0000310000 r--s 00000000 08:01 400 /usr/lib/locale/locale-archive\n"
	"7f0000400000-7f0000401000 r-xp 00002000 08:01 500 /opt/app/odd.so\n"
	"7f0000500000-7f0000600000 rw-p 00000000 00:00 0 \n"
	"garbage line\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0   [stack]\n"
	"7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0   [vdso]\n";

static void test_modules_parse(void **state)
{
	FILE *f = fmemopen((void *)maps_text, sizeof(maps_text) - 1, "r");
	struct pyh_nmodule *m = NULL;
	const struct pyh_nmodule *libc;
	int n = 0;

	(void)state;
	assert_non_null(f);
	assert_int_equal(pyh_nmodules_parse(f, &m, &n), 0);
	fclose(f);
	assert_int_equal(n, 6);
	assert_string_equal(m[0].path, "/usr/bin/python3.12");
	assert_true(m[0].base == 0x55d0c0000000ull && m[0].end == 0x55d0c0002000ull);
	assert_true(m[0].executable);
	libc = pyh_nmodules_find(m, n, 0x7f0000030000ull);
	assert_non_null(libc);
	assert_string_equal(libc->path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_true(libc->base == 0x7f0000000000ull && libc->end == 0x7f00001f5000ull);
	assert_true(libc->map_start == 0x7f0000000000ull && libc->map_end == 0x7f0000028000ull);
	assert_false(libc->deleted);
	assert_string_equal(m[2].path, "/opt/app/libold.so");
	assert_true(m[2].deleted);
	assert_string_equal(m[3].path, "/usr/lib/locale/locale-archive");
	assert_false(m[3].executable);
	/* No mapping of offset 0: where offset 0 would be. */
	assert_string_equal(m[4].path, "/opt/app/odd.so");
	assert_true(m[4].base == 0x7f0000400000ull - 0x2000 && !m[4].base_exact);
	assert_string_equal(m[5].path, "[vdso]");
	assert_null(pyh_nmodules_find(m, n, 0x55d0c1000100ull));	/* the heap */
	free(m);
}

static char *write_temp(const char *text)
{
	static char path[] = "/tmp/pyhang-kallsyms-XXXXXX";
	int fd;

	strcpy(path, "/tmp/pyhang-kallsyms-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_kallsyms(void **state)
{
	/* Unsorted, with a module, data symbols, a far one. */
	const char *text =
		"ffffffffc0100000 t ext4_readdir\t[ext4]\n"
		"ffffffff81000000 T _stext\n"
		"ffffffff8141fc60 T hrtimer_nanosleep\n"
		"ffffffff8141fd00 T common_nsleep\n"
		"ffffffff8141fc00 d some_data\n"
		"ffffffff81000130 T entry_SYSCALL_64\n";
	struct pyh_ksym s[5] = {
		{ .addr = 0xffffffff8141fcd4ull },	/* hrtimer_nanosleep+0x74 */
		{ .addr = 0xffffffff8141fd08ull },	/* common_nsleep+8 */
		{ .addr = 0xffffffffc0100010ull },	/* in a module */
		{ .addr = 0xffffffff81000131ull },
		{ .addr = 0xffffffff90000000ull },	/* 250 MiB past the last symbol: none */
	};
	char *path = write_temp(text);

	(void)state;
	assert_int_equal(pyh_kallsyms_resolve(s, 5, path), 0);
	assert_string_equal(s[0].name, "hrtimer_nanosleep");
	assert_true(s[0].offset == 0x74);
	assert_string_equal(s[0].module, "");
	assert_string_equal(s[1].name, "common_nsleep");
	assert_true(s[1].offset == 8);
	assert_string_equal(s[2].name, "ext4_readdir");
	assert_string_equal(s[2].module, "ext4");
	assert_string_equal(s[3].name, "entry_SYSCALL_64");
	assert_string_equal(s[4].name, "");
	unlink(path);

	/* kptr_restrict: every address shown as zero. */
	path = write_temp("0000000000000000 T _stext\n0000000000000000 T hrtimer_nanosleep\n");
	assert_int_equal(pyh_kallsyms_resolve(s, 1, path), -EPERM);
	assert_string_equal(s[0].name, "");
	unlink(path);
	assert_int_equal(pyh_kallsyms_resolve(s, 1, "/nonexistent/kallsyms"), -ENOENT);
}

/* The real file, when root can read it: a kernel stack symbol resolves. */
static void test_kallsyms_real(void **state)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[256];
	unsigned long long a = 0;
	struct pyh_ksym s;

	(void)state;
	if (!f || geteuid() != 0) {
		if (f)
			fclose(f);
		skip();
	}
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " T hrtimer_nanosleep\n") && sscanf(line, "%llx", &a) == 1)
			break;
	fclose(f);
	assert_true(a != 0);
	s.addr = a + 0x10;
	assert_int_equal(pyh_kallsyms_resolve(&s, 1, NULL), 0);
	assert_string_equal(s.name, "hrtimer_nanosleep");
	assert_true(s.offset == 0x10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_one_eval_two_frames),
		cmocka_unit_test(test_merge_eval_per_frame),
		cmocka_unit_test(test_merge_nested_eval_calls),
		cmocka_unit_test(test_merge_incomplete_unwind),
		cmocka_unit_test(test_merge_mismatch),
		cmocka_unit_test(test_merge_no_native),
		cmocka_unit_test(test_merge_bounded),
		cmocka_unit_test(test_modules_parse),
		cmocka_unit_test(test_kallsyms),
		cmocka_unit_test(test_kallsyms_real),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
