/* Tests for src/kernel/bpfpin.c, the store of pinned BPF programs, on the
 * real bpf filesystem at /sys/fs/bpf (skipped when it is not mounted or not
 * root): entries held by one holder at a time, a program pinned and got
 * back, other builds swept, the maps of a program found by name and shape. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "kernel/bpfpin.h"

/* Test entries: kind "utest", builds from the test's pid (never a real build's). */
#define KIND "utest"

static int have_store(void)
{
	struct statfs sf;

	return geteuid() == 0 && statfs(PYH_BPFPIN_ROOT, &sf) == 0 &&
	       (unsigned long)sf.f_type == 0xcafe4a11;
}

static uint64_t build_of(int n)
{
	return (uint64_t)getpid() << 8 | (uint64_t)n;
}

/* A socket filter named name that looks key 0 up in map_fd (or only returns
 * 0 when map_fd < 0). */
static int load_prog(const char *name, int map_fd)
{
	struct bpf_insn in[9];
	int n = 0;

	memset(in, 0, sizeof(in));
	if (map_fd >= 0) {
		in[n++] = (struct bpf_insn){ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10,
					     .off = -4, .imm = 0 };
		in[n++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2,
					     .src_reg = BPF_REG_10 };
		in[n++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2,
					     .imm = -4 };
		in[n++] = (struct bpf_insn){ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
					     .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd };
		n++;	/* the second half of the 64-bit immediate */
		in[n++] = (struct bpf_insn){ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem };
	}
	in[n++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 };
	in[n++] = (struct bpf_insn){ .code = BPF_JMP | BPF_EXIT };
	return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, name, "GPL", in, (size_t)n, NULL);
}

static void test_hash(void **state)
{
	const char a[] = "abcdefghijklmnopq", b[] = "abcdefghijklmnopr";

	(void)state;
	assert_true(pyh_bpfpin_hash(0, a, sizeof(a)) == pyh_bpfpin_hash(0, a, sizeof(a)));
	assert_true(pyh_bpfpin_hash(0, a, sizeof(a)) != pyh_bpfpin_hash(0, b, sizeof(b)));
	assert_true(pyh_bpfpin_hash(0, a, 8) != pyh_bpfpin_hash(0, a, 9));	/* the tail counts */
	assert_true(pyh_bpfpin_hash(0, "", 0) != pyh_bpfpin_hash(1, "", 0));
}

static void test_disabled(void **state)
{
	struct pyh_bpfpin p;

	(void)state;
	setenv("PYHANG_BPF_PIN", "0", 1);
	assert_int_equal(pyh_bpfpin_acquire(&p, KIND, build_of(0), 1), -EPERM);
	assert_int_equal(p.dirfd, -1);
	assert_int_equal(pyh_bpfpin_get(&p), -EBADF);
	pyh_bpfpin_release(&p);		/* a no-op */
	unsetenv("PYHANG_BPF_PIN");
}

static void test_one_holder_pin_get_sweep(void **state)
{
	struct pyh_bpfpin p, q, r;
	struct stat st;
	char old[128];
	int prog, fd;

	(void)state;
	if (!have_store())
		skip();
	prog = load_prog("pyh_utest", -1);
	assert_true(prog >= 0);
	assert_int_equal(pyh_bpfpin_acquire(&p, KIND, build_of(1), 7), 0);
	/* a second holder of the same entry, even in this process, is refused */
	assert_int_equal(pyh_bpfpin_acquire(&q, KIND, build_of(1), 7), -EWOULDBLOCK);
	pyh_bpfpin_release(&q);
	assert_int_equal(pyh_bpfpin_get(&p), -ENOENT);
	assert_int_equal(pyh_bpfpin_put(&p, prog), 0);
	fd = pyh_bpfpin_get(&p);
	assert_true(fd >= 0);
	assert_int_equal(pyh_bpf_prog_is(fd, BPF_PROG_TYPE_SOCKET_FILTER, "pyh_utest"), 1);
	assert_int_equal(pyh_bpf_prog_is(fd, BPF_PROG_TYPE_SOCKET_FILTER, "pyh_utes"), 0);
	assert_int_equal(pyh_bpf_prog_is(fd, BPF_PROG_TYPE_PERF_EVENT, "pyh_utest"), 0);
	close(fd);
	snprintf(old, sizeof(old), "%s", p.path);
	pyh_bpfpin_release(&p);
	/* the next holder finds it */
	assert_int_equal(pyh_bpfpin_acquire(&q, KIND, build_of(1), 7), 0);
	fd = pyh_bpfpin_get(&q);
	assert_true(fd >= 0);
	close(fd);
	/* pinning another build's entry removes this one, unless it is held */
	assert_int_equal(pyh_bpfpin_acquire(&r, KIND, build_of(2), 7), 0);
	assert_int_equal(pyh_bpfpin_put(&r, prog), 0);
	assert_int_equal(stat(old, &st), 0);		/* q holds it */
	pyh_bpfpin_release(&q);
	pyh_bpfpin_drop(&r);
	assert_int_equal(pyh_bpfpin_put(&r, prog), 0);
	assert_int_equal(stat(old, &st), -1);		/* swept */
	assert_int_equal(errno, ENOENT);
	/* dropped: nothing pinned any more */
	pyh_bpfpin_drop(&r);
	assert_int_equal(pyh_bpfpin_get(&r), -ENOENT);
	rmdir(r.path);
	pyh_bpfpin_release(&r);
	close(prog);
}

static void test_prog_maps(void **state)
{
	int map, prog;

	(void)state;
	if (geteuid() != 0)
		skip();
	map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "utest_map", 4, 8, 3, NULL);
	assert_true(map >= 0);
	prog = load_prog("pyh_utest", map);
	assert_true(prog >= 0);
	{
		struct pyh_bpf_map_want w[] = { { "utest_map", BPF_MAP_TYPE_ARRAY, 4, 8, 3, -1 } };

		assert_int_equal(pyh_bpf_prog_maps(prog, w, 1), 0);
		assert_true(w[0].fd >= 0);
		close(w[0].fd);
	}
	{
		struct pyh_bpf_map_want w[] = { { "utest_map", BPF_MAP_TYPE_ARRAY, 4, 8, 0, -1 } };

		assert_int_equal(pyh_bpf_prog_maps(prog, w, 1), 0);	/* any size */
		close(w[0].fd);
	}
	{
		struct pyh_bpf_map_want w[] = { { "utest_map", BPF_MAP_TYPE_ARRAY, 4, 4, 3, -1 } };

		assert_int_equal(pyh_bpf_prog_maps(prog, w, 1), -EPROTO);
		assert_int_equal(w[0].fd, -1);
	}
	{
		struct pyh_bpf_map_want w[] = { { "utest_map", BPF_MAP_TYPE_ARRAY, 4, 8, 3, -1 },
						{ "absent", BPF_MAP_TYPE_HASH, 4, 8, 0, -1 } };

		assert_int_equal(pyh_bpf_prog_maps(prog, w, 2), -ENOENT);
		assert_int_equal(w[0].fd, -1);		/* none left open */
		assert_int_equal(w[1].fd, -1);
	}
	close(prog);
	close(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_one_holder_pin_get_sweep),
		cmocka_unit_test(test_prog_maps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
