/* Strings read out of a process: fake object images in this process, and
 * real str/bytes objects inside real interpreters (id() is the address). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "python/layouts.h"
#include "python/pystr.h"

/* PyASCIIObject 40 / PyCompactUnicodeObject 56 bytes (3.12, 3.13). */
static const struct pyh_layout layout312 = {
	.str_kind = PYH_STR_UNICODE,
	.unicode_length = 16, .unicode_state = 32,
	.unicode_ascii_data = 40, .unicode_compact_data = 56, .unicode_kind_shift = 2,
	.bytes_size = 16, .bytes_data = 32,
};
/* with the wstr fields: 48 / 72 (3.3 - 3.11) */
static const struct pyh_layout layout311 = {
	.str_kind = PYH_STR_UNICODE,
	.unicode_length = 16, .unicode_state = 32,
	.unicode_ascii_data = 48, .unicode_compact_data = 72, .unicode_kind_shift = 2,
	.bytes_size = 16, .bytes_data = 32,
};
/* PyStringObject: ob_size 16, ob_shash 24, ob_sstate 32, ob_sval 36 */
static const struct pyh_layout layout27 = {
	.str_kind = PYH_STR_BYTES,
	.bytes_size = 16, .bytes_data = 36,
	.unicode_length = PYH_NO_FIELD, .unicode_state = PYH_NO_FIELD,
	.unicode_ascii_data = PYH_NO_FIELD, .unicode_compact_data = PYH_NO_FIELD,
};

/* ------------------------------------------------------------------ */
/* pyh_ucs_to_utf8: pure */

