/* SPDX-License-Identifier: MIT */
/*
 * test_objimages.c - the object readers and repr() on synthetic byte images
 * built in this process with each version's layout (python/objlayout.h):
 * dict iteration for every dict kind (2.7 table, 3.6 dk_size, 3.11 / 3.12 /
 * 3.13 / 3.14t split and combined), sets with deleted slots, the bounds of
 * repr (items, characters, depth, bytes, cycles), and objects that are freed,
 * of no type, unmapped or random bytes: "<unreadable>", never a crash.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "python/objects.h"
#include "python/pydict.h"
#include "python/repr.h"
#include "python/reprfmt.h"

#define ARENA_SIZE (1u << 20)
#define TYPE_SLOT 1024			/* room per fake type object */
#define REPR_FN(k) (0x1000u + (k))	/* a distinct "tp_repr" per built-in type */

/* Objects are built in one arena of this process; pid is our own. */
struct img {
	struct pyh_objects o;
	const struct pyh_objlayout *l;
	uint8_t *arena;
	size_t used;
	uint64_t meta;			/* the fake `type` type */
};

static void *img_alloc(struct img *m, size_t n)
{
	void *p;

	m->used = (m->used + 15) & ~(size_t)15;
	assert_true(m->used + n <= ARENA_SIZE);
	p = m->arena + m->used;
	m->used += n;
	return p;
}

static void put64(void *base, uint32_t off, uint64_t v)
{
	assert_true(off != PYH_NO_FIELD);
	memcpy((uint8_t *)base + off, &v, 8);
}

static void put32(void *base, uint32_t off, uint32_t v)
{
	memcpy((uint8_t *)base + off, &v, 4);
}

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* A fake object header: refcount 1 (GIL builds), type. */
static uint8_t *obj_new(struct img *m, size_t size, uint64_t type)
{
	uint8_t *o = img_alloc(m, size < 64 ? 64 : size);

	if (m->l->ob_refcnt != PYH_NO_FIELD)
		put64(o, m->l->ob_refcnt, 1);
	put64(o, m->l->ob_type, type);
	return o;
}

static uint64_t type_new(struct img *m, const char *name, uint64_t flags, uint64_t repr,
			 uint64_t base)
{
	uint8_t *t = obj_new(m, TYPE_SLOT, m->meta ? m->meta : 0);
	char *n = img_alloc(m, strlen(name) + 1);

	strcpy(n, name);
	put64(t, m->l->tp_name, A(n));
	put64(t, m->l->tp_flags, flags);
	put64(t, m->l->tp_basicsize, 64);
	put64(t, m->l->tp_repr, repr);
	put64(t, m->l->tp_base, base);
	return A(t);
}

static void img_open(struct img *m, int major, int minor, int ft)
{
	static const char *names[PYH_OBJ_NKINDS] = {
		[PYH_OBJ_BOOL] = "bool", [PYH_OBJ_INT27] = "int", [PYH_OBJ_LONG] = "int",
		[PYH_OBJ_FLOAT] = "float", [PYH_OBJ_BYTES] = "bytes", [PYH_OBJ_STR] = "str",
		[PYH_OBJ_UNICODE27] = "unicode", [PYH_OBJ_TUPLE] = "tuple", [PYH_OBJ_LIST] = "list",
		[PYH_OBJ_DICT] = "dict", [PYH_OBJ_SET] = "set", [PYH_OBJ_FROZENSET] = "frozenset",
		[PYH_OBJ_CELL] = "cell", [PYH_OBJ_OBJECT] = "object",
	};
	struct pyh_pyversion ver = { major, minor, 0 };
	uint8_t *meta;

	memset(m, 0, sizeof(*m));
	m->l = pyh_objlayout_table(major, minor, ft);
	assert_non_null(m->l);
	m->arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m->arena != MAP_FAILED);
	assert_int_equal(pyh_objects_init(&m->o, getpid(), &ver, m->l), 0);
	/* `type`: its own type, a type subclass */
	meta = obj_new(m, TYPE_SLOT, 0);
	put64(meta, m->l->ob_type, A(meta));
	m->meta = A(meta);
	put64(meta, m->l->tp_flags, m->l->tpflags_type_subclass);
	put64(meta, m->l->tp_basicsize, 64);
	{
		char *n = img_alloc(m, 5);

		strcpy(n, "type");
		put64(meta, m->l->tp_name, A(n));
	}
	m->o.type_addr[PYH_OBJ_TYPE] = m->meta;
	for (int k = 1; k < PYH_OBJ_NKINDS; k++)
		if (names[k] && (major == 2 || (k != PYH_OBJ_INT27 && k != PYH_OBJ_UNICODE27)))
			m->o.type_addr[k] = type_new(m, names[k], 0, REPR_FN(k), 0);
	m->o.none = A(obj_new(m, 64, type_new(m, "NoneType", 0, REPR_FN(99), 0)));
}

