/* SPDX-License-Identifier: MIT */
/*
 * graph.h - the awaiter graph of a process's tasks: who awaits whom, the
 * cycles in it, and the order in which to print it as a tree (like
 * `python -m asyncio pstree`). Pure: it knows nodes by id and nothing of
 * the target, so it is tested on synthetic graphs.
 *
 * A node "awaits" others (a task awaiting a task, gather's or wait's or a
 * TaskGroup's children); "awaited by" is the reverse. Ids a node awaits that
 * are not nodes are left out. Cycles are the strongly connected components
 * with more than one node, or a node that awaits itself (Tarjan's algorithm,
 * without recursion). Everything is linear in nodes + edges and no walk
 * visits a node twice, so a cycle can never be followed forever.
 */
#ifndef PYH_ASYNCIO_GRAPH_H
#define PYH_ASYNCIO_GRAPH_H
#include <stdint.h>

struct pyh_agraph_in {
	uint64_t id;
	const uint64_t *awaits;	/* ids this node awaits */
	int nawaits;
};

struct pyh_agraph {
	int n;
	/* node i awaits awaits[awaits_at[i] .. awaits_at[i + 1]) and is awaited
	 * by by[by_at[i] .. by_at[i + 1]): node indices, each once, in input order */
	int *awaits_at, *awaits;
	int *by_at, *by;
	/* per node: the index of the cycle it is in, or -1 */
	int *cycle;
	/* cycle c's nodes, in the order they await each other where they do:
	 * cycle_nodes[cycle_at[c] .. cycle_at[c + 1]) */
	int ncycles;
	int *cycle_at, *cycle_nodes;
	/* the tree to print: every node exactly once, depth first from the nodes
	 * nobody awaits (in input order), then from the first node of each cycle
	 * not reached yet; parent[k] is -1 for a root (tree order, not node index) */
	int *order, *depth, *parent;
};

/* Build the graph of in[0..n). Returns 0, -EINVAL (n < 0, or an id twice),
 * or -ENOMEM; on failure *g holds nothing to free. */
int pyh_agraph_build(const struct pyh_agraph_in *in, int n, struct pyh_agraph *g);
void pyh_agraph_free(struct pyh_agraph *g);	/* NULL-safe, leaves *g empty */
#endif
