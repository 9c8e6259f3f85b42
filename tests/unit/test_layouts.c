/* SPDX-License-Identifier: MIT */
/*
 * test_layouts.c - the committed per-version tables and the 3.13+
 * _Py_DebugOffsets parser, checked against the real libpython3.13.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "python/layouts.h"

#include "fixtures/debug_offsets_314.h"
#include "fixtures/debug_offsets_314t.h"

#define LIBPY313 "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0"
#define DBG313_WORDS 73
#define DBG314_WORDS 95

/* Every __u32 of struct pyh_layout, by name, for field-by-field checks. */
#define LAYOUT_FIELDS(X) \
	X(version_hex) X(lasti_kind) X(linetable_kind) X(str_kind) X(gil_kind) X(flags) \
	X(runtime_interp_head) X(runtime_tstate_current) X(interp_next) X(interp_tstate_head) \
	X(interp_gil_ptr) X(gil_locked) X(gil_holder) X(tstate_next) X(tstate_interp) \
	X(tstate_frame) X(cframe_current_frame) X(tstate_thread_id) X(tstate_native_thread_id) \
	X(frame_back) X(frame_code) X(frame_lasti) X(frame_owner) X(frame_owner_skip) \
	X(frame_owner_generator) X(frame_is_entry) X(frame_code_tag_bits) X(frame_tlbc_index) \
	X(code_filename) X(code_name) X(code_qualname) X(code_firstlineno) X(code_linetable) \
	X(code_code) X(code_adaptive) X(code_flags) X(code_tlbc) X(object_type) X(bytes_size) \
	X(bytes_data) X(unicode_length) X(unicode_state) X(unicode_ascii_data) \
	X(unicode_compact_data) X(unicode_kind_shift) X(code_version) X(frame_gen) X(gen_iframe)

/* The offsets the debug offsets carry (not kinds, not the 3.13-table defaults). */
#define CARRIED_FIELDS(X) \
	X(runtime_interp_head) X(interp_next) X(interp_tstate_head) X(interp_gil_ptr) \
	X(gil_locked) X(gil_holder) X(tstate_next) X(tstate_interp) X(tstate_frame) \
	X(tstate_thread_id) X(tstate_native_thread_id) X(frame_back) X(frame_code) \
	X(frame_lasti) X(frame_owner) X(code_filename) X(code_name) X(code_qualname) \
	X(code_firstlineno) X(code_linetable) X(code_adaptive) X(object_type) X(bytes_size) \
	X(bytes_data) X(unicode_length) X(unicode_state) X(unicode_ascii_data)

/* Every field that is an offset or a size (everything but version and kinds). */
#define OFFSET_FIELDS(X) CARRIED_FIELDS(X) \
	X(runtime_tstate_current) X(cframe_current_frame) X(frame_is_entry) X(frame_tlbc_index) \
	X(code_code) X(code_flags) X(code_tlbc) X(unicode_compact_data) X(code_version) \
	X(frame_gen) X(gen_iframe)

static void expect_layout_eq(const struct pyh_layout *got, const struct pyh_layout *want)
{
#define CMP(f) \
	if (got->f != want->f) \
		fail_msg("field %s: got %u, want %u", #f, got->f, want->f);
	LAYOUT_FIELDS(CMP)
#undef CMP
}

/* ---- the real _PyRuntime of libpython3.13, read with libelf ---- */

static unsigned char real313[PYH_DEBUG_OFFSETS_READ];
static size_t real313_len;

/* Copy up to cap bytes of the initialised symbol `name` out of the file. */
static int read_symbol_bytes(const char *path, const char *name, unsigned char *out,
			     size_t cap, size_t *outlen)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	GElf_Sym found;
	int have = 0, fd = -1, err = -ENOENT;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf) {
		err = -EINVAL;
		goto cleanup;
	}
	while (!have && (scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || sh.sh_entsize == 0)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Sym s;
			const char *nm;

			if (!gelf_getsym(d, (int)i, &s))
				break;
			nm = elf_strptr(elf, sh.sh_link, s.st_name);
			if (nm && strcmp(nm, name) == 0 && s.st_shndx != SHN_UNDEF) {
				found = s;
				have = 1;
				break;
			}
		}
	}
	if (!have)
		goto cleanup;
	scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t off, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
			continue;
		if (found.st_value < sh.sh_addr || found.st_value >= sh.sh_addr + sh.sh_size)
			continue;
		d = elf_getdata(scn, NULL);
		off = found.st_value - sh.sh_addr;
		if (!d || !d->d_buf || off >= d->d_size) {
			err = -EINVAL;
			goto cleanup;
		}
		n = d->d_size - off;
		if (n > found.st_size)
			n = found.st_size;
		if (n > cap)
			n = cap;
		memcpy(out, (const unsigned char *)d->d_buf + off, n);
		*outlen = n;
		err = 0;
		goto cleanup;
	}
cleanup:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return err;
}