static void img_close(struct img *m)
{
	pyh_objects_close(&m->o);
	munmap(m->arena, ARENA_SIZE);
}

/* ------------------------------------------------------------ builders */

static uint64_t mk_int(struct img *m, int64_t v)
{
	const struct pyh_objlayout *l = m->l;
	uint64_t a = (uint64_t)(v < 0 ? -v : v);
	uint32_t digits[4];
	unsigned n = 0;
	uint8_t *o;

	if (m->o.ver.major == 2) {
		o = obj_new(m, 64, m->o.type_addr[PYH_OBJ_INT27]);
		put64(o, l->int_ival, (uint64_t)v);
		return A(o);
	}
	while (a) {
		digits[n++] = (uint32_t)(a & ((1u << l->long_shift) - 1));
		a >>= l->long_shift;
	}
	o = obj_new(m, 64, m->o.type_addr[PYH_OBJ_LONG]);
	if (l->long_kind == PYH_LONG_LV_TAG)
		put64(o, l->long_size, (uint64_t)n << l->long_non_size_bits |
			  (v == 0 ? l->long_sign_zero : v < 0 ? l->long_sign_negative : 0));
	else
		put64(o, l->long_size, (uint64_t)(v < 0 ? -(int64_t)n : (int64_t)n));
	memcpy(o + l->long_digits, digits, 4 * n);
	return A(o);
}

/* An ASCII str (2.7: a str, which is bytes). */
static uint64_t mk_str(struct img *m, const char *s)
{
	const struct pyh_objlayout *l = m->l;
	size_t n = strlen(s);
	uint8_t *o;

	if (m->o.ver.major == 2) {
		o = obj_new(m, l->bytes_sval + n + 1, m->o.type_addr[PYH_OBJ_BYTES]);
		put64(o, l->bytes_size, n);
		memcpy(o + l->bytes_sval, s, n);
		return A(o);
	}
	o = obj_new(m, l->str_ascii_data + n + 1, m->o.type_addr[PYH_OBJ_STR]);
	put64(o, l->str_length, n);
	put32(o, l->str_state, 1u << l->str_kind_shift | 1u << l->str_compact_bit |
			       1u << l->str_ascii_bit);
	memcpy(o + l->str_ascii_data, s, n);
	return A(o);
}

static uint64_t mk_seq(struct img *m, int list, const uint64_t *items, size_t n)
{
	const struct pyh_objlayout *l = m->l;
	uint8_t *o = obj_new(m, l->tuple_items + 8 * n + 8,
			     m->o.type_addr[list ? PYH_OBJ_LIST : PYH_OBJ_TUPLE]);

	put64(o, l->ob_size, n);
	if (list) {
		uint64_t *arr = img_alloc(m, 8 * n + 8);

		memcpy(arr, items, 8 * n);
		put64(o, l->list_items, A(arr));
	} else {
		memcpy(o + l->tuple_items, items, 8 * n);
	}
	return A(o);
}

/* A 3.x keys object of 8 slots with n entries (keys[i], vals[i]; a 0 value is
 * a deleted entry), general (24-byte) or unicode (16-byte) entries. */
