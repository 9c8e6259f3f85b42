/* SPDX-License-Identifier: MIT */
/*
 * pydict.c - iterating dicts and sets of every CPython version, instance
 * attributes, module globals and sys.modules. See pydict.h.
 */
#include "python/pydict.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proc/mem.h"

#define PYH_DICT_CHUNK 64		/* entries read per system call */
#define PYH_DICT_MAX_LOG2 40		/* nobody has a dict of 2^40 slots */
#define PYH_DICT_ENTRY_MAX 64		/* bytes: entries are 16 or 24 */
#define PYH_VALUES_MAX 255		/* split values: capacity and order are bytes */
#define PYH_VALUES_PREFIX_MIN 2		/* 3.11 / 3.12: [-1] prefix size, [-2] count */
#define PYH_SET_DUMMY_27 "<dummy key>"	/* 2.7 marks deleted set slots with this str */

/* One dict's entries, wherever they are. */
struct pyh_dictview {
	uint64_t entries;		/* first entry */
	size_t entry_size, key_off, value_off;	/* value_off PYH_NO_FIELD: values are elsewhere */
	uint64_t nentries;		/* entries in use or deleted, in order */
	uint64_t values;		/* split: the values (array or PyDictValues); 0: combined */
	int64_t used;
};

/* Called for each live item in order; returns non-zero to stop. */
typedef int (*pyh_dict_visit)(uint64_t key, uint64_t value, void *arg);

/* ------------------------------------------------------------ keys objects */

/* Bytes of one dk_indices slot for a table of 2^log2 slots. */
static unsigned pyh_index_log2_width(unsigned log2)
{
	return log2 < 8 ? 0 : log2 < 16 ? 1 : log2 < 32 ? 2 : 3;
}

/* Parse the keys object at keys: where its entries are and how many. */
static int pyh_dict_keys(struct pyh_objects *o, uint64_t keys, struct pyh_dictview *v)
{
	const struct pyh_objlayout *l = &o->l;
	uint8_t hdr[64];
	uint64_t nentries = 0, slots;
	int unicode = 0;
	int rc;

	if (!keys || l->dk_indices > sizeof(hdr) || l->dk_nentries + 8 > sizeof(hdr))
		return -EINVAL;
	rc = pyh_mem_read(o->pid, keys, hdr, l->dk_indices);
	if (rc)
		return rc;
	memcpy(&nentries, hdr + l->dk_nentries, sizeof(nentries));
	if (l->dict_kind == PYH_DICT_36) {
		uint64_t size;
		unsigned log2 = 0;

		memcpy(&size, hdr + l->dk_size, sizeof(size));
		while (log2 <= PYH_DICT_MAX_LOG2 && (1ull << log2) < size)
			log2++;
		/* a power of two (the shared empty keys object: 1 slot) */
		if (log2 > PYH_DICT_MAX_LOG2 || (1ull << log2) != size)
			return -EINVAL;
		slots = size;
		v->entries = keys + l->dk_indices + (size << pyh_index_log2_width(log2));
	} else if (l->dict_kind == PYH_DICT_311) {
		unsigned log2 = hdr[l->dk_log2_size], ilog2 = hdr[l->dk_log2_index_bytes];
		unsigned kind = hdr[l->dk_kind];

		/* (the shared empty keys object of 3.14 declares 8 index bytes for
		 * its one slot: with no entries, where they would start is moot) */
		if (log2 > PYH_DICT_MAX_LOG2 || kind > 2 || ilog2 > PYH_DICT_MAX_LOG2 + 3 ||
		    (ilog2 != log2 + pyh_index_log2_width(log2) && nentries != 0))
			return -EINVAL;
		slots = 1ull << log2;
		unicode = kind != 0;
		v->entries = keys + l->dk_indices + (1ull << ilog2);
	} else {
		return -EINVAL;
	}
	if (nentries > slots)
		return -EINVAL;
	v->nentries = nentries;
	if (unicode) {
		v->entry_size = l->uentry_size;
		v->key_off = l->uentry_key;
		v->value_off = l->uentry_value;
	} else {
		v->entry_size = l->entry_size;
		v->key_off = l->entry_key;
		v->value_off = l->entry_value;
	}
	if (v->entry_size == 0 || v->entry_size > PYH_DICT_ENTRY_MAX ||
	    v->key_off + 8 > v->entry_size || v->value_off + 8 > v->entry_size)
		return -EINVAL;
	return 0;
}

