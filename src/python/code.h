/* Naming code objects: function, qualified name, file, line table; cached by address. */
#ifndef PYH_PYTHON_CODE_H
#define PYH_PYTHON_CODE_H
#include <limits.h>
#include <stdint.h>
#include "python/target.h"

struct pyh_code_info {
	uint64_t addr;
	char name[256];
	char qualname[512];	/* == name on versions without co_qualname */
	char file[PATH_MAX];
	int firstlineno;
	uint32_t co_flags;	/* where the layout has co_flags (<= 3.10), else 0 */
	uint8_t *linetable;	/* owned copy */
	size_t linetable_len;
	uint64_t fingerprint;	/* pyh_code_fp() of the object (pyhang/frame.h): tells it from
				 * another code object made at the same address later */
	int refs;		/* holders: the cache's slot and each pyh_code_hold() */
};

struct pyh_codecache;

struct pyh_codecache *pyh_codecache_new(const struct pyh_target *t);
/* Frees the cache; infos still held by someone live on until released. NULL-safe. */
void pyh_codecache_free(struct pyh_codecache *c);
/* The target the cache reads (as given to pyh_codecache_new). */
const struct pyh_target *pyh_codecache_target(const struct pyh_codecache *c);

/* The description of the code object at addr, read from the target the first
 * time (and again when the cached copy no longer matches the object there,
 * when revalidate is set). Returns NULL when unreadable, not a code object, or
 * freed (implausible reference count, name or file not a string).
 * The pointer is borrowed: valid until the next pyh_code_get() on this cache
 * or the cache's end, unless pyh_code_hold() keeps it. */
const struct pyh_code_info *pyh_code_get(struct pyh_codecache *c, uint64_t addr, int revalidate);

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
#endif
