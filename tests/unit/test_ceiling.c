/* The code-version ceiling's user side (record/ceiling.h): the rule that says
 * whether a code object read names a sampled frame (read after the sample or
 * before it, version 0, at or over the ceiling), the fingerprint it gives
 * (the sampler's own), the memo, and the batched read on live 3.12, 3.13, 3.14
 * and 3.14t interpreters: their counter is where the layout says, a code object
 * made before a read is below it, one made after is not, and what is not a
 * code object or not mapped is never taken for one. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/mem.h"
#include "pyhang/frame.h"
#include "python/target.h"
#include "record/ceiling.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct pyh_ceil_entry entry(int64_t read_ns, uint32_t version, uint32_t before, int after)
{
	return (struct pyh_ceil_entry){ .addr = 0x7f0000001000ull, .read_ns = read_ns, .version = version,
					.counter_before = before, .readable = 1, .code = 1,
					.counter_after = (uint8_t)after };
}

static void test_judge_read_after(void **state)
{
	struct pyh_ceil_entry e;
	const uint64_t k = 5000;	/* the sample's time */

	(void)state;
	/* read after the sample: the version decides, always 1 or 0 */
	e = entry(5001, 99, 120, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 1);	/* made before the sample */
	e = entry(5001, 100, 120, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 0);	/* made at it: after */
	e = entry(5001, 101, 120, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 0);
	e = entry(5001, 2, 120, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 1);
	/* version 0: a static code object while the counter had not run out, else unknown */
	e = entry(5001, 0, 120, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 1);
	e = entry(5001, 0, 120, 0);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 0);
	/* not a code object, not readable: never named */
	e = entry(5001, 99, 120, 1);
	e.code = 0;
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 0);
	e = entry(5001, 99, 120, 1);
	e.readable = 0;
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 0);
	/* no ceiling: nothing is below it */
	e = entry(5001, 99, 120, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 0), 0);
}

static void test_judge_read_before(void **state)
{
	struct pyh_ceil_entry e;
	const uint64_t k = 5000;

	(void)state;
	/* read at the sample's very time or before it, code objects made since: read again */
	e = entry(5000, 99, 90, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), -1);
	e = entry(4000, 99, 99, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), -1);
	e = entry(0, 99, 100, 1);	/* never read: its time is 0 */
	e.readable = 0;
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), -1);
	/* read before, and the counter did not move since: it stands for the sample */
	e = entry(4000, 99, 100, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 1);
	e = entry(4000, 0, 100, 0);	/* static: the counter had not run out at the sample */
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), 1);
	/* ... but what does not fit is read again, never refused from an old read */
	e = entry(4000, 100, 100, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), -1);
	e = entry(4000, 99, 100, 1);
	e.code = 0;
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), -1);
	e = entry(4000, 99, 100, 1);
	e.readable = 0;
	assert_int_equal(pyh_ceiling_judge(&e, k, 100), -1);
	/* a counter that ran out (0) never makes an old read stand */
	e = entry(4000, 99, 0, 1);
	assert_int_equal(pyh_ceiling_judge(&e, k, 0), -1);
}

static void test_fp_and_memo(void **state)
{
	struct pyh_ceil_memo *m = calloc(1, sizeof(*m));
	struct pyh_ceil_entry e = entry(1, 0x01020304u, 7, 1), f;
	uint8_t le[4] = { 4, 3, 2, 1 };
	const struct pyh_ceil_entry *got;
	int replaced = 0;

	(void)state;
	assert_non_null(m);
	/* the sampler hashes the 4 bytes of co_version (pyhang/frame.h) */
	assert_true(pyh_ceiling_fp(&e) == pyh_code_fp(le, 4));
	e.version = 0x01020305u;
	assert_true(pyh_ceiling_fp(&e) != pyh_code_fp(le, 4));

	assert_null(pyh_ceiling_lookup(m, e.addr));
	pyh_ceiling_store(m, &e);
	got = pyh_ceiling_lookup(m, e.addr);
	assert_non_null(got);
	assert_int_equal(got->version, e.version);
	assert_null(pyh_ceiling_lookup(m, e.addr + 16));
	assert_null(pyh_ceiling_lookup(m, 0));
	/* more addresses than slots: each lookup is of its own address or none */
	for (uint64_t i = 0; i < 4 * PYH_CEIL_SLOTS; i++) {
		f = entry(1, (uint32_t)i + 2, 7, 1);
		f.addr = 0x7f0000100000ull + i * 0xc0;
		pyh_ceiling_store(m, &f);
	}
	for (uint64_t i = 0; i < 4 * PYH_CEIL_SLOTS; i++) {
		got = pyh_ceiling_lookup(m, 0x7f0000100000ull + i * 0xc0);
		if (!got)
			replaced++;
		else
			assert_int_equal(got->version, (uint32_t)i + 2);
	}
	assert_true(replaced >= 3 * PYH_CEIL_SLOTS);
	/* the code objects of a deep stack (256, as far apart as allocators put them)
	 * stay: a stack seen again reads nothing */
	for (uint64_t stride = 0xa0; stride <= 0x200; stride += 0x20) {
		int missing = 0;

		memset(m, 0, sizeof(*m));
		for (uint64_t i = 0; i < 256; i++) {
			f = entry(1 + (int64_t)i, 2, 7, 1);
			f.addr = 0x7f3a5c000000ull + 0x30 + i * stride;
			pyh_ceiling_store(m, &f);
		}
		for (uint64_t i = 0; i < 256; i++)
			missing += !pyh_ceiling_lookup(m, 0x7f3a5c000000ull + 0x30 + i * stride);
		assert_true(missing <= 3);
	}
	free(m);
}

