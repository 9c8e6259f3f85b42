/* SPDX-License-Identifier: MIT */
/*
 * objlayout.c - pick the object layout for a target: the committed table of
 * its version (tools/gen-objlayouts.sh), with, on 3.13+, every field the
 * target's own _Py_DebugOffsets carries taken from the target.
 */
#include "python/objlayout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "python/objlayouts_gen.h"

const struct pyh_objlayout *pyh_objlayout_table(int major, int minor, int free_threaded)
{
	if (free_threaded)
		return major == 3 && minor == 14 ? &pyh_objlayout_3_14t : NULL;
	if (major == 2 && minor == 7)
		return &pyh_objlayout_2_7;
	if (major != 3)
		return NULL;
	switch (minor) {
	case 6: return &pyh_objlayout_3_6;
	case 7: return &pyh_objlayout_3_7;
	case 8: return &pyh_objlayout_3_8;
	case 9: return &pyh_objlayout_3_9;
	case 10: return &pyh_objlayout_3_10;
	case 11: return &pyh_objlayout_3_11;
	case 12: return &pyh_objlayout_3_12;
	case 13: return &pyh_objlayout_3_13;
	case 14: return &pyh_objlayout_3_14;
	default: return NULL;
	}
}

const char *pyh_objlayout_known(void)
{
	return "2.7, 3.6 - 3.14, 3.14t";
}

/*
 * _Py_DebugOffsets is a flat array of uint64_t: cookie, version,
 * free_threaded, then one group per CPython struct starting with its sizeof.
 * Each entry below names a member we take, by its word index in the 3.13 and
 * the 3.14 struct (see src/python/layouts.c for how those were derived; 0:
 * that version does not carry it), the word holding the sizeof of the struct
 * it lies in, how many bytes of it we read, and where it goes.
 */
struct pyh_objdbg_field {
	const char *name;
	unsigned short w13, w14;	/* the member */
	unsigned short s13, s14;	/* the sizeof of its struct */
	unsigned short width;		/* bytes from the offset that must lie inside */
	size_t dst;			/* offsetof(struct pyh_objlayout, ...) */
};

#define PYH_OBJ(f) offsetof(struct pyh_objlayout, f)

static const struct pyh_objdbg_field pyh_objdbg_fields[] = {
	{ "interp.imports.modules", 11, 12, 6, 6, 8, PYH_OBJ(interp_modules) },
	{ "interp.sysdict", 12, 13, 6, 6, 8, PYH_OBJ(interp_sysdict) },
	{ "frame.localsplus", 32, 35, 28, 31, 0, PYH_OBJ(frame_localsplus) },
	{ "frame.f_executable", 30, 33, 28, 31, 8, PYH_OBJ(frame_code) },
	{ "code.co_argcount", 40, 45, 34, 39, 4, PYH_OBJ(code_argcount) },
	{ "code.co_localsplusnames", 41, 46, 34, 39, 8, PYH_OBJ(code_localsplusnames) },
	{ "code.co_localspluskinds", 42, 47, 34, 39, 8, PYH_OBJ(code_localspluskinds) },
	{ "ob_type", 45, 51, 44, 50, 8, PYH_OBJ(ob_type) },
	{ "tp_name", 47, 53, 46, 52, 8, PYH_OBJ(tp_name) },
	{ "tp_repr", 48, 54, 46, 52, 8, PYH_OBJ(tp_repr) },
	{ "tp_flags", 49, 55, 46, 52, 8, PYH_OBJ(tp_flags) },
	{ "tuple.ob_item", 51, 57, 50, 56, 8, PYH_OBJ(tuple_items) },
	{ "tuple.ob_size", 52, 58, 50, 56, 8, PYH_OBJ(ob_size) },
	{ "list.ob_item", 54, 60, 53, 59, 8, PYH_OBJ(list_items) },
	{ "list.ob_size", 55, 61, 53, 59, 8, PYH_OBJ(ob_size) },
	{ "set.used", 0, 63, 0, 62, 8, PYH_OBJ(set_used) },
	{ "set.table", 0, 64, 0, 62, 8, PYH_OBJ(set_table) },
	{ "set.mask", 0, 65, 0, 62, 8, PYH_OBJ(set_mask) },
	{ "dict.ma_keys", 57, 67, 56, 66, 8, PYH_OBJ(dict_keys) },
	{ "dict.ma_values", 58, 68, 56, 66, 8, PYH_OBJ(dict_values) },
	{ "float.ob_fval", 60, 70, 59, 69, 8, PYH_OBJ(float_fval) },
	{ "long.lv_tag", 62, 72, 61, 71, 8, PYH_OBJ(long_size) },
	{ "long.ob_digit", 63, 73, 61, 71, 4, PYH_OBJ(long_digits) },
	{ "bytes.ob_size", 65, 75, 64, 74, 8, PYH_OBJ(bytes_size) },
	{ "bytes.ob_sval", 66, 76, 64, 74, 1, PYH_OBJ(bytes_sval) },
	{ "str.state", 68, 78, 67, 77, 4, PYH_OBJ(str_state) },
	{ "str.length", 69, 79, 67, 77, 8, PYH_OBJ(str_length) },
	{ "sizeof(PyASCIIObject)", 70, 80, 67, 77, 0, PYH_OBJ(str_ascii_data) },
	{ "frame.stackpointer", 0, 37, 0, 31, 8, PYH_OBJ(frame_stacktop) },
	{ "gen.gi_iframe", 0, 85, 0, 83, 8, PYH_OBJ(gen_iframe) },
	{ "gen.gi_frame_state", 0, 86, 0, 83, 1, PYH_OBJ(gen_frame_state) },
};

