/* Tests for src/native/ against a real process: a CPython 3.12 child blocked
 * in time.sleep. Its registers and the top of its stack are captured once
 * through the BPF task iterator (as dump --native does), then unwound from
 * that image alone, from a cut and a corrupted copy of it, and with a reader
 * for the rest; frames are named from the real libc and libpython files, with
 * and without the separate debug files. Needs root (skipped otherwise). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elf/elfsym.h"
#include "kernel/taskinfo.h"
#include "native/modules.h"
#include "native/native.h"
#include "python/frames.h"
#include "python/target.h"
#include "python/threads.h"
#include "record/mixed.h"

#define PY312 "/root/.pyenv/versions/3.12.1/bin/python"
#define CLOCK_NANOSLEEP_NR 230
#define MAX_FRAMES 512		/* frames these tests look at, at most */

struct child {
	pid_t pid;
	struct pyh_taskinfo_native_rec rec;	/* its main thread, as captured */
	int have_rec;
};

static struct child child;

static int capture(const struct pyh_taskinfo_native_rec *rec, void *arg)
{
	struct child *c = arg;

	if ((pid_t)rec->tid == c->pid) {
		c->rec = *rec;
		c->have_rec = 1;
	}
	return 0;
}

/* 1 once /proc says the child's main thread sleeps in clock_nanosleep. */
static int sleeping(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	int nr = -1;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		nr = atoi(buf);
	fclose(f);
	return nr == CLOCK_NANOSLEEP_NR;
}

