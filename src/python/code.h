/* Naming code objects: function, qualified name, file, line; cached by address. */
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
	uint8_t *linetable;	/* owned copy */
	size_t linetable_len;
	uint64_t fingerprint;	/* of the object's header fields, to detect reuse of the address */
};

struct pyh_codecache;

struct pyh_codecache *pyh_codecache_new(const struct pyh_target *t);
void pyh_codecache_free(struct pyh_codecache *c); /* NULL-safe */

/* The description of the code object at addr, read from the target the first
 * time (and again when the cached copy no longer matches the object there,
 * when revalidate is set). Returns NULL when unreadable, not a code object, or
 * freed (implausible reference count, name or file not a string).
 * The pointer stays valid for at least the next PYH_MAX_FRAMES calls of
 * pyh_code_get() on this cache (so all frames of one stack can be held at
 * once), and until the cache is freed when its entry is never replaced. */
const struct pyh_code_info *pyh_code_get(struct pyh_codecache *c, uint64_t addr, int revalidate);

/* Line of the instruction at byte offset in ci; -1 if unknown. */
int pyh_code_line(const struct pyh_target *t, const struct pyh_code_info *ci, uint32_t offset);
#endif