/* Visit nentries entries from the view, in order, as (key, value) with the
 * values from the entries themselves (combined tables) or from `vals`. */
static int pyh_scan_entries(struct pyh_objects *o, const struct pyh_dictview *v,
			    const uint64_t *vals, pyh_dict_visit visit, void *arg)
{
	uint8_t buf[PYH_DICT_CHUNK * PYH_DICT_ENTRY_MAX];
	uint64_t n = v->nentries < PYH_DICT_MAX_SCAN ? v->nentries : PYH_DICT_MAX_SCAN;

	for (uint64_t i = 0; i < n; i += PYH_DICT_CHUNK) {
		size_t k = n - i < PYH_DICT_CHUNK ? (size_t)(n - i) : PYH_DICT_CHUNK;
		int rc = pyh_mem_read(o->pid, v->entries + i * v->entry_size, buf, k * v->entry_size);

		if (rc)
			return rc;
		for (size_t j = 0; j < k; j++) {
			uint64_t key, value;

			memcpy(&key, buf + j * v->entry_size + v->key_off, 8);
			if (vals)
				value = vals[i + j];
			else
				memcpy(&value, buf + j * v->entry_size + v->value_off, 8);
			if (key && value && visit(key, value, arg))
				return 0;
		}
	}
	return 0;
}

/* Read entry ix's key (unicode or general entries). */
static int pyh_entry_key(struct pyh_objects *o, const struct pyh_dictview *v, uint64_t ix,
			 uint64_t *key)
{
	if (ix >= v->nentries)
		return -EINVAL;
	return pyh_mem_read_u64(o->pid, v->entries + ix * v->entry_size + v->key_off, key);
}

/* ------------------------------------------------------------ split values */

/* Visit split values: keys from the view (a shared keys object), values and
 * their insertion order from the PyDictValues at values (3.11+). `check_valid`:
 * 3.13+ inline values of an object whose `valid` flag says whether they hold. */
static int pyh_scan_values(struct pyh_objects *o, const struct pyh_dictview *v, uint64_t values,
			   int check_valid, pyh_dict_visit visit, void *arg, int64_t *live)
{
	const struct pyh_objlayout *l = &o->l;
	uint8_t order[PYH_VALUES_MAX + 1];
	uint64_t vals[PYH_VALUES_MAX];
	uint64_t array = values + l->values_items;
	unsigned count, cap;
	int rc;

	if (!values)
		return -EINVAL;
	if (l->values_kind == PYH_VALUES_PREFIX) {
		uint8_t pre[2];	/* [0] = count (values[-2]), [1] = prefix size (values[-1]) */
		uint8_t prefix[PYH_VALUES_MAX + 1];

		rc = pyh_mem_read(o->pid, values - 2, pre, sizeof(pre));
		if (rc)
			return rc;
		count = pre[0];
		cap = pre[1];
		if (cap < PYH_VALUES_PREFIX_MIN || count + PYH_VALUES_PREFIX_MIN > cap)
			return -EINVAL;
		rc = pyh_mem_read(o->pid, values - cap, prefix, cap);
		if (rc)
			return rc;
		for (unsigned i = 0; i < count; i++)	/* values[-3 - i] */
			order[i] = prefix[cap - 3 - i];
		cap = (unsigned)(v->nentries < PYH_VALUES_MAX ? v->nentries : PYH_VALUES_MAX);
	} else if (l->values_kind == PYH_VALUES_HEADER) {
		uint8_t hdr[8];

		if (l->values_items > sizeof(hdr) || l->values_capacity >= sizeof(hdr) ||
		    l->values_size >= sizeof(hdr) || l->values_valid >= sizeof(hdr))
			return -EINVAL;
		rc = pyh_mem_read(o->pid, values, hdr, l->values_items);
		if (rc)
			return rc;
		cap = hdr[l->values_capacity];
		count = hdr[l->values_size];
		if (count > cap || (check_valid && !hdr[l->values_valid]))
			return -EINVAL;
		rc = pyh_mem_read(o->pid, array + 8ull * cap, order, cap);
		if (rc)
			return rc;
	} else {
		return -EINVAL;
	}
	if (cap) {
		rc = pyh_mem_read(o->pid, array, vals, 8ull * cap);
		if (rc)
			return rc;
	}
	*live = 0;
	for (unsigned i = 0; i < count; i++) {
		uint64_t key;

		if (order[i] >= cap)
			return -EINVAL;
		rc = pyh_entry_key(o, v, order[i], &key);
		if (rc)
			return rc;
		if (!key || !vals[order[i]])
			continue;	/* a deleted attribute */
		(*live)++;
		if (visit(key, vals[order[i]], arg))
			return 0;
	}
	return 0;
}