static void test_ucs_kinds(void **state)
{
	static const uint8_t latin1[] = { 'c', 'a', 'f', 0xe9, 0xff };
	static const uint16_t ucs2[] = { 0x3b1, 0x3b2, ' ', 0x4e2d, 0x6587 };
	static const uint32_t ucs4[] = { 0x1f600, 'x', 0x10ffff, 0x24 };
	char out[64];

	(void)state;
	assert_int_equal(pyh_ucs_to_utf8(latin1, 5, 1, out, sizeof(out)), 7);
	assert_string_equal(out, "caf\xc3\xa9\xc3\xbf");
	assert_int_equal(pyh_ucs_to_utf8(ucs2, 5, 2, out, sizeof(out)), 11);
	assert_string_equal(out, "\xce\xb1\xce\xb2 \xe4\xb8\xad\xe6\x96\x87");
	assert_int_equal(pyh_ucs_to_utf8(ucs4, 4, 4, out, sizeof(out)), 10);
	assert_string_equal(out, "\xf0\x9f\x98\x80x\xf4\x8f\xbf\xbf$");
	assert_int_equal(pyh_ucs_to_utf8(ucs4, 0, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* bad kinds */
	assert_int_equal(pyh_ucs_to_utf8(ucs4, 4, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(pyh_ucs_to_utf8(ucs4, 4, 0, out, sizeof(out)), 0);
}

static void test_ucs_replacement(void **state)
{
	static const uint16_t sur2[] = { 'a', 0xd83d, 0xde00, 'b', 0xdfff };
	static const uint32_t bad4[] = { 0xd800, 0x110000, 0xffffffffu, 0xdbff, 0xe000 };
	char out[64];

	(void)state;
	/* surrogates in a UCS-2 string are lone code points, never pairs */
	assert_int_equal(pyh_ucs_to_utf8(sur2, 5, 2, out, sizeof(out)), 11);
	assert_string_equal(out, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd");
	assert_int_equal(pyh_ucs_to_utf8(bad4, 5, 4, out, sizeof(out)), 15);
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xee\x80\x80");
}

static void test_ucs_small_out(void **state)
{
	static const uint32_t s[] = { 'a', 0xe9, 0x4e2d, 0x1f600, 'z' };
	char out[16];

	(void)state;
	/* byte budget (incl. NUL): a=1 é=2 中=3 😀=4 z=1 */
	static const struct { size_t outsz, want; } cases[] = {
		{ 1, 0 }, { 2, 1 }, { 3, 1 }, { 4, 3 }, { 6, 3 }, { 7, 6 },
		{ 10, 6 }, { 11, 10 }, { 12, 11 }, { 16, 11 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *o = malloc(cases[i].outsz); /* exact size: ASan sees overruns */

		assert_non_null(o);
		assert_int_equal(pyh_ucs_to_utf8(s, 5, 4, o, cases[i].outsz), cases[i].want);
		assert_int_equal(strlen(o), cases[i].want);
		assert_memory_equal(o, "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80z", cases[i].want);
		free(o);
	}
	assert_int_equal(pyh_ucs_to_utf8(s, 5, 4, out, 0), 0);
	assert_int_equal(pyh_ucs_to_utf8(NULL, 5, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* ------------------------------------------------------------------ */
/* fake objects in this process */

/* Build a PEP 393 image: header per layout l, state bits, data. */
static uint8_t *fake_unicode(const struct pyh_layout *l, int kind, int ascii, int compact,
			     int64_t length, const void *data, size_t datalen)
{
	size_t off = ascii ? l->unicode_ascii_data : l->unicode_compact_data;
	uint8_t *obj = calloc(1, off + datalen + 4);
	uint32_t st = (uint32_t)kind << 2 | (uint32_t)compact << 5 | (uint32_t)ascii << 6 |
		      1u << 7 /* ready / statically_allocated: must be ignored */ | 1u;

	assert_non_null(obj);
	memcpy(obj + l->unicode_length, &length, sizeof(length));
	memcpy(obj + l->unicode_state, &st, sizeof(st));
	memcpy(obj + off, data, datalen);
	return obj;
}

static int read_self(const struct pyh_layout *l, const void *obj, char *out, size_t outsz)
{
	return pyh_pystr_read(getpid(), l, (uint64_t)(uintptr_t)obj, out, outsz);
}

static void check_fakes(const struct pyh_layout *l)
{
	static const uint16_t greek_cjk[] = { 0x3b1, 0x3b2, 0x3b3, '_', 0x4e2d, 0x6587 };
	static const uint32_t emoji[] = { 0x1f600, ' ', 0x1f40d };
	char out[128];
	uint8_t *o;

	o = fake_unicode(l, 1, 1, 1, 11, "hello_world", 11);
	assert_int_equal(read_self(l, o, out, sizeof(out)), 11);
	assert_string_equal(out, "hello_world");
	free(o);

	o = fake_unicode(l, 1, 0, 1, 4, "caf\xe9", 4); /* latin-1 */
	assert_int_equal(read_self(l, o, out, sizeof(out)), 5);
	assert_string_equal(out, "caf\xc3\xa9");
	free(o);

	o = fake_unicode(l, 2, 0, 1, 6, greek_cjk, sizeof(greek_cjk));
	assert_int_equal(read_self(l, o, out, sizeof(out)), 13);
	assert_string_equal(out, "\xce\xb1\xce\xb2\xce\xb3_\xe4\xb8\xad\xe6\x96\x87");
	/* too small an out: cut at a character boundary, with "..." */
	assert_int_equal(read_self(l, o, out, 10), 9);
	assert_string_equal(out, "\xce\xb1\xce\xb2\xce\xb3...");
	assert_int_equal(read_self(l, o, out, 3), 0);
	assert_string_equal(out, "");
	free(o);

	o = fake_unicode(l, 4, 0, 1, 3, emoji, sizeof(emoji));
	assert_int_equal(read_self(l, o, out, sizeof(out)), 9);
	assert_string_equal(out, "\xf0\x9f\x98\x80 \xf0\x9f\x90\x8d");
	free(o);

	o = fake_unicode(l, 1, 1, 1, 0, "", 0);
	assert_int_equal(read_self(l, o, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	free(o);

	/* malformed: negative length, non-compact, bad kinds, ascii with kind 2 */
	o = fake_unicode(l, 1, 1, 1, -5, "abc", 3);
	assert_int_equal(read_self(l, o, out, sizeof(out)), -EINVAL);
	free(o);
	o = fake_unicode(l, 1, 1, 0, 3, "abc", 3);
	assert_int_equal(read_self(l, o, out, sizeof(out)), -EINVAL);
	free(o);
	for (int k = 0; k < 8; k++) {
		if (k == 1 || k == 2 || k == 4)
			continue;
		o = fake_unicode(l, k, 0, 1, 3, "abcdefghijkl", 12);
		assert_int_equal(read_self(l, o, out, sizeof(out)), -EINVAL);
		free(o);
	}
	o = fake_unicode(l, 2, 1, 1, 3, "abcdef", 6);
	assert_int_equal(read_self(l, o, out, sizeof(out)), -EINVAL);
	free(o);
}

static void test_fake_312(void **state)
{
	(void)state;
	check_fakes(&layout312);
}

static void test_fake_311(void **state)
{
	(void)state;
	check_fakes(&layout311);
}

/* Lengths the object cannot back: reads stop at PYH_STR_MAX_CHARS, and a
 * length pointing past mapped memory gives -EFAULT, never a crash. */
static void test_fake_huge(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *out = malloc(3 * PYH_STR_MAX_CHARS);
	uint8_t *map;
	int64_t len;
	uint32_t st = 1u << 2 | 1u << 5 | 1u << 6;

	(void)state;
	assert_non_null(out);
	/* a string longer than the limit, in a big mapping */
	map = mmap(NULL, (size_t)pg * 5, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	munmap(map + 4 * pg, (size_t)pg); /* a hole after the 4 pages */
	memset(map + 40, 'q', (size_t)pg * 4 - 40);
	len = PYH_STR_MAX_CHARS + 100;
	memcpy(map + 16, &len, sizeof(len));
	memcpy(map + 32, &st, sizeof(st));
	assert_int_equal(read_self(&layout312, map, out, 3 * PYH_STR_MAX_CHARS),
			 PYH_STR_MAX_CHARS + 3);
	assert_memory_equal(out + PYH_STR_MAX_CHARS - 2, "qq...", 6);
	/* a length running into unmapped memory: an object at the end of the map */
	len = 1000;
	memcpy(map + 4 * pg - 100 + 16, &len, sizeof(len));
	memcpy(map + 4 * pg - 100 + 32, &st, sizeof(st));
	assert_int_equal(read_self(&layout312, map + 4 * pg - 100, out, 3 * PYH_STR_MAX_CHARS),
			 -EFAULT);
	len = 60;
	memcpy(map + 4 * pg - 100 + 16, &len, sizeof(len));
	assert_int_equal(read_self(&layout312, map + 4 * pg - 100, out, 3 * PYH_STR_MAX_CHARS),
			 60);
	len = INT64_MAX;
	memcpy(map + 16, &len, sizeof(len));
	assert_int_equal(read_self(&layout312, map, out, 64), 63);
	/* the header itself unmapped */
	munmap(map, (size_t)pg * 4);
	assert_int_equal(read_self(&layout312, map, out, 64), -EFAULT);
	assert_int_equal(pyh_pystr_read(getpid(), &layout312, 0, out, 64), -EFAULT);
	assert_int_equal(pyh_pystr_read(getpid(), &layout312, 8, out, 64), -EFAULT);
	free(out);
}

static void test_fake_27(void **state)
{
	uint8_t obj[36 + 64] = { 0 };
	uint8_t *data;
	size_t len;
	int64_t size = 5;
	char out[64];

	(void)state;
	memcpy(obj + 16, &size, sizeof(size));
	memcpy(obj + 36, "caf\xc3\xa9!", 7);
	assert_int_equal(read_self(&layout27, obj, out, sizeof(out)), 5);
	assert_string_equal(out, "caf\xc3\xa9");
	assert_int_equal(read_self(&layout27, obj, out, 5), 4);
	assert_string_equal(out, "c...");
	assert_int_equal(pyh_pybytes_read(getpid(), &layout27, (uintptr_t)obj, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "caf\xc3\xa9", 5);
	free(data);
	assert_int_equal(pyh_pybytes_read(getpid(), &layout27, (uintptr_t)obj, 4, &data, &len),
			 -E2BIG);
	assert_null(data);
	size = -1;
	memcpy(obj + 16, &size, sizeof(size));
	assert_int_equal(read_self(&layout27, obj, out, sizeof(out)), -EINVAL);
	assert_int_equal(pyh_pybytes_read(getpid(), &layout27, (uintptr_t)obj, 100, &data, &len),
			 -EINVAL);
	size = INT64_MAX;
	memcpy(obj + 16, &size, sizeof(size));
	assert_int_equal(pyh_pybytes_read(getpid(), &layout27, (uintptr_t)obj, SIZE_MAX, &data,
					  &len), -E2BIG);
}


/* pyh_pystr_read_head: what head holds is taken from it, the rest read. */
static void test_read_head(void **state)
{
	uint8_t *o = fake_unicode(&layout312, 1, 1, 1, 11, "hello_world", 11);
	uint8_t head[64], obj27[36 + 16] = { 0 };
	int64_t size = 6;
	char out[64];
	uint8_t *data;
	size_t len;

	(void)state;
	memcpy(head, o, 48);
	head[40] = 'j';	/* a copy that says otherwise: it is what is decoded */
	assert_int_equal(pyh_pystr_read_head(getpid(), &layout312, (uintptr_t)o, head, 48, out,
					     sizeof(out)), 11);
	assert_string_equal(out, "jello_world");	/* 8 bytes from head, 3 read */
	assert_int_equal(pyh_pystr_read_head(getpid(), &layout312, (uintptr_t)o, head, 40, out,
					     sizeof(out)), 11);
	assert_string_equal(out, "hello_world");	/* header only in head */
	assert_int_equal(pyh_pystr_read_head(getpid(), &layout312, (uintptr_t)o, head, 20, out,
					     sizeof(out)), 11);
	assert_string_equal(out, "hello_world");	/* too short a head: all read */
	assert_int_equal(pyh_pystr_read_head(getpid(), &layout312, (uintptr_t)o, NULL, 48, out,
					     sizeof(out)), 11);
	assert_string_equal(out, "hello_world");
	free(o);
	/* 2.7 str and bytes: size and text from head */
	memcpy(obj27 + 16, &size, sizeof(size));
	memcpy(obj27 + 36, "abcdef", 6);
	memcpy(head, obj27, sizeof(obj27));
	head[36] = 'X';
	assert_int_equal(pyh_pystr_read_head(getpid(), &layout27, (uintptr_t)obj27, head, 40, out,
					     sizeof(out)), 6);
	assert_string_equal(out, "Xbcdef");
	assert_int_equal(pyh_pybytes_size_head(getpid(), &layout27, (uintptr_t)obj27, head, 24, &len), 0);
	assert_int_equal(len, 6);
	assert_int_equal(pyh_pybytes_read_head(getpid(), &layout27, (uintptr_t)obj27, head,
					       sizeof(obj27), 100, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "Xbcdef", 6);
	free(data);
	assert_int_equal(pyh_pybytes_read_head(getpid(), &layout27, (uintptr_t)obj27, head, 38, 5,
					       &data, &len), -E2BIG);
	assert_null(data);
}

/* ------------------------------------------------------------------ */
/* real interpreters */

struct child {
	pid_t pid;
	FILE *out;	/* its stdout */
	int in;		/* its stdin: closing it ends the child */
};

static int child_start(struct child *c, const char *python, const char *script)
{
	int pin[2], pout[2];

	if (access(python, X_OK) != 0)
		return -1;
	assert_int_equal(pipe(pin), 0);
	assert_int_equal(pipe(pout), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		close(pin[1]);
		close(pout[0]);
		execl(python, python, "-c", script, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	c->in = pin[1];
	c->out = fdopen(pout[0], "r");
	assert_non_null(c->out);
	return 0;
}

static void child_stop(struct child *c)
{
	int st;

	close(c->in);
	fclose(c->out);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
}

/* Each interpreter prints id() of every object, then waits on stdin. */
static const char script3[] =
	"import sys\n"
	"objs = ['hello_world', 'caf\\xe9', '\\u03b1\\u03b2\\u03b3_\\u4e2d\\u6587',\n"
	"        '\\U0001F600 \\U0001F40D', '', 'x' * 5000, b'\\x00\\xffbytes']\n"
	"sys.stdout.write(' '.join(str(id(o)) for o in objs) + '\\n')\n"
	"sys.stdout.flush()\n"
	"sys.stdin.read()\n";
static const char script27[] =
	"import sys\n"
	"objs = ['hello_world', 'caf\\xc3\\xa9', '', 'x' * 5000, '\\x00\\xffbytes']\n"
	"sys.stdout.write(' '.join(str(id(o)) for o in objs) + '\\n')\n"
	"sys.stdout.flush()\n"
	"sys.stdin.read()\n";

static int check_interpreter(const char *python, const struct pyh_layout *l)
{
	static const char *want3[] = {
		"hello_world", "caf\xc3\xa9", "\xce\xb1\xce\xb2\xce\xb3_\xe4\xb8\xad\xe6\x96\x87",
		"\xf0\x9f\x98\x80 \xf0\x9f\x90\x8d", "",
	};
	static const char *want27[] = { "hello_world", "caf\xc3\xa9", "" };
	int is27 = l->str_kind == PYH_STR_BYTES;
	const char **want = is27 ? want27 : want3;
	size_t nwant = is27 ? 3 : 5;
	unsigned long long ids[8];
	struct child c;
	char out[PYH_STR_MAX_CHARS + 16];
	uint8_t *data;
	size_t len;

	if (child_start(&c, python, is27 ? script27 : script3) < 0)
		return 0;
	if (is27)
		assert_int_equal(fscanf(c.out, "%llu %llu %llu %llu %llu", &ids[0], &ids[1],
					&ids[2], &ids[3], &ids[4]), 5);
	else
		assert_int_equal(fscanf(c.out, "%llu %llu %llu %llu %llu %llu %llu", &ids[0],
					&ids[1], &ids[2], &ids[3], &ids[4], &ids[5], &ids[6]), 7);
	for (size_t i = 0; i < nwant; i++) {
		int r = pyh_pystr_read(c.pid, l, ids[i], out, sizeof(out));

		if (r != (int)strlen(want[i]) || strcmp(out, want[i]) != 0)
			fail_msg("%s: object %zu: got %d \"%s\", want \"%s\"", python, i, r, out,
				 want[i]);
	}
	/* 'x' * 5000: cut at the limit */
	assert_int_equal(pyh_pystr_read(c.pid, l, ids[nwant], out, sizeof(out)),
			 PYH_STR_MAX_CHARS + 3);
	assert_string_equal(out + PYH_STR_MAX_CHARS - 1, "x...");
	/* bytes */
	assert_int_equal(pyh_pybytes_read(c.pid, l, ids[nwant + 1], 64, &data, &len), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "\x00\xff" "bytes", 7);
	free(data);
	assert_int_equal(pyh_pybytes_read(c.pid, l, ids[nwant + 1], 6, &data, &len), -E2BIG);
	child_stop(&c);
	/* the process is gone */
	assert_true(pyh_pystr_read(c.pid, l, ids[0], out, sizeof(out)) < 0);
	return 1;
}

static void test_real_interpreters(void **state)
{
	static const struct {
		const char *python;
		const struct pyh_layout *l;
	} py[] = {
		{ "/root/.pyenv/versions/2.7.18/bin/python", &layout27 },
		{ "/root/.pyenv/versions/3.6.15/bin/python", &layout311 },
		{ "/root/.pyenv/versions/3.10.13/bin/python", &layout311 },
		{ "/root/.pyenv/versions/3.11.7/bin/python", &layout311 },
		{ "/usr/bin/python3.11", &layout311 },
		{ "/root/.pyenv/versions/3.12.1/bin/python", &layout312 },
		{ "/root/.pyenv/versions/3.13.0/bin/python", &layout312 },
	};
	/* 3.14 with and without the GIL, by the generated tables (3.14t's str header
	 * is larger and its kind bits sit higher) */
	static const struct {
		const char *python;
		int ft;
	} py314[] = {
		{ "/root/.pyenv/versions/3.14.7/bin/python3.14", 0 },
		{ "/root/.pyenv/versions/3.14.7t/bin/python3.14t", 1 },
	};
	int ran = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(py) / sizeof(py[0]); i++)
		ran += check_interpreter(py[i].python, py[i].l);
	for (size_t i = 0; i < sizeof(py314) / sizeof(py314[0]); i++)
		ran += check_interpreter(py314[i].python, pyh_layout_table(3, 14, py314[i].ft));
	printf("  read strings from %d real interpreters\n", ran);
	assert_true(ran > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ucs_kinds),
		cmocka_unit_test(test_read_head),
		cmocka_unit_test(test_ucs_replacement),
		cmocka_unit_test(test_ucs_small_out),
		cmocka_unit_test(test_fake_312),
		cmocka_unit_test(test_fake_311),
		cmocka_unit_test(test_fake_huge),
		cmocka_unit_test(test_fake_27),
		cmocka_unit_test(test_real_interpreters),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
