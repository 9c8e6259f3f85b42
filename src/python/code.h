/* Naming code objects: function, qualified name, file, line table; cached by
 * address within the "code" memory budget (budget/budget.h).
 *
 * What a cache keeps is shared: each distinct name or file is kept once per
 * cache (infos point to the same text), and a line table once per line-table
 * object of the target (many code objects can share one bytes object: they
 * share our copy). Budget: each cached info is charged for itself and its
 * names, each line table for its bytes; least recently used entries go
 * first. An info the budget cannot keep is still returned (valid until the
 * next pyh_code_get, or held); a line table it cannot keep is read again from
 * the target each time a line is asked for (pyh_code_line). */
#ifndef PYH_PYTHON_CODE_H
#define PYH_PYTHON_CODE_H
#include <limits.h>
#include <stdint.h>
#include "python/target.h"

#define PYH_CODE_NAME_MAX 256		/* bytes of co_name kept, with the NUL */
#define PYH_CODE_QUALNAME_MAX 512
#define PYH_CODE_FILE_MAX PATH_MAX

struct pyh_code_info {
	uint64_t addr;
	const char *name;	/* never NULL; text shared with other infos */
	const char *qualname;	/* == name's text on versions without co_qualname */
	const char *file;	/* never NULL ("<unreadable file>") */
	int firstlineno;
	uint32_t co_flags;	/* where the layout has co_flags (<= 3.10), else 0 */
	uint64_t fingerprint;	/* pyh_code_fp() of the object (pyhang/frame.h): tells it from
				 * another code object made at the same address later */
	int refs;		/* holders: the cache and each pyh_code_hold() */
};

struct pyh_codecache;

/* Counters of one cache (and, for pyh_codecache_stats_all, of every cache). */
struct pyh_code_stats {
	uint64_t described;		/* code objects read from the target */
	uint64_t linetables;		/* line tables read */
	uint64_t linetables_shared;	/* infos that took a line table already read */
	uint64_t linetable_rereads;	/* lines decoded from a table read again (not kept): all caches */
	uint64_t evictions;		/* entries dropped for the budget */
	uint64_t refusals;		/* entries the budget could not keep at all */
};

struct pyh_codecache *pyh_codecache_new(const struct pyh_target *t);
/* Frees the cache; infos still held by someone live on until released
 * (their line tables are dropped: lines are then read again). NULL-safe. */
void pyh_codecache_free(struct pyh_codecache *c);
/* The target the cache reads (as given to pyh_codecache_new). */
const struct pyh_target *pyh_codecache_target(const struct pyh_codecache *c);
void pyh_codecache_stats(const struct pyh_codecache *c, struct pyh_code_stats *out);

/* The description of the code object at addr, read from the target the first
 * time (and again when the cached copy no longer matches the object there,
 * when revalidate is set). Returns NULL when unreadable, not a code object, or
 * freed (implausible reference count, name or file not a string).
 * The pointer is borrowed: valid until the next pyh_code_get() on this cache
 * or the cache's end, unless pyh_code_hold() keeps it. */
const struct pyh_code_info *pyh_code_get(struct pyh_codecache *c, uint64_t addr, int revalidate);

/* Read the code objects at addrs[0..n) not yet in the cache (0s and repeats
 * allowed) as pyh_code_get would, 32 at a time in three system calls (their
 * objects, the heads of their strings and line tables, the objects again),
 * where each is three on its own: for naming many frames at once. One that
 * cannot be read so is left out, to be read when named. Counts as a
 * pyh_code_get for what it borrowed. */
void pyh_code_prefetch(struct pyh_codecache *c, const uint64_t *addrs, int n);

/* The description of the code object at addr whose fingerprint (pyh_code_fp,
 * taken by the BPF sampler when the frame was read) is fp: from the cache
 * without reading anything when the cached object has that fingerprint, else
 * read again; NULL when the object there now has another fingerprint (the
 * one sampled was freed and its address reused) or is not a code object.
 * The pointer is borrowed as with pyh_code_get(). */
const struct pyh_code_info *pyh_code_get_fp(struct pyh_codecache *c, uint64_t addr, uint64_t fp);

/* Keep ci alive past the cache's next change (returns ci; NULL-safe), and let
 * go of it (frees it when no one else holds it; NULL-safe). */
const struct pyh_code_info *pyh_code_hold(const struct pyh_code_info *ci);
void pyh_code_release(const struct pyh_code_info *ci);

/* Line of the instruction at byte offset in ci; -1 if unknown. */
int pyh_code_line(const struct pyh_target *t, const struct pyh_code_info *ci, uint32_t offset);

/* An info made up without a target (tests, synthetic frames): not in any
 * cache, held once. NULL when out of memory. */
struct pyh_code_info *pyh_code_info_make(const char *name, const char *qualname, const char *file,
					 int firstlineno);
#endif
