/* Naming code objects, cached by address and fingerprint. */
#include "python/code.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "python/fields.h"
#include "python/linetable.h"
#include "python/pystr.h"

#define CODE_READ 256			/* every PyCodeObject field we use is below this */
#define CACHE_SLOTS 8192		/* power of two */
#define LINETABLE_MAX (1u << 20)	/* a code object's line table: 1 MiB at most */

/* A slot holds one reference on its info; a replaced info lives on while
 * pyh_code_hold() holders keep it. */
struct pyh_codecache {
	const struct pyh_target *t;
	struct pyh_code_info *slot[CACHE_SLOTS];
};

struct pyh_codecache *pyh_codecache_new(const struct pyh_target *t)
{
	struct pyh_codecache *c = calloc(1, sizeof(*c));

	if (c)
		c->t = t;
	return c;
}

const struct pyh_target *pyh_codecache_target(const struct pyh_codecache *c)
{
	return c->t;
}

const struct pyh_code_info *pyh_code_hold(const struct pyh_code_info *ci)
{
	if (ci)
		((struct pyh_code_info *)ci)->refs++;
	return ci;
}

void pyh_code_release(const struct pyh_code_info *cci)
{
	struct pyh_code_info *ci = (struct pyh_code_info *)cci;

	if (!ci || --ci->refs > 0)
		return;
	free(ci->linetable);
	free(ci);
}

void pyh_codecache_free(struct pyh_codecache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		pyh_code_release(c->slot[i]);
	free(c);
}

static size_t code_span(const struct pyh_layout *l)
{
	const uint32_t offs[] = { 0 /* ob_refcnt */, l->object_type, l->code_filename, l->code_name,
				  l->code_qualname, l->code_firstlineno, l->code_linetable,
				  l->code_flags };

	return pyh_field_span(offs, sizeof(offs) / sizeof(offs[0]), CODE_READ);
}

/* What identifies the object at an address: if any of these changed, the
 * address was freed and reused for another object. */
static uint64_t fingerprint(const struct pyh_layout *l, const uint8_t *buf)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t parts[] = { pyh_field(buf, CODE_READ, l->object_type, 8), pyh_field(buf, CODE_READ, l->code_filename, 8),
			     pyh_field(buf, CODE_READ, l->code_name, 8), pyh_field(buf, CODE_READ, l->code_linetable, 8),
			     pyh_field(buf, CODE_READ, l->code_firstlineno, 4) };

	for (unsigned i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		h ^= parts[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* 1 when the object at addr has the type str_type (a str, or 2.7's str);
 * also 1 when that type's address is unknown. */
static int is_str(const struct pyh_target *t, uint64_t addr)
{
	uint64_t type = 0;

	if (!t->str_type)
		return 1;
	return addr && !pyh_mem_read_u64(t->pid, addr + t->layout.object_type, &type) &&
	       type == t->str_type;
}

/* A live object has a reference count from 1 up (3.12+ immortal objects: up
 * to 2^32 - 1). A freed block keeps its type pointer, but allocators put a
 * free-list pointer (or 0) where the count was: so a code object freed since
 * the sample is refused. 3.14 keeps flags in the top 16 bits of that word (a
 * user-space pointer has bits 32..47 set, a live count never). The
 * free-threaded header starts with the owning thread's id, where mimalloc
 * also puts its free list: there only the other checks apply. */
static int plausible_refcnt(const struct pyh_layout *l, const uint8_t *buf)
{
	uint64_t word = pyh_field(buf, CODE_READ, 0, 8);

	if (l->flags & PYH_LAYOUT_FREE_THREADED)
		return 1;
	if (l->version_hex >= 0x030e0000u)
		return (word & 0xffffffffu) >= 1 && ((word >> 32) & 0xffffu) == 0;
	return (int64_t)word >= 1 && word <= UINT32_MAX;
}

static struct pyh_code_info *describe(const struct pyh_target *t, uint64_t addr,
				      const uint8_t *buf)
{
	const struct pyh_layout *l = &t->layout;
	struct pyh_code_info *ci;
	uint64_t qual;

	/* The name and file of a freed and reused code object's memory point
	 * anywhere: require both to be strings before reading them. */
	if (!is_str(t, pyh_field(buf, CODE_READ, l->code_name, 8)) || !is_str(t, pyh_field(buf, CODE_READ, l->code_filename, 8)))
		return NULL;
	ci = calloc(1, sizeof(*ci));
	if (!ci)
		return NULL;
	ci->addr = addr;
	ci->refs = 1;
	ci->fingerprint = fingerprint(l, buf);
	ci->firstlineno = (int)(int32_t)pyh_field(buf, CODE_READ, l->code_firstlineno, 4);
	ci->co_flags = (uint32_t)pyh_field(buf, CODE_READ, l->code_flags, 4);
	if (pyh_pystr_read(t->pid, l, pyh_field(buf, CODE_READ, l->code_name, 8), ci->name, sizeof(ci->name)) < 0)
		goto fail;
	if (pyh_pystr_read(t->pid, l, pyh_field(buf, CODE_READ, l->code_filename, 8), ci->file, sizeof(ci->file)) < 0)
		snprintf(ci->file, sizeof(ci->file), "<unreadable file>");
	qual = pyh_field(buf, CODE_READ, l->code_qualname, 8);
	if (!qual || pyh_pystr_read(t->pid, l, qual, ci->qualname, sizeof(ci->qualname)) < 0)
		snprintf(ci->qualname, sizeof(ci->qualname), "%s", ci->name);
	if (pyh_pybytes_read(t->pid, l, pyh_field(buf, CODE_READ, l->code_linetable, 8), LINETABLE_MAX,
			     &ci->linetable, &ci->linetable_len)) {
		ci->linetable = NULL;
		ci->linetable_len = 0;
	}
	return ci;
fail:
	pyh_code_release(ci);
	return NULL;
}

const struct pyh_code_info *pyh_code_get(struct pyh_codecache *c, uint64_t addr, int revalidate)
{
	const struct pyh_layout *l = &c->t->layout;
	uint8_t buf[CODE_READ] = { 0 };
	size_t slot = (size_t)((addr >> 4) * 11400714819323198485ull >> 51) & (CACHE_SLOTS - 1);
	struct pyh_code_info *ci = c->slot[slot];

	if (ci && ci->addr == addr && !revalidate)
		return ci;
	if (!addr || pyh_mem_read(c->t->pid, addr, buf, code_span(l)))
		return NULL;
	if (pyh_field(buf, CODE_READ, l->object_type, 8) != c->t->code_type ||
	    !plausible_refcnt(l, buf))
		return NULL;
	if (ci && ci->addr == addr && ci->fingerprint == fingerprint(l, buf))
		return ci;
	ci = describe(c->t, addr, buf);
	if (!ci)
		return NULL;
	pyh_code_release(c->slot[slot]);	/* a colliding or stale entry: holders keep theirs */
	c->slot[slot] = ci;
	return ci;
}

int pyh_code_line(const struct pyh_target *t, const struct pyh_code_info *ci, uint32_t offset)
{
	if (!ci->linetable)
		return -1;
	return pyh_linetable_line((enum pyh_linetable_kind)t->layout.linetable_kind, ci->linetable,
				  ci->linetable_len, ci->firstlineno, offset);
}