static uint64_t mk_keys(struct img *m, const uint64_t *keys, const uint64_t *vals, size_t n,
			int unicode)
{
	const struct pyh_objlayout *l = m->l;
	size_t esz = unicode ? l->uentry_size : l->entry_size;
	uint8_t *k = img_alloc(m, l->dk_indices + 8 + esz * n);
	uint8_t *e = k + l->dk_indices + 8;

	if (l->dict_kind == PYH_DICT_36) {
		put64(k, l->dk_size, 8);
	} else {
		k[l->dk_log2_size] = 3;
		k[l->dk_log2_index_bytes] = 3;
		k[l->dk_kind] = (uint8_t)(unicode ? 1 : 0);
	}
	put64(k, l->dk_nentries, n);
	for (size_t i = 0; i < n; i++) {
		put64(e + i * esz, unicode ? l->uentry_key : l->entry_key, keys[i]);
		if (vals && (unicode ? l->uentry_value : l->entry_value) != PYH_NO_FIELD)
			put64(e + i * esz, unicode ? l->uentry_value : l->entry_value, vals[i]);
	}
	return A(k);
}

static uint64_t mk_dict(struct img *m, uint64_t keys, uint64_t values, int64_t used)
{
	uint8_t *d = obj_new(m, 64, m->o.type_addr[PYH_OBJ_DICT]);

	put64(d, m->l->dict_used, (uint64_t)used);
	put64(d, m->l->dict_keys, keys);
	put64(d, m->l->dict_values, values);
	return A(d);
}

static void expect_repr(struct img *m, uint64_t addr, const struct pyh_repr_limits *lim,
			const char *want, int truncated)
{
	char out[4096];
	struct pyh_repr_info info;

	pyh_repr(&m->o, addr, lim, out, sizeof(out), &info);
	if (strcmp(out, want))
		fail_msg("%d.%d: got %s, want %s", m->o.ver.major, m->o.ver.minor, out, want);
	assert_int_equal(info.truncated, truncated);
	assert_true(strlen(out) < lim->max_bytes);
}

/* ------------------------------------------------------------ dicts */

static void check_combined(int major, int minor, int ft)
{
	struct img m;
	uint64_t keys[3], vals[3];
	struct pyh_repr_limits lim = PYH_REPR_SHORT;
	int unicode;

	img_open(&m, major, minor, ft);
	keys[0] = mk_str(&m, "a");
	keys[1] = mk_str(&m, "gone");
	keys[2] = mk_str(&m, "c");
	vals[0] = mk_int(&m, 1);
	vals[1] = 0;		/* deleted */
	vals[2] = mk_int(&m, -3);
	for (unicode = 0; unicode <= (m.l->dict_kind == PYH_DICT_311); unicode++) {
		uint64_t d = mk_dict(&m, mk_keys(&m, keys, vals, 3, unicode), 0, 2);
		uint64_t v;

		expect_repr(&m, d, &lim, "{'a': 1, 'c': -3}", 0);
		assert_int_equal(pyh_dict_get_str(&m.o, d, "c", &v), 0);
		assert_int_equal(v, vals[2]);
		assert_int_equal(pyh_dict_get_str(&m.o, d, "gone", &v), -ENOENT);
		/* ma_used above the entries: not a dict */
		put64((void *)(uintptr_t)d, m.l->dict_used, 4);
		expect_repr(&m, d, &lim, PYH_REPR_UNREADABLE, 0);
	}
	img_close(&m);
}


/* pyh_dict_get_str reads the keys' heads in batches: keys it cannot read in
 * one (unmapped, misaligned, an object whose head runs into a hole) are read
 * alone, and the answer is the first equal key in order, as one by one. */
