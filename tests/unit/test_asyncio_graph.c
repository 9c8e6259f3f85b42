/* The awaiter graph on synthetic graphs: edges both ways, cycles (two tasks
 * awaiting each other, a task awaiting itself, rings, a big ring), the
 * print order (every node once, children under parents), bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "asyncio/graph.h"

#define N(id, ...) { id, (const uint64_t[]){ 0, ##__VA_ARGS__ } + 1, \
		     (int)(sizeof((uint64_t[]){ 0, ##__VA_ARGS__ }) / sizeof(uint64_t)) - 1 }

static int awaits(const struct pyh_agraph *g, int i, int j)
{
	for (int e = g->awaits_at[i]; e < g->awaits_at[i + 1]; e++)
		if (g->awaits[e] == j)
			return 1;
	return 0;
}

static int by_count(const struct pyh_agraph *g, int i)
{
	return g->by_at[i + 1] - g->by_at[i];
}

/* Every node exactly once in the print order, each child deeper than its parent. */
static void check_order(const struct pyh_agraph *g)
{
	int *seen = calloc((size_t)g->n + 1, sizeof(int));

	assert_non_null(seen);
	for (int k = 0; k < g->n; k++) {
		int v = g->order[k];

		assert_true(v >= 0 && v < g->n);
		assert_int_equal(seen[v], 0);
		seen[v] = 1;
		if (g->parent[k] < 0) {
			assert_int_equal(g->depth[k], 0);
		} else {
			assert_true(g->parent[k] < k);
			assert_int_equal(g->depth[k], g->depth[g->parent[k]] + 1);
			assert_true(awaits(g, g->order[g->parent[k]], v));
		}
	}
	free(seen);
}

/* main gathers two fetches; a third task awaits fetch 1 too; an id nobody has. */
static void test_gather_tree(void **state)
{
	struct pyh_agraph_in in[] = {
		N(0x100, 0x200, 0x300),
		N(0x200),
		N(0x300, 0x999),
		N(0x400, 0x200, 0x200),
	};
	struct pyh_agraph g;

	(void)state;
	assert_int_equal(pyh_agraph_build(in, 4, &g), 0);
	assert_true(awaits(&g, 0, 1) && awaits(&g, 0, 2));
	assert_int_equal(g.awaits_at[3] - g.awaits_at[2], 0);	/* 0x999 is no node */
	assert_int_equal(g.awaits_at[4] - g.awaits_at[3], 1);	/* a duplicate edge once */
	assert_int_equal(by_count(&g, 1), 2);
	assert_int_equal(g.by[g.by_at[1]], 0);
	assert_int_equal(g.by[g.by_at[1] + 1], 3);
	assert_int_equal(by_count(&g, 0), 0);
	assert_int_equal(g.ncycles, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(g.cycle[i], -1);
	check_order(&g);
	/* roots in input order, children under them */
	assert_int_equal(g.order[0], 0);
	assert_int_equal(g.order[1], 1);
	assert_int_equal(g.depth[1], 1);
	assert_int_equal(g.order[2], 2);
	assert_int_equal(g.order[3], 3);
	assert_int_equal(g.depth[3], 0);
	pyh_agraph_free(&g);
	pyh_agraph_free(&g);	/* idempotent */
	pyh_agraph_free(NULL);
}

/* Two tasks awaiting each other, one awaiting itself, and a task awaiting
 * into the first cycle. */
static void test_cycles(void **state)
{
	struct pyh_agraph_in in[] = {
		N(0xa, 0xb),
		N(0xb, 0xa),
		N(0xc, 0xc),
		N(0xd, 0xa),
		N(0xe),
	};
	struct pyh_agraph g;

	(void)state;
	assert_int_equal(pyh_agraph_build(in, 5, &g), 0);
	assert_int_equal(g.ncycles, 2);
	assert_int_equal(g.cycle[0], g.cycle[1]);
	assert_true(g.cycle[0] >= 0);
	assert_true(g.cycle[2] >= 0 && g.cycle[2] != g.cycle[0]);
	assert_int_equal(g.cycle[3], -1);
	assert_int_equal(g.cycle[4], -1);
	{
		int c = g.cycle[0];

		assert_int_equal(g.cycle_at[c + 1] - g.cycle_at[c], 2);
		assert_int_equal(g.cycle_nodes[g.cycle_at[c]], 0);	/* first in the input */
		assert_int_equal(g.cycle_nodes[g.cycle_at[c] + 1], 1);
	}
	check_order(&g);
	/* 0xd is nobody's: a root, and it reaches the cycle through 0xa */
	assert_int_equal(g.order[0], 3);
	assert_int_equal(g.order[1], 0);
	assert_int_equal(g.order[2], 1);
	pyh_agraph_free(&g);
}

/* A ring of 100,000 tasks: one cycle in await order, nothing followed twice. */
static void test_big_ring(void **state)
{
	enum { RING = 100000 };
	struct pyh_agraph_in *in = calloc(RING, sizeof(*in));
	uint64_t *next = calloc(RING, sizeof(*next));
	struct pyh_agraph g;

	(void)state;
	assert_non_null(in);
	assert_non_null(next);
	for (int i = 0; i < RING; i++) {
		next[i] = 0x1000 + 16 * (uint64_t)((i + 1) % RING);
		in[i] = (struct pyh_agraph_in){ 0x1000 + 16 * (uint64_t)i, &next[i], 1 };
	}
	assert_int_equal(pyh_agraph_build(in, RING, &g), 0);
	assert_int_equal(g.ncycles, 1);
	assert_int_equal(g.cycle_at[1], RING);
	for (int i = 0; i < RING; i++)
		assert_int_equal(g.cycle_nodes[i], i);
	check_order(&g);
	assert_int_equal(g.depth[RING - 1], RING - 1);	/* one long chain under the first */
	pyh_agraph_free(&g);
	/* a chain, no cycle: deep, but no recursion */
	next[RING - 1] = 0;
	in[RING - 1].nawaits = 0;
	assert_int_equal(pyh_agraph_build(in, RING, &g), 0);
	assert_int_equal(g.ncycles, 0);
	assert_int_equal(g.order[0], 0);
	check_order(&g);
	pyh_agraph_free(&g);
	free(in);
	free(next);
}

static void test_bad_input(void **state)
{
	struct pyh_agraph_in twice[] = { N(0x10), N(0x10) };
	struct pyh_agraph g;

	(void)state;
	assert_int_equal(pyh_agraph_build(twice, 2, &g), -EINVAL);
	assert_int_equal(pyh_agraph_build(NULL, -1, &g), -EINVAL);
	assert_int_equal(pyh_agraph_build(NULL, 0, &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.ncycles, 0);
	pyh_agraph_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather_tree),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_big_ring),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
