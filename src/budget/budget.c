/* Byte budgets and least-recently-used lists. */
#include "budget/budget.h"

#include <errno.h>
#include <string.h>

/* The limits, and why:
 * code: a code object's entry is ~200 bytes plus its names (shared between
 * entries) and its line table (shared by every code object that uses the same
 * one, at most 1 MiB): 16 MiB per process holds the names and tables of tens
 * of thousands of functions, more than a large service runs; 128 MiB for all
 * processes together bounds watch --all and record --all on a busy host.
 * source: whole files, at most PYH_SOURCE_MAX_FILE (16 MiB) each: one such
 * file per process at least, 64 MiB for all. */
#define PYH_MIB ((size_t)1 << 20)
#define PYH_BUDGET_CODE_OWNER (16 * PYH_MIB)
#define PYH_BUDGET_CODE_ALL (128 * PYH_MIB)
#define PYH_BUDGET_SOURCE_OWNER (16 * PYH_MIB)
#define PYH_BUDGET_SOURCE_ALL (64 * PYH_MIB)

static struct pyh_budget pyh_code_budget = {
	.name = "code", .limit = PYH_BUDGET_CODE_ALL, .owner_limit = PYH_BUDGET_CODE_OWNER,
};
static struct pyh_budget pyh_source_budget = {
	.name = "source", .limit = PYH_BUDGET_SOURCE_ALL, .owner_limit = PYH_BUDGET_SOURCE_OWNER,
};

struct pyh_budget *pyh_budget_code(void)
{
	return &pyh_code_budget;
}

struct pyh_budget *pyh_budget_source(void)
{
	return &pyh_source_budget;
}

void pyh_lru_owner_init(struct pyh_lru_owner *o, struct pyh_budget *b, pyh_lru_evict_fn evict)
{
	memset(o, 0, sizeof(*o));
	o->b = b;
	o->evict = evict;
	o->head.prev = o->head.next = &o->head;
}

static void unlink_node(struct pyh_lru_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

static void push_front(struct pyh_lru_owner *o, struct pyh_lru_node *n)
{
	n->next = o->head.next;
	n->prev = &o->head;
	o->head.next->prev = n;
	o->head.next = n;
}

void pyh_lru_remove(struct pyh_lru_owner *o, struct pyh_lru_node *n)
{
	if (!o || !n || !n->prev)
		return;
	unlink_node(n);
	o->used -= n->bytes;
	__atomic_sub_fetch(&o->b->used, n->bytes, __ATOMIC_RELAXED);
	n->bytes = 0;
}

/* Evict the least recent entry other than keep. Returns 0 when there was none. */
static int evict_one(struct pyh_lru_owner *o, const struct pyh_lru_node *keep)
{
	struct pyh_lru_node *n = o->head.prev;

	if (n == keep)
		n = n->prev;
	if (n == &o->head)
		return 0;
	pyh_lru_remove(o, n);
	o->evictions++;
	__atomic_add_fetch(&o->b->evictions, 1, __ATOMIC_RELAXED);
	o->evict(o, n);
	return 1;
}

/* Take bytes from the overall budget. Returns 1 when taken. */
static int admit(struct pyh_budget *b, size_t bytes)
{
	size_t cur = __atomic_load_n(&b->used, __ATOMIC_RELAXED), peak;

	do {
		if (bytes > b->limit || cur > b->limit - bytes)
			return 0;
	} while (!__atomic_compare_exchange_n(&b->used, &cur, cur + bytes, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	cur += bytes;
	peak = __atomic_load_n(&b->peak, __ATOMIC_RELAXED);
	while (cur > peak &&
	       !__atomic_compare_exchange_n(&b->peak, &peak, cur, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return 1;
}

int pyh_lru_charge(struct pyh_lru_owner *o, struct pyh_lru_node *n, size_t bytes)
{
	if (bytes > o->b->owner_limit)
		goto refuse;
	while (o->used + bytes > o->b->owner_limit)
		if (!evict_one(o, n))
			goto refuse;
	while (!admit(o->b, bytes))
		if (!evict_one(o, n))
			goto refuse;
	n->bytes = bytes;
	o->used += bytes;
	push_front(o, n);
	return 0;
refuse:
	o->refusals++;
	__atomic_add_fetch(&o->b->refusals, 1, __ATOMIC_RELAXED);
	return -ENOSPC;
}

void pyh_lru_touch(struct pyh_lru_owner *o, struct pyh_lru_node *n)
{
	if (!n->prev || o->head.next == n)
		return;
	unlink_node(n);
	push_front(o, n);
}

void pyh_lru_owner_drain(struct pyh_lru_owner *o)
{
	while (o->head.prev && o->head.prev != &o->head) {
		struct pyh_lru_node *n = o->head.prev;

		pyh_lru_remove(o, n);
		o->evict(o, n);
	}
}

void pyh_budget_snapshot(const struct pyh_budget *b, struct pyh_budget *out)
{
	out->name = b->name;
	out->limit = b->limit;
	out->owner_limit = b->owner_limit;
	out->used = __atomic_load_n(&b->used, __ATOMIC_RELAXED);
	out->peak = __atomic_load_n(&b->peak, __ATOMIC_RELAXED);
	out->evictions = __atomic_load_n(&b->evictions, __ATOMIC_RELAXED);
	out->refusals = __atomic_load_n(&b->refusals, __ATOMIC_RELAXED);
}