static void check_find_batched(int minor)
{
	struct img m;
	const struct pyh_objlayout *l;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t keys[7], vals[7], v;
	uint8_t *near;
	uint64_t d;

	img_open(&m, 3, minor, 0);
	l = m.l;
	/* a hole at the end of the arena, and "near" just before it: a head of
	 * PYH_OBJ_HEAD bytes cannot be read whole there, the object can */
	assert_int_equal(munmap(m.arena + ARENA_SIZE - pg, pg), 0);
	near = m.arena + ARENA_SIZE - pg - 64;
	assert_true(l->str_ascii_data + 5 <= 64 && 64 < PYH_OBJ_HEAD);
	memset(near, 0, 64);
	put64(near, l->ob_refcnt, 1);
	put64(near, l->ob_type, m.o.type_addr[PYH_OBJ_STR]);
	put64(near, l->str_length, 4);
	put32(near, l->str_state, 1u << l->str_kind_shift | 1u << l->str_compact_bit |
				  1u << l->str_ascii_bit);
	memcpy(near + l->str_ascii_data, "near", 4);
	keys[0] = mk_str(&m, "a");
	keys[1] = 0x10;			/* unmapped */
	keys[2] = A(near);
	keys[3] = keys[0] + 4;		/* misaligned */
	keys[4] = mk_str(&m, "c");
	keys[5] = mk_str(&m, "c");	/* the same text again: the first one wins */
	keys[6] = mk_str(&m, "last");
	for (int i = 0; i < 7; i++)
		vals[i] = mk_int(&m, 10 + i);
	d = mk_dict(&m, mk_keys(&m, keys, vals, 7, 0), 0, 7);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "a", &v), 0);
	assert_int_equal(v, vals[0]);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "near", &v), 0);
	assert_int_equal(v, vals[2]);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "c", &v), 0);
	assert_int_equal(v, vals[4]);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "last", &v), 0);
	assert_int_equal(v, vals[6]);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "zz", &v), -ENOENT);
	/* the keys without the bad ones: one batch read whole */
	d = mk_dict(&m, mk_keys(&m, (uint64_t[]){ keys[0], keys[4], keys[6] },
				(uint64_t[]){ vals[0], vals[4], vals[6] }, 3, 0), 0, 3);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "last", &v), 0);
	assert_int_equal(v, vals[6]);
	assert_int_equal(pyh_dict_get_str(&m.o, d, "near", &v), -ENOENT);
	img_close(&m);
}

static void test_find_batched(void **state)
{
	(void)state;
	check_find_batched(6);
	check_find_batched(11);
	check_find_batched(12);
	check_find_batched(14);
}

static void test_dict_combined(void **state)
{
	(void)state;
	check_combined(3, 6, 0);
	check_combined(3, 10, 0);
	check_combined(3, 11, 0);
	check_combined(3, 12, 0);
	check_combined(3, 13, 0);
	check_combined(3, 14, 0);
	check_combined(3, 14, 1);
}

static void test_dict27(void **state)
{
	struct img m;
	struct pyh_repr_limits lim = PYH_REPR_SHORT;
	uint8_t *d, *table;

	(void)state;
	img_open(&m, 2, 7, 0);
	table = img_alloc(&m, 8 * m.l->entry_size);
	memset(table, 0, 8 * m.l->entry_size);
	/* slot 1: 'x': 1; slot 4: a deleted key (no value); slot 6: 'y': 2 */
	put64(table + 1 * m.l->entry_size, m.l->entry_key, mk_str(&m, "x"));
	put64(table + 1 * m.l->entry_size, m.l->entry_value, mk_int(&m, 1));
	put64(table + 4 * m.l->entry_size, m.l->entry_key, mk_str(&m, "<dummy key>"));
	put64(table + 6 * m.l->entry_size, m.l->entry_key, mk_str(&m, "y"));
	put64(table + 6 * m.l->entry_size, m.l->entry_value, mk_int(&m, 2));
	d = obj_new(&m, 64, m.o.type_addr[PYH_OBJ_DICT]);
	put64(d, m.l->dict_used, 2);
	put64(d, m.l->dict27_mask, 7);
	put64(d, m.l->dict27_table, A(table));
	expect_repr(&m, A(d), &lim, "{'x': 1, 'y': 2}", 0);
	put64(d, m.l->dict27_mask, 6);	/* not a power of two minus one */
	expect_repr(&m, A(d), &lim, PYH_REPR_UNREADABLE, 0);
	img_close(&m);
}

