/* Aggregated stacks: interned strings, interned frames, and stacks as arrays
 * of frame ids in one pool, each table an open-addressing hash. Labels: label
 * sets are interned too, and an entry (stack id, label set id) holds the count
 * of that stack under those labels; a stack's own count is the sum of its
 * entries, so the unlabeled views (folded, svg, speedscope) see each stack once. */
#include "profile/profile.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/sanitize.h"

#define NONE UINT_MAX
#define LSET_WORDS 5 /* words of a label set's key: pid, tid, process, thread, task */

struct pyh_pstack {
	uint32_t off;		/* first frame id in ids[] */
	uint32_t n;
	uint64_t count;
	uint32_t hash;
};

/* One (stack, label set) pair and its count. */
struct pyh_pentry {
	uint32_t stack;
	uint32_t lset;
	uint64_t count;
	uint32_t hash;
};

/* A hash table of uint32_t indices into some array; NONE marks a free slot. */
struct pyh_ptable {
	uint32_t *slot;
	uint32_t cap;		/* power of two, or 0 */
	uint32_t used;
};

struct pyh_profile {
	char **str;		/* interned strings */
	uint32_t *str_hash;
	uint32_t nstr, capstr;
	struct pyh_ptable strtab;

	struct pyh_pframe *frame; /* interned frames: pointers into str[] */
	uint32_t *frame_key;	/* 3 words per frame: fn id, file id (NONE), line */
	uint32_t *frame_hash;
	uint32_t nframe, capframe;
	struct pyh_ptable frametab;

	int *ids;		/* stack frame ids, all stacks back to back */
	uint32_t nids, capids;
	struct pyh_pstack *stack;
	uint32_t nstack, capstack;
	struct pyh_ptable stacktab;

	struct pyh_plabels *lset; /* interned label sets: strings point into str[] */
	uint32_t *lset_key;	/* LSET_WORDS per set: pid, tid, process, thread, task (NONE) */
	uint32_t *lset_hash;
	uint32_t nlset, caplset;
	struct pyh_ptable lsettab;

	struct pyh_pentry *entry;
	uint32_t nentry, capentry;
	struct pyh_ptable entrytab;

	uint64_t total;

	/* The memory budget (pyh_profile_set_limit): bytes kept, approximately
	 * (each new string, frame, label set, stack and entry with its share of
	 * the tables); past limit, lookup_only makes the intern functions find
	 * without adding, and what is new goes to the one "full" stack. */
	size_t bytes, limit;
	int lookup_only;
	uint64_t over;
	uint32_t full_stack;	/* the PYH_PROFILE_FULL stack's id, NONE before it is made */
};

/* What one more table slot costs, with the tables kept at most half full. */
#define SLOT_BYTES (2 * sizeof(uint32_t))

static uint32_t hash_bytes(uint32_t h, const void *data, size_t len)
{
	const unsigned char *b = data;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

#define HASH_SEED 2166136261u

/* Grow an array to hold at least need elements; 0 or -ENOMEM. */
static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	uint64_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? (uint64_t)*cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > UINT_MAX / 2 || ncap * elem > SIZE_MAX / 2)
		return -ENOMEM;
	n = realloc(*arr, (size_t)ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = (uint32_t)ncap;
	return 0;
}

