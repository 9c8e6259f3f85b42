/* Byte budgets with LRU eviction (budget/budget.h): per owner and overall. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "budget/budget.h"

struct item {
	struct pyh_lru_node lru;
	int id;
	int evicted;
};

static void evict(struct pyh_lru_owner *o, struct pyh_lru_node *n)
{
	(void)o;
	((struct item *)n)->evicted = 1;
}

static void test_owner_limit(void **state)
{
	struct pyh_budget b = { .name = "t", .limit = 1000, .owner_limit = 300 };
	struct pyh_lru_owner o;
	struct item it[5];

	(void)state;
	memset(it, 0, sizeof(it));
	pyh_lru_owner_init(&o, &b, evict);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pyh_lru_charge(&o, &it[i].lru, 100), 0);
	assert_int_equal(o.used, 300);
	pyh_lru_touch(&o, &it[0].lru);		/* 1 is now the least recent */
	assert_int_equal(pyh_lru_charge(&o, &it[3].lru, 100), 0);
	assert_true(it[1].evicted);
	assert_false(it[0].evicted || it[2].evicted);
	assert_int_equal(o.used, 300);
	assert_int_equal(o.evictions, 1);
	/* Larger than the owner may ever hold: refused, nothing evicted. */
	assert_int_equal(pyh_lru_charge(&o, &it[4].lru, 301), -ENOSPC);
	assert_int_equal(o.refusals, 1);
	assert_int_equal(b.refusals, 1);
	assert_int_equal(o.used, 300);
	pyh_lru_remove(&o, &it[2].lru);
	pyh_lru_remove(&o, &it[2].lru);	/* idempotent */
	assert_int_equal(o.used, 200);
	assert_int_equal(b.used, 200);
	pyh_lru_owner_drain(&o);
	assert_int_equal(b.used, 0);
	assert_int_equal(b.peak, 300);
	assert_int_equal(o.evictions, 1);	/* draining is not evicting */
}

/* Overall: an owner makes room from its own entries, never another's. */
static void test_overall_limit(void **state)
{
	struct pyh_budget b = { .name = "t", .limit = 250, .owner_limit = 200 };
	struct pyh_lru_owner a, c;
	struct item x[4];

	(void)state;
	memset(x, 0, sizeof(x));
	pyh_lru_owner_init(&a, &b, evict);
	pyh_lru_owner_init(&c, &b, evict);
	assert_int_equal(pyh_lru_charge(&a, &x[0].lru, 100), 0);
	assert_int_equal(pyh_lru_charge(&a, &x[1].lru, 100), 0);
	/* c has nothing to evict: refused */
	assert_int_equal(pyh_lru_charge(&c, &x[2].lru, 100), -ENOSPC);
	assert_int_equal(c.refusals, 1);
	assert_false(x[0].evicted || x[1].evicted);
	assert_int_equal(pyh_lru_charge(&c, &x[2].lru, 50), 0);
	/* a evicts its own to fit under the overall limit */
	assert_int_equal(pyh_lru_charge(&a, &x[3].lru, 100), 0);
	assert_true(x[0].evicted);
	assert_int_equal(b.used, 250);
	pyh_lru_owner_drain(&a);
	pyh_lru_owner_drain(&c);
	assert_int_equal(b.used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_limit),
		cmocka_unit_test(test_overall_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