/* Split tables: insertion order is not entry order. */
static void check_split(int minor)
{
	struct img m;
	struct pyh_repr_limits lim = PYH_REPR_SHORT;
	uint64_t names[3], vals[3], keys;
	const uint8_t order[3] = { 2, 0, 1 };
	uint8_t *values;

	img_open(&m, 3, minor, 0);
	names[0] = mk_str(&m, "a");
	names[1] = mk_str(&m, "b");
	names[2] = mk_str(&m, "c");
	for (int i = 0; i < 3; i++)
		vals[i] = mk_int(&m, 10 + i);
	keys = mk_keys(&m, names, NULL, 3, m.l->dict_kind == PYH_DICT_311);
	if (m.l->values_kind == PYH_VALUES_ARRAY) {
		values = img_alloc(&m, 24);
		memcpy(values, vals, 24);
		expect_repr(&m, mk_dict(&m, keys, A(values), 3), &lim, "{'a': 10, 'b': 11, 'c': 12}", 0);
	} else if (m.l->values_kind == PYH_VALUES_PREFIX) {
		uint8_t *mem = img_alloc(&m, 8 + 24);	/* prefix of 8, then 3 values */

		values = mem + 8;
		values[-1] = 8;		/* prefix size */
		values[-2] = 3;		/* count */
		for (int i = 0; i < 3; i++)
			values[-3 - i] = order[i];
		memcpy(values, vals, 24);
		expect_repr(&m, mk_dict(&m, keys, A(values), 3), &lim, "{'c': 12, 'a': 10, 'b': 11}", 0);
		values[-2] = 9;		/* a count past the prefix */
		expect_repr(&m, mk_dict(&m, keys, A(values), 3), &lim, PYH_REPR_UNREADABLE, 0);
	} else {
		values = img_alloc(&m, m.l->values_items + 24 + 3);
		values[m.l->values_capacity] = 3;
		values[m.l->values_size] = 3;
		values[m.l->values_valid] = 1;
		memcpy(values + m.l->values_items, vals, 24);
		memcpy(values + m.l->values_items + 24, order, 3);
		expect_repr(&m, mk_dict(&m, keys, A(values), 3), &lim, "{'c': 12, 'a': 10, 'b': 11}", 0);
		values[m.l->values_items + 24] = 7;	/* an order index past the capacity */
		expect_repr(&m, mk_dict(&m, keys, A(values), 3), &lim, PYH_REPR_UNREADABLE, 0);
	}
	img_close(&m);
}

static void test_dict_split(void **state)
{
	(void)state;
	check_split(6);
	check_split(10);
	check_split(11);
	check_split(12);
	check_split(13);
	check_split(14);
}

/* ------------------------------------------------------------ sets */

static void check_set(int major, int minor)
{
	struct img m;
	struct pyh_repr_limits lim = PYH_REPR_SHORT;
	uint8_t *s, *table;
	uint64_t dummy;
	size_t es;

	img_open(&m, major, minor, 0);
	es = m.l->setentry_size;
	dummy = major == 2 ? mk_str(&m, "<dummy key>") : A(obj_new(&m, 64, m.meta));
	if (major == 3)
		m.o.set_dummy = dummy;
	table = img_alloc(&m, 8 * es);
	memset(table, 0, 8 * es);
	put64(table + 2 * es, m.l->setentry_key, mk_int(&m, 5));
	put64(table + 3 * es, m.l->setentry_key, dummy);
	put64(table + 7 * es, m.l->setentry_key, mk_int(&m, 9));
	s = obj_new(&m, 64, m.o.type_addr[PYH_OBJ_SET]);
	put64(s, m.l->set_fill, 3);
	put64(s, m.l->set_used, 2);
	put64(s, m.l->set_mask, 7);
	put64(s, m.l->set_table, A(table));
	expect_repr(&m, A(s), &lim, major == 2 ? "set([5, 9])" : "{5, 9}", 0);
	put64(s, m.l->ob_type, m.o.type_addr[PYH_OBJ_FROZENSET]);
	expect_repr(&m, A(s), &lim, major == 2 ? "frozenset([5, 9])" : "frozenset({5, 9})", 0);
	put64(s, m.l->set_used, 0);
	put64(s, m.l->set_fill, 0);
	put64(s, m.l->ob_type, m.o.type_addr[PYH_OBJ_SET]);
	memset(table, 0, 8 * es);
	expect_repr(&m, A(s), &lim, major == 2 ? "set([])" : "set()", 0);
	put64(s, m.l->set_fill, 9);	/* more slots filled than the table has */
	expect_repr(&m, A(s), &lim, PYH_REPR_UNREADABLE, 0);
	img_close(&m);
}

static void test_sets(void **state)
{
	(void)state;
	check_set(2, 7);
	check_set(3, 8);
	check_set(3, 12);
	check_set(3, 14);
}

/* ------------------------------------------------------------ bounds */