/* Make room for one more entry in t; hashes[i] gives each entry's hash. */
static int table_reserve(struct pyh_ptable *t, const uint32_t *hashes, uint32_t (*hash_of)(const void *, uint32_t),
			 const void *ctx)
{
	uint32_t ncap, *ns;

	if ((uint64_t)(t->used + 1) * 2 <= t->cap)
		return 0;
	if (t->cap > UINT_MAX / 4)
		return -ENOMEM;
	ncap = t->cap ? t->cap * 2 : 64;
	ns = malloc((size_t)ncap * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	memset(ns, 0xff, (size_t)ncap * sizeof(*ns));
	for (uint32_t i = 0; i < t->cap; i++) {
		uint32_t e = t->slot[i], h, j;

		if (e == NONE)
			continue;
		h = hashes ? hashes[e] : hash_of(ctx, e);
		for (j = h & (ncap - 1); ns[j] != NONE; j = (j + 1) & (ncap - 1))
			;
		ns[j] = e;
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

static uint32_t stack_hash_of(const void *ctx, uint32_t i)
{
	return ((const struct pyh_profile *)ctx)->stack[i].hash;
}

static uint32_t entry_hash_of(const void *ctx, uint32_t i)
{
	return ((const struct pyh_profile *)ctx)->entry[i].hash;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

struct pyh_profile *pyh_profile_new(void)
{
	struct pyh_profile *p = calloc(1, sizeof(struct pyh_profile));

	if (p) {
		p->limit = PYH_PROFILE_MAX_BYTES;
		p->full_stack = NONE;
	}
	return p;
}

void pyh_profile_set_limit(struct pyh_profile *p, size_t bytes)
{
	if (p)
		p->limit = bytes;
}

uint64_t pyh_profile_over(const struct pyh_profile *p)
{
	return p ? p->over : 0;
}

size_t pyh_profile_bytes(const struct pyh_profile *p)
{
	return p ? p->bytes : 0;
}

void pyh_profile_free(struct pyh_profile *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nstr; i++)
		free(p->str[i]);
	free(p->str);
	free(p->str_hash);
	free(p->strtab.slot);
	free(p->frame);
	free(p->frame_key);
	free(p->frame_hash);
	free(p->frametab.slot);
	free(p->ids);
	free(p->stack);
	free(p->stacktab.slot);
	free(p->lset);
	free(p->lset_key);
	free(p->lset_hash);
	free(p->lsettab.slot);
	free(p->entry);
	free(p->entrytab.slot);
	free(p);
}

/* Intern s; *id gets its index. 0 or -ENOMEM. */
static int intern_str(struct pyh_profile *p, const char *s, uint *id)
{
	size_t len = strlen(s);
	uint32_t h = hash_bytes(HASH_SEED, s, len), j;
	char *copy;

	if (p->strtab.cap) {
		for (j = h & (p->strtab.cap - 1); p->strtab.slot[j] != NONE; j = (j + 1) & (p->strtab.cap - 1)) {
			uint32_t e = p->strtab.slot[j];

			if (p->str_hash[e] == h && strcmp(p->str[e], s) == 0) {
				*id = e;
				return 0;
			}
		}
	}
	if (p->lookup_only)
		return -ENOENT;
	{
		uint32_t cap = p->capstr, cap2 = p->capstr;

		/* Both arrays grow to the same new capacity; capstr moves only when both did. */
		if (p->nstr >= NONE - 1 || grow((void **)&p->str, &cap, p->nstr + 1, sizeof(*p->str)) ||
		    grow((void **)&p->str_hash, &cap2, p->nstr + 1, sizeof(*p->str_hash)))
			return -ENOMEM;
		p->capstr = cap;
	}
	if (table_reserve(&p->strtab, p->str_hash, NULL, NULL))
		return -ENOMEM;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	p->str[p->nstr] = copy;
	p->str_hash[p->nstr] = h;
	for (j = h & (p->strtab.cap - 1); p->strtab.slot[j] != NONE; j = (j + 1) & (p->strtab.cap - 1))
		;
	p->strtab.slot[j] = p->nstr;
	p->strtab.used++;
	p->bytes += len + 1 + sizeof(*p->str) + sizeof(*p->str_hash) + SLOT_BYTES;
	*id = p->nstr++;
	return 0;
}

static int intern_frame(struct pyh_profile *p, const struct pyh_pframe *fr, int *id)
{
	uint32_t key[3], h, j;
	int err;

	err = intern_str(p, fr->function ? fr->function : PYH_PROFILE_UNKNOWN, &key[0]);
	if (err)
		return err;
	key[1] = NONE;
	if (fr->function && fr->file) {
		err = intern_str(p, fr->file, &key[1]);
		if (err)
			return err;
	}
	key[2] = key[1] == NONE ? 0 : (uint32_t)(fr->line > 0 ? fr->line : 0);
	h = hash_bytes(HASH_SEED, key, sizeof(key));
	if (p->frametab.cap) {
		for (j = h & (p->frametab.cap - 1); p->frametab.slot[j] != NONE;
		     j = (j + 1) & (p->frametab.cap - 1)) {
			uint32_t e = p->frametab.slot[j];

			if (memcmp(&p->frame_key[3 * e], key, sizeof(key)) == 0) {
				*id = (int)e;
				return 0;
			}
		}
	}
	if (p->lookup_only)
		return -ENOENT;
	if (p->nframe >= INT_MAX - 1)
		return -ENOMEM;
	{
		uint32_t c1 = p->capframe, c2 = p->capframe, c3 = p->capframe;

		/* Same growth for all three; capframe moves only when all did. */
		if (grow((void **)&p->frame, &c1, p->nframe + 1, sizeof(*p->frame)) ||
		    grow((void **)&p->frame_hash, &c2, p->nframe + 1, sizeof(*p->frame_hash)) ||
		    grow((void **)&p->frame_key, &c3, p->nframe + 1, 3 * sizeof(*p->frame_key)))
			return -ENOMEM;
		p->capframe = c1;
	}
	if (table_reserve(&p->frametab, p->frame_hash, NULL, NULL))
		return -ENOMEM;
	memcpy(&p->frame_key[3 * p->nframe], key, sizeof(key));
	p->frame_hash[p->nframe] = h;
	p->frame[p->nframe].function = p->str[key[0]];
	p->frame[p->nframe].file = key[1] == NONE ? NULL : p->str[key[1]];
	p->frame[p->nframe].line = (int)key[2];
	for (j = h & (p->frametab.cap - 1); p->frametab.slot[j] != NONE; j = (j + 1) & (p->frametab.cap - 1))
		;
	p->frametab.slot[j] = p->nframe;
	p->frametab.used++;
	p->bytes += sizeof(*p->frame) + 3 * sizeof(*p->frame_key) + sizeof(*p->frame_hash) + SLOT_BYTES;
	*id = (int)p->nframe++;
	return 0;
}

/* Intern the label set l (NULL: the empty set); *id gets its index. 0 or -ENOMEM. */
static int intern_lset(struct pyh_profile *p, const struct pyh_plabels *l, uint32_t *id)
{
	uint32_t key[LSET_WORDS] = { 0, 0, NONE, NONE, NONE }, h, j;
	int err;

	if (l) {
		key[0] = l->pid > 0 ? (uint32_t)l->pid : 0;
		key[1] = l->tid > 0 ? (uint32_t)l->tid : 0;
		if (l->process && *l->process && (err = intern_str(p, l->process, &key[2])))
			return err;
		if (l->thread && *l->thread && (err = intern_str(p, l->thread, &key[3])))
			return err;
		if (l->task && *l->task && (err = intern_str(p, l->task, &key[4])))
			return err;
	}
	h = hash_bytes(HASH_SEED, key, sizeof(key));
	if (p->lsettab.cap) {
		for (j = h & (p->lsettab.cap - 1); p->lsettab.slot[j] != NONE; j = (j + 1) & (p->lsettab.cap - 1)) {
			uint32_t e = p->lsettab.slot[j];

			if (p->lset_hash[e] == h && memcmp(&p->lset_key[LSET_WORDS * e], key, sizeof(key)) == 0) {
				*id = e;
				return 0;
			}
		}
	}
	if (p->lookup_only)
		return -ENOENT;
	if (p->nlset >= INT_MAX - 1)
		return -ENOMEM;
	{
		uint32_t c1 = p->caplset, c2 = p->caplset, c3 = p->caplset;

		/* Same growth for all three; caplset moves only when all did. */
		if (grow((void **)&p->lset, &c1, p->nlset + 1, sizeof(*p->lset)) ||
		    grow((void **)&p->lset_hash, &c2, p->nlset + 1, sizeof(*p->lset_hash)) ||
		    grow((void **)&p->lset_key, &c3, p->nlset + 1, LSET_WORDS * sizeof(*p->lset_key)))
			return -ENOMEM;
		p->caplset = c1;
	}
	if (table_reserve(&p->lsettab, p->lset_hash, NULL, NULL))
		return -ENOMEM;
	memcpy(&p->lset_key[LSET_WORDS * p->nlset], key, sizeof(key));
	p->lset_hash[p->nlset] = h;
	p->lset[p->nlset] = (struct pyh_plabels){
		.pid = (int32_t)key[0],
		.tid = (int32_t)key[1],
		.process = key[2] == NONE ? NULL : p->str[key[2]],
		.thread = key[3] == NONE ? NULL : p->str[key[3]],
		.task = key[4] == NONE ? NULL : p->str[key[4]],
	};
	for (j = h & (p->lsettab.cap - 1); p->lsettab.slot[j] != NONE; j = (j + 1) & (p->lsettab.cap - 1))
		;
	p->lsettab.slot[j] = p->nlset;
	p->lsettab.used++;
	p->bytes += sizeof(*p->lset) + LSET_WORDS * sizeof(*p->lset_key) + sizeof(*p->lset_hash) + SLOT_BYTES;
	*id = p->nlset++;
	return 0;
}

int pyh_profile_add(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count)
{
	return pyh_profile_add_labeled(p, frames, n, count, NULL);
}

int pyh_profile_add_labeled(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count,
			    const struct pyh_plabels *labels)
{
	return pyh_profile_add_entry(p, frames, n, count, labels, NULL);
}

int pyh_profile_add_to(struct pyh_profile *p, int entry, uint64_t count)
{
	struct pyh_pentry *e;

	if (!p || entry < 0 || (uint32_t)entry >= p->nentry)
		return -EINVAL;
	e = &p->entry[entry];
	e->count = sat_add(e->count, count);
	p->stack[e->stack].count = sat_add(p->stack[e->stack].count, count);
	p->total = sat_add(p->total, count);
	if (e->stack == p->full_stack)
		p->over = sat_add(p->over, count);
	return 0;
}

/* pyh_profile_add_entry within the budget: with p->lookup_only, -ENOENT
 * when the stack or its entry is not in the profile yet (nothing changed). */
static int add_entry(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count,
		     const struct pyh_plabels *labels, int *entry)
{
	static const struct pyh_pframe truncated = { PYH_PROFILE_TRUNCATED, NULL, 0 };
	static const struct pyh_pframe unknown = { PYH_PROFILE_UNKNOWN, NULL, 0 };
	int ids[PYH_PROFILE_MAX_DEPTH];
	uint32_t h, eh, j, sid = NONE, eid = NONE, lid, ekey[2];
	int err;

	if (!p || n < 0 || (n > 0 && !frames))
		return -EINVAL;
	if (n == 0) {
		frames = &unknown;
		n = 1;
	}
	for (int i = 0; i < n && i < PYH_PROFILE_MAX_DEPTH; i++) {
		const struct pyh_pframe *fr = &frames[i];

		if (n > PYH_PROFILE_MAX_DEPTH && i == PYH_PROFILE_MAX_DEPTH - 1)
			fr = &truncated;
		err = intern_frame(p, fr, &ids[i]);
		if (err)
			return err;
	}
	if (n > PYH_PROFILE_MAX_DEPTH)
		n = PYH_PROFILE_MAX_DEPTH;
	err = intern_lset(p, labels, &lid);
	if (err)
		return err;

	/* Find the stack and its entry; reserve room for what is new before changing anything. */
	h = hash_bytes(HASH_SEED, ids, (size_t)n * sizeof(ids[0]));
	if (p->stacktab.cap) {
		for (j = h & (p->stacktab.cap - 1); p->stacktab.slot[j] != NONE;
		     j = (j + 1) & (p->stacktab.cap - 1)) {
			struct pyh_pstack *s = &p->stack[p->stacktab.slot[j]];

			if (s->hash == h && s->n == (uint32_t)n &&
			    memcmp(&p->ids[s->off], ids, (size_t)n * sizeof(ids[0])) == 0) {
				sid = p->stacktab.slot[j];
				break;
			}
		}
	}
	if (sid == NONE && p->lookup_only)
		return -ENOENT;
	if (sid == NONE) {
		if (p->nstack >= INT_MAX - 1 || p->nids > UINT_MAX / 2 - (uint32_t)n)
			return -ENOMEM;
		if (grow((void **)&p->ids, &p->capids, p->nids + (uint32_t)n, sizeof(*p->ids)) ||
		    grow((void **)&p->stack, &p->capstack, p->nstack + 1, sizeof(*p->stack)) ||
		    table_reserve(&p->stacktab, NULL, stack_hash_of, p))
			return -ENOMEM;
	}
	ekey[0] = sid == NONE ? p->nstack : sid;
	ekey[1] = lid;
	eh = hash_bytes(HASH_SEED, ekey, sizeof(ekey));
	if (sid != NONE && p->entrytab.cap) {
		for (j = eh & (p->entrytab.cap - 1); p->entrytab.slot[j] != NONE;
		     j = (j + 1) & (p->entrytab.cap - 1)) {
			const struct pyh_pentry *e = &p->entry[p->entrytab.slot[j]];

			if (e->stack == ekey[0] && e->lset == lid) {
				eid = p->entrytab.slot[j];
				break;
			}
		}
	}
	if (eid == NONE && p->lookup_only)
		return -ENOENT;
	if (eid == NONE) {
		if (p->nentry >= INT_MAX - 1 ||
		    grow((void **)&p->entry, &p->capentry, p->nentry + 1, sizeof(*p->entry)) ||
		    table_reserve(&p->entrytab, NULL, entry_hash_of, p))
			return -ENOMEM;
	}

	/* Commit: nothing below fails. */
	if (sid == NONE) {
		memcpy(&p->ids[p->nids], ids, (size_t)n * sizeof(ids[0]));
		p->stack[p->nstack] = (struct pyh_pstack){ .off = p->nids, .n = (uint32_t)n, .count = 0, .hash = h };
		p->nids += (uint32_t)n;
		for (j = h & (p->stacktab.cap - 1); p->stacktab.slot[j] != NONE; j = (j + 1) & (p->stacktab.cap - 1))
			;
		p->stacktab.slot[j] = p->nstack;
		p->stacktab.used++;
		p->bytes += (size_t)n * sizeof(*p->ids) + sizeof(*p->stack) + SLOT_BYTES;
		sid = p->nstack++;
	}
	if (eid == NONE) {
		p->entry[p->nentry] = (struct pyh_pentry){ .stack = sid, .lset = lid, .count = 0, .hash = eh };
		for (j = eh & (p->entrytab.cap - 1); p->entrytab.slot[j] != NONE; j = (j + 1) & (p->entrytab.cap - 1))
			;
		p->entrytab.slot[j] = p->nentry;
		p->entrytab.used++;
		p->bytes += sizeof(*p->entry) + SLOT_BYTES;
		eid = p->nentry++;
	}
	p->entry[eid].count = sat_add(p->entry[eid].count, count);
	p->stack[sid].count = sat_add(p->stack[sid].count, count);
	p->total = sat_add(p->total, count);
	if (entry)
		*entry = (int)eid;
	return 0;
}

int pyh_profile_add_entry(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count,
			  const struct pyh_plabels *labels, int *entry)
{
	static const struct pyh_pframe full = { PYH_PROFILE_FULL, NULL, 0 };
	int err;

	if (!p || p->bytes < p->limit)
		return add_entry(p, frames, n, count, labels, entry);
	/* Over the budget: what the profile has goes on counting; what is new
	 * (a stack, or a stack under new labels) goes to the one "full" stack. */
	p->lookup_only = 1;
	err = add_entry(p, frames, n, count, labels, entry);
	p->lookup_only = 0;
	if (err != -ENOENT)
		return err;
	{
		int id = -1;

		err = add_entry(p, &full, 1, count, NULL, &id);
		if (err)
			return err;
		p->full_stack = p->entry[id].stack;
		p->over = sat_add(p->over, count);
		if (entry)
			*entry = id;
	}
	return 0;
}

int pyh_profile_entries(const struct pyh_profile *p)
{
	return p ? (int)p->nentry : 0;
}

uint64_t pyh_profile_total(const struct pyh_profile *p)
{
	return p ? p->total : 0;
}

int pyh_profile_stacks(const struct pyh_profile *p)
{
	return p ? (int)p->nstack : 0;
}

int pyh_profile_nframes(const struct pyh_profile *p)
{
	return p ? (int)p->nframe : 0;
}

const struct pyh_pframe *pyh_profile_frame(const struct pyh_profile *p, int id)
{
	if (!p || id < 0 || (uint32_t)id >= p->nframe)
		return NULL;
	return &p->frame[id];
}

/* Copy src into buf at *pos (bounded by sz); advance *pos by the full length.
 * sanitize: ';' becomes ':', newlines spaces, and then the text rule of
 * output/sanitize.h (controls and invalid UTF-8 escaped as \x1b). */
static void label_put(char *buf, size_t sz, size_t *pos, const char *src, int sanitize)
{
	char small[256], *tmp = small;
	size_t len = strlen(src), need;

	if (sanitize) {
		/* The escapes never hold ';' or a newline: replace those first. */
		if (len >= sizeof(small) && !(tmp = malloc(len + 1)))
			return;
		for (size_t i = 0; i <= len; i++)
			tmp[i] = src[i] == ';' ? ':' : src[i] == '\n' || src[i] == '\r' ? ' ' : src[i];
		need = pyh_sanitize(tmp, NULL, 0);
		if (*pos < sz) {
			char *dst = buf + *pos;
			size_t room = sz - *pos;

			char *full;

			if (need < room) {
				pyh_sanitize(tmp, dst, room);
			} else if ((full = malloc(need + 1))) {
				/* A byte-exact prefix, as the callers' later pieces expect. */
				pyh_sanitize(tmp, full, need + 1);
				memcpy(dst, full, room - 1);
				free(full);
			} else {
				memset(dst, '?', room - 1);
			}
		}
		*pos += need;
		if (tmp != small)
			free(tmp);
		return;
	}
	for (; *src; src++) {
		if (*pos + 1 < sz)
			buf[*pos] = *src;
		(*pos)++;
	}
}

size_t pyh_pframe_label(const struct pyh_pframe *fr, char *buf, size_t sz)
{
	size_t pos = 0;
	char num[24];

	label_put(buf, sz, &pos, fr->function ? fr->function : PYH_PROFILE_UNKNOWN, 1);
	if (fr->function && fr->file) {
		label_put(buf, sz, &pos, " (", 0);
		label_put(buf, sz, &pos, fr->file, 1);
		if (fr->line > 0) {
			snprintf(num, sizeof(num), ":%d", fr->line);
			label_put(buf, sz, &pos, num, 0);
		}
		label_put(buf, sz, &pos, ")", 0);
	}
	if (sz)
		buf[pos < sz ? pos : sz - 1] = '\0';
	return pos;
}

struct sort_key {
	char *text;
	uint32_t stack;
};

static int key_cmp(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;
	int c = strcmp(x->text, y->text);

	if (c)
		return c;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The stack order of foreach: sorted by folded text; NULL on ENOMEM (caller
 * then uses insertion order). Caller frees. */
static uint32_t *sorted_order(const struct pyh_profile *p)
{
	struct sort_key *keys = NULL;
	uint32_t *order = NULL;
	uint32_t i = 0;

	if (p->nstack == 0)
		return NULL;
	keys = calloc(p->nstack, sizeof(*keys));
	order = malloc((size_t)p->nstack * sizeof(*order));
	if (!keys || !order)
		goto fail;
	for (i = 0; i < p->nstack; i++) {
		const struct pyh_pstack *s = &p->stack[i];
		size_t len = 0, pos = 0;

		for (uint32_t k = 0; k < s->n; k++)
			len += pyh_pframe_label(&p->frame[p->ids[s->off + k]], NULL, 0) + 1;
		keys[i].text = malloc(len + 1);
		keys[i].stack = i;
		if (!keys[i].text)
			goto fail;
		for (uint32_t k = 0; k < s->n; k++) {
			if (k)
				keys[i].text[pos++] = ';';
			pos += pyh_pframe_label(&p->frame[p->ids[s->off + k]], keys[i].text + pos, len + 1 - pos);
		}
		keys[i].text[pos] = '\0';
	}
	qsort(keys, p->nstack, sizeof(*keys), key_cmp);
	for (i = 0; i < p->nstack; i++) {
		order[i] = keys[i].stack;
		free(keys[i].text);
	}
	free(keys);
	return order;
fail:
	if (keys)
		for (uint32_t k = 0; k < p->nstack; k++)
			free(keys[k].text);
	free(keys);
	free(order);
	return NULL;
}

void pyh_profile_foreach_ids(const struct pyh_profile *p,
			     void (*cb)(const int *ids, int n, uint64_t count, void *arg), void *arg)
{
	uint32_t *order;

	if (!p || !cb)
		return;
	order = sorted_order(p);
	for (uint32_t i = 0; i < p->nstack; i++) {
		const struct pyh_pstack *s = &p->stack[order ? order[i] : i];

		cb(&p->ids[s->off], (int)s->n, s->count, arg);
	}
	free(order);
}

struct frames_ctx {
	const struct pyh_profile *p;
	void (*cb)(const struct pyh_pframe *frames, int n, uint64_t count, void *arg);
	void *arg;
	struct pyh_pframe buf[PYH_PROFILE_MAX_DEPTH];
};

static void frames_cb(const int *ids, int n, uint64_t count, void *arg)
{
	struct frames_ctx *c = arg;

	for (int i = 0; i < n; i++)
		c->buf[i] = c->p->frame[ids[i]];
	c->cb(c->buf, n, count, c->arg);
}

void pyh_profile_foreach(const struct pyh_profile *p,
			 void (*cb)(const struct pyh_pframe *frames, int n, uint64_t count, void *arg),
			 void *arg)
{
	struct frames_ctx c; /* 24 KiB: one stack's frames */

	if (!p || !cb)
		return;
	c.p = p;
	c.cb = cb;
	c.arg = arg;
	pyh_profile_foreach_ids(p, frames_cb, &c);
}

void pyh_profile_foreach_labeled(const struct pyh_profile *p,
				 void (*cb)(const int *ids, int n, uint64_t count,
					    const struct pyh_plabels *labels, void *arg),
				 void *arg)
{
	uint32_t *order = NULL, *start = NULL, *byentry = NULL;

	if (!p || !cb || !p->nentry)
		return;
	/* Entries bucketed by stack (a counting sort, stable: insertion order within a stack). */
	start = calloc((size_t)p->nstack + 1, sizeof(*start));
	byentry = malloc((size_t)p->nentry * sizeof(*byentry));
	order = start && byentry ? sorted_order(p) : NULL;
	if (!order) {
		for (uint32_t i = 0; i < p->nentry; i++) {
			const struct pyh_pentry *e = &p->entry[i];
			const struct pyh_pstack *s = &p->stack[e->stack];

			cb(&p->ids[s->off], (int)s->n, e->count, &p->lset[e->lset], arg);
		}
		goto cleanup;
	}
	for (uint32_t i = 0; i < p->nentry; i++)
		start[p->entry[i].stack + 1]++;
	for (uint32_t i = 0; i < p->nstack; i++)
		start[i + 1] += start[i];
	for (uint32_t i = 0; i < p->nentry; i++)
		byentry[start[p->entry[i].stack]++] = i;
	/* start[s] is now the end of bucket s; bucket s begins at start[s - 1] (0 for s == 0). */
	for (uint32_t i = 0; i < p->nstack; i++) {
		uint32_t sid = order[i];
		const struct pyh_pstack *s = &p->stack[sid];

		for (uint32_t k = sid ? start[sid - 1] : 0; k < start[sid]; k++) {
			const struct pyh_pentry *e = &p->entry[byentry[k]];

			cb(&p->ids[s->off], (int)s->n, e->count, &p->lset[e->lset], arg);
		}
	}
cleanup:
	free(order);
	free(start);
	free(byentry);
}