/* A live interpreter: prints the address of a code object made at start, waits for a
 * line, makes another, prints its address, and sleeps. */
static const char prog[] =
	"import sys\n"
	"def f():\n    pass\n"
	"sys.stdout.write('%d %d\\n' % (id(f.__code__), id({})))\n"
	"sys.stdout.flush()\n"
	"sys.stdin.readline()\n"
	"g = compile('def g():\\n    pass\\n', 'x', 'exec')\n"
	"sys.stdout.write('%d\\n' % id(g))\n"
	"sys.stdout.flush()\n"
	"sys.stdin.readline()\n";

struct child {
	pid_t pid;
	FILE *in, *out;
};

static int spawn(const char *py, struct child *c)
{
	int to[2], from[2];

	if (access(py, X_OK))
		return -1;
	assert_int_equal(pipe(to), 0);
	assert_int_equal(pipe(from), 0);
	c->pid = fork();
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		execl(py, py, "-c", prog, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->in = fdopen(to[1], "w");
	c->out = fdopen(from[0], "r");
	return 0;
}

static void live(const char *py)
{
	struct pyh_ceil_entry out[4];
	unsigned long long code = 0, dict = 0, later = 0;
	uint64_t addrs[4], k;
	uint32_t counter = 0;
	int64_t next_id = 0;
	struct pyh_target t;
	struct child c;
	char err[256];

	if (spawn(py, &c)) {
		print_message("# %s not installed: skipped\n", py);
		return;
	}
	assert_int_equal(fscanf(c.out, "%llu %llu", &code, &dict), 2);
	/* 3.12's counter is a local symbol: looked for only when asked (record) */
	assert_int_equal(pyh_target_open(c.pid, &t, err, sizeof(err)), 0);
	if (t.ver.minor == 12)
		assert_true(t.code_counter_ptr == 0);
	else
		assert_true(t.code_counter_ptr != 0);
	assert_int_equal(pyh_target_open_flags(c.pid, &t, PYH_TARGET_OPEN_CODE_COUNTER, err,
					       sizeof(err)), 0);
	assert_true(t.code_counter_ptr != 0);
	assert_int_equal(pyh_mem_read(c.pid, t.code_counter_ptr, &counter, sizeof(counter)), 0);
	/* 3.13+: the main interpreter's counter; 3.12: the process's, bumped
	 * without atomics. Either way it holds while next_id says only the main
	 * interpreter was ever made. */
	assert_true(t.interp_next_id_ptr != 0);
	assert_int_equal(pyh_mem_read(c.pid, t.interp_next_id_ptr, &next_id, sizeof(next_id)), 0);
	assert_int_equal(next_id, 1);
	assert_true(counter > 2);

	/* a "sample" now: ceiling = the counter; read after it */
	k = now_ns();
	addrs[0] = code;
	addrs[1] = dict;	/* an object, not a code object */
	addrs[2] = 8;		/* not mapped */
	addrs[3] = code;
	assert_int_equal(pyh_ceiling_read(c.pid, &t.layout, t.code_type, t.code_counter_ptr, addrs, 4, out), 0);
	assert_true(out[0].readable && out[0].code && out[0].version > 0 && out[0].version < counter);
	assert_int_equal(out[0].counter_before, counter);
	assert_true(out[0].counter_after);
	assert_true((uint64_t)out[0].read_ns > k);
	assert_int_equal(pyh_ceiling_judge(&out[0], k, counter), 1);
	assert_true(out[1].readable && !out[1].code);
	assert_int_equal(pyh_ceiling_judge(&out[1], k, counter), 0);
	assert_false(out[2].readable);
	assert_int_equal(pyh_ceiling_judge(&out[2], k, counter), 0);
	assert_int_equal(out[3].version, out[0].version);	/* read cut short, then one by one */
	{
		uint32_t v = 0;

		assert_int_equal(pyh_mem_read(c.pid, code + t.layout.code_version, &v, 4), 0);
		assert_int_equal(v, out[0].version);
	}

	/* a code object made after the "sample": at or over its ceiling, never taken for
	 * what the sample's frame ran */
	fprintf(c.in, "go\n");
	fflush(c.in);
	assert_int_equal(fscanf(c.out, "%llu", &later), 1);
	addrs[0] = later;
	assert_int_equal(pyh_ceiling_read(c.pid, &t.layout, t.code_type, t.code_counter_ptr, addrs, 1, out), 0);
	assert_true(out[0].readable && out[0].code && out[0].version >= counter);
	assert_int_equal(pyh_ceiling_judge(&out[0], k, counter), 0);
	assert_true(out[0].counter_before > counter);
	/* a read of f's code, for a later sample: it stands while no code object was made
	 * (the same counter), not once one was */
	addrs[0] = code;
	assert_int_equal(pyh_ceiling_read(c.pid, &t.layout, t.code_type, t.code_counter_ptr, addrs, 1, out), 0);
	k = now_ns();
	assert_int_equal(pyh_ceiling_judge(&out[0], k, out[0].counter_before), 1);
	assert_int_equal(pyh_ceiling_judge(&out[0], k, out[0].counter_before + 1), -1);
	/* and for an earlier sample it tells by the version alone */
	assert_int_equal(pyh_ceiling_judge(&out[0], k - 1000000000ull, out[0].counter_before + 1), 1);
	assert_int_equal(pyh_ceiling_judge(&out[0], k - 1000000000ull, out[0].version), 0);

	/* bad arguments: out untouched */
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(pyh_ceiling_read(c.pid, &t.layout, t.code_type, t.code_counter_ptr, addrs, 0, out),
			 -EINVAL);
	assert_int_equal(pyh_ceiling_read(c.pid, &t.layout, t.code_type, 0, addrs, 1, out), -EINVAL);
	assert_int_equal(out[0].version, 0x5a5a5a5au);

	fclose(c.in);
	fclose(c.out);
	kill(c.pid, SIGKILL);
	waitpid(c.pid, NULL, 0);
	/* gone: every object unreadable */
	assert_int_equal(pyh_ceiling_read(c.pid, &t.layout, t.code_type, t.code_counter_ptr, addrs, 1, out),
			 -ESRCH);
	assert_false(out[0].readable);
}

static void test_live_313(void **state)
{
	(void)state;
	live("/root/.pyenv/versions/3.13.0/bin/python3.13");
}

static void test_live_314(void **state)
{
	(void)state;
	live("/root/.pyenv/versions/3.14.7/bin/python3.14");
}

static void test_live_314t(void **state)
{
	(void)state;
	live("/root/.pyenv/versions/3.14.7t/bin/python3.14t");
}

/* 3.12: the process's own counter (_Py_next_func_version, from .symtab). */
static void test_live_312(void **state)
{
	(void)state;
	live("/root/.pyenv/versions/3.12.1/bin/python3.12");
}

/* 3.11 and older have no co_version: the sampler's fingerprints. */
static void test_no_counter_311(void **state)
{
	unsigned long long code = 0, dict = 0;
	struct pyh_target t;
	struct child c;
	char err[256];

	(void)state;
	if (spawn("/root/.pyenv/versions/3.11.7/bin/python3.11", &c)) {
		print_message("# 3.11.7 not installed: skipped\n");
		return;
	}
	assert_int_equal(fscanf(c.out, "%llu %llu", &code, &dict), 2);
	assert_int_equal(pyh_target_open(c.pid, &t, err, sizeof(err)), 0);
	assert_true(t.code_counter_ptr == 0 && t.interp_next_id_ptr == 0);
	fclose(c.in);
	fclose(c.out);
	kill(c.pid, SIGKILL);
	waitpid(c.pid, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge_read_after),
		cmocka_unit_test(test_judge_read_before),
		cmocka_unit_test(test_fp_and_memo),
		cmocka_unit_test(test_live_313),
		cmocka_unit_test(test_live_314),
		cmocka_unit_test(test_live_314t),
		cmocka_unit_test(test_live_312),
		cmocka_unit_test(test_no_counter_311),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