static void test_bounds(void **state)
{
	struct img m;
	struct pyh_repr_limits lim = { 256, 4, 8, 3 };
	uint64_t items[1000], inner, s, d;
	uint8_t *self;

	(void)state;
	img_open(&m, 3, 12, 0);
	for (int i = 0; i < 1000; i++)
		items[i] = mk_int(&m, i);
	/* items per container */
	expect_repr(&m, mk_seq(&m, 1, items, 1000), &lim, "[0, 1, 2, 3, " PYH_REPR_CUT "]", 1);
	expect_repr(&m, mk_seq(&m, 0, items, 1), &lim, "(0,)", 0);
	expect_repr(&m, mk_seq(&m, 0, items, 0), &lim, "()", 0);
	/* characters per str */
	s = mk_str(&m, "abcdefghijklmnop");
	expect_repr(&m, s, &lim, "'abcdefgh'" PYH_REPR_CUT, 1);
	/* depth */
	inner = mk_seq(&m, 1, items, 1);
	for (int i = 0; i < 5; i++)
		inner = mk_seq(&m, 1, &inner, 1);
	/* three levels shown, the fourth cut */
	expect_repr(&m, inner, &lim, "[[[[" PYH_REPR_CUT "]]]]", 1);
	/* a list containing itself, a dict containing itself */
	self = (uint8_t *)(uintptr_t)mk_seq(&m, 1, items, 2);
	{
		uint64_t arr[3] = { items[1], A(self), items[2] };

		put64(self, m.l->ob_size, 3);
		memcpy((void *)(uintptr_t)(*(uint64_t *)(self + m.l->list_items)), arr, 16);
		put64(self, m.l->list_items, A(memcpy(img_alloc(&m, 24), arr, 24)));
	}
	expect_repr(&m, A(self), &lim, "[1, [...], 2]", 0);
	{
		uint64_t k = mk_str(&m, "me"), keys, dd;

		keys = mk_keys(&m, &k, &k, 1, 0);	/* value patched to the dict below */
		dd = mk_dict(&m, keys, 0, 1);
		put64((void *)(uintptr_t)(keys + m.l->dk_indices + 8), m.l->entry_value, dd);
		expect_repr(&m, dd, &lim, "{'me': {...}}", 0);
	}
	/* the byte budget: every container closed, nothing over it */
	{
		struct pyh_repr_limits tight = { 27, 100, 100, 10 };
		uint64_t strs[6], nested[2];

		for (int i = 0; i < 6; i++)
			strs[i] = mk_str(&m, "0123456789");
		nested[0] = mk_seq(&m, 1, strs, 6);
		nested[1] = items[7];
		d = mk_seq(&m, 1, nested, 2);
		expect_repr(&m, d, &tight, "[['0123456789', " PYH_REPR_CUT "], " PYH_REPR_CUT "]", 1);
		tight.max_bytes = 24;	/* a string cut short to fit */
		expect_repr(&m, d, &tight, "[['0123'" PYH_REPR_CUT ", " PYH_REPR_CUT "], "
			    PYH_REPR_CUT "]", 1);
		tight.max_bytes = 6;
		expect_repr(&m, d, &tight, "[" PYH_REPR_CUT "]", 1);
		tight.max_bytes = 5;	/* not even that */
		expect_repr(&m, d, &tight, PYH_REPR_CUT, 1);
	}
	/* an int too long for max_chars is cut, one too big to read says its size */
	{
		uint8_t *big = obj_new(&m, 64 + 4 * 600, m.o.type_addr[PYH_OBJ_LONG]);

		put64(big, m.l->long_size, (uint64_t)600 << m.l->long_non_size_bits);
		for (int i = 0; i < 600; i++)
			put32(big, m.l->long_digits + 4u * (unsigned)i, 1);
		expect_repr(&m, A(big), &lim, "<int of 18000 bits" PYH_REPR_CUT ">", 1);
		put64(big, m.l->long_size, (uint64_t)2 << m.l->long_non_size_bits);
		expect_repr(&m, A(big), &lim, "10737418…", 1);
	}
	img_close(&m);
}

/* ------------------------------------------------------------ garbage */