static int setup_real313(void **state)
{
	(void)state;
	if (real313_len)
		return 0;
	return read_symbol_bytes(LIBPY313, "_PyRuntime", real313, sizeof(real313),
				 &real313_len) == 0 ? 0 : -1;
}

static uint64_t word_get(const unsigned char *b, unsigned int i)
{
	uint64_t v;

	memcpy(&v, b + (size_t)i * 8, 8);
	return v;
}

static void word_set(unsigned char *b, unsigned int i, uint64_t v)
{
	memcpy(b + (size_t)i * 8, &v, 8);
}

/* ---- the committed tables ---- */

static void test_table_lookup(void **state)
{
	static const int have[][2] = { { 2, 7 }, { 3, 6 }, { 3, 7 }, { 3, 8 }, { 3, 9 },
				       { 3, 10 }, { 3, 11 }, { 3, 12 }, { 3, 13 }, { 3, 14 } };
	static const int none[][2] = { { 3, 5 }, { 3, 15 }, { 4, 0 }, { 2, 6 }, { 3, 0 },
				       { 3, -1 }, { -1, 7 }, { 0, 0 } };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(have) / sizeof(have[0]); i++) {
		const struct pyh_layout *l = pyh_layout_table(have[i][0], have[i][1], 0);

		assert_non_null(l);
		assert_int_equal(l->version_hex >> 24, have[i][0]);
		assert_int_equal((l->version_hex >> 16) & 0xff, have[i][1]);
		assert_int_equal(l->version_hex & 0xff, 0);
		assert_int_equal(l->flags & PYH_LAYOUT_FREE_THREADED, 0);
		/* the only free-threaded table is 3.14t's */
		if (have[i][1] != 14 || have[i][0] != 3)
			assert_null(pyh_layout_table(have[i][0], have[i][1], 1));
	}
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		assert_null(pyh_layout_table(none[i][0], none[i][1], 0));
		assert_null(pyh_layout_table(none[i][0], none[i][1], 1));
	}
	{
		const struct pyh_layout *ft = pyh_layout_table(3, 14, 1);

		assert_non_null(ft);
		assert_int_equal(ft->version_hex >> 16, 0x030e);
		assert_int_equal(ft->flags, PYH_LAYOUT_FREE_THREADED);
		assert_int_equal(ft->gil_kind, PYH_GIL_NONE);
		assert_int_equal(ft->object_type, 24);	/* after ob_tid, flags, ob_ref_local, ob_ref_shared */
		assert_true(ft->frame_tlbc_index != PYH_NO_FIELD && ft->code_tlbc != PYH_NO_FIELD);
		assert_int_equal(ft->unicode_kind_shift, 8);	/* interned is a whole byte */
	}
}

static void test_table_semantics(void **state)
{
	/* major * 100 + minor */
	static const int versions[] = { 207, 306, 307, 308, 309, 310, 311, 312, 313, 314 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		int v = versions[i];
		const struct pyh_layout *l = pyh_layout_table(v / 100, v % 100, 0);

		assert_non_null(l);
#define OK(f) assert_true(l->f == PYH_NO_FIELD || l->f < PYH_DEBUG_OFFSETS_MAX_FIELD);
		OFFSET_FIELDS(OK)
#undef OK
		assert_int_equal(l->code_version == PYH_NO_FIELD, v < 312);
		assert_int_equal(l->lasti_kind, v <= 309 ? PYH_LASTI_BYTES : v == 310 ? PYH_LASTI_UNITS
				 : v <= 312 ? PYH_LASTI_PREV_PTR : PYH_LASTI_CUR_PTR);
		assert_int_equal(l->linetable_kind, v == 207 ? PYH_LNOTAB_27 : v <= 309 ? PYH_LNOTAB_36
				 : v == 310 ? PYH_LINETABLE_310 : PYH_LOCATIONS_311);
		assert_int_equal(l->str_kind, v == 207 ? PYH_STR_BYTES : PYH_STR_UNICODE);
		assert_int_equal(l->gil_kind, v >= 312 ? PYH_GIL_INTERP_PTR : PYH_GIL_TSTATE_CURRENT);

		/* which fields exist where */
		assert_int_equal(l->runtime_interp_head == PYH_NO_FIELD, v < 307);
		assert_int_equal(l->runtime_tstate_current == PYH_NO_FIELD, v < 307 || v >= 312);
		assert_int_equal(l->interp_gil_ptr == PYH_NO_FIELD, v < 312);
		assert_int_equal(l->gil_locked == PYH_NO_FIELD, v < 312);
		assert_int_equal(l->gil_holder == PYH_NO_FIELD, v < 312);
		assert_int_equal(l->cframe_current_frame == PYH_NO_FIELD, v != 311 && v != 312);
		assert_int_equal(l->tstate_native_thread_id == PYH_NO_FIELD, v < 311);
		assert_int_equal(l->frame_owner == PYH_NO_FIELD, v < 311);
		/* FRAME_OWNED_BY_CSTACK: 3 on 3.12/3.13, 4 on 3.14 beside FRAME_OWNED_BY_INTERPRETER (3) */
		assert_int_equal(l->frame_owner_skip, v >= 314 ? 0x18u : v >= 312 ? 0x8u : 0);
		assert_int_equal(l->frame_owner_generator, v >= 311 ? 1 : PYH_NO_FIELD);
		assert_int_equal(l->frame_is_entry == PYH_NO_FIELD, v != 311);
		assert_int_equal(l->frame_code_tag_bits, v >= 314 ? 3 : 0);
		assert_int_equal(l->frame_tlbc_index, PYH_NO_FIELD);
		assert_int_equal(l->code_tlbc, PYH_NO_FIELD);
		assert_int_equal(l->code_flags == PYH_NO_FIELD, v >= 311);
		if (v != 207)
			assert_int_equal(l->unicode_kind_shift, 2);
		assert_int_equal(l->code_qualname == PYH_NO_FIELD, v < 311);
		assert_int_equal(l->code_code == PYH_NO_FIELD, v >= 311);
		assert_int_equal(l->code_adaptive == PYH_NO_FIELD, v < 311);
		assert_int_equal(l->unicode_state == PYH_NO_FIELD, v == 207);

		/* always there, and distinct where they share a struct */
		assert_true(l->interp_tstate_head != PYH_NO_FIELD);
		assert_true(l->tstate_next != l->tstate_interp);
		assert_true(l->tstate_frame != l->tstate_thread_id);
		assert_true(l->frame_back != l->frame_code && l->frame_code != l->frame_lasti);
		assert_true(l->code_filename != l->code_name);
		assert_int_equal(l->object_type, 8);
		assert_int_equal(l->bytes_size, 16);
		if (v != 207) {
			assert_int_equal(l->bytes_data, 32);
			assert_int_equal(l->unicode_length, 16);
			assert_int_equal(l->unicode_state, 32);	/* after length, hash */
			assert_int_equal(l->unicode_compact_data - l->unicode_ascii_data,
					 v >= 312 ? 16 : 24);	/* wstr_length gone in 3.12 */
		}
	}
}

