/* SPDX-License-Identifier: MIT */
/* The awaiter graph: edges, cycles (Tarjan, iterative), print order. See graph.h. */
#include "asyncio/graph.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pyh_idx {
	uint64_t id;
	int node;
};

static int pyh_idx_cmp(const void *a, const void *b)
{
	const struct pyh_idx *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int pyh_idx_find(const struct pyh_idx *idx, int n, uint64_t id)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (idx[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && idx[lo].id == id ? idx[lo].node : -1;
}

void pyh_agraph_free(struct pyh_agraph *g)
{
	if (!g)
		return;
	free(g->awaits_at);
	free(g->awaits);
	free(g->by_at);
	free(g->by);
	free(g->cycle);
	free(g->cycle_at);
	free(g->cycle_nodes);
	free(g->order);
	free(g->depth);
	free(g->parent);
	memset(g, 0, sizeof(*g));
}

/* Edges as node indices, each once per node (mark[] is scratch, all -1). */
static int pyh_agraph_edges(const struct pyh_agraph_in *in, int n, const struct pyh_idx *idx,
			    struct pyh_agraph *g, int *mark)
{
	size_t total = 0;
	int k = 0;

	for (int i = 0; i < n; i++)
		total += in[i].nawaits > 0 ? (size_t)in[i].nawaits : 0;
	g->awaits = malloc((total ? total : 1) * sizeof(int));
	g->by = malloc((total ? total : 1) * sizeof(int));
	if (!g->awaits || !g->by)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		g->awaits_at[i] = k;
		for (int e = 0; e < in[i].nawaits; e++) {
			int j = pyh_idx_find(idx, n, in[i].awaits[e]);

			if (j < 0 || mark[j] == i)
				continue;
			mark[j] = i;
			g->awaits[k++] = j;
		}
	}
	g->awaits_at[n] = k;
	/* awaited by: count, place */
	for (int i = 0; i < k; i++)
		g->by_at[g->awaits[i] + 1]++;
	for (int i = 0; i < n; i++)
		g->by_at[i + 1] += g->by_at[i];
	for (int i = 0; i < n; i++)
		mark[i] = g->by_at[i];
	for (int i = 0; i < n; i++)
		for (int e = g->awaits_at[i]; e < g->awaits_at[i + 1]; e++)
			g->by[mark[g->awaits[e]]++] = i;
	return 0;
}

/* List cycle c's members comp[0..size) at cycle_nodes[*w]: from the one first
 * in the input, following edges inside the cycle while they lead to a member
 * not listed yet, then the rest. listed[] is scratch (0 for every member). */
static void pyh_cycle_list(struct pyh_agraph *g, const int *comp, int size, int c, int *listed,
			   int *w)
{
	int at = comp[0];

	for (int i = 1; i < size; i++)
		if (comp[i] < at)
			at = comp[i];
	while (at >= 0) {
		int next = -1;

		listed[at] = 1;
		g->cycle_nodes[(*w)++] = at;
		for (int e = g->awaits_at[at]; e < g->awaits_at[at + 1] && next < 0; e++)
			if (g->cycle[g->awaits[e]] == c && !listed[g->awaits[e]])
				next = g->awaits[e];
		at = next;
	}
	for (int i = 0; i < size; i++)
		if (!listed[comp[i]]) {
			listed[comp[i]] = 1;
			g->cycle_nodes[(*w)++] = comp[i];
		}
}

/* Tarjan's strongly connected components without recursion. */
static int pyh_agraph_cycles(struct pyh_agraph *g)
{
	int n = g->n, counter = 0, sp = 0, cs = 0, nc = 0, w = 0, rc = -ENOMEM;
	int *index = malloc(((size_t)n + 1) * sizeof(int)), *low = malloc(((size_t)n + 1) * sizeof(int));
	int *stack = malloc(((size_t)n + 1) * sizeof(int)), *on = calloc((size_t)n + 1, sizeof(int));
	int *call = malloc(((size_t)n + 1) * sizeof(int)), *edge = malloc(((size_t)n + 1) * sizeof(int));
	int *comp = malloc(((size_t)n + 1) * sizeof(int)), *listed = calloc((size_t)n + 1, sizeof(int));

	g->cycle_at = malloc(((size_t)n + 1) * sizeof(int));
	g->cycle_nodes = malloc(((size_t)n + 1) * sizeof(int));
	if (!index || !low || !stack || !on || !call || !edge || !comp || !listed || !g->cycle_at ||
	    !g->cycle_nodes)
		goto cleanup;
	for (int i = 0; i < n; i++)
		index[i] = -1;
	for (int root = 0; root < n; root++) {
		if (index[root] >= 0)
			continue;
		call[cs++] = root;
		index[root] = low[root] = counter++;
		edge[root] = g->awaits_at[root];
		stack[sp++] = root;
		on[root] = 1;
		while (cs) {
			int v = call[cs - 1];

			if (edge[v] < g->awaits_at[v + 1]) {
				int u = g->awaits[edge[v]++];

				if (index[u] < 0) {
					index[u] = low[u] = counter++;
					edge[u] = g->awaits_at[u];
					stack[sp++] = u;
					on[u] = 1;
					call[cs++] = u;
				} else if (on[u] && index[u] < low[v]) {
					low[v] = index[u];
				}
				continue;
			}
			cs--;
			if (cs && low[v] < low[call[cs - 1]])
				low[call[cs - 1]] = low[v];
			if (low[v] != index[v])
				continue;
			/* v roots a component: pop it */
			{
				int size = 0, self = 0, u;

				do {
					u = stack[--sp];
					on[u] = 0;
					comp[size++] = u;
				} while (u != v);
				for (int e = g->awaits_at[v]; e < g->awaits_at[v + 1]; e++)
					self |= g->awaits[e] == v;
				if (size < 2 && !self)
					continue;
				g->cycle_at[nc] = w;
				for (int i = 0; i < size; i++)
					g->cycle[comp[i]] = nc;
				pyh_cycle_list(g, comp, size, nc, listed, &w);
				nc++;
			}
		}
	}
	g->cycle_at[nc] = w;
	g->ncycles = nc;
	rc = 0;
cleanup:
	free(index);
	free(low);
	free(stack);
	free(on);
	free(call);
	free(edge);
	free(comp);
	free(listed);
	return rc;
}

/* Depth first from each start node not placed yet (explicit stack). */
static void pyh_agraph_place(struct pyh_agraph *g, int start, int *placed, int *k, int *stack,
			     int *pos)
{
	int sp = 0;

	if (placed[start])
		return;
	placed[start] = 1;
	g->order[*k] = start;
	g->depth[*k] = 0;
	g->parent[*k] = -1;
	pos[start] = (*k)++;
	stack[sp++] = start;
	while (sp) {
		int v = stack[sp - 1], next = -1;

		for (int e = g->awaits_at[v]; e < g->awaits_at[v + 1] && next < 0; e++)
			if (!placed[g->awaits[e]])
				next = g->awaits[e];
		if (next < 0) {
			sp--;
			continue;
		}
		placed[next] = 1;
		g->order[*k] = next;
		g->depth[*k] = g->depth[pos[v]] + 1;
		g->parent[*k] = pos[v];
		pos[next] = (*k)++;
		stack[sp++] = next;
	}
}

static int pyh_agraph_order(struct pyh_agraph *g)
{
	int n = g->n, k = 0;
	int *placed = calloc((size_t)n + 1, sizeof(int));
	int *stack = malloc(((size_t)n + 1) * sizeof(int)), *pos = malloc(((size_t)n + 1) * sizeof(int));

	g->order = malloc(((size_t)n + 1) * sizeof(int));
	g->depth = malloc(((size_t)n + 1) * sizeof(int));
	g->parent = malloc(((size_t)n + 1) * sizeof(int));
	if (!placed || !stack || !pos || !g->order || !g->depth || !g->parent) {
		free(placed);
		free(stack);
		free(pos);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		if (g->by_at[i] == g->by_at[i + 1])
			pyh_agraph_place(g, i, placed, &k, stack, pos);
	for (int c = 0; c < g->ncycles; c++)
		pyh_agraph_place(g, g->cycle_nodes[g->cycle_at[c]], placed, &k, stack, pos);
	for (int i = 0; i < n; i++)	/* unreachable by construction; kept total anyway */
		pyh_agraph_place(g, i, placed, &k, stack, pos);
	free(placed);
	free(stack);
	free(pos);
	return 0;
}

int pyh_agraph_build(const struct pyh_agraph_in *in, int n, struct pyh_agraph *g)
{
	struct pyh_idx *idx = NULL;
	int *mark = NULL, rc = -ENOMEM;

	memset(g, 0, sizeof(*g));
	if (n < 0 || (n > 0 && !in))
		return -EINVAL;
	g->n = n;
	idx = malloc(((size_t)n + 1) * sizeof(*idx));
	mark = malloc(((size_t)n + 1) * sizeof(int));
	g->awaits_at = calloc((size_t)n + 1, sizeof(int));
	g->by_at = calloc((size_t)n + 1, sizeof(int));
	g->cycle = malloc(((size_t)n + 1) * sizeof(int));
	if (!idx || !mark || !g->awaits_at || !g->by_at || !g->cycle)
		goto cleanup;
	for (int i = 0; i < n; i++) {
		idx[i] = (struct pyh_idx){ in[i].id, i };
		mark[i] = -1;
		g->cycle[i] = -1;
	}
	qsort(idx, (size_t)n, sizeof(*idx), pyh_idx_cmp);
	for (int i = 1; i < n; i++) {
		if (idx[i].id == idx[i - 1].id) {
			rc = -EINVAL;
			goto cleanup;
		}
	}
	rc = pyh_agraph_edges(in, n, idx, g, mark);
	if (!rc)
		rc = pyh_agraph_cycles(g);
	if (!rc)
		rc = pyh_agraph_order(g);
cleanup:
	free(idx);
	free(mark);
	if (rc)
		pyh_agraph_free(g);
	return rc;
}