static void test_unreadable(void **state)
{
	struct img m;
	struct pyh_repr_limits lim = PYH_REPR_SHORT;
	uint8_t *o;
	uint64_t good;

	(void)state;
	img_open(&m, 3, 11, 0);
	good = mk_int(&m, 5);
	expect_repr(&m, good, &lim, "5", 0);
	o = (uint8_t *)(uintptr_t)good;
	put64(o, m.l->ob_refcnt, 0);			/* freed */
	expect_repr(&m, good, &lim, PYH_REPR_UNREADABLE, 0);
	put64(o, m.l->ob_refcnt, A(o));			/* an allocator's free-list link */
	expect_repr(&m, good, &lim, PYH_REPR_UNREADABLE, 0);
	put64(o, m.l->ob_refcnt, 1);
	put64(o, m.l->ob_type, A(o));			/* a "type" that is no type */
	expect_repr(&m, good, &lim, PYH_REPR_UNREADABLE, 0);
	expect_repr(&m, good + 4, &lim, PYH_REPR_UNREADABLE, 0);	/* misaligned */
	expect_repr(&m, 0, &lim, PYH_REPR_UNREADABLE, 0);
	expect_repr(&m, 0x10, &lim, PYH_REPR_UNREADABLE, 0);	/* unmapped */
	/* an int whose digit has bits above PyLong_SHIFT */
	o = (uint8_t *)(uintptr_t)mk_int(&m, 5);
	put32(o, m.l->long_digits, 0xffffffffu);
	expect_repr(&m, A(o), &lim, PYH_REPR_UNREADABLE, 0);
	/* a list whose items are garbage: each one unreadable, the list still shown */
	{
		uint64_t items[3] = { mk_int(&m, 1), 0x1234567, 0 };

		expect_repr(&m, mk_seq(&m, 1, items, 3), &lim,
			    "[1, " PYH_REPR_UNREADABLE ", " PYH_REPR_UNREADABLE "]", 0);
	}
	/* a negative length */
	o = (uint8_t *)(uintptr_t)mk_seq(&m, 0, &good, 1);
	put64(o, m.l->ob_size, (uint64_t)-5);
	expect_repr(&m, A(o), &lim, PYH_REPR_UNREADABLE, 0);
	img_close(&m);
}

/* Random bytes with pointers into themselves and at the fake types, read as
 * objects at every offset: never a crash, never past the bound, valid UTF-8. */
static int valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		int n = *u < 0x80 ? 0 : (*u & 0xe0) == 0xc0 ? 1 : (*u & 0xf0) == 0xe0 ? 2 :
			(*u & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0)
			return 0;
		u++;
		while (n--)
			if ((*u++ & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static void check_garbage(int major, int minor, int ft)
{
	struct img m;
	struct pyh_repr_limits lim = { 200, 16, 64, 4 };
	uint64_t seed = 0x2545f4914f6cdd1dull ^ (uint64_t)(major * 100 + minor + ft);
	uint8_t *junk;
	size_t size = 64 * 1024;

	img_open(&m, major, minor, ft);
	junk = img_alloc(&m, size);
	for (size_t i = 0; i < size; i += 8) {
		uint64_t w;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		switch (seed % 8) {
		case 0: w = A(junk) + (seed >> 8) % size; break;	/* into the junk */
		case 1: w = m.o.type_addr[(seed >> 8) % PYH_OBJ_NKINDS]; break;	/* a type */
		case 2: w = 1; break;					/* a refcount */
		case 3: w = (seed >> 16) % 64; break;			/* a small size */
		default: w = seed; break;
		}
		memcpy(junk + i, &w, 8);
	}
	for (size_t off = 0; off + 8 < size; off += 8) {
		char out[256];
		struct pyh_repr_info info;
		size_t n = pyh_repr(&m.o, A(junk) + off, &lim, out, sizeof(out), &info);

		assert_true(n < lim.max_bytes);
		assert_int_equal(strlen(out), n);
		if (!valid_utf8(out))
			fail_msg("%d.%d: not UTF-8 at +%zu: %s", major, minor, off, out);
	}
	img_close(&m);
}

static void test_garbage(void **state)
{
	(void)state;
	check_garbage(2, 7, 0);
	check_garbage(3, 6, 0);
	check_garbage(3, 11, 0);
	check_garbage(3, 12, 0);
	check_garbage(3, 13, 0);
	check_garbage(3, 14, 0);
	check_garbage(3, 14, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dict_combined),
		cmocka_unit_test(test_find_batched),
		cmocka_unit_test(test_dict27),
		cmocka_unit_test(test_dict_split),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
