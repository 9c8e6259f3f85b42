/* The one text rule for target strings (output/sanitize.h), and the writers
 * that must follow it: frames, folded labels, metrics labels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "output/sanitize.h"
#include "profile/profile.h"
#include "watch/metrics.h"

static void expect_safe(const char *in, const char *want)
{
	char out[256];
	size_t n = pyh_sanitize(in, out, sizeof(out));

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_controls(void **state)
{
	(void)state;
	expect_safe("plain text", "plain text");
	expect_safe("evil\x1b[8m", "evil\\x1b[8m");
	expect_safe("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07");
	expect_safe("a\tb\nc\rd\x7f", "a\\x09b\\x0ac\\x0dd\\x7f");
	expect_safe("csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J");	/* U+009B, the 8-bit CSI */
	expect_safe("nel\xc2\x85", "nel\\xc2\\x85");
	expect_safe("\xc2\xa0nbsp", "\xc2\xa0nbsp");		/* U+00A0 is not a control */
	expect_safe("back\\slash", "back\\slash");
	expect_safe(NULL, "");
}

static void test_utf8(void **state)
{
	(void)state;
	expect_safe("caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80");
	expect_safe("lone \xed\xa0\x80 surrogate", "lone \\xed\\xa0\\x80 surrogate");
	expect_safe("overlong \xc0\xaf", "overlong \\xc0\\xaf");
	expect_safe("cut \xe6\x97", "cut \\xe6\\x97");
	expect_safe("raw c1 \x9b", "raw c1 \\x9b");
	expect_safe("big \xf4\x90\x80\x80", "big \\xf4\\x90\\x80\\x80");
	expect_safe("rlo \xe2\x80\xae txt", "rlo \\u202e txt");
	expect_safe("isolate \xe2\x81\xa6", "isolate \\u2066");
	assert_int_equal(pyh_utf8_len((const unsigned char *)"\xed\x9f\xbf", 3), 3);
	assert_int_equal(pyh_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0);
	assert_int_equal(pyh_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 3), 0);
}

static void test_cut(void **state)
{
	char out[8];
	size_t n;

	(void)state;
	/* "ab\x1b..." : the escape does not fit whole after "ab", so it is left out. */
	n = pyh_sanitize("ab\x1b\x1b", out, 6);
	assert_string_equal(out, "ab");
	assert_int_equal(n, 10);
	n = pyh_sanitize("\xe6\x97\xa5\xe6\x97\xa5", out, 5);
	assert_string_equal(out, "\xe6\x97\xa5");
	assert_int_equal(n, 6);
	assert_int_equal(pyh_sanitize("abc", NULL, 0), 3);
}

static void test_stream(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	pyh_fput_safe(f, "t\x1b]0;x\x07 \xed\xa0\x80 ok \xc3\xa9");
	pyh_fput_safe(f, NULL);
	fclose(f);
	assert_string_equal(buf, "t\\x1b]0;x\\x07 \\xed\\xa0\\x80 ok \xc3\xa9");
	free(buf);
}

/* Folded stacks and SVG titles come from pyh_pframe_label. */
static void test_folded_label(void **state)
{
	struct pyh_pframe fr = { .function = "evil\x1b[8m;x", .file = "/tmp/\x1b[2J.py", .line = 3 };
	char buf[128];
	size_t n;

	(void)state;
	n = pyh_pframe_label(&fr, buf, sizeof(buf));
	assert_string_equal(buf, "evil\\x1b[8m:x (/tmp/\\x1b[2J.py:3)");
	assert_int_equal(n, strlen(buf));
	/* Cut short: a byte-exact prefix, like snprintf. */
	n = pyh_pframe_label(&fr, buf, 8);
	assert_string_equal(buf, "evil\\x1");
	assert_int_equal(n, strlen("evil\\x1b[8m:x (/tmp/\\x1b[2J.py:3)"));
}

/* The metrics exposition stays UTF-8 whatever a command line holds. */
static void test_metrics_utf8(void **state)
{
	struct pyh_metrics_snapshot *s = calloc(1, sizeof(*s));
	char *out = malloc(pyh_metrics_render_max());
	int n;

	(void)state;
	assert_non_null(s);
	assert_non_null(out);
	s->nprocs = 1;
	s->procs[0].pid = 42;
	snprintf(s->procs[0].cmdline, sizeof(s->procs[0].cmdline), "python x\xed\xa0\x80y \xff\x1b");
	n = pyh_metrics_render(s, out, pyh_metrics_render_max());
	assert_true(n > 0);
	for (int i = 0; i < n;) {
		int k = pyh_utf8_len((const unsigned char *)out + i, (size_t)(n - i));

		assert_true(k > 0);
		assert_false(k == 2 && (unsigned char)out[i] == 0xc2 && (unsigned char)out[i + 1] <= 0x9f);
		assert_false(k == 1 && out[i] < 0x20 && out[i] != '\n');
		i += k;
	}
	assert_non_null(strstr(out, "cmdline=\"python x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy \xef\xbf\xbd?\""));
	free(out);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_folded_label),
		cmocka_unit_test(test_metrics_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