/* ------------------------------------------------------------ dicts */

/* 2.7: the open table itself, in slot order. */
static int pyh_scan_dict27(struct pyh_objects *o, const struct pyh_obj *ob, int64_t *used,
			   pyh_dict_visit visit, void *arg)
{
	const struct pyh_objlayout *l = &o->l;
	struct pyh_dictview v = { 0 };
	uint64_t mask, table;
	int rc = pyh_obj_read(o, ob, l->dict_used, used, 8);

	if (!rc)
		rc = pyh_obj_read(o, ob, l->dict27_mask, &mask, 8);
	if (!rc)
		rc = pyh_obj_read(o, ob, l->dict27_table, &table, 8);
	if (rc)
		return rc;
	if (*used < 0 || mask >= (1ull << PYH_DICT_MAX_LOG2) || (mask & (mask + 1)) ||
	    (uint64_t)*used > mask + 1 || !table)
		return -EINVAL;
	v.entries = table;
	v.entry_size = l->entry_size;
	v.key_off = l->entry_key;
	v.value_off = l->entry_value;
	v.nentries = mask + 1;
	if (v.entry_size == 0 || v.entry_size > PYH_DICT_ENTRY_MAX)
		return -EINVAL;
	return pyh_scan_entries(o, &v, NULL, visit, arg);
}

/* Every live item of the dict at addr (a dict or subclass), in order. */
static int pyh_scan_dict(struct pyh_objects *o, const struct pyh_obj *ob, int64_t *used,
			 pyh_dict_visit visit, void *arg)
{
	const struct pyh_objlayout *l = &o->l;
	struct pyh_dictview v = { 0 };
	uint64_t keys = 0, values = 0;
	int rc;

	if (ob->ti.kind != PYH_OBJ_DICT)
		return -EINVAL;
	if (l->dict_kind == PYH_DICT_27)
		return pyh_scan_dict27(o, ob, used, visit, arg);
	rc = pyh_obj_read(o, ob, l->dict_used, used, 8);
	if (!rc)
		rc = pyh_obj_read(o, ob, l->dict_keys, &keys, 8);
	if (!rc)
		rc = pyh_obj_read(o, ob, l->dict_values, &values, 8);
	if (rc)
		return rc;
	if (*used < 0)
		return -EINVAL;
	rc = pyh_dict_keys(o, keys, &v);
	if (rc)
		return rc;
	if ((uint64_t)*used > v.nentries)
		return -EINVAL;
	if (!values)
		return pyh_scan_entries(o, &v, NULL, visit, arg);
	if (l->values_kind == PYH_VALUES_ARRAY) {
		/* 3.6 - 3.10 split table: values[i] belongs to entry i */
		uint64_t vals[PYH_VALUES_MAX];

		if (v.nentries > PYH_VALUES_MAX)
			return -EINVAL;
		rc = pyh_mem_read(o->pid, values, vals, 8 * (size_t)v.nentries);
		if (rc)
			return rc;
		return pyh_scan_entries(o, &v, vals, visit, arg);
	}
	{
		int64_t live;

		return pyh_scan_values(o, &v, values, 0, visit, arg, &live);
	}
}

struct pyh_collect {
	struct pyh_kv *out;
	size_t max, n;
};

