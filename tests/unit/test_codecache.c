/* The code cache (python/code.h) under a tiny budget, on a live Python: 300
 * frames of distinct functions that share one line table, named again and
 * again with revalidation while entries and the line table are evicted.
 * Every name and line must stay right (and ASan/UBSan see every free). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget/budget.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "python/target.h"
#include "python/threads.h"

#define PY "/root/.pyenv/versions/3.12.1/bin/python"
#define DEPTH 300

static const char prog[] =
	"import sys, time, types\n"
	"src = 'def g(n):\\n    if n: return C[n - 1](n - 1)\\n    sys.stdout.write(\"ready\\\\n\"); "
	"sys.stdout.flush(); time.sleep(600)\\n'\n"
	"ns = {'sys': sys, 'time': time}\n"
	"exec(compile(src, '/tmp/pyhang-codecache.py', 'exec'), ns)\n"
	"c = ns['g'].__code__\n"
	"C = [types.FunctionType(c.replace(co_name='f%d' % i, co_qualname='f%d' % i), ns) for i in range(300)]\n"
	"ns['C'] = C\n"
	"C[-1](299)\n";

static pid_t spawn_ready(void)
{
	int pfd[2];
	char buf[16];
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl(PY, PY, "-c", prog, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	assert_true(read(pfd[0], buf, sizeof(buf)) > 0);
	close(pfd[0]);
	return pid;
}

/* The child's main thread's frames, innermost first, into raw (room for
 * DEPTH + 8): their count. t is the child's target. */
static int child_stack(pid_t pid, struct pyh_target *t, struct pyh_raw_frame *raw,
		       uint64_t *tstate)
{
	struct pyh_threads_check chk = { 0 };
	struct pyh_pythread py[4];
	enum pyh_walk_status ws;
	uint64_t gil;
	char err[256];
	int n = 0;

	assert_int_equal(pyh_target_open(pid, t, err, sizeof(err)), 0);
	assert_int_equal(pyh_threads_read(t, py, 4, &n, &gil, &chk), 0);
	assert_true(n >= 1);
	if (tstate)
		*tstate = py[0].tstate;
	return pyh_frames_walk(t, py[0].frame, raw, NULL, DEPTH + 8, &ws);
}

static void test_tiny_budget(void **state)
{
	struct pyh_budget *b = pyh_budget_code();
	size_t old_owner = b->owner_limit, old_all = b->limit;
	struct pyh_raw_frame *raw = calloc(DEPTH + 8, sizeof(*raw));
	struct pyh_target t;
	struct pyh_codecache *c;
	struct pyh_code_stats st;
	int nf;
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || access(PY, X_OK))
		skip();
	pid = spawn_ready();
	nf = child_stack(pid, &t, raw, NULL);
	assert_true(nf >= DEPTH);
	/* Room for a few dozen entries and never the line table with them. */
	b->owner_limit = 8192;
	b->limit = 16384;
	c = pyh_codecache_new(&t);
	assert_non_null(c);
	for (int round = 0; round < 4; round++) {
		struct pyh_frame held[DEPTH];

		for (int i = 0; i < DEPTH; i++) {
			char want[16];

			pyh_frame_name(c, &raw[i], 0, round & 1, &held[i]);
			snprintf(want, sizeof(want), "f%d", i);
			assert_non_null(held[i].ci);
			assert_string_equal(pyh_frame_function(&held[i]), want);
			assert_string_equal(pyh_frame_file(&held[i]), "/tmp/pyhang-codecache.py");
			assert_int_equal(held[i].line, i == 0 ? 3 : 2);
		}
		/* Held frames outlive evictions: still right after the cache moved on. */
		for (int i = 0; i < DEPTH; i++) {
			char want[16];

			snprintf(want, sizeof(want), "f%d", i);
			assert_string_equal(pyh_frame_function(&held[i]), want);
			pyh_frame_release(&held[i]);
		}
	}
	pyh_codecache_stats(c, &st);
	assert_true(st.evictions > 0 || st.refusals > 0);
	assert_true(st.linetables_shared > 0 || st.linetable_rereads > 0);
	pyh_codecache_free(c);
	b->owner_limit = old_owner;
	b->limit = old_all;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(raw);
}

/* pyh_code_prefetch reads every code object of a 300-frame stack at once:
 * what it keeps is what pyh_code_get would have read (names, files, lines),
 * naming the frames afterwards reads none of them again, and zeros, repeats,
 * a live object that is not code and an unmapped address are left out. Then
 * under a budget too small to keep them: the frames are still named right. */
