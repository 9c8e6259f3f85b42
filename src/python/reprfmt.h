/* SPDX-License-Identifier: MIT */
/*
 * reprfmt.h - the pure pieces of Python's repr(), byte for byte as each
 * CPython version writes them: floats (shortest round-trip digits), ints of
 * any size, and str / bytes / 2.7 unicode literals with their quotes and
 * escapes. No target memory here: python/repr.h feeds these from objects.
 */
#ifndef PYH_PYTHON_REPRFMT_H
#define PYH_PYTHON_REPRFMT_H
#include <stddef.h>
#include <stdint.h>

#include "python/objects.h"

/* The marker pyhang writes where it left something out (U+2026, "…").
 * Python's repr never writes it outside a string's quotes. */
#define PYH_REPR_CUT "\xe2\x80\xa6"

/* A bounded output buffer. Appends are whole or not at all: what does not
 * fit is not written, `full` is set, and every later append fails too. The
 * text is always NUL-terminated. */
struct pyh_rbuf {
	char *p;
	size_t cap;		/* bytes of p, the NUL included */
	size_t len;
	int full;
};

void pyh_rbuf_init(struct pyh_rbuf *b, char *p, size_t cap);
/* Return 0, or -ENOSPC when s did not fit (nothing written). */
int pyh_rbuf_put(struct pyh_rbuf *b, const char *s, size_t n);
int pyh_rbuf_puts(struct pyh_rbuf *b, const char *s);
int pyh_rbuf_printf(struct pyh_rbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Bytes left for appends. */
size_t pyh_rbuf_room(const struct pyh_rbuf *b);
/* Go back to an earlier length (and clear `full`). */
void pyh_rbuf_rewind(struct pyh_rbuf *b, size_t len);

/* repr(float) of CPython 2.7 and 3.x: the shortest digits that read back to
 * the same double, fixed notation for 1e-4 <= |x| < 1e16 ("0.1", "1e+16",
 * "1e-05", "-0.0", "inf", "nan"). out must hold PYH_FLOAT_REPR_MAX bytes.
 * Returns the length written. */
#define PYH_FLOAT_REPR_MAX 32
size_t pyh_fmt_float(double x, char *out, size_t outsz);

/* The decimal digits of an int (with "-" when negative; 2.7 long: with the
 * "L" suffix when suffix_l is set) into out. Returns the length, or -ENOSPC
 * when out is too small (out then holds "" ). */
int pyh_fmt_long(const struct pyh_long *v, int suffix_l, char *out, size_t outsz);

/* Which literal a text is written as. */
enum pyh_text_style {
	PYH_TEXT_STR3 = 1,	/* 3.x str: 'x', printable non-ASCII kept */
	PYH_TEXT_BYTES3,	/* 3.x bytes: b'x' */
	PYH_TEXT_STR27,		/* 2.7 str: 'x' */
	PYH_TEXT_UNICODE27,	/* 2.7 unicode (UCS-4 build): u'x', all non-ASCII escaped */
	PYH_TEXT_UNICODE27N,	/* 2.7 unicode, narrow (UCS-2) build: surrogate pairs as \U */
};

/* 1 when code point c is printable for str.__repr__ of CPython 3.minor. */
int pyh_fmt_printable(uint32_t c, unsigned minor);

/* Append the literal for the n units at cps (code points, or byte values for
 * bytes styles; UTF-16 units for PYH_TEXT_UNICODE27N, where a surrogate pair
 * becomes one \U escape as a narrow 2.7 writes it) to b. The quote is chosen as
 * Python chooses it (' unless the text has ' and no "). `total` is the
 * object's whole length: when it is more than n, or the literal does not fit
 * in b, the literal is cut at a character boundary, closed, and followed by
 * PYH_REPR_CUT. minor is the 3.x minor version (str printability). Returns
 * 0 when written whole, 1 when cut only because total > n, 2 when cut because
 * b had no more room, -ENOSPC when not even the cut form fits (nothing
 * written, b marked full). */
int pyh_fmt_text(struct pyh_rbuf *b, enum pyh_text_style style, unsigned minor,
		 const uint32_t *cps, size_t n, size_t total);
#endif
