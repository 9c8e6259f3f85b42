/* Memory budgets in bytes, per owner (a cache of one target) and overall (all
 * caches of one kind), with least-recently-used eviction inside each owner.
 *
 * A cache that keeps what it read from a target (code objects, line tables,
 * names, source files) is an owner. It charges each entry's bytes when it
 * keeps it. The owner's own limit is enforced by evicting its least recently
 * used entries; the overall limit is an admission check: when the entries of
 * all owners together would pass it, the charging owner first evicts its own
 * entries, and when that is not enough the entry is refused (not kept: the
 * caller still has it and uses it, only not cached). Evictions and refusals
 * are counted, per owner and overall. Nothing here fails in any other way.
 *
 * Owners evict only their own entries, so an owner is only ever touched by
 * the thread that uses it; the overall counters are atomic (an owner may live
 * in a reader thread, src/proc/guard.h). */
#ifndef PYH_BUDGET_BUDGET_H
#define PYH_BUDGET_BUDGET_H
#include <stddef.h>
#include <stdint.h>

/* The overall budget of one kind of cache. */
struct pyh_budget {
	const char *name;		/* "code", "source": for reports */
	size_t limit;			/* bytes, all owners together */
	size_t owner_limit;		/* bytes, each owner */
	size_t used;			/* atomic */
	size_t peak;			/* atomic: the most used at once */
	uint64_t evictions;		/* atomic: entries evicted to make room */
	uint64_t refusals;		/* atomic: entries not kept, over budget */
};

/* An entry, inside the owner's own structure. */
struct pyh_lru_node {
	struct pyh_lru_node *prev, *next;
	size_t bytes;			/* charged; 0 when not on a list */
};

struct pyh_lru_owner;
/* Drop entry n from the owner's structures (its bytes are uncharged by the
 * caller of the callback, pyh_lru_*): called for each eviction. */
typedef void (*pyh_lru_evict_fn)(struct pyh_lru_owner *o, struct pyh_lru_node *n);

struct pyh_lru_owner {
	struct pyh_budget *b;
	struct pyh_lru_node head;	/* head.next: most recent; head.prev: least */
	size_t used;
	pyh_lru_evict_fn evict;
	uint64_t evictions, refusals;
};

/* The budgets of pyhang's caches: one overall budget per kind. */
struct pyh_budget *pyh_budget_code(void);	/* code objects, their names and line tables */
struct pyh_budget *pyh_budget_source(void);	/* source files (watch, dump) */

void pyh_lru_owner_init(struct pyh_lru_owner *o, struct pyh_budget *b, pyh_lru_evict_fn evict);
/* Drop every entry (through evict; not counted as evictions). */
void pyh_lru_owner_drain(struct pyh_lru_owner *o);

/* Keep n, of bytes bytes, as the most recent entry, evicting older entries of
 * this owner as the limits require (never n itself). Returns 0, or -ENOSPC
 * when n cannot be kept (counted as a refusal; n untouched, not on the list). */
int pyh_lru_charge(struct pyh_lru_owner *o, struct pyh_lru_node *n, size_t bytes);
/* n was used: make it the most recent. */
void pyh_lru_touch(struct pyh_lru_owner *o, struct pyh_lru_node *n);
/* Forget n (uncharge it) without calling evict. NULL-safe, idempotent. */
void pyh_lru_remove(struct pyh_lru_owner *o, struct pyh_lru_node *n);

/* A copy of the overall counters, read atomically field by field. */
void pyh_budget_snapshot(const struct pyh_budget *b, struct pyh_budget *out);
#endif