static int pyh_collect_kv(uint64_t key, uint64_t value, void *arg)
{
	struct pyh_collect *c = arg;

	if (c->n >= c->max)
		return 1;
	c->out[c->n].key = key;
	c->out[c->n].value = value;
	c->n++;
	return c->n >= c->max;
}

int pyh_dict_items(struct pyh_objects *o, const struct pyh_obj *ob, struct pyh_kv *out,
		   size_t max, size_t *n, size_t *length)
{
	struct pyh_collect c = { .out = out, .max = max };
	int64_t used = 0;
	int rc = pyh_scan_dict(o, ob, &used, pyh_collect_kv, &c);

	if (rc)
		return rc;
	*n = c.n;
	*length = (size_t)used;
	return 0;
}

/* A search for a str key. The keys come in batches: their heads are read
 * together (one system call for up to PYH_FIND_BATCH keys, where one each
 * was read before: sys.modules has hundreds), then compared in order, so the
 * first equal key wins as it did. A key whose head cannot be read whole (an
 * object near the end of its mapping, or garbage in a table that moved)
 * stops that read (process_vm_readv stops at the first fault): it is read
 * alone, as before, and the read goes on from the key after it. After two
 * such stops in one batch the rest of it is read a key at a time, so keys
 * that are garbage cost one system call each, as they did, not two. */
#define PYH_FIND_BATCH PYH_DICT_CHUNK
struct pyh_find {
	struct pyh_objects *o;
	const char *key;
	uint64_t value;
	int found;
	size_t n;				/* pending items */
	struct pyh_kv kv[PYH_FIND_BATCH];
	uint8_t head[PYH_FIND_BATCH][PYH_OBJ_HEAD];
};

/* Compare the pending keys, in order; sets f->found at the first equal one. */
static void pyh_find_flush(struct pyh_find *f)
{
	struct pyh_mem_iov iov[PYH_FIND_BATCH];
	size_t i = 0;
	int stops = 0;

	while (i < f->n && !f->found) {
		size_t m = f->n - i;
		int k = 0;

		for (size_t j = 0; j < m; j++)
			iov[j] = (struct pyh_mem_iov){ f->kv[i + j].key, f->head[j], PYH_OBJ_HEAD };
		if (stops < 2)
			k = pyh_mem_readv_prefix(f->o->pid, iov, (int)m);
		if (k < 0)
			k = 0;	/* the process is gone: each read alone fails as it did */
		if ((size_t)k < m)
			stops++;
		for (int j = 0; j <= k && i < f->n; j++, i++) {
			struct pyh_obj ob;
			int eq;

			if (j < k)
				eq = pyh_obj_from_head(f->o, f->kv[i].key, f->head[j], PYH_OBJ_HEAD,
						       &ob) ? -1 : pyh_obj_str_equals_ob(f->o, &ob, f->key);
			else
				eq = pyh_obj_str_equals(f->o, f->kv[i].key, f->key); /* read alone */
			if (eq == 1) {
				f->value = f->kv[i].value;
				f->found = 1;
				break;
			}
		}
	}
	f->n = 0;
}

static int pyh_find_str(uint64_t key, uint64_t value, void *arg)
{
	struct pyh_find *f = arg;

	f->kv[f->n].key = key;
	f->kv[f->n].value = value;
	if (++f->n == PYH_FIND_BATCH)
		pyh_find_flush(f);
	return f->found;
}

/* The end of a scan (returned rc) that visited with pyh_find_str: the keys
 * still pending are compared, even when the scan failed after them (one-by-one,
 * an equal key among them stopped the scan before it could fail). Returns 0
 * with *value, -ENOENT, or the scan's rc. */
static int pyh_find_end(struct pyh_find *f, int rc, uint64_t *value)
{
	if (!f->found)
		pyh_find_flush(f);
	if (f->found) {
		*value = f->value;
		return 0;
	}
	return rc ? rc : -ENOENT;
}

int pyh_dict_get_str(struct pyh_objects *o, uint64_t addr, const char *key, uint64_t *value)
{
	struct pyh_find f = { .o = o, .key = key };
	struct pyh_obj ob;
	int64_t used = 0;
	int rc = pyh_obj_get(o, addr, &ob);

	if (rc)
		return rc;
	rc = pyh_scan_dict(o, &ob, &used, pyh_find_str, &f);
	return pyh_find_end(&f, rc, value);
}

