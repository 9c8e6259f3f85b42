/* Reading memory with process_vm_readv, on this process's own pages: the
 * batched read that keeps what it read (pyh_mem_readv_prefix) and the read
 * that takes what an earlier read already holds (pyh_mem_read_from). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc/mem.h"

/* Two readable pages and a hole after them. */
static uint8_t *two_pages(size_t *pg)
{
	uint8_t *map;

	*pg = (size_t)sysconf(_SC_PAGESIZE);
	map = mmap(NULL, *pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(munmap(map + 2 * *pg, *pg), 0);
	for (size_t i = 0; i < 2 * *pg; i++)
		map[i] = (uint8_t)(i * 7 + 1);
	return map;
}

static void test_readv_prefix(void **state)
{
	size_t pg;
	uint8_t *map = two_pages(&pg);
	uint8_t a[64], b[64], c[64], d[64];
	struct pyh_mem_iov iov[4] = {
		{ (uintptr_t)map, a, sizeof(a) },
		{ (uintptr_t)(map + pg - 10), b, sizeof(b) },	/* across two pages */
		{ (uintptr_t)(map + 2 * pg - 64), c, sizeof(c) },	/* ends at the hole */
		{ (uintptr_t)(map + 100), d, sizeof(d) },
	};
	pid_t me = getpid();

	(void)state;
	assert_int_equal(pyh_mem_readv_prefix(me, iov, 4), 4);
	assert_memory_equal(a, map, sizeof(a));
	assert_memory_equal(b, map + pg - 10, sizeof(b));
	assert_memory_equal(c, map + 2 * pg - 64, sizeof(c));
	assert_memory_equal(d, map + 100, sizeof(d));
	/* the third region now runs 1 byte into the hole: two read whole */
	iov[2].addr += 1;
	memset(a, 0, sizeof(a));
	assert_int_equal(pyh_mem_readv_prefix(me, iov, 4), 2);
	assert_memory_equal(a, map, sizeof(a));
	/* all in the hole, the first unmapped, addr 0 in the middle */
	iov[0].addr = (uintptr_t)(map + 2 * pg);
	assert_int_equal(pyh_mem_readv_prefix(me, iov, 4), 0);
	iov[0].addr = (uintptr_t)map;
	iov[1].addr = 0;
	assert_int_equal(pyh_mem_readv_prefix(me, iov, 4), 1);
	iov[1].len = PYH_MEM_MAX_READ + 1;
	iov[1].addr = (uintptr_t)map;
	assert_int_equal(pyh_mem_readv_prefix(me, iov, 4), 1);
	/* counts */
	assert_int_equal(pyh_mem_readv_prefix(me, iov, 0), 0);
	assert_int_equal(pyh_mem_readv_prefix(me, iov, -1), -EINVAL);
	assert_int_equal(pyh_mem_readv_prefix(me, iov, PYH_MEM_MAX_IOV + 1), -EINVAL);
	munmap(map, 2 * pg);
}

static void test_read_from(void **state)
{
	size_t pg;
	uint8_t *map = two_pages(&pg);
	uint8_t have[32], out[128];
	pid_t me = getpid();
	uint64_t base = (uintptr_t)(map + 2 * pg - 100);

	(void)state;
	memcpy(have, map + 2 * pg - 100, sizeof(have));
	/* wholly inside have: no read needed, so even a stale copy is what comes back */
	have[5] ^= 0xff;
	assert_int_equal(pyh_mem_read_from(me, have, base, sizeof(have), base + 4, out, 8), 0);
	assert_int_equal(out[1], have[5]);
	have[5] ^= 0xff;
	/* starting inside have, ending past it: the rest read */
	assert_int_equal(pyh_mem_read_from(me, have, base, sizeof(have), base + 20, out, 80), 0);
	assert_memory_equal(out, map + 2 * pg - 80, 80);
	/* outside have, before and after: read whole */
	assert_int_equal(pyh_mem_read_from(me, have, base, sizeof(have), base - 50, out, 40), 0);
	assert_memory_equal(out, map + 2 * pg - 150, 40);
	assert_int_equal(pyh_mem_read_from(me, have, base, sizeof(have), base + 32, out, 68), 0);
	assert_memory_equal(out, map + 2 * pg - 68, 68);
	/* no copy at all, and a rest that runs into the hole */
	assert_int_equal(pyh_mem_read_from(me, NULL, base, 100, base, out, 100), 0);
	assert_memory_equal(out, map + 2 * pg - 100, 100);
	assert_int_equal(pyh_mem_read_from(me, have, base, sizeof(have), base + 8, out, 93), -EFAULT);
	/* zero bytes, and address 0 */
	assert_int_equal(pyh_mem_read_from(me, have, base, sizeof(have), base, out, 0), 0);
	assert_int_equal(pyh_mem_read_from(me, NULL, 0, 0, 0, out, 8), -EFAULT);
	munmap(map, 2 * pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readv_prefix),
		cmocka_unit_test(test_read_from),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
