/* Line numbers from a code object's line table, for every format CPython used.
 *
 * Every decoder walks the table once from the start, never reads past len and
 * keeps its running line in a 64-bit value so that hostile tables cannot
 * overflow it; a line that does not fit an int is treated as malformed. */
#include "python/linetable.h"

#include <limits.h>

/* A computed line that does not fit the int return value: malformed table. */
static int line_or_fail(int64_t line)
{
	return (line < 0 || line > INT_MAX) ? -1 : (int)line;
}

/* 2.7 and 3.6 - 3.9 co_lnotab: (addr incr, line incr) byte pairs; the line of
 * an offset is the line of the last pair whose address is <= offset. 2.7's line
 * increments are unsigned, 3.6+'s are signed. A trailing odd byte is ignored,
 * as CPython does. There is no end marker, so offsets past the last pair keep
 * the last line. */
static int lnotab_line(const uint8_t *t, size_t len, int firstlineno, uint32_t offset,
		       int signed_incr)
{
	int64_t line = firstlineno;
	uint64_t addr = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > offset)
			break;
		line += signed_incr ? (int8_t)t[i + 1] : t[i + 1];
	}
	return line_or_fail(line);
}

/* 3.10 co_linetable (PEP 626): (byte length unsigned, line delta signed) pairs,
 * each covering the next `length` bytes of code; a delta of -128 means the
 * range has no line and leaves the running line as it was. Zero-length entries
 * only move the running line. */
static int linetable310_line(const uint8_t *t, size_t len, int firstlineno, uint32_t offset)
{
	int64_t line = firstlineno;
	uint64_t end = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		uint64_t start = end;
		int8_t ldelta = (int8_t)t[i + 1];
		int64_t range_line = -1;

		end += t[i];
		if (ldelta != -128) {
			line += ldelta;
			range_line = line;
		}
		if (start <= offset && offset < end)
			return range_line < 0 ? -1 : line_or_fail(range_line);
	}
	return -1;
}

/* Unsigned varint of the 3.11 location table: 6-bit chunks, least significant
 * first, 0x40 = more follows. Stops with -1 at the end of the table, on a
 * byte with bit 7 set (the start of the next entry) or after 32 bits. */
static int read_varint(const uint8_t *t, size_t len, size_t *pos, uint32_t *out)
{
	uint32_t val = 0;
	unsigned int shift = 0;

	for (;;) {
		uint8_t b;

		if (*pos >= len || shift > 30)
			return -1;
		b = t[(*pos)++];
		if (b & 0x80)
			return -1;
		val |= (uint32_t)(b & 0x3f) << shift;
		if (!(b & 0x40))
			break;
		shift += 6;
	}
	*out = val;
	return 0;
}

static int read_svarint(const uint8_t *t, size_t len, size_t *pos, int64_t *out)
{
	uint32_t v;

	if (read_varint(t, len, pos, &v) < 0)
		return -1;
	*out = (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
	return 0;
}

/* 3.11+ location table. Each entry starts with a byte with bit 7 set:
 * code = (b >> 3) & 15, covering (b & 7) + 1 code units of 2 bytes.
 * Codes 0-9: short form, same line (one column byte follows);
 * 10-12: one-line form, line delta code - 10 (two column bytes follow);
 * 13: no columns, svarint line delta;
 * 14: long form, svarint line delta, then end line delta, column + 1 and
 *     end column + 1 as varints;
 * 15: no location (line -1, running line unchanged). */
static int locations311_line(const uint8_t *t, size_t len, int firstlineno, uint32_t offset)
{
	int64_t line = firstlineno;
	uint64_t end = 0;
	size_t pos = 0;

	while (pos < len) {
		uint8_t first = t[pos++];
		unsigned int code = (first >> 3) & 15;
		uint64_t start = end;
		int64_t delta = 0;
		int no_line = 0;

		if (!(first & 0x80))
			return -1;
		end += 2u * ((first & 7u) + 1u);
		if (code <= 9) {
			if (pos >= len)
				return -1;
			pos++;
		} else if (code <= 12) {
			delta = code - 10;
			if (pos + 2 > len)
				return -1;
			pos += 2;
		} else if (code == 13) {
			if (read_svarint(t, len, &pos, &delta) < 0)
				return -1;
		} else if (code == 14) {
			uint32_t skip;

			if (read_svarint(t, len, &pos, &delta) < 0)
				return -1;
			for (int k = 0; k < 3; k++)
				if (read_varint(t, len, &pos, &skip) < 0)
					return -1;
		} else {
			no_line = 1;
		}
		line += delta;
		if (line < INT_MIN || line > INT_MAX)
			return -1;
		if (start <= offset && offset < end)
			return no_line ? -1 : line_or_fail(line);
	}
	return -1;
}

int pyh_linetable_line(enum pyh_linetable_kind kind, const uint8_t *table, size_t len,
		       int firstlineno, uint32_t offset)
{
	if (!table && len)
		return -1;
	switch (kind) {
	case PYH_LNOTAB_27:
		return lnotab_line(table, len, firstlineno, offset, 0);
	case PYH_LNOTAB_36:
		return lnotab_line(table, len, firstlineno, offset, 1);
	case PYH_LINETABLE_310:
		return linetable310_line(table, len, firstlineno, offset);
	case PYH_LOCATIONS_311:
		return locations311_line(table, len, firstlineno, offset);
	}
	return -1;
}
