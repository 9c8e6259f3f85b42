/* Fields of a struct copied out of the target, located by a pyh_layout offset. */
#ifndef PYH_PYTHON_FIELDS_H
#define PYH_PYTHON_FIELDS_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pyhang/layout.h"

/* The width-byte (<= 8) field at off in a copy of bufsz bytes; 0 when the
 * version lacks the field (PYH_NO_FIELD) or it lies outside the copy. */
static inline uint64_t pyh_field(const uint8_t *buf, size_t bufsz, uint32_t off, size_t width)
{
	uint64_t v = 0;

	if (off == PYH_NO_FIELD || width > 8 || (size_t)off + width > bufsz)
		return 0;
	memcpy(&v, buf + off, width);
	return v;
}

/* Bytes to copy from a struct so that the 8-byte fields at offs[0..n) are
 * inside (PYH_NO_FIELD ignored), at least 8 and at most cap. */
static inline size_t pyh_field_span(const uint32_t *offs, size_t n, size_t cap)
{
	size_t end = 8;

	for (size_t i = 0; i < n; i++)
		if (offs[i] != PYH_NO_FIELD && (size_t)offs[i] + 8 > end)
			end = (size_t)offs[i] + 8;
	return end > cap ? cap : end;
}
#endif