/* Values known independently of the generator (py-spy / CPython sources). */
static void test_table_known_values(void **state)
{
	const struct pyh_layout *l27 = pyh_layout_table(2, 7, 0);
	const struct pyh_layout *l311 = pyh_layout_table(3, 11, 0);
	const struct pyh_layout *l312 = pyh_layout_table(3, 12, 0);

	(void)state;
	assert_int_equal(l27->version_hex, 0x02071200);
	assert_int_equal(l27->frame_back, 24);
	assert_int_equal(l27->frame_code, 32);
	assert_int_equal(l27->frame_lasti, 120);
	assert_int_equal(l27->tstate_thread_id, 144);
	assert_int_equal(l27->bytes_data, 36);
	assert_int_equal(l311->frame_code, 32);
	assert_int_equal(l311->frame_back, 48);
	assert_int_equal(l311->frame_lasti, 56);
	assert_int_equal(l311->frame_owner, 69);
	assert_int_equal(l311->tstate_frame, 56);
	assert_int_equal(l311->cframe_current_frame, 8);
	assert_int_equal(l312->frame_code, 0);
	assert_int_equal(l312->frame_back, 8);
	assert_int_equal(l312->cframe_current_frame, 0);
	assert_int_equal(l312->gil_holder, 8);
	assert_int_equal(l312->gil_locked, 16);
}

/* ---- _Py_DebugOffsets: the real 3.13 runtime ---- */