/* The sizeofs the buffer declares that we also keep, as (word 3.13, word 3.14, field). */
static const struct pyh_objdbg_field pyh_objdbg_sizes[] = {
	{ "sizeof(PyObject)", 44, 50, 0, 0, 0, PYH_OBJ(object_size) },
	{ "sizeof(PyTypeObject)", 46, 52, 0, 0, 0, PYH_OBJ(type_size) },
};

#define PYH_OBJDBG_COOKIE "xdebugpy"
#define PYH_OBJDBG_WORDS_313 73
#define PYH_OBJDBG_WORDS_314 95
#define PYH_OBJDBG_MAX_STRUCT (16u << 20)	/* no CPython struct is 16 MiB */
#define PYH_OBJDBG_MAX_OFFSET 65536		/* nor has a member that far in */

static void pyh_objdbg_err(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pyh_objdbg_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static uint64_t pyh_objdbg_word(const void *buf, unsigned idx)
{
	uint64_t v;

	memcpy(&v, (const unsigned char *)buf + (size_t)idx * 8, sizeof(v));
	return v;
}

/* Version (0x030d.... etc.) of a _Py_DebugOffsets copy, 0 when not one. */
static uint64_t pyh_objdbg_version(const void *buf, size_t len)
{
	uint64_t v;

	if (!buf || len < 3 * 8 || memcmp(buf, PYH_OBJDBG_COOKIE, 8) != 0)
		return 0;
	v = pyh_objdbg_word(buf, 1);
	if (v > 0xffffffffu || (v >> 24) != 3 || ((v >> 16) & 0xff) < 13)
		return 0;
	return v;
}

int pyh_debug_offsets_free_threaded(const void *buf, size_t len)
{
	uint64_t ft;

	if (!pyh_objdbg_version(buf, len))
		return -EINVAL;
	ft = pyh_objdbg_word(buf, 2);
	return ft <= 1 ? (int)ft : -EINVAL;
}

int pyh_objlayout_from_debug_offsets(const void *buf, size_t len, struct pyh_objlayout *out,
				     int *mismatch, char *err, size_t errsz)
{
	struct pyh_objlayout l;
	uint64_t version = pyh_objdbg_version(buf, len);
	unsigned minor, words, diff = 0;

	if (err && errsz)
		err[0] = '\0';
	if (!out || !version) {
		pyh_objdbg_err(err, errsz, "_Py_DebugOffsets: no \"" PYH_OBJDBG_COOKIE
			       "\" cookie with a 3.13+ version");
		return -EINVAL;
	}
	minor = (version >> 16) & 0xff;
	if (minor != 13 && minor != 14) {
		pyh_objdbg_err(err, errsz, "_Py_DebugOffsets of Python 3.%u: layout not known "
			       "(3.13 and 3.14 are)", minor);
		return -EINVAL;
	}
	if ((out->version_hex >> 16) != (version >> 16)) {
		pyh_objdbg_err(err, errsz, "_Py_DebugOffsets says 3.%u, the table is for %u.%u",
			       minor, out->version_hex >> 24, (out->version_hex >> 16) & 0xff);
		return -EINVAL;
	}
	if (pyh_objdbg_word(buf, 2) != out->free_threaded) {
		pyh_objdbg_err(err, errsz, "_Py_DebugOffsets: free_threaded = %llu, the table is "
			       "for a %s build", (unsigned long long)pyh_objdbg_word(buf, 2),
			       out->free_threaded ? "free-threaded" : "GIL");
		return -EINVAL;
	}
	words = minor == 13 ? PYH_OBJDBG_WORDS_313 : PYH_OBJDBG_WORDS_314;
	if (len < (size_t)words * 8) {
		pyh_objdbg_err(err, errsz, "_Py_DebugOffsets of 3.%u needs %u bytes, got %zu", minor,
			       words * 8, len);
		return -EINVAL;
	}
	l = *out;
	for (size_t i = 0; i < sizeof(pyh_objdbg_sizes) / sizeof(pyh_objdbg_sizes[0]); i++) {
		const struct pyh_objdbg_field *f = &pyh_objdbg_sizes[i];
		uint64_t size = pyh_objdbg_word(buf, minor == 13 ? f->w13 : f->w14);
		uint32_t *dst = (uint32_t *)((char *)&l + f->dst);

		if (size == 0 || size > PYH_OBJDBG_MAX_STRUCT) {
			pyh_objdbg_err(err, errsz, "_Py_DebugOffsets: %s = %llu is not plausible",
				       f->name, (unsigned long long)size);
			return -EINVAL;
		}
		diff += *dst != (uint32_t)size;
		*dst = (uint32_t)size;
	}
	for (size_t i = 0; i < sizeof(pyh_objdbg_fields) / sizeof(pyh_objdbg_fields[0]); i++) {
		const struct pyh_objdbg_field *f = &pyh_objdbg_fields[i];
		unsigned w = minor == 13 ? f->w13 : f->w14, s = minor == 13 ? f->s13 : f->s14;
		uint32_t *dst = (uint32_t *)((char *)&l + f->dst);
		uint64_t off, size;

		if (!w)
			continue;	/* not carried by this version: the table's value stays */
		off = pyh_objdbg_word(buf, w);
		size = pyh_objdbg_word(buf, s);
		if (size == 0 || size > PYH_OBJDBG_MAX_STRUCT || off >= PYH_OBJDBG_MAX_OFFSET ||
		    off + f->width > size) {
			pyh_objdbg_err(err, errsz, "_Py_DebugOffsets: %s at %llu (+%u) does not lie "
				       "inside its %llu-byte struct", f->name,
				       (unsigned long long)off, f->width, (unsigned long long)size);
			return -EINVAL;
		}
		diff += *dst != (uint32_t)off;
		*dst = (uint32_t)off;
	}
	/* The header must still hold a type pointer, and an ASCII string's data
	 * must follow its length and state. */
	if (l.ob_type + 8 > l.object_size || l.str_ascii_data < l.str_state + 4 ||
	    l.str_ascii_data < l.str_length + 8) {
		pyh_objdbg_err(err, errsz, "_Py_DebugOffsets: object and str offsets are inconsistent");
		return -EINVAL;
	}
	*out = l;
	if (mismatch)
		*mismatch = (int)diff;
	return 0;
}
