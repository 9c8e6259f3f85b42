/* Naming code objects, cached by address and fingerprint. */
#include "python/code.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "pyhang/frame.h"
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
	__u32 fp_off, fp_len;
	const uint32_t offs[] = { 0 /* ob_refcnt */, l->object_type, l->code_filename, l->code_name,
				  l->code_qualname, l->code_firstlineno, l->code_linetable,
				  l->code_flags, l->code_version };
	size_t span = pyh_field_span(offs, sizeof(offs) / sizeof(offs[0]), CODE_READ);

	pyh_code_fp_span(l, &fp_off, &fp_len);
	if ((size_t)fp_off + fp_len > span && (size_t)fp_off + fp_len <= CODE_READ)
		span = (size_t)fp_off + fp_len;
	return span;
}

/* What tells the object at an address from another made there later: the
 * fingerprint rule the BPF sampler uses too (pyhang/frame.h). */
static uint64_t fingerprint(const struct pyh_layout *l, const uint8_t *buf)
{
	__u32 off, len;

	pyh_code_fp_span(l, &off, &len);
	if ((size_t)off + len > CODE_READ)
		return 0;
	return pyh_code_fp(buf + off, len);
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

/* Read the object at addr and make sure it is a live code object; its
 * fingerprint into *fp. Returns 0 or -1. */
static int read_code(struct pyh_codecache *c, uint64_t addr, uint8_t *buf, uint64_t *fp)
{
	const struct pyh_layout *l = &c->t->layout;

	if (!addr || pyh_mem_read(c->t->pid, addr, buf, code_span(l)))
		return -1;
	if (pyh_field(buf, CODE_READ, l->object_type, 8) != c->t->code_type ||
	    !plausible_refcnt(l, buf))
		return -1;
	*fp = fingerprint(l, buf);
	return 0;
}

/* The info for the code object just read into buf (fingerprint fp): the cached
 * one when it is that object, else a new one in its slot. */
static const struct pyh_code_info *cache_put(struct pyh_codecache *c, size_t slot, uint64_t addr,
					     const uint8_t *buf, uint64_t fp)
{
	struct pyh_code_info *ci = c->slot[slot];

	if (ci && ci->addr == addr && ci->fingerprint == fp)
		return ci;
	ci = describe(c->t, addr, buf);
	if (!ci)
		return NULL;
	pyh_code_release(c->slot[slot]);	/* a colliding or stale entry: holders keep theirs */
	c->slot[slot] = ci;
	return ci;
}

static size_t cache_slot(uint64_t addr)
{
	return (size_t)((addr >> 4) * 11400714819323198485ull >> 51) & (CACHE_SLOTS - 1);
}

const struct pyh_code_info *pyh_code_get(struct pyh_codecache *c, uint64_t addr, int revalidate)
{
	uint8_t buf[CODE_READ] = { 0 };
	size_t slot = cache_slot(addr);
	struct pyh_code_info *ci = c->slot[slot];
	uint64_t fp;

	if (ci && ci->addr == addr && !revalidate)
		return ci;
	if (read_code(c, addr, buf, &fp))
		return NULL;
	return cache_put(c, slot, addr, buf, fp);
}

const struct pyh_code_info *pyh_code_get_fp(struct pyh_codecache *c, uint64_t addr, uint64_t fp)
{
	uint8_t buf[CODE_READ] = { 0 };
	size_t slot = cache_slot(addr);
	struct pyh_code_info *ci = c->slot[slot];
	uint64_t now;

	if (ci && ci->addr == addr && ci->fingerprint == fp)
		return ci;	/* the very object that was named: nothing to read */
	if (read_code(c, addr, buf, &now) || now != fp)
		return NULL;	/* another object is there now: the sampled one is gone */
	return cache_put(c, slot, addr, buf, fp);
}

int pyh_code_line(const struct pyh_target *t, const struct pyh_code_info *ci, uint32_t offset)
{
	if (!ci->linetable)
		return -1;
	return pyh_linetable_line((enum pyh_linetable_kind)t->layout.linetable_kind, ci->linetable,
				  ci->linetable_len, ci->firstlineno, offset);
}