static void test_dbg_real_313(void **state)
{
	const struct pyh_layout *t = pyh_layout_table(3, 13, 0);
	struct pyh_layout l;
	char err[256];

	(void)state;
	assert_true(real313_len >= DBG313_WORDS * 8);
	assert_memory_equal(real313, "xdebugpy", 8);
	assert_int_equal(word_get(real313, 1) >> 8, 0x030d00);	/* 3.13.0 */

	memset(&l, 0x5a, sizeof(l));
	assert_int_equal(pyh_layout_from_debug_offsets(real313, real313_len, &l, err, sizeof(err)), 0);
	assert_string_equal(err, "");
#define CMP(f) \
	if (l.f != t->f) \
		fail_msg("debug offsets vs 3.13 table, %s: %u != %u", #f, l.f, t->f);
	CARRIED_FIELDS(CMP)
#undef CMP
	/* and the whole layout (defaults included) is the committed table */
	expect_layout_eq(&l, t);
	assert_memory_equal(&l, t, sizeof(l));

	/* exactly the struct's size is enough; one byte less is not */
	assert_int_equal(pyh_layout_from_debug_offsets(real313, DBG313_WORDS * 8, &l, NULL, 0), 0);
	assert_int_equal(pyh_layout_from_debug_offsets(real313, DBG313_WORDS * 8 - 1, &l, NULL, 0),
			 -EINVAL);
}

/* ---- _Py_DebugOffsets: the real 3.14.7 and 3.14.7t runtimes (fixtures copied by
 * tools/gen-debug-offsets-fixtures.sh) ---- */

static void check_real_314(const unsigned char *b, int ft)
{
	const struct pyh_layout *t = pyh_layout_table(3, 14, ft);
	unsigned char m[PYH_DEBUG_OFFSETS_READ];
	struct pyh_layout l;
	char err[256];

	assert_memory_equal(b, "xdebugpy", 8);
	assert_int_equal(word_get(b, 1) >> 8, 0x030e07);	/* 3.14.7 */
	assert_int_equal(word_get(b, 2), (uint64_t)ft);	/* free_threaded */
	memset(&l, 0x5a, sizeof(l));
	assert_int_equal(pyh_layout_from_debug_offsets(b, PYH_DEBUG_OFFSETS_READ, &l, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* what the target says is what the headers said */
	expect_layout_eq(&l, t);
	assert_memory_equal(&l, t, sizeof(l));
	if (ft) {
		assert_int_equal(l.object_type, 24);
		assert_int_equal(l.gil_kind, PYH_GIL_NONE);
		assert_true(l.frame_tlbc_index != PYH_NO_FIELD && l.code_tlbc != PYH_NO_FIELD);
	} else {
		assert_int_equal(l.object_type, 8);
		assert_int_equal(l.frame_tlbc_index, PYH_NO_FIELD);
	}
	/* the same bytes claiming the other build are not read as it */
	memcpy(m, b, sizeof(m));
	word_set(m, 2, !ft);
	assert_int_equal(pyh_layout_from_debug_offsets(m, sizeof(m), &l, err, sizeof(err)), 0);
	assert_int_equal(!!(l.flags & PYH_LAYOUT_FREE_THREADED), !ft);
	/* a later 3.14 micro is read the same way; 3.15 is refused by name */
	word_set(m, 2, ft);
	word_set(m, 1, 0x030e09f0);
	assert_int_equal(pyh_layout_from_debug_offsets(m, sizeof(m), &l, err, sizeof(err)), 0);
	assert_int_equal(l.version_hex, 0x030e0900);
	word_set(m, 1, 0x030f00f0);
	assert_int_equal(pyh_layout_from_debug_offsets(m, sizeof(m), &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "3.15"));
	/* 3.13's length is not enough for 3.14's struct */
	assert_int_equal(pyh_layout_from_debug_offsets(b, DBG313_WORDS * 8, &l, err, sizeof(err)),
			 -EINVAL);
}

static void test_dbg_real_314(void **state)
{
	(void)state;
	check_real_314(debug_offsets_314, 0);
}

static void test_dbg_real_314t(void **state)
{
	(void)state;
	check_real_314(debug_offsets_314t, 1);
}

/* ---- synthetic buffers ---- */

static const unsigned int size_words_313[] = { 3, 6, 19, 28, 34, 44, 46, 50, 53, 56, 59, 61,
					       64, 67, 71 };

static int is_size_word_313(unsigned int i)
{
	size_t k;

	for (k = 0; k < sizeof(size_words_313) / sizeof(size_words_313[0]); k++)
		if (size_words_313[k] == i)
			return 1;
	return 0;
}

static void test_dbg_moved_fields(void **state)
{
	const struct pyh_layout *t = pyh_layout_table(3, 13, 0);
	unsigned char b[PYH_DEBUG_OFFSETS_READ];
	struct pyh_layout l, want;
	char err[256];
	unsigned int i;

	(void)state;
	memcpy(b, real313, sizeof(b));
	/* every member 8 bytes further, every struct 32 bytes larger */
	for (i = 3; i < DBG313_WORDS; i++)
		word_set(b, i, word_get(b, i) + (is_size_word_313(i) ? 32 : 8));
	word_set(b, 16, 0);	/* gil_runtime_state_enabled: 0 on GIL builds */
	word_set(b, 1, 0x030d05f0);	/* 3.13.5 final */

	assert_int_equal(pyh_layout_from_debug_offsets(b, sizeof(b), &l, err, sizeof(err)), 0);
	want = *t;
	want.version_hex = 0x030d0500;
#define MOVE(f) want.f += 8;
	CARRIED_FIELDS(MOVE)
#undef MOVE
	want.gil_locked -= 8;	/* relative to the GIL struct, which moved too */
	want.gil_holder -= 8;
	want.unicode_compact_data += 8;	/* follows sizeof(PyASCIIObject) */
	expect_layout_eq(&l, &want);
}

/* Lay the real 3.13 values out the 3.14 way, with poison in the new slots. */
static void build_314(unsigned char *b, size_t cap)
{
	static const struct { unsigned int from, to, n; } groups[] = {
		{ 0, 0, 10 },	/* header, runtime, interp up to threads_head */
		{ 10, 11, 9 },	/* interp gc .. gil holder (after threads_main) */
		{ 19, 22, 15 },	/* thread_state, interpreter_frame (first 6) */
		{ 34, 39, 10 },	/* code_object (before co_tlbc) */
		{ 44, 50, 12 },	/* pyobject, type, tuple, list */
		{ 56, 66, 17 },	/* dict, float, long, bytes, unicode, gc (after set) */
	};
	size_t g;
	unsigned int i;

	assert_true(cap >= DBG314_WORDS * 8);
	for (i = 0; i < DBG314_WORDS; i++)
		word_set(b, i, 0xaaaaaaaaaaaaaaaaull);
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (i = 0; i < groups[g].n; i++)
			word_set(b, groups[g].to + i, word_get(real313, groups[g].from + i));
	/* gen_object (3.13 has none): sizeof, gi_name, gi_iframe, gi_frame_state */
	word_set(b, 83, 80);
	word_set(b, 84, 48);
	word_set(b, 85, pyh_layout_table(3, 14, 0)->gen_iframe);
	word_set(b, 86, 67);
	word_set(b, 1, 0x030e02f0);	/* 3.14.2 final */
}

static void test_dbg_314_layout(void **state)
{
	const struct pyh_layout *t = pyh_layout_table(3, 13, 0);
	unsigned char b[PYH_DEBUG_OFFSETS_READ];
	struct pyh_layout l, want;
	char err[256];

	(void)state;
	memset(b, 0, sizeof(b));
	build_314(b, sizeof(b));
	assert_int_equal(pyh_layout_from_debug_offsets(b, sizeof(b), &l, err, sizeof(err)), 0);
	/* the offsets carried are 3.13's (build_314 put them there), the rest is
	 * the 3.14 table's */
	want = *pyh_layout_table(3, 14, 0);
#define TAKE(f) want.f = t->f;
	CARRIED_FIELDS(TAKE)
#undef TAKE
	want.version_hex = 0x030e0200;
	want.unicode_compact_data = t->unicode_ascii_data + (want.unicode_compact_data -
							    pyh_layout_table(3, 14, 0)->unicode_ascii_data);
	expect_layout_eq(&l, &want);

	/* the 3.14 struct is longer: 3.13's length is not enough */
	assert_int_equal(pyh_layout_from_debug_offsets(b, DBG313_WORDS * 8, &l, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(pyh_layout_from_debug_offsets(b, DBG314_WORDS * 8, &l, NULL, 0), 0);

	/* the same bytes claiming to be 3.13 are caught by the size checks */
	word_set(b, 1, 0x030d00f0);
	memset(&l, 0x5a, sizeof(l));
	want = l;
	assert_int_equal(pyh_layout_from_debug_offsets(b, sizeof(b), &l, err, sizeof(err)), -EINVAL);
	assert_memory_equal(&l, &want, sizeof(l));
	assert_true(strlen(err) > 0);

	/* and 3.13 bytes claiming to be 3.14 likewise */
	memcpy(b, real313, sizeof(b));
	word_set(b, 1, 0x030e00f0);
	assert_int_equal(pyh_layout_from_debug_offsets(b, sizeof(b), &l, err, sizeof(err)), -EINVAL);
}

/* Runs the parser on b and checks it fails, leaving *out alone, with a message. */
static void expect_einval(const unsigned char *b, size_t len, const char *msg_part)
{
	struct pyh_layout l, before;
	char err[256];

	memset(&l, 0x5a, sizeof(l));
	before = l;
	err[0] = 'x';
	err[1] = '\0';
	assert_int_equal(pyh_layout_from_debug_offsets(b, len, &l, err, sizeof(err)), -EINVAL);
	assert_memory_equal(&l, &before, sizeof(l));
	assert_true(strlen(err) > 0 && strcmp(err, "x") != 0);
	if (msg_part && !strstr(err, msg_part))
		fail_msg("error \"%s\" does not mention \"%s\"", err, msg_part);
	/* no err buffer is fine too */
	assert_int_equal(pyh_layout_from_debug_offsets(b, len, &l, NULL, 0), -EINVAL);
}

static void test_dbg_errors(void **state)
{
	unsigned char b[PYH_DEBUG_OFFSETS_READ];
	struct pyh_layout l;
	char small[8];

	(void)state;
	/* bad cookie */
	memcpy(b, real313, sizeof(b));
	b[0] = 'X';
	expect_einval(b, sizeof(b), "cookie");
	/* free-threaded */
	memcpy(b, real313, sizeof(b));
	word_set(b, 2, 1);
	expect_einval(b, sizeof(b), "free-threaded Python 3.13 is not supported");
	word_set(b, 2, 2);
	expect_einval(b, sizeof(b), "free_threaded");
	/* truncated */
	expect_einval(real313, 0, NULL);
	expect_einval(real313, 16, "short");
	expect_einval(real313, 23, "short");
	expect_einval(real313, 100, "needs");
	expect_einval(real313, DBG313_WORDS * 8 - 8, "needs");
	expect_einval(NULL, 1024, NULL);
	assert_int_equal(pyh_layout_from_debug_offsets(real313, real313_len, NULL, NULL, 0), -EINVAL);
	/* versions */
	memcpy(b, real313, sizeof(b));
	word_set(b, 1, 0x030c01f0);
	expect_einval(b, sizeof(b), "version");
	word_set(b, 1, 0x030f00a1);
	expect_einval(b, sizeof(b), "3.15");
	word_set(b, 1, 0x040000f0);
	expect_einval(b, sizeof(b), "version");
	word_set(b, 1, 0x1030d00f0ull);
	expect_einval(b, sizeof(b), "version");
	/* absurd offsets: beyond PYH_DEBUG_OFFSETS_MAX_FIELD */
	memcpy(b, real313, sizeof(b));
	word_set(b, 21, 1u << 20);	/* thread_state.next */
	expect_einval(b, sizeof(b), "tstate.next");
	memcpy(b, real313, sizeof(b));
	word_set(b, 35, UINT64_MAX);	/* co_filename */
	expect_einval(b, sizeof(b), "co_filename");
	/* a member outside its struct */
	memcpy(b, real313, sizeof(b));
	word_set(b, 45, 16);	/* ob_type at 16 of a 16-byte PyObject */
	expect_einval(b, sizeof(b), "ob_type");
	memcpy(b, real313, sizeof(b));
	word_set(b, 33, word_get(b, 28));	/* frame.owner at sizeof(frame) */
	expect_einval(b, sizeof(b), "owner");
	/* absurd sizes */
	memcpy(b, real313, sizeof(b));
	word_set(b, 19, 0);	/* sizeof(PyThreadState) */
	expect_einval(b, sizeof(b), "PyThreadState");
	memcpy(b, real313, sizeof(b));
	word_set(b, 6, UINT64_MAX);	/* sizeof(PyInterpreterState) */
	expect_einval(b, sizeof(b), "PyInterpreterState");
	/* GIL members before the GIL */
	memcpy(b, real313, sizeof(b));
	word_set(b, 15, word_get(b, 17) + 8);
	expect_einval(b, sizeof(b), "GIL");
	/* sizeof(PyASCIIObject) that cannot hold its own fields */
	memcpy(b, real313, sizeof(b));
	word_set(b, 70, 16);
	expect_einval(b, sizeof(b), "PyASCIIObject");

	/* a short err buffer is truncated, not overrun */
	memcpy(b, real313, sizeof(b));
	b[0] = 'X';
	assert_int_equal(pyh_layout_from_debug_offsets(b, sizeof(b), &l, small, sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* Random corruption of the real buffer: never a crash, and any layout
 * accepted still has every offset in range. */
static void test_dbg_mutations(void **state)
{
	unsigned char b[PYH_DEBUG_OFFSETS_READ];
	struct pyh_layout l;
	unsigned int seed = 12345, iter, accepted = 0, rejected = 0;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		unsigned int n = 1 + rand_r(&seed) % 4, k;
		size_t len = (rand_r(&seed) % 8) ? sizeof(b) : (size_t)(rand_r(&seed) % sizeof(b));

		memcpy(b, real313, sizeof(b));
		for (k = 0; k < n; k++) {
			unsigned int w = 3 + rand_r(&seed) % (DBG314_WORDS - 3);
			uint64_t v = word_get(b, w);

			switch (rand_r(&seed) % 4) {
			case 0: v = (uint64_t)rand_r(&seed) << (rand_r(&seed) % 40); break;
			case 1: v += (rand_r(&seed) % 64) - 32; break;
			case 2: v = 0; break;
			default: v = ~v; break;
			}
			word_set(b, w, v);
		}
		if (pyh_layout_from_debug_offsets(b, len, &l, NULL, 0) == 0) {
			accepted++;
#define OK(f) assert_true(l.f == PYH_NO_FIELD || l.f < PYH_DEBUG_OFFSETS_MAX_FIELD);
			OFFSET_FIELDS(OK)
#undef OK
			assert_int_equal(l.version_hex >> 16, 0x030d);
			assert_int_equal(l.lasti_kind, PYH_LASTI_CUR_PTR);
		} else {
			rejected++;
		}
	}
	/* both outcomes happened: the checks are neither absent nor total */
	assert_true(accepted > 100);
	assert_true(rejected > 100);
}

/* ---- every table against a live interpreter ---- */

/*
 * Run under each installed interpreter with the table's offsets as name=value
 * arguments (-1 for PYH_NO_FIELD): reads its own thread state, frames, code
 * object and strings through ctypes at those offsets and compares with what
 * the interpreter reports through its API. Prints "OK <ver>" or MISMATCHes.
 */
static const char check_script[] =
	"import sys, ctypes, threading\n"
	"o = {}\n"
	"for a in sys.argv[1:]:\n"
	"    k, v = a.split('=')\n"
	"    o[k] = int(v)\n"
	"NO = -1\n"
	"api = ctypes.pythonapi\n"
	"api.PyThreadState_Get.restype = ctypes.c_void_p\n"
	"api.PyInterpreterState_Head.restype = ctypes.c_void_p\n"
	"api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p\n"
	"api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]\n"
	"P = ctypes.c_void_p.from_address\n"
	"I = ctypes.c_int.from_address\n"
	"U = ctypes.c_ulong.from_address\n"
	"B = ctypes.c_ubyte.from_address\n"
	"V = sys.version_info[0] * 100 + sys.version_info[1]\n"
	"TAG = 3 if V >= 314 else 0  # f_executable is a tagged _PyStackRef on 3.14\n"
	"import sysconfig\n"
	"FT = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))\n"
	"bad = []\n"
	"def eq(name, got, want):\n"
	"    if got != want:\n"
	"        bad.append('%s: got %r want %r' % (name, got, want))\n"
	"\n"
	"def inner():\n"
	"    ts = api.PyThreadState_Get()\n"
	"    f = sys._getframe()\n"
	"    if V <= 310:\n"
	"        fr = P(ts + o['tstate_frame']).value\n"
	"        eq('tstate_frame', fr, id(f))\n"
	"        eq('frame_code', P(fr + o['frame_code']).value, id(f.f_code))\n"
	"        back = P(fr + o['frame_back']).value\n"
	"        eq('frame_back', back, id(f.f_back))\n"
	"        lasti = I(back + o['frame_lasti']).value\n"
	"        eq('frame_lasti', lasti * (2 if V == 310 else 1), f.f_back.f_lasti)\n"
	"    else:\n"
	"        if V <= 312:\n"
	"            cf = P(ts + o['tstate_frame']).value\n"
	"            fr = P(cf + o['cframe_current_frame']).value\n"
	"        else:\n"
	"            fr = P(ts + o['tstate_frame']).value\n"
	"        eq('frame_code', P(fr + o['frame_code']).value & ~TAG, id(f.f_code))\n"
	"        eq('frame_owner', B(fr + o['frame_owner']).value, 0)\n"
	"        back = P(fr + o['frame_back']).value\n"
	"        bco = f.f_back.f_code\n"
	"        eq('frame_back code', P(back + o['frame_code']).value & ~TAG, id(bco))\n"
	"        ip = P(back + o['frame_lasti']).value\n"
	"        eq('frame_lasti', ip - (id(bco) + o['code_adaptive']), f.f_back.f_lasti)\n"
	"    return ts\n"
	"\n"
	"def outer():\n"
	"    return inner()\n"
	"\n"
	"ev = threading.Event()\n"
	"t = threading.Thread(target=ev.wait)\n"
	"t.daemon = True\n"
	"t.start()\n"
	"ts = outer()\n"
	"interp = P(ts + o['tstate_interp']).value\n"
	"eq('tstate_interp', interp, api.PyInterpreterState_Head())\n"
	"eq('interp_tstate_head', P(interp + o['interp_tstate_head']).value, api.PyInterpreterState_ThreadHead(interp))\n"
	"eq('interp_next', P(interp + o['interp_next']).value, None)\n"
	"seen = []\n"
	"p = P(interp + o['interp_tstate_head']).value\n"
	"while p and len(seen) < 100:\n"
	"    seen.append(p)\n"
	"    p = P(p + o['tstate_next']).value\n"
	"eq('tstate_next count', len(seen), 2)\n"
	"eq('tstate_next has us', ts in seen, True)\n"
	"get_ident = getattr(threading, 'get_ident', None) or __import__('thread').get_ident\n"
	"eq('tstate_thread_id', U(ts + o['tstate_thread_id']).value, get_ident())\n"
	"if o['tstate_native_thread_id'] != NO:\n"
	"    eq('tstate_native_thread_id', U(ts + o['tstate_native_thread_id']).value, threading.get_native_id())\n"
	"if o['runtime_interp_head'] != NO:\n"
	"    rt = ctypes.addressof(ctypes.c_char.in_dll(api, '_PyRuntime'))\n"
	"    eq('runtime_interp_head', P(rt + o['runtime_interp_head']).value, interp)\n"
	"    if o['runtime_tstate_current'] != NO:\n"
	"        eq('runtime_tstate_current', P(rt + o['runtime_tstate_current']).value, ts)\n"
	"if o['interp_gil_ptr'] != NO and not FT:\n"
	"    gil = P(interp + o['interp_gil_ptr']).value\n"
	"    eq('gil_locked', I(gil + o['gil_locked']).value, 1)\n"
	"    eq('gil_holder', P(gil + o['gil_holder']).value, ts)\n"
	"co = outer.__code__\n"
	"eq('code_filename', P(id(co) + o['code_filename']).value, id(co.co_filename))\n"
	"eq('code_name', P(id(co) + o['code_name']).value, id(co.co_name))\n"
	"if o['code_qualname'] != NO:\n"
	"    eq('code_qualname', P(id(co) + o['code_qualname']).value, id(co.co_qualname))\n"
	"eq('code_firstlineno', I(id(co) + o['code_firstlineno']).value, co.co_firstlineno)\n"
	"lt = co.co_linetable if V >= 310 else co.co_lnotab\n"
	"eq('code_linetable', P(id(co) + o['code_linetable']).value, id(lt))\n"
	"if o['code_code'] != NO:\n"
	"    eq('code_code', P(id(co) + o['code_code']).value, id(co.co_code))\n"
	"eq('object_type', P(id(co) + o['object_type']).value, id(type(co)))\n"
	"b = b'hello bytes'\n"
	"eq('bytes_size', U(id(b) + o['bytes_size']).value, len(b))\n"
	"eq('bytes_data', ctypes.string_at(id(b) + o['bytes_data'], len(b)), b)\n"
	"if V >= 300:\n"
	"    for s, ascii in (('hello ascii', 1), ('h\\xe9llo latin', 0)):\n"
	"        eq('unicode_length', U(id(s) + o['unicode_length']).value, len(s))\n"
	"        st = I(id(s) + o['unicode_state']).value\n"
	"        k = 8 if FT else 2  # interned: 2 bits, a whole byte on 3.14t\n"
	"        eq('unicode_state kind', (st >> k) & 7, 1)\n"
	"        eq('unicode_state compact', (st >> (k + 3)) & 1, 1)\n"
	"        eq('unicode_state ascii', (st >> (k + 4)) & 1, ascii)\n"
	"        off = o['unicode_ascii_data'] if ascii else o['unicode_compact_data']\n"
	"        eq('unicode data', ctypes.string_at(id(s) + off, len(s)), s.encode('latin-1'))\n"
	"ev.set()\n"
	"t.join()\n"
	"if bad:\n"
	"    for x in bad:\n"
	"        print('MISMATCH ' + x)\n"
	"    sys.exit(1)\n"
	"print('OK %d' % V)\n";

/* Installed interpreters checked live; a trailing 't' is the free-threaded build. */
static const char *const live_versions[] = { "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18",
					     "3.10.13", "3.11.7", "3.12.1", "3.13.0", "3.14.7",
					     "3.14.7t" };

#define ARG(f) snprintf(args[n], sizeof(args[n]), "%s=%d", #f, \
			l->f == PYH_NO_FIELD ? -1 : (int)l->f); argv[n + 2] = args[n]; n++;

/* Runs script under python with l's offsets; output into out. Returns exit status. */
static int run_check(const char *python, const char *script, const struct pyh_layout *l,
		     char *out, size_t outsz)
{
	char args[40][64];
	char *argv[44];
	int n = 0, pfd[2], status = -1;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	argv[0] = (char *)python;
	argv[1] = (char *)script;
	OFFSET_FIELDS(ARG)
	argv[n + 2] = NULL;
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		alarm(30);	/* survives exec: a hung interpreter dies */
		execv(python, argv);
		_exit(127);
	}
	close(pfd[1]);
	while (got + 1 < outsz && (r = read(pfd[0], out + got, outsz - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return status;
}
#undef ARG

static void test_tables_live(void **state)
{
	char script[] = "/tmp/pyh-test-layouts-XXXXXX.py";
	char out[4096], python[128], want[32];
	size_t i;
	int fd;

	(void)state;
	fd = mkstemps(script, 3);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, check_script, sizeof(check_script) - 1),
			 (ssize_t)(sizeof(check_script) - 1));
	close(fd);
	for (i = 0; i < sizeof(live_versions) / sizeof(live_versions[0]); i++) {
		const char *v = live_versions[i];
		int major = v[0] - '0', minor = atoi(v + 2), status;
		int ft = v[strlen(v) - 1] == 't';
		const struct pyh_layout *l = pyh_layout_table(major, minor, ft);

		assert_non_null(l);
		/* 3.14 is built by ../shared/cpython/build.sh, which installs pythonX.Y[t] only */
		if (minor >= 14)
			snprintf(python, sizeof(python), "/root/.pyenv/versions/%s/bin/python%d.%d%s", v,
				 major, minor, ft ? "t" : "");
		else
			snprintf(python, sizeof(python), "/root/.pyenv/versions/%s/bin/python", v);
		if (access(python, X_OK)) {
			printf("  %s not installed: not checked live\n", python);
			continue;
		}
		status = run_check(python, script, l, out, sizeof(out));
		snprintf(want, sizeof(want), "OK %d\n", major * 100 + minor);
		if (status != 0 || strcmp(out, want) != 0) {
			unlink(script);
			fail_msg("Python %s (status %d):\n%s", v, status, out);
		}
	}
	unlink(script);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_lookup),
		cmocka_unit_test(test_table_semantics),
		cmocka_unit_test(test_table_known_values),
		cmocka_unit_test(test_tables_live),
		cmocka_unit_test_setup(test_dbg_real_313, setup_real313),
		cmocka_unit_test(test_dbg_real_314),
		cmocka_unit_test(test_dbg_real_314t),
		cmocka_unit_test_setup(test_dbg_moved_fields, setup_real313),
		cmocka_unit_test_setup(test_dbg_314_layout, setup_real313),
		cmocka_unit_test_setup(test_dbg_errors, setup_real313),
		cmocka_unit_test_setup(test_dbg_mutations, setup_real313),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