static void test_prefetch(void **state)
{
	struct pyh_budget *b = pyh_budget_code();
	size_t old_owner = b->owner_limit, old_all = b->limit;
	struct pyh_raw_frame *raw = calloc(DEPTH + 8, sizeof(*raw));
	uint64_t *codes = calloc(2 * (DEPTH + 8) + 4, sizeof(*codes));
	struct pyh_target t;
	struct pyh_codecache *c;
	struct pyh_code_stats st;
	uint64_t described, tstate;
	int nf, k = 0;
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || access(PY, X_OK))
		skip();
	pid = spawn_ready();
	nf = child_stack(pid, &t, raw, &tstate);
	assert_true(nf > DEPTH);
	for (int i = 0; i < nf; i++) {
		codes[k++] = raw[i].code;
		if (i % 7 == 0)
			codes[k++] = raw[i].code;	/* again */
	}
	codes[k++] = 0;
	codes[k++] = tstate;			/* a live object, not a code object */
	codes[k++] = 16;			/* unmapped */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {	/* a budget that keeps a few dozen at most */
			b->owner_limit = 8192;
			b->limit = 16384;
		}
		c = pyh_codecache_new(&t);
		assert_non_null(c);
		pyh_code_prefetch(c, codes, k);
		pyh_codecache_stats(c, &st);
		if (pass == 0)
			assert_int_equal(st.described, nf);	/* each code object once */
		described = st.described;
		for (int i = 0; i < DEPTH; i++) {
			struct pyh_frame f;
			char want[16];

			pyh_frame_name(c, &raw[i], 0, 0, &f);
			snprintf(want, sizeof(want), "f%d", i);
			assert_non_null(f.ci);
			assert_string_equal(pyh_frame_function(&f), want);
			assert_string_equal(pyh_frame_file(&f), "/tmp/pyhang-codecache.py");
			assert_int_equal(f.line, i == 0 ? 3 : 2);
			pyh_frame_release(&f);
		}
		pyh_codecache_stats(c, &st);
		if (pass == 0)
			assert_int_equal(st.described, described);	/* nothing read again */
		else
			assert_true(st.refusals > 0 || st.evictions > 0);
		pyh_codecache_free(c);
	}
	b->owner_limit = old_owner;
	b->limit = old_all;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(codes);
	free(raw);
}

/* The fingerprint rule (pyhang/frame.h) both sides take: the bytes past len
 * do not count (BPF hashes whole words of a buffer it read len bytes into),
 * every byte within does, and it is never 0 (0: not taken). */
/* The frame rule's "is this frame inside what was read": never by an
 * overflow, whatever address the target gives (a forged one near the top of
 * the address space made the C walker read far outside its buffer). */
static void test_frame_in_read(void **state)
{
	const __u64 base = 0x7f0000001000ull;

	(void)state;
	assert_true(pyh_frame_in_read(base, 4096, base, 64));
	assert_true(pyh_frame_in_read(base, 4096, base + 4096 - 64, 64));
	assert_false(pyh_frame_in_read(base, 4096, base + 4096 - 63, 64));
	assert_false(pyh_frame_in_read(base, 4096, base - 8, 64));
	assert_false(pyh_frame_in_read(base, 4096, base + 8192, 64));
	assert_false(pyh_frame_in_read(0, 0, 0, 64));
	/* f + span wraps to below base + len */
	assert_false(pyh_frame_in_read(base, 4096, ~0ull - 31, 64));
	assert_false(pyh_frame_in_read(0, 4096, ~0ull - 31, 64));
	assert_false(pyh_frame_in_read(base, 4096, (__u64)0 - 64, 64));
	/* the bulk read's start: never above the frame, never below its page */
	assert_true(pyh_frame_bulk_start(base + 100, 64) == base);
	assert_true(pyh_frame_bulk_start(base + 8000, 64) == base + 4096);	/* its page */
	assert_true(pyh_frame_bulk_start(base + 4096 + 64, 64) == base + 4096);
	assert_true(pyh_frame_bulk_start(~0ull - 31, 64) <= ~0ull - 31);
}

static void test_code_fp(void **state)
{
	uint8_t a[PYH_CODE_FP_MAX], b[PYH_CODE_FP_MAX];

	(void)state;
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	for (__u32 len = 1; len <= PYH_CODE_FP_MAX; len++) {
		if (len < PYH_CODE_FP_MAX)
			b[len] ^= 0xff;		/* past len: ignored */
		assert_int_equal(pyh_code_fp(a, len), pyh_code_fp(b, len));
		if (len < PYH_CODE_FP_MAX)
			b[len] ^= 0xff;
		b[len - 1] ^= 0x01;		/* within: counts */
		assert_true(pyh_code_fp(a, len) != pyh_code_fp(b, len));
		b[len - 1] ^= 0x01;
		assert_true(pyh_code_fp(a, len) != 0);
	}
	/* 3.12+'s co_version (4 bytes): distinct versions, distinct fingerprints. */
	for (uint32_t v = 0; v < 4096; v++) {
		uint8_t w[PYH_CODE_FP_MAX] = { 0 };
		uint32_t u = v + 1;

		memcpy(w, &v, 4);
		memcpy(b, &u, 4);
		assert_true(pyh_code_fp(w, 4) != pyh_code_fp(b, 4));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny_budget),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_frame_in_read),
		cmocka_unit_test(test_code_fp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
