/* Naming code objects, cached by address and fingerprint, within a budget.
 *
 * Three kinds of things, each in a chained hash table of the cache:
 *   - entries (a code object's info), found by the code object's address;
 *   - names (interned, reference-counted text), found by their text;
 *   - line tables, found by the address of the target's bytes object.
 * Entries and line tables are the budget's LRU nodes. An entry is held by
 * the cache (while in its table) and by each pyh_code_hold(); a line table
 * only by the cache: entries that use it are on its list of users, and when
 * it goes (evicted, or the cache freed) each user forgets it and reads the
 * table again when asked for a line. So what line tables take is always
 * within the budget, whoever holds the entries. */
#include "python/code.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/budget.h"
#include "proc/mem.h"
#include "pyhang/frame.h"
#include "python/fields.h"
#include "python/linetable.h"
#include "python/pystr.h"

#define CODE_READ 256			/* every PyCodeObject field we use is below this */
#define PYH_CODE_PREFETCH 32		/* code objects pyh_code_prefetch reads together */
#define LINETABLE_MAX (1u << 20)	/* a code object's line table: 1 MiB at most */
#define LINETABLE_PROBE 64		/* bytes compared at each end to share a table */
#define BUCKETS_MIN 64			/* hash buckets at first; doubled as needed */
#define BUCKETS_MAX (1u << 16)

enum { NODE_ENTRY = 1, NODE_LINETABLE };

static uint64_t pyh_linetable_rereads;	/* atomic: every cache together */

struct pyh_istr {			/* an interned name */
	struct pyh_istr *hnext;
	struct pyh_codecache *owner;	/* NULL once the cache is gone */
	uint32_t hash;
	int refs;
	char s[];
};

struct code_entry;

struct pyh_ltab {			/* a line table, as the target's bytes object holds it */
	struct pyh_lru_node lru;
	int kind;			/* NODE_LINETABLE */
	uint64_t addr;			/* the bytes object */
	struct pyh_ltab *hnext;
	struct code_entry *users;	/* entries that use it */
	size_t len;
	uint8_t data[];
};

struct code_entry {
	struct pyh_lru_node lru;
	int kind;			/* NODE_ENTRY */
	struct pyh_code_info pub;
	struct code_entry *hnext;	/* in the cache's table, while cached */
	int cached;
	struct pyh_istr *name, *qualname, *file;
	struct pyh_ltab *lt;		/* NULL: not kept (read again) or none */
	struct code_entry *lt_prev, *lt_next; /* among lt's users */
	uint64_t lt_addr;		/* the bytes object, 0 when none */
};

struct pyh_table {
	void **b;
	uint32_t nb, n;
};

struct pyh_codecache {
	const struct pyh_target *t;
	struct pyh_lru_owner owner;
	struct pyh_table entries, names, ltabs;
	struct code_entry *spare;	/* the last info not kept: valid until the next get */
	struct pyh_code_stats st;
};

static struct code_entry *entry_of(const struct pyh_code_info *ci)
{
	return (struct code_entry *)((char *)ci - offsetof(struct code_entry, pub));
}