/* ------------------------------------------------------------ sets */

int pyh_set_items(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *out, size_t max,
		  size_t *n, size_t *length)
{
	const struct pyh_objlayout *l = &o->l;
	uint8_t buf[PYH_DICT_CHUNK * PYH_DICT_ENTRY_MAX];
	int64_t fill, used;
	uint64_t mask, table, slots, dummy = o->set_dummy;
	size_t got = 0;
	int rc;

	if (ob->ti.kind != PYH_OBJ_SET && ob->ti.kind != PYH_OBJ_FROZENSET)
		return -EINVAL;
	rc = pyh_obj_read(o, ob, l->set_fill, &fill, 8);
	if (!rc)
		rc = pyh_obj_read(o, ob, l->set_used, &used, 8);
	if (!rc)
		rc = pyh_obj_read(o, ob, l->set_mask, &mask, 8);
	if (!rc)
		rc = pyh_obj_read(o, ob, l->set_table, &table, 8);
	if (rc)
		return rc;
	if (used < 0 || fill < used || mask >= (1ull << PYH_DICT_MAX_LOG2) ||
	    (mask & (mask + 1)) || (uint64_t)fill > mask + 1 || !table ||
	    l->setentry_size == 0 || l->setentry_size > PYH_DICT_ENTRY_MAX)
		return -EINVAL;
	slots = mask + 1 < PYH_DICT_MAX_SCAN ? mask + 1 : PYH_DICT_MAX_SCAN;
	for (uint64_t i = 0; i < slots && got < max; i += PYH_DICT_CHUNK) {
		size_t k = slots - i < PYH_DICT_CHUNK ? (size_t)(slots - i) : PYH_DICT_CHUNK;

		rc = pyh_mem_read(o->pid, table + i * l->setentry_size, buf, k * l->setentry_size);
		if (rc)
			return rc;
		for (size_t j = 0; j < k && got < max; j++) {
			uint64_t key;

			memcpy(&key, buf + j * l->setentry_size + l->setentry_key, 8);
			if (!key || key == dummy)
				continue;
			/* Deleted slots exist (fill > used) and the dummy is not
			 * known (2.7): it is the str "<dummy key>". */
			if (fill > used && !dummy && o->ver.major == 2 &&
			    pyh_obj_str_equals(o, key, PYH_SET_DUMMY_27) == 1) {
				dummy = o->set_dummy = key;
				continue;
			}
			out[got++] = key;
		}
	}
	*n = got;
	*length = (size_t)used;
	return 0;
}

/* ------------------------------------------------------------ attributes */

/* The __dict__ of an object that has one (0 when it is not created yet), or
 * split values without a dict: *values, with the class's shared keys. */
