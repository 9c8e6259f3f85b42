/* SPDX-License-Identifier: MIT */
/*
 * reprfmt.c - floats, ints and text literals exactly as CPython's repr()
 * writes them. See reprfmt.h.
 */
#include "python/reprfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/unicode_printable_gen.h"

/* ------------------------------------------------------------ the buffer */

void pyh_rbuf_init(struct pyh_rbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->full = cap == 0;
	if (cap)
		p[0] = '\0';
}

size_t pyh_rbuf_room(const struct pyh_rbuf *b)
{
	return b->full || b->cap == 0 ? 0 : b->cap - 1 - b->len;
}

int pyh_rbuf_put(struct pyh_rbuf *b, const char *s, size_t n)
{
	if (b->full || n > pyh_rbuf_room(b)) {
		b->full = 1;
		return -ENOSPC;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int pyh_rbuf_puts(struct pyh_rbuf *b, const char *s)
{
	return pyh_rbuf_put(b, s, strlen(s));
}

int pyh_rbuf_printf(struct pyh_rbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->full = 1;
		return -ENOSPC;
	}
	return pyh_rbuf_put(b, tmp, (size_t)n);
}

void pyh_rbuf_rewind(struct pyh_rbuf *b, size_t len)
{
	if (len > b->len || b->cap == 0)
		return;
	b->len = len;
	b->p[len] = '\0';
	b->full = 0;
}

/* ------------------------------------------------------------ floats */

#define PYH_FLOAT_MAX_DIGITS 17		/* always enough to read a double back */
#define PYH_FLOAT_EXP_LOW (-4)		/* repr switches to e-notation at decpt <= -4 */
#define PYH_FLOAT_EXP_HIGH 16		/* ... and at decpt > 16 */

/* 1 when mantissa m times 10^e reads back as x. */
static int pyh_float_roundtrips(uint64_t m, int e, double x)
{
	char buf[48];

	snprintf(buf, sizeof(buf), "%" PRIu64 "e%d", m, e);
	return strtod(buf, NULL) == x;
}

/* The shortest decimal m * 10^e (m without trailing zeros) that reads back
 * as x > 0, and of those the nearest to x: for each digit count p, the
 * correctly rounded p-digit decimal (glibc's printf is exact), or, when it
 * does not read back, its neighbour that does (near a power of two the
 * interval of doubles is lopsided). */
static void pyh_float_shortest(double x, uint64_t *m_out, int *e_out)
{
	for (int p = 1; p <= PYH_FLOAT_MAX_DIGITS; p++) {
		char buf[48], *mark;
		uint64_t m = 0, lo = 1, hi;
		int exp10, e;

		snprintf(buf, sizeof(buf), "%.*e", p - 1, x);
		mark = strchr(buf, 'e');
		if (!mark)
			break;
		exp10 = atoi(mark + 1);
		for (const char *c = buf; c < mark; c++)
			if (*c >= '0' && *c <= '9')
				m = m * 10 + (uint64_t)(*c - '0');
		for (int i = 1; i < p; i++)
			lo *= 10;
		hi = lo * 10;
		e = exp10 - (p - 1);
		if (pyh_float_roundtrips(m, e, x)) {
			*m_out = m;
			*e_out = e;
			goto strip;
		}
		if (m + 1 < hi ? pyh_float_roundtrips(m + 1, e, x) : pyh_float_roundtrips(lo, e + 1, x)) {
			*m_out = m + 1 < hi ? m + 1 : lo;
			*e_out = m + 1 < hi ? e : e + 1;
			goto strip;
		}
		if (m - 1 >= lo ? pyh_float_roundtrips(m - 1, e, x)
				: pyh_float_roundtrips(hi - 1, e - 1, x)) {
			*m_out = m - 1 >= lo ? m - 1 : hi - 1;
			*e_out = m - 1 >= lo ? e : e - 1;
			goto strip;
		}
	}
	/* not reached for finite doubles: 17 digits always read back */
	{
		char buf[48];

		snprintf(buf, sizeof(buf), "%.16e", x);
		*m_out = 0;
		for (const char *c = buf; *c && *c != 'e'; c++)
			if (*c >= '0' && *c <= '9')
				*m_out = *m_out * 10 + (uint64_t)(*c - '0');
		*e_out = atoi(strchr(buf, 'e') + 1) - 16;
	}
strip:
	while (*m_out && *m_out % 10 == 0) {
		*m_out /= 10;
		(*e_out)++;
	}
}

size_t pyh_fmt_float(double x, char *out, size_t outsz)
{
	char digits[24], body[64];
	uint64_t m;
	int e, n, decpt;

	if (isnan(x))
		return (size_t)snprintf(out, outsz, "nan");
	if (isinf(x))
		return (size_t)snprintf(out, outsz, "%sinf", x < 0 ? "-" : "");
	if (x == 0)
		return (size_t)snprintf(out, outsz, "%s0.0", signbit(x) ? "-" : "");
	pyh_float_shortest(fabs(x), &m, &e);
	n = snprintf(digits, sizeof(digits), "%" PRIu64, m);
	decpt = n + e;		/* x = 0.d1d2... * 10^decpt */
	if (decpt <= PYH_FLOAT_EXP_LOW || decpt > PYH_FLOAT_EXP_HIGH) {
		int exp = decpt - 1;

		snprintf(body, sizeof(body), "%c%s%se%c%02d", digits[0], n > 1 ? "." : "",
			 digits + 1, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (decpt <= 0) {
		snprintf(body, sizeof(body), "0.%.*s%s", -decpt, "0000", digits);
	} else if (decpt < n) {
		snprintf(body, sizeof(body), "%.*s.%s", decpt, digits, digits + decpt);
	} else {
		snprintf(body, sizeof(body), "%s%.*s.0", digits, decpt - n, "0000000000000000");
	}
	return (size_t)snprintf(out, outsz, "%s%s", x < 0 ? "-" : "", body);
}

/* ------------------------------------------------------------ ints */

#define PYH_LIMB_BASE 1000000000u	/* 10^9: decimal limbs of 9 digits */
#define PYH_LIMB_DIGITS 9

int pyh_fmt_long(const struct pyh_long *v, int suffix_l, char *out, size_t outsz)
{
	/* 30-bit digits need 30 / log2(10^9) < 1.004 limbs each */
	uint32_t limbs[PYH_LONG_MAX_DIGITS + PYH_LONG_MAX_DIGITS / 64 + 2];
	size_t nl = 0, w = 0;
	char tmp[16];

	if (outsz)
		out[0] = '\0';
	if (!v || v->ndigits > PYH_LONG_MAX_DIGITS || v->shift == 0 || v->shift > 31)
		return -EINVAL;
	for (size_t i = v->ndigits; i-- > 0;) {
		uint64_t carry = v->digits[i];

		for (size_t j = 0; j < nl; j++) {
			uint64_t t = ((uint64_t)limbs[j] << v->shift) + carry;

			limbs[j] = (uint32_t)(t % PYH_LIMB_BASE);
			carry = t / PYH_LIMB_BASE;
		}
		while (carry) {
			if (nl >= sizeof(limbs) / sizeof(limbs[0]))
				return -EINVAL;
			limbs[nl++] = (uint32_t)(carry % PYH_LIMB_BASE);
			carry /= PYH_LIMB_BASE;
		}
	}
	if (v->sign < 0 && nl) {
		if (w + 1 >= outsz)
			goto nospace;
		out[w++] = '-';
	}
	if (nl == 0) {
		if (w + 1 >= outsz)
			goto nospace;
		out[w++] = '0';
	}
	for (size_t j = nl; j-- > 0;) {
		int k = snprintf(tmp, sizeof(tmp), j == nl - 1 ? "%u" : "%09u", limbs[j]);

		if (w + (size_t)k >= outsz)
			goto nospace;
		memcpy(out + w, tmp, (size_t)k);
		w += (size_t)k;
	}
	if (suffix_l) {
		if (w + 1 >= outsz)
			goto nospace;
		out[w++] = 'L';
	}
	out[w] = '\0';
	return (int)w;
nospace:
	if (outsz)
		out[0] = '\0';
	return -ENOSPC;
}

/* ------------------------------------------------------------ text */

int pyh_fmt_printable(uint32_t c, unsigned minor)
{
	size_t lo = 0, hi = sizeof(pyh_printable_ranges) / sizeof(pyh_printable_ranges[0]);

	if (c < 0x80)
		return c >= 0x20 && c < 0x7f;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pyh_printable_range *r = &pyh_printable_ranges[mid];

		if (c < r->first)
			hi = mid;
		else if (c > r->last)
			lo = mid + 1;
		else
			return minor >= r->since_minor;
	}
	return 0;
}

/* The escape or UTF-8 of unit i into e; *used = units consumed (2 for a
 * narrow 2.7 surrogate pair). Returns its length. */
static size_t pyh_text_unit(enum pyh_text_style style, unsigned minor, const uint32_t *cps,
			    size_t n, size_t i, char quote, char *e, size_t *used)
{
	uint32_t c = cps[i];

	*used = 1;
	if (c == (uint32_t)quote || c == '\\')
		return (size_t)sprintf(e, "\\%c", (char)c);
	if (c == '\t')
		return (size_t)sprintf(e, "\\t");
	if (c == '\n')
		return (size_t)sprintf(e, "\\n");
	if (c == '\r')
		return (size_t)sprintf(e, "\\r");
	if (c < 0x20 || c == 0x7f)
		return (size_t)sprintf(e, "\\x%02x", c);
	if (c < 0x7f)
		return (size_t)sprintf(e, "%c", (char)c);
	switch (style) {
	case PYH_TEXT_BYTES3:
	case PYH_TEXT_STR27:
		return (size_t)sprintf(e, "\\x%02x", c & 0xffu);
	case PYH_TEXT_UNICODE27N:
		if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && cps[i + 1] >= 0xdc00 &&
		    cps[i + 1] <= 0xdfff) {
			uint32_t full = 0x10000 + ((c - 0xd800) << 10) + (cps[i + 1] - 0xdc00);

			*used = 2;
			return (size_t)sprintf(e, "\\U%08x", full);
		}
		/* fall through */
	case PYH_TEXT_UNICODE27:
		if (c >= 0x10000)
			return (size_t)sprintf(e, "\\U%08x", c);
		if (c >= 0x100)
			return (size_t)sprintf(e, "\\u%04x", c);
		return (size_t)sprintf(e, "\\x%02x", c);
	case PYH_TEXT_STR3:
	default:
		if (c > 0x10ffff)
			return (size_t)sprintf(e, "\\U%08x", c);	/* not a code point */
		if (!pyh_fmt_printable(c, minor)) {
			if (c <= 0xff)
				return (size_t)sprintf(e, "\\x%02x", c);
			if (c <= 0xffff)
				return (size_t)sprintf(e, "\\u%04x", c);
			return (size_t)sprintf(e, "\\U%08x", c);
		}
		return pyh_ucs_to_utf8(&c, 1, 4, e, 5);
	}
}

int pyh_fmt_text(struct pyh_rbuf *b, enum pyh_text_style style, unsigned minor,
		 const uint32_t *cps, size_t n, size_t total)
{
	static const char cut[] = PYH_REPR_CUT;
	const size_t tail = 1 + sizeof(cut) - 1;	/* closing quote and the marker */
	size_t start = b->len, safe, i = 0;
	int squote = 0, dquote = 0;
	char quote = '\'', e[16];

	if (b->full)
		return -ENOSPC;
	for (size_t k = 0; k < n; k++) {
		squote |= cps[k] == '\'';
		dquote |= cps[k] == '"';
	}
	if (squote && !dquote)
		quote = '"';
	if (style == PYH_TEXT_BYTES3 && pyh_rbuf_put(b, "b", 1))
		goto nospace;
	if ((style == PYH_TEXT_UNICODE27 || style == PYH_TEXT_UNICODE27N) && pyh_rbuf_put(b, "u", 1))
		goto nospace;
	if (pyh_rbuf_put(b, &quote, 1))
		goto nospace;
	safe = pyh_rbuf_room(b) >= tail ? b->len : (size_t)-1;
	while (i < n) {
		size_t used, k = pyh_text_unit(style, minor, cps, n, i, quote, e, &used);

		/* the unit must leave room for the closing quote */
		if (k + 1 > pyh_rbuf_room(b))
			break;
		pyh_rbuf_put(b, e, k);
		i += used;
		if (pyh_rbuf_room(b) >= tail)
			safe = b->len;
	}
	if (i >= n && n >= total) {
		pyh_rbuf_put(b, &quote, 1);
		return 0;
	}
	if (safe == (size_t)-1)
		goto nospace;
	if (i < n || pyh_rbuf_room(b) < tail) {
		/* out of room: what fits up to the last point that leaves room to close */
		pyh_rbuf_rewind(b, safe);
		i = n + 1;
	}
	pyh_rbuf_put(b, &quote, 1);
	pyh_rbuf_put(b, cut, sizeof(cut) - 1);
	return i > n ? 2 : 1;
nospace:
	pyh_rbuf_rewind(b, start);
	b->full = 1;
	return -ENOSPC;
}