static uint32_t hash_u64(uint64_t v)
{
	return (uint32_t)((v >> 4) * 11400714819323198485ull >> 32);
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* ---- hash tables (chains through each kind's hnext) ---------------------- */

static int table_init(struct pyh_table *t)
{
	t->b = calloc(BUCKETS_MIN, sizeof(*t->b));
	t->nb = t->b ? BUCKETS_MIN : 0;
	t->n = 0;
	return t->b ? 0 : -ENOMEM;
}

/* Each kind's chain link is its first pointer after the fields hashed; the
 * three helpers below know where. */
static void **next_of(int kind, void *x)
{
	switch (kind) {
	case NODE_ENTRY: return (void **)&((struct code_entry *)x)->hnext;
	case NODE_LINETABLE: return (void **)&((struct pyh_ltab *)x)->hnext;
	default: return (void **)&((struct pyh_istr *)x)->hnext;
	}
}

static uint32_t hash_of(int kind, void *x)
{
	switch (kind) {
	case NODE_ENTRY: return hash_u64(((struct code_entry *)x)->pub.addr);
	case NODE_LINETABLE: return hash_u64(((struct pyh_ltab *)x)->addr);
	default: return ((struct pyh_istr *)x)->hash;
	}
}

static void table_grow(struct pyh_table *t, int kind)
{
	uint32_t nb = t->nb * 2;
	void **b;

	if (t->n < t->nb || nb > BUCKETS_MAX || !(b = calloc(nb, sizeof(*b))))
		return;	/* chains just get longer */
	for (uint32_t i = 0; i < t->nb; i++) {
		void *x = t->b[i];

		while (x) {
			void *next = *next_of(kind, x);
			uint32_t h = hash_of(kind, x) & (nb - 1);

			*next_of(kind, x) = b[h];
			b[h] = x;
			x = next;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void table_add(struct pyh_table *t, int kind, void *x, uint32_t hash)
{
	uint32_t h;

	table_grow(t, kind);
	h = hash & (t->nb - 1);
	*next_of(kind, x) = t->b[h];
	t->b[h] = x;
	t->n++;
}

static void table_del(struct pyh_table *t, int kind, void *x, uint32_t hash)
{
	void **pp = &t->b[hash & (t->nb - 1)];

	while (*pp && *pp != x)
		pp = next_of(kind, *pp);
	if (*pp) {
		*pp = *next_of(kind, x);
		t->n--;
	}
}

/* ---- names ---------------------------------------------------------------- */

static struct pyh_istr *name_get(struct pyh_codecache *c, const char *s)
{
	uint32_t h = hash_str(s);
	struct pyh_istr *n;
	size_t len;

	if (c) {
		for (n = c->names.b[h & (c->names.nb - 1)]; n; n = n->hnext) {
			if (n->hash == h && !strcmp(n->s, s)) {
				n->refs++;
				return n;
			}
		}
	}
	len = strlen(s);
	n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	memcpy(n->s, s, len + 1);
	n->hash = h;
	n->refs = 1;
	n->owner = c;
	n->hnext = NULL;
	if (c)
		table_add(&c->names, 0, n, h);
	return n;
}

static void name_put(struct pyh_istr *n)
{
	if (!n || --n->refs > 0)
		return;
	if (n->owner)
		table_del(&n->owner->names, 0, n, n->hash);
	free(n);
}

/* ---- line tables ------------------------------------------------------------ */

static void lt_unlink_user(struct code_entry *e)
{
	if (!e->lt)
		return;
	if (e->lt_prev)
		e->lt_prev->lt_next = e->lt_next;
	else
		e->lt->users = e->lt_next;
	if (e->lt_next)
		e->lt_next->lt_prev = e->lt_prev;
	e->lt = NULL;
	e->lt_prev = e->lt_next = NULL;
}

static void lt_add_user(struct pyh_ltab *lt, struct code_entry *e)
{
	e->lt = lt;
	e->lt_prev = NULL;
	e->lt_next = lt->users;
	if (lt->users)
		lt->users->lt_prev = e;
	lt->users = e;
}

/* The cache lets go of lt: every user forgets it; it is freed. */
static void lt_drop(struct pyh_codecache *c, struct pyh_ltab *lt)
{
	while (lt->users)
		lt_unlink_user(lt->users);
	table_del(&c->ltabs, NODE_LINETABLE, lt, hash_u64(lt->addr));
	free(lt);
}

/* Is the bytes object at addr (len bytes) still the one lt was read from?
 * Its length and both ends must match: a freed and reused object of the same
 * length and the same ends would be taken for it (the worst outcome: a wrong
 * line number for a code object of the target's own making). */
static int lt_same(const struct pyh_codecache *c, const struct pyh_ltab *lt, size_t len,
		   const uint8_t *head, size_t headlen)
{
	const struct pyh_layout *l = &c->t->layout;
	uint8_t probe[LINETABLE_PROBE];
	size_t n = len < LINETABLE_PROBE ? len : LINETABLE_PROBE;
	uint64_t data = lt->addr + l->bytes_data;

	if (len != lt->len)
		return 0;
	if (pyh_mem_read_from(c->t->pid, head, lt->addr, headlen, data, probe, n) ||
	    memcmp(probe, lt->data, n))
		return 0;
	return !pyh_mem_read_from(c->t->pid, head, lt->addr, headlen, data + len - n, probe, n) &&
	       !memcmp(probe, lt->data + len - n, n);
}

/* The line table at addr for e: shared when already read, else read and
 * kept within the budget. e->lt stays NULL when it cannot be kept. head: the
 * bytes object's first headlen bytes, read before (NULL: none). */
static void lt_attach(struct pyh_codecache *c, struct code_entry *e, uint64_t addr,
		      const uint8_t *head, size_t headlen)
{
	const struct pyh_layout *l = &c->t->layout;
	struct pyh_ltab *lt;
	uint8_t *data = NULL;
	size_t len = 0;

	e->lt_addr = addr;
	if (!addr || pyh_pybytes_size_head(c->t->pid, l, addr, head, headlen, &len) ||
	    len > LINETABLE_MAX) {
		e->lt_addr = 0;
		return;
	}
	for (lt = c->ltabs.b[hash_u64(addr) & (c->ltabs.nb - 1)]; lt; lt = lt->hnext) {
		if (lt->addr != addr)
			continue;
		if (lt_same(c, lt, len, head, headlen)) {
			lt_add_user(lt, e);
			pyh_lru_touch(&c->owner, &lt->lru);
			c->st.linetables_shared++;
			return;
		}
		pyh_lru_remove(&c->owner, &lt->lru);
		lt_drop(c, lt);		/* a new object at the old address */
		break;
	}
	if (pyh_pybytes_read_head(c->t->pid, l, addr, head, headlen, LINETABLE_MAX, &data, &len)) {
		e->lt_addr = 0;
		return;
	}
	c->st.linetables++;
	lt = malloc(sizeof(*lt) + len + 1);
	if (!lt) {
		free(data);
		return;
	}
	memset(lt, 0, sizeof(*lt));
	lt->kind = NODE_LINETABLE;
	lt->addr = addr;
	lt->len = len;
	memcpy(lt->data, data, len + 1);
	free(data);
	if (pyh_lru_charge(&c->owner, &lt->lru, sizeof(*lt) + len)) {
		free(lt);	/* over budget: lines are read again when asked for */
		c->st.refusals++;
		return;
	}
	table_add(&c->ltabs, NODE_LINETABLE, lt, hash_u64(addr));
	lt_add_user(lt, e);
}

/* ---- entries ----------------------------------------------------------------- */

static void entry_free(struct code_entry *e)
{
	lt_unlink_user(e);
	name_put(e->name);
	name_put(e->qualname);
	name_put(e->file);
	free(e);
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
	entry_free(entry_of(ci));
}

/* The budget or a replacement drops e from the cache: holders keep it. */
static void entry_uncache(struct pyh_codecache *c, struct code_entry *e)
{
	table_del(&c->entries, NODE_ENTRY, e, hash_u64(e->pub.addr));
	e->cached = 0;
	pyh_code_release(&e->pub);
}

static void cache_evict(struct pyh_lru_owner *o, struct pyh_lru_node *n)
{
	struct pyh_codecache *c = (struct pyh_codecache *)((char *)o - offsetof(struct pyh_codecache, owner));

	if (((struct code_entry *)n)->kind == NODE_ENTRY)
		entry_uncache(c, (struct code_entry *)n);
	else
		lt_drop(c, (struct pyh_ltab *)n);
}

struct pyh_codecache *pyh_codecache_new(const struct pyh_target *t)
{
	struct pyh_codecache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->t = t;
	pyh_lru_owner_init(&c->owner, pyh_budget_code(), cache_evict);
	if (table_init(&c->entries) || table_init(&c->names) || table_init(&c->ltabs)) {
		free(c->entries.b);
		free(c->names.b);
		free(c->ltabs.b);
		free(c);
		return NULL;
	}
	return c;
}

const struct pyh_target *pyh_codecache_target(const struct pyh_codecache *c)
{
	return c->t;
}

void pyh_codecache_stats(const struct pyh_codecache *c, struct pyh_code_stats *out)
{
	*out = c->st;
	out->linetable_rereads = __atomic_load_n(&pyh_linetable_rereads, __ATOMIC_RELAXED);
	out->evictions = c->owner.evictions;
	out->refusals += c->owner.refusals;
}

void pyh_codecache_free(struct pyh_codecache *c)
{
	if (!c)
		return;
	if (c->spare)
		pyh_code_release(&c->spare->pub);
	pyh_lru_owner_drain(&c->owner);	/* every entry and line table */
	/* Names still held by infos outside live on, without the table. */
	for (uint32_t i = 0; i < c->names.nb; i++)
		for (struct pyh_istr *n = c->names.b[i]; n; n = n->hnext)
			n->owner = NULL;
	free(c->entries.b);
	free(c->names.b);
	free(c->ltabs.b);
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

/* The first bytes of the objects a code object names (its strings and its
 * line table), read together before they are decoded. */
enum { HEAD_NAME, HEAD_QUAL, HEAD_FILE, HEAD_LT, HEAD_N };
struct code_heads {
	uint64_t addr[HEAD_N];			/* 0: none */
	size_t len[HEAD_N];			/* 0: not read (the decoders read it) */
	uint8_t buf[HEAD_N][PYH_STR_HEAD_READ];
};

/* Read the heads of the objects at h->addr[] in one system call. Each region
 * is PYH_STR_HEAD_READ bytes, so one that runs past the end of its mapping
 * (an object near it) fails, and with it those after it (process_vm_readv
 * stops at the first fault): those are left unread, and the decoders read
 * them on their own as they would have without this; the answer is the same,
 * only the count of system calls differs. */
static void read_heads(const struct pyh_target *t, struct code_heads *h)
{
	struct pyh_mem_iov iov[HEAD_N];
	int slot[HEAD_N], n = 0, k;

	for (int i = 0; i < HEAD_N; i++) {
		h->len[i] = 0;
		if (!h->addr[i])
			continue;
		slot[n] = i;
		iov[n++] = (struct pyh_mem_iov){ h->addr[i], h->buf[i], PYH_STR_HEAD_READ };
	}
	k = n ? pyh_mem_readv_prefix(t->pid, iov, n) : 0;
	for (int j = 0; j < k; j++)
		h->len[slot[j]] = PYH_STR_HEAD_READ;
}

/* 1 when the object at addr has the type str_type (a str, or 2.7's str);
 * also 1 when that type's address is unknown. head: its first headlen bytes
 * (read from the target when they do not hold the type). */
static int is_str(const struct pyh_target *t, uint64_t addr, const uint8_t *head, size_t headlen)
{
	uint64_t type = 0;

	if (!t->str_type)
		return 1;
	return addr &&
	       !pyh_mem_read_from(t->pid, head, addr, headlen, addr + t->layout.object_type,
				  &type, sizeof(type)) &&
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

/* 1 when the object at addr (now: its bytes read again) is still the live
 * code object buf was read from: a code object's type, a live object's reference count, and the same
 * fingerprinted bytes. Its strings and line table are read after it, while
 * the target runs: a code object freed in between, and its strings' memory
 * remade for another function's, would give this one the other's name
 * (run_record's codechurn saw it once: a frame named g_44_4 where a g_K_0
 * ran). Read again after them and still so, the object was alive all through
 * (freeing it overwrites its first word with the allocator's link, and a
 * freed one does not come back with the same bytes but by the coincidence
 * the fingerprint accepts), so what it pointed to was its own. */
static int same_object(const struct pyh_target *t, const uint8_t *now, const uint8_t *buf)
{
	const struct pyh_layout *l = &t->layout;
	__u32 off, len;

	pyh_code_fp_span(l, &off, &len);
	if ((size_t)off + len > CODE_READ)
		return 0;
	return pyh_field(now, CODE_READ, l->object_type, 8) == t->code_type &&
	       plausible_refcnt(l, now) && memcmp(now + off, buf + off, len) == 0;
}

static int still_same(const struct pyh_target *t, uint64_t addr, const uint8_t *buf)
{
	uint8_t now[CODE_READ] = { 0 };

	if (pyh_mem_read(t->pid, addr, now, code_span(&t->layout)))
		return 0;
	return same_object(t, now, buf);
}

/* A new entry with its names (c NULL: not interned). NULL when out of memory. */
static struct code_entry *entry_new(struct pyh_codecache *c, const char *name, const char *qual,
				    const char *file)
{
	struct code_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kind = NODE_ENTRY;
	e->pub.refs = 1;
	e->name = name_get(c, name);
	e->qualname = name_get(c, qual);
	e->file = name_get(c, file);
	if (!e->name || !e->qualname || !e->file) {
		entry_free(e);
		return NULL;
	}
	e->pub.name = e->name->s;
	e->pub.qualname = e->qualname->s;
	e->pub.file = e->file->s;
	return e;
}

/* Where the heads of the code object in buf lie (h->addr; nothing read yet).
 * Returns the head that holds its qualname: HEAD_NAME when it is the name
 * (often the same object: read once). */
static int heads_of(const struct pyh_layout *l, const uint8_t *buf, struct code_heads *h)
{
	for (int i = 0; i < HEAD_N; i++)
		h->len[i] = 0;
	h->addr[HEAD_NAME] = pyh_field(buf, CODE_READ, l->code_name, 8);
	h->addr[HEAD_QUAL] = pyh_field(buf, CODE_READ, l->code_qualname, 8);
	h->addr[HEAD_FILE] = pyh_field(buf, CODE_READ, l->code_filename, 8);
	h->addr[HEAD_LT] = pyh_field(buf, CODE_READ, l->code_linetable, 8);
	if (h->addr[HEAD_QUAL] == h->addr[HEAD_NAME]) {
		h->addr[HEAD_QUAL] = 0;
		return HEAD_NAME;
	}
	return HEAD_QUAL;
}

/* The entry of the code object at addr read into buf, its names decoded
 * from the heads h (those not read, len 0, the decoders read themselves);
 * q as heads_of said. NULL when its name or file is not a string (the name
 * and file of a freed and reused code object's memory point anywhere), or
 * out of memory. Not yet checked to be the same object still (still_same). */
static struct code_entry *describe_heads(struct pyh_codecache *c, uint64_t addr, const uint8_t *buf,
					 const struct code_heads *h, int q)
{
	const struct pyh_target *t = c->t;
	const struct pyh_layout *l = &t->layout;
	char name[PYH_CODE_NAME_MAX], qual[PYH_CODE_QUALNAME_MAX], file[PYH_CODE_FILE_MAX];
	struct code_entry *e;

	if (!is_str(t, h->addr[HEAD_NAME], h->buf[HEAD_NAME], h->len[HEAD_NAME]) ||
	    !is_str(t, h->addr[HEAD_FILE], h->buf[HEAD_FILE], h->len[HEAD_FILE]))
		return NULL;
	if (pyh_pystr_read_head(t->pid, l, h->addr[HEAD_NAME], h->buf[HEAD_NAME], h->len[HEAD_NAME],
				name, sizeof(name)) < 0)
		return NULL;
	if (pyh_pystr_read_head(t->pid, l, h->addr[HEAD_FILE], h->buf[HEAD_FILE], h->len[HEAD_FILE],
				file, sizeof(file)) < 0)
		snprintf(file, sizeof(file), "<unreadable file>");
	if (!h->addr[q] ||
	    pyh_pystr_read_head(t->pid, l, h->addr[q], h->buf[q], h->len[q], qual, sizeof(qual)) < 0)
		snprintf(qual, sizeof(qual), "%s", name);
	e = entry_new(c, name, qual, file);
	if (!e)
		return NULL;
	e->pub.addr = addr;
	e->pub.fingerprint = fingerprint(l, buf);
	e->pub.firstlineno = (int)(int32_t)pyh_field(buf, CODE_READ, l->code_firstlineno, 4);
	e->pub.co_flags = (uint32_t)pyh_field(buf, CODE_READ, l->code_flags, 4);
	lt_attach(c, e, h->addr[HEAD_LT], h->buf[HEAD_LT], h->len[HEAD_LT]);
	return e;
}

static struct code_entry *describe(struct pyh_codecache *c, uint64_t addr, const uint8_t *buf)
{
	struct code_heads *h;
	struct code_entry *e;
	int q;

	/* What the strings and the line table start with, in one read (each
	 * string and table then costs nothing more unless it is longer): before,
	 * each was two or three reads of its own. */
	h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	q = heads_of(&c->t->layout, buf, h);
	read_heads(c->t, h);
	e = describe_heads(c, addr, buf, h, q);
	if (e && !still_same(c->t, addr, buf)) {
		entry_free(e);	/* another object's now: this one's names are not known */
		e = NULL;
	} else if (e) {
		c->st.described++;
	}
	free(h);
	return e;
}

static struct code_entry *lookup(struct pyh_codecache *c, uint64_t addr)
{
	struct code_entry *e = c->entries.b[hash_u64(addr) & (c->entries.nb - 1)];

	while (e && e->pub.addr != addr)
		e = e->hnext;
	return e;
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

/* Keep the new entry n in the cache as the budget allows: 0, or -1 when the
 * budget cannot take it (n is then the caller's). */
static int cache_keep(struct pyh_codecache *c, struct code_entry *n)
{
	if (pyh_lru_charge(&c->owner, &n->lru, sizeof(*n) + strlen(n->pub.name) +
				    strlen(n->pub.qualname) + strlen(n->pub.file) + 3))
		return -1;
	n->cached = 1;
	table_add(&c->entries, NODE_ENTRY, n, hash_u64(n->pub.addr));
	return 0;
}

/* The info for the code object just read into buf (fingerprint fp): the
 * cached one e when it is that object, else a new one, kept as the budget
 * allows. */
static const struct pyh_code_info *cache_put(struct pyh_codecache *c, struct code_entry *e,
					     uint64_t addr, const uint8_t *buf, uint64_t fp)
{
	struct code_entry *n;

	if (e && e->pub.fingerprint == fp) {
		pyh_lru_touch(&c->owner, &e->lru);
		return &e->pub;
	}
	if (e) {
		/* Stale: out of the cache now (holders keep theirs), before
		 * describe() can make room by evicting, and so freeing, it. */
		pyh_lru_remove(&c->owner, &e->lru);
		entry_uncache(c, e);
	}
	n = describe(c, addr, buf);
	if (!n)
		return NULL;
	if (cache_keep(c, n))
		c->spare = n;		/* not kept: valid until the next get */
	return &n->pub;
}

/* The previous borrow of an info not kept ends with each new get. */
static void end_spare(struct pyh_codecache *c)
{
	if (c->spare) {
		pyh_code_release(&c->spare->pub);
		c->spare = NULL;
	}
}

const struct pyh_code_info *pyh_code_get(struct pyh_codecache *c, uint64_t addr, int revalidate)
{
	uint8_t buf[CODE_READ] = { 0 };
	struct code_entry *e = lookup(c, addr);
	uint64_t fp;

	end_spare(c);
	if (e && !revalidate) {
		pyh_lru_touch(&c->owner, &e->lru);
		return &e->pub;
	}
	if (read_code(c, addr, buf, &fp))
		return NULL;
	return cache_put(c, e, addr, buf, fp);
}

/* One code object of a pyh_code_prefetch batch. */
struct prefetch_one {
	uint64_t addr;
	uint8_t buf[CODE_READ], now[CODE_READ];
	struct code_heads h;
	int q;
	struct code_entry *e;
};

void pyh_code_prefetch(struct pyh_codecache *c, const uint64_t *addrs, int n)
{
	const struct pyh_target *t = c->t;
	const struct pyh_layout *l = &t->layout;
	size_t span = code_span(l);
	struct pyh_mem_iov iov[PYH_CODE_PREFETCH * HEAD_N];
	struct prefetch_one *p;
	int slot[PYH_CODE_PREFETCH * HEAD_N][2];
	int i = 0;

	end_spare(c);
	p = calloc(PYH_CODE_PREFETCH, sizeof(*p));
	if (!p)
		return;		/* each is read when named, as without this */
	while (i < n) {
		int m = 0, got, nh = 0, ns = 0;

		/* the next ones not cached, each once */
		for (; i < n && m < PYH_CODE_PREFETCH; i++) {
			int dup = 0;

			if (!addrs[i] || lookup(c, addrs[i]))
				continue;
			for (int k = 0; k < m && !dup; k++)
				dup = p[k].addr == addrs[i];
			if (dup)
				continue;
			memset(&p[m], 0, sizeof(p[m]));
			p[m].addr = addrs[i];
			iov[m] = (struct pyh_mem_iov){ p[m].addr, p[m].buf, span };
			m++;
		}
		if (!m)
			break;
		/* their objects (a region that faults ends the read: those after
		 * it are read when named), then every head of those that are live
		 * code objects, then each object again (still_same) */
		got = pyh_mem_readv_prefix(t->pid, iov, m);
		for (int k = 0; k < got; k++) {
			if (pyh_field(p[k].buf, CODE_READ, l->object_type, 8) != t->code_type ||
			    !plausible_refcnt(l, p[k].buf)) {
				p[k].q = -1;
				continue;
			}
			p[k].q = heads_of(l, p[k].buf, &p[k].h);
			for (int j = 0; j < HEAD_N; j++) {
				if (!p[k].h.addr[j])
					continue;
				slot[nh][0] = k;
				slot[nh][1] = j;
				iov[nh++] = (struct pyh_mem_iov){ p[k].h.addr[j], p[k].h.buf[j], PYH_STR_HEAD_READ };
			}
		}
		got = got < 0 ? 0 : got;
		for (int j = 0, r = nh ? pyh_mem_readv_prefix(t->pid, iov, nh) : 0; j < r; j++)
			p[slot[j][0]].h.len[slot[j][1]] = PYH_STR_HEAD_READ;
		for (int k = 0; k < got; k++) {
			if (p[k].q < 0 || lookup(c, p[k].addr))
				continue;
			p[k].e = describe_heads(c, p[k].addr, p[k].buf, &p[k].h, p[k].q);
			if (p[k].e) {
				slot[ns][0] = k;
				iov[ns++] = (struct pyh_mem_iov){ p[k].addr, p[k].now, span };
			}
		}
		for (int j = 0, r = ns ? pyh_mem_readv_prefix(t->pid, iov, ns) : 0; j < ns; j++) {
			struct prefetch_one *o = &p[slot[j][0]];

			if (j < r && same_object(t, o->now, o->buf) && !cache_keep(c, o->e))
				c->st.described++;
			else
				entry_free(o->e);	/* read again when named */
			o->e = NULL;
		}
	}
	free(p);
}

const struct pyh_code_info *pyh_code_get_fp(struct pyh_codecache *c, uint64_t addr, uint64_t fp)
{
	uint8_t buf[CODE_READ] = { 0 };
	struct code_entry *e = lookup(c, addr);
	uint64_t now;

	end_spare(c);
	if (e && e->pub.fingerprint == fp) {
		pyh_lru_touch(&c->owner, &e->lru);
		return &e->pub;	/* the very object that was named: nothing to read */
	}
	if (read_code(c, addr, buf, &now) || now != fp)
		return NULL;	/* another object is there now: the sampled one is gone */
	return cache_put(c, e, addr, buf, fp);
}

int pyh_code_line(const struct pyh_target *t, const struct pyh_code_info *ci, uint32_t offset)
{
	const struct code_entry *e = entry_of(ci);
	enum pyh_linetable_kind kind = (enum pyh_linetable_kind)t->layout.linetable_kind;
	uint8_t *data = NULL;
	size_t len = 0;
	int line;

	if (e->lt)
		return pyh_linetable_line(kind, e->lt->data, e->lt->len, ci->firstlineno, offset);
	if (!e->lt_addr ||
	    pyh_pybytes_read(t->pid, &t->layout, e->lt_addr, LINETABLE_MAX, &data, &len))
		return -1;
	/* Not kept (over budget, or the cache is gone): read for this line only. */
	line = pyh_linetable_line(kind, data, len, ci->firstlineno, offset);
	free(data);
	return line;
}

struct pyh_code_info *pyh_code_info_make(const char *name, const char *qualname, const char *file,
					 int firstlineno)
{
	struct code_entry *e = entry_new(NULL, name ? name : "", qualname ? qualname : "",
					 file ? file : "");

	if (!e)
		return NULL;
	e->pub.firstlineno = firstlineno;
	return &e->pub;
}