static int pyh_obj_storage(struct pyh_objects *o, const struct pyh_obj *ob, uint64_t *dict,
			   uint64_t *values)
{
	const struct pyh_objlayout *l = &o->l;
	const struct pyh_typeinfo *ti = &ob->ti;
	uint64_t addr = ob->addr;
	int rc;

	*dict = *values = 0;
	if (ti->kind == PYH_OBJ_INSTANCE27)
		return pyh_obj_read(o, ob, l->instance27_dict, dict, sizeof(*dict));
	if (l->tpflags_managed_dict && (ti->flags & l->tpflags_managed_dict)) {
		uint64_t word = 0;

		rc = pyh_mem_read_u64(o->pid, addr + (int64_t)l->managed_dict_offset, &word);
		if (rc)
			return rc;
		switch (l->managed_kind) {
		case PYH_MANAGED_311:
			*dict = word;
			if (!word)
				rc = pyh_mem_read_u64(o->pid, addr + (int64_t)l->managed_values_offset,
						      values);
			return rc;
		case PYH_MANAGED_312:
			if (word & 1)
				*values = word + 1;	/* stored as values - 1 */
			else
				*dict = word;
			return 0;
		case PYH_MANAGED_313:
			*dict = word;
			if (!word && (ti->flags & l->tpflags_inline_values))
				*values = addr + (uint64_t)ti->basicsize;
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (ti->dictoffset == 0)
		return -ENOENT;
	if (ti->dictoffset < 0) {
		/* after the variable part: basicsize + |ob_size| * itemsize, aligned */
		int64_t size;
		uint64_t end;

		rc = pyh_obj_read(o, ob, l->ob_size, &size, sizeof(size));
		if (rc)
			return rc;
		if (size < 0)
			size = -size;
		if (size < 0 || size >= PYH_SEQ_MAX_LENGTH)
			return -EINVAL;
		end = ((uint64_t)ti->basicsize + (uint64_t)size * (uint64_t)ti->itemsize + 7) & ~7ull;
		return pyh_obj_read(o, ob, end + (uint64_t)ti->dictoffset, dict, sizeof(*dict));
	}
	return pyh_obj_read(o, ob, (uint64_t)ti->dictoffset, dict, sizeof(*dict));
}

static int pyh_scan_attrs(struct pyh_objects *o, const struct pyh_obj *ob, int64_t *length,
			  pyh_dict_visit visit, void *arg)
{
	struct pyh_dictview v = { 0 };
	uint64_t dict, values;
	int rc = pyh_obj_storage(o, ob, &dict, &values);

	if (rc)
		return rc;
	if (dict) {
		struct pyh_obj dob;

		rc = pyh_obj_get(o, dict, &dob);
		return rc ? rc : pyh_scan_dict(o, &dob, length, visit, arg);
	}
	*length = 0;
	if (!values)
		return 0;	/* no attribute set yet */
	if (!ob->ti.ht_cached_keys)
		return -EINVAL;
	rc = pyh_dict_keys(o, ob->ti.ht_cached_keys, &v);
	if (rc)
		return rc;
	/* values without a dict keep no count of their own: the live ones are it
	 * (counted up to where a visitor stopped) */
	return pyh_scan_values(o, &v, values, 1, visit, arg, length);
}

int pyh_obj_attrs(struct pyh_objects *o, const struct pyh_obj *ob, struct pyh_kv *out,
		  size_t max, size_t *n, size_t *length)
{
	struct pyh_collect c = { .out = out, .max = max };
	int64_t len = 0;
	int rc = pyh_scan_attrs(o, ob, &len, pyh_collect_kv, &c);

	if (rc)
		return rc;
	*n = c.n;
	*length = (size_t)len;
	return 0;
}

int pyh_obj_getattr(struct pyh_objects *o, uint64_t addr, const char *name, uint64_t *value)
{
	struct pyh_find f = { .o = o, .key = name };
	struct pyh_obj ob;
	int64_t len = 0;
	int rc = pyh_obj_get(o, addr, &ob);

	if (rc)
		return rc;
	rc = pyh_scan_attrs(o, &ob, &len, pyh_find_str, &f);
	return pyh_find_end(&f, rc, value);
}

/* The slot a member descriptor describes: its offset in the instance. */
static int pyh_member_offset(struct pyh_objects *o, uint64_t descr, int64_t basicsize,
			     int64_t *offset)
{
	const struct pyh_objlayout *l = &o->l;
	struct pyh_obj dob;
	uint64_t def = 0;
	int32_t type = 0;
	int64_t off = 0;
	int rc = pyh_obj_get(o, descr, &dob);

	if (rc)
		return rc;
	if (dob.ti.kind != PYH_OBJ_MEMBER_DESCR || !dob.ti.exact || l->descr_member == PYH_NO_FIELD)
		return -EINVAL;
	rc = pyh_obj_read(o, &dob, l->descr_member, &def, sizeof(def));
	if (!rc && !def)
		rc = -EINVAL;
	if (!rc)
		rc = pyh_mem_read(o->pid, def + l->memberdef_type, &type, sizeof(type));
	if (!rc)
		rc = pyh_mem_read(o->pid, def + l->memberdef_offset, &off, sizeof(off));
	if (rc)
		return rc;
	if ((uint32_t)type != l->member_object_ex || off < (int64_t)l->object_size ||
	    off + 8 > basicsize || off % 8)
		return -EINVAL;
	*offset = off;
	return 0;
}

int pyh_obj_slot(struct pyh_objects *o, uint64_t addr, const char *name, uint64_t *value)
{
	struct pyh_typeinfo ti;
	struct pyh_obj ob;
	uint64_t type, descr = 0, v = 0;
	int64_t off = 0;
	int rc = pyh_obj_get(o, addr, &ob);

	if (rc)
		return rc;
	ti = ob.ti;
	type = ti.addr;
	for (int depth = 0; depth < PYH_TYPE_BASES_MAX; depth++) {
		rc = ti.dict ? pyh_dict_get_str(o, ti.dict, name, &descr) : -ENOENT;
		if (rc != -ENOENT)
			break;
		if (pyh_mem_read_u64(o->pid, type + o->l.tp_base, &type) || !type ||
		    pyh_type_info(o, type, &ti))
			return -ENOENT;
	}
	if (rc)
		return rc;
	rc = pyh_member_offset(o, descr, ob.ti.basicsize, &off);
	if (!rc)
		rc = pyh_obj_read(o, &ob, (uint64_t)off, &v, sizeof(v));
	if (rc)
		return rc;
	if (!v)
		return -ENOENT;	/* declared, never set (or deleted) */
	*value = v;
	return 0;
}

int pyh_obj_attr(struct pyh_objects *o, uint64_t addr, const char *name, uint64_t *value)
{
	int rc = pyh_obj_getattr(o, addr, name, value);

	return rc == -ENOENT ? pyh_obj_slot(o, addr, name, value) : rc;
}

int pyh_obj_repr_name(struct pyh_objects *o, const struct pyh_typeinfo *ti, char *out,
		      size_t outsz)
{
	char mod[PYH_TYPE_NAME_MAX], name[PYH_TYPE_NAME_MAX];
	uint64_t m = 0, qual;

	snprintf(out, outsz, "%s", ti->tp_name);
	if (!ti->heap)
		return 0;
	qual = o->ver.major == 2 ? ti->ht_name : ti->ht_qualname;
	if (!qual || !ti->dict || pyh_dict_get_str(o, ti->dict, "__module__", &m) ||
	    pyh_obj_str_utf8(o, m, mod, sizeof(mod)) < 0 ||
	    pyh_obj_str_utf8(o, qual, name, sizeof(name)) < 0)
		return -EINVAL;
	if (!strcmp(mod, o->ver.major == 2 ? "__builtin__" : "builtins"))
		return 0;
	snprintf(out, outsz, "%s.%s", mod, name);
	return 0;
}

/* ------------------------------------------------------------ modules */

int pyh_sys_module(struct pyh_objects *o, const char *name, uint64_t *module)
{
	uint64_t interp = 0, modules = 0;
	int rc;

	if (!o->interp_head_ptr || o->l.interp_modules == PYH_NO_FIELD)
		return -ENOENT;
	rc = pyh_mem_read_u64(o->pid, o->interp_head_ptr, &interp);
	if (rc)
		return rc;
	if (!interp)
		return -ENOENT;
	rc = pyh_mem_read_u64(o->pid, interp + o->l.interp_modules, &modules);
	if (rc)
		return rc;
	if (!modules)
		return -ENOENT;
	return pyh_dict_get_str(o, modules, name, module);
}

int pyh_module_dict(struct pyh_objects *o, uint64_t module, uint64_t *dict)
{
	struct pyh_obj ob;
	uint64_t d = 0;
	int rc = pyh_obj_get(o, module, &ob);

	if (rc)
		return rc;
	if (ob.ti.kind != PYH_OBJ_MODULE)
		return -EINVAL;
	rc = pyh_obj_read(o, &ob, o->l.module_dict, &d, sizeof(d));
	if (rc)
		return rc;
	if (!d)
		return -ENOENT;
	*dict = d;
	return 0;
}

int pyh_module_getattr(struct pyh_objects *o, uint64_t module, const char *name,
		       uint64_t *value)
{
	uint64_t dict;
	int rc = pyh_module_dict(o, module, &dict);

	return rc ? rc : pyh_dict_get_str(o, dict, name, value);
}
