/* libFuzzer: the awaiter graph (asyncio/graph.h) on arbitrary edges, as a
 * corrupt or changing target could give them: ids repeated, edges to
 * nodes that do not exist, self loops, duplicate edges, cycles of any shape.
 *
 * data[0] is the number of nodes (at most FUZZ_NODES); then each node takes
 * a count byte and that many edge bytes, each naming a node id (or, past the
 * nodes, one that is not a node). The build must never crash or loop, and
 * what it gives must hold together: the print order holds every node once,
 * a parent comes before its child, a node's cycle lists it, the edges are
 * node indices both ways. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio/graph.h"

#define FUZZ_NODES 200
#define FUZZ_EDGES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t edges[FUZZ_NODES][FUZZ_EDGES];
	struct pyh_agraph_in in[FUZZ_NODES];
	struct pyh_agraph g;
	int n, seen[FUZZ_NODES];
	size_t at = 1;
	int rc;

	if (size < 1)
		return 0;
	n = data[0] % (FUZZ_NODES + 1);
	for (int i = 0; i < n; i++) {
		int k = at < size ? data[at++] % (FUZZ_EDGES + 1) : 0;

		/* ids: mostly distinct, a repeat when the input says so (0xff) */
		in[i].id = (at < size && data[at] == 0xff) ? 0x1000 : 0x1000 + 16 * (uint64_t)(i + 1);
		for (int e = 0; e < k; e++)
			edges[i][e] = 0x1000 + 16 * (uint64_t)(at < size ? data[at++] : 0);
		in[i].awaits = edges[i];
		in[i].nawaits = k;
	}
	rc = pyh_agraph_build(in, n, &g);
	if (rc == -EINVAL || rc == -ENOMEM)
		return 0;
	if (rc || g.n != n)
		abort();
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < n; k++) {
		int v = g.order[k];

		if (v < 0 || v >= n || seen[v]++ || g.depth[k] < 0)
			abort();
		if (g.parent[k] >= k || g.parent[k] < -1 || (g.parent[k] < 0) != (g.depth[k] == 0))
			abort();
		if (g.parent[k] >= 0 && g.depth[k] != g.depth[g.parent[k]] + 1)
			abort();
	}
	for (int i = 0; i < n; i++) {
		for (int e = g.awaits_at[i]; e < g.awaits_at[i + 1]; e++)
			if (g.awaits[e] < 0 || g.awaits[e] >= n)
				abort();
		for (int e = g.by_at[i]; e < g.by_at[i + 1]; e++)
			if (g.by[e] < 0 || g.by[e] >= n)
				abort();
		if (g.cycle[i] >= g.ncycles || g.cycle[i] < -1)
			abort();
	}
	for (int c = 0; c < g.ncycles; c++)
		for (int k = g.cycle_at[c]; k < g.cycle_at[c + 1]; k++)
			if (g.cycle_nodes[k] < 0 || g.cycle_nodes[k] >= n || g.cycle[g.cycle_nodes[k]] != c)
				abort();
	pyh_agraph_free(&g);
	return 0;
}