static int setup(void **state)
{
	int p[2], copied = 0;
	char why[256], line[16];
	FILE *f;

	(void)state;
	if (geteuid() != 0 || access(PY312, X_OK) != 0)
		return 0;
	if (pipe(p))
		return -1;
	child.pid = fork();
	if (child.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		dup2(p[1], 1);
		close(p[0]);
		execl(PY312, PY312, "-c", "import time\nprint('ready', flush=True)\ntime.sleep(300)\n",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f || !fgets(line, sizeof(line), f))
		return -1;
	fclose(f);
	while (!sleeping(child.pid))
		usleep(1000);
	if (pyh_taskinfo_native(child.pid, capture, &child, &copied, why, sizeof(why)))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (child.pid > 0) {
		kill(child.pid, SIGKILL);
		waitpid(child.pid, NULL, 0);
	}
	return 0;
}

static void need_child(void)
{
	if (child.pid <= 0 || !child.have_rec)
		skip();
}

/* The iterator's record of a thread blocked in a system call. */
static void test_capture(void **state)
{
	const struct pyh_taskinfo_native_rec *r = &child.rec;

	(void)state;
	need_child();
	assert_int_equal(r->flags & (PYH_TI_KTHREAD | PYH_TI_ON_CPU | PYH_TI_MOVED), 0);
	assert_true(r->flags & PYH_TI_KSTACK);
	assert_true(r->kstack_n > 0);
	assert_int_equal((long)r->regs.orig_ax, CLOCK_NANOSLEEP_NR);
	assert_true(r->regs.r[PYH_UREG_RSP] != 0 && r->regs.r[PYH_UREG_RIP] != 0);
	/* The sleepable iterator copied the top of the stack: it is what memory holds. */
	assert_true(r->flags & PYH_TI_USTACK);
	assert_true(r->ustack_len >= PYH_TASKINFO_USTACK_MIN);
	{
		uint8_t buf[PYH_TASKINFO_USTACK_MIN];
		pid_t pid = child.pid;

		assert_int_equal(pyh_native_proc_read(&pid, r->regs.r[PYH_UREG_RSP], buf, sizeof(buf)), 0);
		assert_memory_equal(buf, r->ustack, sizeof(buf));
	}
}

struct named {
	char function[PYH_NATIVE_SYM_MAX];
	char library[256];
};

/* Unwind the capture (image cut to image_len, maybe corrupted) and name it. */
static int unwind(struct pyh_native *n, size_t image_len, int with_reader, const uint8_t *image,
		  struct named *out, int max, char *stop, size_t stopsz)
{
	struct pyh_native_stack in = {
		.regs = child.rec.regs,
		.image_addr = child.rec.regs.r[PYH_UREG_RSP],
		.image = image ? image : child.rec.ustack,
		.image_len = image_len,
		.read = with_reader ? pyh_native_proc_read : NULL,
		.read_arg = &child.pid,
	};
	struct pyh_native_frame fr[MAX_FRAMES];
	int nf = 0;

	assert_int_equal(pyh_native_unwind(n, child.pid, &in, NULL, fr, max, &nf, stop, stopsz), 0);
	for (int i = 0; i < nf; i++) {
		struct pyh_native_sym s;

		pyh_native_symbolize(n, &fr[i], &s);
		snprintf(out[i].function, sizeof(out[i].function), "%s", s.function);
		snprintf(out[i].library, sizeof(out[i].library), "%s", s.library ? s.library : "");
	}
	return nf;
}

static int find(const struct named *f, int n, const char *function)
{
	for (int i = 0; i < n; i++)
		if (strcmp(f[i].function, function) == 0)
			return i;
	return -1;
}

static void test_unwind_whole(void **state)
{
	struct pyh_native *n = NULL;
	struct named f[MAX_FRAMES];
	char err[256], stop[512];
	int nf, sleep_at, eval_at, main_at;

	(void)state;
	need_child();
	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	nf = unwind(n, child.rec.ustack_len, 1, NULL, f, MAX_FRAMES, stop, sizeof(stop));
	assert_string_equal(stop, "");
	assert_true(nf >= 8);
	assert_string_equal(f[0].function, "clock_nanosleep");
	assert_non_null(strstr(f[0].library, "libc.so.6"));
	sleep_at = find(f, nf, "time_sleep");
	eval_at = find(f, nf, "_PyEval_EvalFrameDefault");
	main_at = find(f, nf, "Py_BytesMain");
	assert_true(sleep_at > 0 && eval_at > sleep_at && main_at > eval_at);
	assert_non_null(strstr(f[sleep_at].library, "libpython3.12.so"));
	assert_string_equal(f[nf - 1].function, "_start");
	pyh_native_close(n);
}

/* Only the copy, and less of it: the unwind stops where the copy ends and
 * says so; the frames it gave are the first frames of the whole unwind. */
static void test_unwind_image_only(void **state)
{
	struct pyh_native *n = NULL;
	struct named whole[MAX_FRAMES], cut[MAX_FRAMES];
	char err[256], stop[512];
	int nw, nc;

	(void)state;
	need_child();
	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	nw = unwind(n, child.rec.ustack_len, 1, NULL, whole, MAX_FRAMES, stop, sizeof(stop));
	nc = unwind(n, 256, 0, NULL, cut, MAX_FRAMES, stop, sizeof(stop));
	assert_non_null(strstr(stop, "the stack copy ends at"));
	assert_true(nc >= 1 && nc < nw);
	for (int i = 0; i < nc; i++)
		assert_string_equal(cut[i].function, whole[i].function);
	/* No copy at all: the first frame is still the registers' pc. */
	nc = unwind(n, 0, 0, NULL, cut, MAX_FRAMES, stop, sizeof(stop));
	assert_true(nc >= 1);
	assert_string_equal(cut[0].function, "clock_nanosleep");
	assert_non_null(strstr(stop, "the stack copy ends at"));
	pyh_native_close(n);
}

/* A copy filled with garbage: the unwind stops with a reason, never guesses
 * a frame outside the mapped code, and never crashes. */
static void test_unwind_garbage(void **state)
{
	static uint8_t junk[PYH_TASKINFO_USTACK_MAX];
	struct pyh_native *n = NULL;
	struct named f[MAX_FRAMES];
	char err[256], stop[512];
	int nf;

	(void)state;
	need_child();
	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	nf = unwind(n, child.rec.ustack_len, 0, junk, f, MAX_FRAMES, stop, sizeof(stop));
	assert_true(nf >= 1 && nf < MAX_FRAMES);
	assert_string_not_equal(stop, "");
	for (int i = 1; i < nf; i++)
		assert_string_not_equal(f[i].library, "");
	/* A zeroed copy: the return address is 0, the end. */
	memset(junk, 0, sizeof(junk));
	nf = unwind(n, child.rec.ustack_len, 0, junk, f, MAX_FRAMES, stop, sizeof(stop));
	assert_true(nf >= 1 && nf <= 2);
	pyh_native_close(n);
}

/* Limits hold: frames. */
static void test_unwind_limits(void **state)
{
	struct pyh_native *n = NULL;
	struct named f[MAX_FRAMES];
	char err[256], stop[512];

	(void)state;
	need_child();
	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(unwind(n, child.rec.ustack_len, 1, NULL, f, 3, stop, sizeof(stop)), 3);
	assert_string_equal(stop, "frame limit (3)");
	pyh_native_close(n);
}

/* The load bias of the child's module whose path contains part. */
static uint64_t bias_of(const char *part, char *path, size_t pathsz, uint64_t *first_vaddr_out)
{
	struct pyh_nmodule *m = NULL;
	struct pyh_elf *elf = NULL;
	char host[PATH_MAX + 64];
	uint64_t bias = 0;
	int n = 0;

	assert_int_equal(pyh_nmodules_read(child.pid, &m, &n), 0);
	for (int i = 0; i < n; i++) {
		if (!strstr(m[i].path, part))
			continue;
		snprintf(path, pathsz, "%s", m[i].path);
		snprintf(host, sizeof(host), "/proc/%d/root%s", (int)child.pid, m[i].path);
		assert_int_equal(pyh_elf_open(host, &elf), 0);
		*first_vaddr_out = pyh_elf_first_load_vaddr(elf);
		bias = m[i].base - *first_vaddr_out;
		pyh_elf_close(elf);
		break;
	}
	free(m);
	assert_true(path[0]);
	return bias;
}

static void symbol_at(struct pyh_native *n, uint64_t pc, struct pyh_native_sym *s)
{
	struct pyh_native_frame f = { .pc = pc, .activation = 1 };

	pyh_native_symbolize(n, &f, s);
}

/* Names from the real files: .dynsym of libc (exported), .symtab of
 * libpython (a static function), the libc debug file by build ID (a local
 * symbol .dynsym lacks); offsets are link-time addresses. */
static void test_symbolize(void **state)
{
	struct pyh_native_opts nodebug = { .no_debug_files = 1 };
	struct pyh_native *n = NULL, *nd = NULL;
	struct pyh_native_sym s;
	struct pyh_elf *elf = NULL;
	char libc[512] = "", libpy[512] = "", err[256], dbg[512], id[128], host[600 + PATH_MAX];
	uint64_t libc_bias, py_bias, fv, v, sz;
	struct stat st;

	(void)state;
	need_child();
	libc_bias = bias_of("/libc.so.6", libc, sizeof(libc), &fv);
	py_bias = bias_of("libpython3.12.so", libpy, sizeof(libpy), &fv);
	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(pyh_native_open(child.pid, &nodebug, &nd, err, sizeof(err)), 0);

	snprintf(host, sizeof(host), "/proc/%d/root%s", (int)child.pid, libc);
	assert_int_equal(pyh_elf_open(host, &elf), 0);
	assert_int_equal(pyh_elf_symbol(elf, "clock_nanosleep", &v, &sz), 0);
	assert_int_equal(pyh_elf_build_id(elf, id, sizeof(id)), 0);
	pyh_elf_close(elf);
	symbol_at(nd, libc_bias + v + 4, &s);
	assert_string_equal(s.function, "clock_nanosleep");
	assert_true(s.function_offset == 4);
	assert_string_equal(s.library, libc);
	assert_true(s.offset == v + 4);
	assert_false(s.deleted);

	snprintf(host, sizeof(host), "/proc/%d/root%s", (int)child.pid, libpy);
	assert_int_equal(pyh_elf_open(host, &elf), 0);
	assert_int_equal(pyh_elf_symbol(elf, "time_sleep", &v, &sz), 0);
	pyh_elf_close(elf);
	symbol_at(nd, py_bias + v + 1, &s);
	assert_string_equal(s.function, "time_sleep");
	assert_string_equal(s.library, libpy);
	assert_true(s.offset == v + 1);

	/* Outside every file. */
	symbol_at(nd, 0x1000, &s);
	assert_null(s.library);
	assert_string_equal(s.function, "");

	/* libc6-dbg: a local symbol only the debug file names. */
	snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
	if (stat(dbg, &st) == 0) {
		assert_int_equal(pyh_elf_open(dbg, &elf), 0);
		assert_int_equal(pyh_elf_symbol(elf, "__libc_start_call_main", &v, &sz), 0);
		pyh_elf_close(elf);
		symbol_at(n, libc_bias + v + 2, &s);
		assert_string_equal(s.function, "__libc_start_call_main");
		assert_true(pyh_native_has_debug_file(n, libc_bias + v + 2));
		symbol_at(nd, libc_bias + v + 2, &s);
		assert_string_not_equal(s.function, "__libc_start_call_main");
		assert_false(pyh_native_has_debug_file(nd, libc_bias + v + 2));
	}
	pyh_native_close(n);
	pyh_native_close(nd);
}

/* record --native's merge (src/record/mixed.c) on a sample made of the
 * child's Python frames and the captured registers and stack: the native
 * frames come first, the eval call is replaced by the Python frame it runs,
 * and what the copy does not reach is a gap after it, never a guess. */
static void test_mixed_sample(void **state)
{
	static union {
		struct pyh_sample s;
		uint8_t bytes[sizeof(struct pyh_sample) + sizeof(struct pyh_sample_native)];
	} rec;
	static struct pyh_mixed m;
	struct pyh_pythread th[4];
	struct pyh_threads_check chk = { 0 };
	struct pyh_target t;
	struct pyh_native *n = NULL;
	struct pyh_sample_native *sn;
	enum pyh_walk_status status;
	uint64_t gil, addrs[8];
	char err[256];
	int nth = 0, depth, py_at = -1;
	size_t len;

	(void)state;
	need_child();
	assert_int_equal(pyh_target_open(child.pid, &t, err, sizeof(err)), 0);
	assert_int_equal(pyh_threads_read(&t, th, 4, &nth, &gil, &chk), 0);
	assert_int_equal(nth, 1);
	depth = pyh_frames_walk(&t, th[0].frame, rec.s.frames, addrs, 8, &status);
	assert_int_equal(depth, 1);	/* <module> */
	assert_true(rec.s.frames[0].flags & PYH_RAWF_ENTRY);
	rec.s.pid = (uint32_t)child.pid;
	rec.s.tid = (uint32_t)child.pid;
	rec.s.depth = (uint32_t)depth;
	rec.s.flags = PYH_SAMPLE_NATIVE;
	sn = (struct pyh_sample_native *)(rec.bytes + PYH_SAMPLE_SIZE(depth));
	sn->regs = child.rec.regs;
	sn->stack_addr = child.rec.regs.r[PYH_UREG_RSP];
	sn->stack_len = child.rec.ustack_len;
	memcpy(sn->stack, child.rec.ustack, child.rec.ustack_len);
	len = PYH_SAMPLE_NATIVE_SIZE(depth, sn->stack_len);

	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	/* A record shorter than its native part says: refused. */
	assert_int_equal(pyh_mixed_build(n, pyh_native_eval_function(3), &rec.s, len - 1, &m), -EINVAL);
	assert_int_equal(pyh_mixed_build(n, pyh_native_eval_function(3), &rec.s, len, &m), 0);
	assert_int_equal(m.mismatch, 0);
	assert_true(m.nmerged >= 4);
	assert_int_equal(m.merged[0].kind, PYH_MERGED_NATIVE);
	assert_string_equal(m.syms[m.merged[0].index].function, "clock_nanosleep");
	for (int i = 0; i < m.nmerged; i++) {
		if (m.merged[i].kind == PYH_MERGED_PYTHON)
			py_at = i;
		if (m.merged[i].kind == PYH_MERGED_NATIVE)
			assert_string_not_equal(m.syms[m.merged[i].index].function,
						"_PyEval_EvalFrameDefault");
	}
	assert_true(py_at > 1);	/* <module>, below the C calls it made */
	assert_int_equal(m.merged[py_at - 1].kind, PYH_MERGED_NATIVE);
	if (m.stop[0])
		assert_int_equal(m.merged[m.nmerged - 1].kind, PYH_MERGED_GAP);
	else
		assert_string_equal(m.syms[m.merged[m.nmerged - 1].index].function, "_start");
	pyh_native_close(n);
}

/* Bad input. */
static void test_bad_input(void **state)
{
	struct pyh_native *n = NULL;
	struct pyh_native_frame f[4];
	struct pyh_native_stack in = { 0 };
	char err[256], stop[64];
	int nf;

	(void)state;
	assert_int_equal(pyh_native_open(999999999, NULL, &n, err, sizeof(err)), -ESRCH);
	assert_null(n);
	need_child();
	assert_int_equal(pyh_native_open(child.pid, NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(pyh_native_unwind(n, child.pid, NULL, NULL, f, 4, &nf, stop, sizeof(stop)),
			 -EINVAL);
	assert_int_equal(pyh_native_unwind(n, child.pid, &in, NULL, f, 0, &nf, stop, sizeof(stop)),
			 -EINVAL);
	/* All-zero registers: pc 0, nothing to show, no crash. */
	assert_int_equal(pyh_native_unwind(n, child.pid, &in, NULL, f, 4, &nf, stop, sizeof(stop)), 0);
	assert_int_equal(nf, 0);
	pyh_native_close(n);
	pyh_native_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_unwind_whole),
		cmocka_unit_test(test_unwind_image_only),
		cmocka_unit_test(test_unwind_garbage),
		cmocka_unit_test(test_unwind_limits),
		cmocka_unit_test(test_symbolize),
		cmocka_unit_test(test_mixed_sample),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
