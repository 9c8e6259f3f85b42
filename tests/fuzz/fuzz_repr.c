/* libFuzzer: the value decoder (python/objects.h, pydict.h, repr.h) on arbitrary bytes.
 *
 * The input becomes objects in this process's memory, read back with the real readers
 * (process_vm_readv of our own pid): data[0] picks a version's layout; every 8-byte word of
 * the rest is kept as it is, or, when it says so, turned into a pointer into the input
 * (0xfeed << 48 | offset) or at one of the built-in types built here (0xbeef << 48 | kind).
 * The same bytes go through the str-key lookup (its batched key reads) and the str reader
 * pyh_code_get names code objects with (from a head, and by its own read).
 * Also the pure formatters on the raw bytes. Nothing may crash, hang or write past a bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "python/objects.h"
#include "python/pydict.h"
#include "python/pystr.h"
#include "python/repr.h"
#include "python/reprfmt.h"

#define FUZZ_LAYOUTS 8
#define FUZZ_TYPE_SLOT 1024
#define FUZZ_MAX_INPUT 8192
#define FUZZ_PTR_TAG 0xfeedull
#define FUZZ_TYPE_TAG 0xbeefull

static const struct { int major, minor, ft; } fuzz_versions[FUZZ_LAYOUTS] = {
	{ 2, 7, 0 }, { 3, 6, 0 }, { 3, 10, 0 }, { 3, 11, 0 },
	{ 3, 12, 0 }, { 3, 13, 0 }, { 3, 14, 0 }, { 3, 14, 1 },
};

struct fuzz_ctx {
	struct pyh_objects o;
	uint8_t *types;		/* PYH_OBJ_NKINDS type objects and `type` */
	int ready;
};

static struct fuzz_ctx fuzz_ctx[FUZZ_LAYOUTS];
static uint8_t fuzz_arena[FUZZ_MAX_INPUT + 64] __attribute__((aligned(16)));

static void fuzz_put(uint8_t *p, uint32_t off, uint64_t v)
{
	if (off != PYH_NO_FIELD)
		memcpy(p + off, &v, 8);
}

static void fuzz_setup(struct fuzz_ctx *c, int i)
{
	const struct pyh_objlayout *l = pyh_objlayout_table(fuzz_versions[i].major,
							    fuzz_versions[i].minor,
							    fuzz_versions[i].ft);
	struct pyh_pyversion ver = { fuzz_versions[i].major, fuzz_versions[i].minor, 0 };
	static char name[] = "fuzztype";

	if (!l || pyh_objects_init(&c->o, getpid(), &ver, l))
		abort();
	c->types = aligned_alloc(16, (size_t)(PYH_OBJ_NKINDS + 1) * FUZZ_TYPE_SLOT);
	if (!c->types)
		abort();
	memset(c->types, 0, (size_t)(PYH_OBJ_NKINDS + 1) * FUZZ_TYPE_SLOT);
	for (int k = 0; k <= PYH_OBJ_NKINDS; k++) {
		uint8_t *t = c->types + (size_t)k * FUZZ_TYPE_SLOT;

		fuzz_put(t, l->ob_refcnt, 1);
		fuzz_put(t, l->ob_type, (uint64_t)(uintptr_t)c->types);	/* slot 0 is `type` */
		fuzz_put(t, l->tp_name, (uint64_t)(uintptr_t)name);
		fuzz_put(t, l->tp_basicsize, 64);
		fuzz_put(t, l->tp_repr, 0x1000u + (unsigned)k);
		fuzz_put(t, l->tp_flags, k == 0 ? l->tpflags_type_subclass : 0);
		if (k > 0 && k < PYH_OBJ_NKINDS)
			c->o.type_addr[k] = (uint64_t)(uintptr_t)t;
	}
	c->o.type_addr[PYH_OBJ_TYPE] = (uint64_t)(uintptr_t)c->types;
	c->ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pyh_repr_limits lim = { 512, 16, 64, 6 };
	struct pyh_repr_info info;
	struct fuzz_ctx *c;
	char out[600];
	size_t n;

	if (size < 9 || size > FUZZ_MAX_INPUT)
		return 0;
	c = &fuzz_ctx[data[0] % FUZZ_LAYOUTS];
	if (!c->ready)
		fuzz_setup(c, data[0] % FUZZ_LAYOUTS);
	pyh_objects_forget_types(&c->o);	/* types in the arena were the last input's */
	n = (size - 1) & ~(size_t)7;
	memcpy(fuzz_arena, data + 1, n);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;

		memcpy(&w, fuzz_arena + i, 8);
		if (w >> 48 == FUZZ_PTR_TAG)
			w = (uint64_t)(uintptr_t)fuzz_arena + (w & 0xffff) % (n ? n : 1);
		else if (w >> 48 == FUZZ_TYPE_TAG)
			w = (uint64_t)(uintptr_t)c->types + (w & 0xff) % (PYH_OBJ_NKINDS + 1) *
				FUZZ_TYPE_SLOT;
		memcpy(fuzz_arena + i, &w, 8);
	}
	for (size_t off = 0; off < n && off < 64; off += 16) {
		size_t len = pyh_repr(&c->o, (uint64_t)(uintptr_t)fuzz_arena + off, &lim, out,
				      sizeof(out), &info);

		if (len >= lim.max_bytes || strlen(out) != len)
			abort();
	}
	/* a str-key lookup and the code objects' str reader on the same bytes */
	{
		const struct pyh_objlayout *l = &c->o.l;
		struct pyh_layout sl = {
			.str_kind = c->o.ver.major == 2 ? PYH_STR_BYTES : PYH_STR_UNICODE,
			.unicode_length = l->str_length, .unicode_state = l->str_state,
			.unicode_ascii_data = l->str_ascii_data,
			.unicode_compact_data = l->str_compact_data,
			.unicode_kind_shift = l->str_kind_shift,
			.bytes_size = l->bytes_size, .bytes_data = l->bytes_sval,
		};
		uint64_t v;

		for (size_t off = 0; off < n && off < 64; off += 16) {
			uint64_t a = (uint64_t)(uintptr_t)fuzz_arena + off;
			int w;

			(void)pyh_dict_get_str(&c->o, a, "ab", &v);
			char first[100];
			int w1;

			w1 = pyh_pystr_read(getpid(), &sl, a, first, sizeof(first));
			if (w1 >= 100 || (w1 >= 0 && first[w1] != '\0'))
				abort();	/* (the text may hold a NUL of its own) */
			/* from a head holding the very bytes: the same answer */
			w = pyh_pystr_read_head(getpid(), &sl, a, fuzz_arena + off, n - off, out, 100);
			if (w != w1 || (w >= 0 && memcmp(out, first, (size_t)w + 1)))
				abort();
		}
	}
	/* the pure formatters on the raw bytes */
	{
		uint32_t cps[64];
		size_t k = (size - 1) / 4 < 64 ? (size - 1) / 4 : 64;
		struct pyh_rbuf b;
		double d;

		memcpy(cps, data + 1, k * 4);
		for (int style = PYH_TEXT_STR3; style <= PYH_TEXT_UNICODE27N; style++) {
			pyh_rbuf_init(&b, out, 1 + data[1] % 200);
			pyh_fmt_text(&b, (enum pyh_text_style)style, data[2] % 16, cps, k, k + data[3] % 2);
			if (b.len >= b.cap)
				abort();
		}
		memcpy(&d, data + 1, sizeof(d));
		pyh_fmt_float(d, out, PYH_FLOAT_REPR_MAX);
	}
	return 0;
}
