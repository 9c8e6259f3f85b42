/* Strings and bytes read out of the target: 2.7 str, 3.x PEP 393 str, bytes.
 *
 * Everything read from the target is data: lengths are checked for sign and
 * size before they drive a read, kind bits are checked before they choose a
 * decoder, and no read is longer than PYH_STR_MAX_CHARS characters. */
#include "python/pystr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"

/* PEP 393 state word bits: interned, then kind:3, compact:1, ascii:1, then
 * ready (<= 3.11) or statically_allocated (3.12+), which we do not need.
 * `interned` is 2 bits wide, a whole byte on 3.14t: the layout says where
 * kind starts (unicode_kind_shift); compact and ascii follow it. */
#define PYH_UNI_COMPACT_AFTER_KIND 3
#define PYH_UNI_ASCII_AFTER_KIND 4

/* Largest object header we accept from a layout (PyCompactUnicodeObject is
 * 72 bytes on 3.11, the largest of all versions). */
#define PYH_STR_MAX_HEADER 256

static const char pyh_ellipsis[] = "...";

/* Bytes needed to encode code point c (after replacement) as UTF-8. */
static size_t utf8_len(uint32_t c)
{
	if (c < 0x80)
		return 1;
	if (c < 0x800)
		return 2;
	if (c < 0x10000)
		return 3;
	return 4;
}

static size_t utf8_put(uint32_t c, char *o)
{
	unsigned char *u = (unsigned char *)o;

	if (c < 0x80) {
		u[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		u[0] = (unsigned char)(0xc0 | (c >> 6));
		u[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (c >> 12));
		u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | (c >> 18));
	u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	u[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* pyh_ucs_to_utf8, also telling how many code points went into out. */
static size_t ucs_encode(const void *src, size_t n, int kind, char *out, size_t outsz,
			 size_t *consumed)
{
	const uint8_t *s = src;
	size_t w = 0, i = 0;

	*consumed = 0;
	if (!out || outsz == 0)
		return 0;
	out[0] = '\0';
	if (!src || (kind != 1 && kind != 2 && kind != 4))
		return 0;
	for (; i < n; i++) {
		uint32_t c;

		if (kind == 1) {
			c = s[i];
		} else if (kind == 2) {
			uint16_t v;

			memcpy(&v, s + 2 * i, sizeof(v)); /* the buffer may be unaligned */
			c = v;
		} else {
			memcpy(&c, s + 4 * i, sizeof(c));
		}
		if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			c = 0xfffd;
		if (w + utf8_len(c) + 1 > outsz)
			break;
		w += utf8_put(c, out + w);
	}
	out[w] = '\0';
	*consumed = i;
	return w;
}

size_t pyh_ucs_to_utf8(const void *src, size_t n, int kind, char *out, size_t outsz)
{
	size_t consumed;

	return ucs_encode(src, n, kind, out, outsz, &consumed);
}

/* Cut out (w bytes of UTF-8, outsz >= 4) back to a character boundary that
 * leaves room for "...", and append it. Returns the new length. */
static size_t add_ellipsis(char *out, size_t w, size_t outsz)
{
	size_t room = sizeof(pyh_ellipsis); /* 3 dots + NUL */

	if (outsz < room) {
		out[0] = '\0';
		return 0;
	}
	if (w + room > outsz)
		w = outsz - room;
	/* step back over continuation bytes so no character is split */
	while (w > 0 && ((unsigned char)out[w] & 0xc0) == 0x80)
		w--;
	memcpy(out + w, pyh_ellipsis, room);
	return w + room - 1;
}

/* 2.7 str (or any bytes-like object): ob_size at bytes_size, data at bytes_data.
 * head: the object's first headlen bytes, read before (NULL: none). */
static int read_bytes_size(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			   const uint8_t *head, size_t headlen, int64_t *size)
{
	int err;

	if (l->bytes_size == PYH_NO_FIELD || l->bytes_data == PYH_NO_FIELD)
		return -EINVAL;
	err = pyh_mem_read_from(pid, head, addr, headlen, addr + l->bytes_size, size, sizeof(*size));
	if (err)
		return err;
	if (*size < 0)
		return -EINVAL;
	return 0;
}

static int read_str27(pid_t pid, const struct pyh_layout *l, uint64_t addr, const uint8_t *head,
		      size_t headlen, char *out, size_t outsz)
{
	int64_t size;
	size_t n;
	int cut = 0;
	int err;

	err = read_bytes_size(pid, l, addr, head, headlen, &size);
	if (err)
		return err;
	n = (size_t)size;
	if (n > PYH_STR_MAX_CHARS) {
		n = PYH_STR_MAX_CHARS;
		cut = 1;
	}
	if (n > outsz - 1) {
		n = outsz - 1;
		cut = 1;
	}
	err = pyh_mem_read_from(pid, head, addr, headlen, addr + l->bytes_data, out, n);
	if (err)
		return err;
	out[n] = '\0';
	/* 2.7 bytes may not be UTF-8: the ellipsis is placed by byte count */
	if (cut) {
		if (outsz < sizeof(pyh_ellipsis)) {
			out[0] = '\0';
			return 0;
		}
		if (n + sizeof(pyh_ellipsis) > outsz)
			n = outsz - sizeof(pyh_ellipsis);
		memcpy(out + n, pyh_ellipsis, sizeof(pyh_ellipsis));
		n += sizeof(pyh_ellipsis) - 1;
	}
	return (int)n;
}

void pyh_strshape_from_layout(const struct pyh_layout *l, struct pyh_strshape *out)
{
	*out = (struct pyh_strshape){
		.length = l->unicode_length, .state = l->unicode_state,
		.ascii_data = l->unicode_ascii_data, .compact_data = l->unicode_compact_data,
		.legacy_data = PYH_NO_FIELD,
		.kind_shift = (uint8_t)l->unicode_kind_shift,
		.compact_bit = (uint8_t)(l->unicode_kind_shift + PYH_UNI_COMPACT_AFTER_KIND),
		.ascii_bit = (uint8_t)(l->unicode_kind_shift + PYH_UNI_ASCII_AFTER_KIND),
	};
}

int pyh_pystr_locate(pid_t pid, const struct pyh_strshape *sh, uint64_t addr,
		     struct pyh_strtext *out)
{
	return pyh_pystr_locate_head(pid, sh, addr, NULL, 0, out);
}

int pyh_pystr_locate_head(pid_t pid, const struct pyh_strshape *sh, uint64_t addr,
			  const uint8_t *head, size_t headlen, struct pyh_strtext *out)
{
	uint8_t buf[PYH_STR_MAX_HEADER];
	const uint8_t *hdr = buf;
	uint32_t state, kind;
	uint64_t data;
	int64_t length;
	size_t need;
	int err;

	if (!sh || sh->ascii_data > PYH_STR_MAX_HEADER || sh->compact_data > PYH_STR_MAX_HEADER ||
	    sh->ascii_data < sizeof(int64_t) || sh->length > sh->ascii_data - sizeof(int64_t) ||
	    sh->state > sh->ascii_data - sizeof(uint32_t) || sh->kind_shift > 29 ||
	    sh->compact_bit > 31 || sh->ascii_bit > 31)
		return -EINVAL;
	if (addr == 0)
		return -EFAULT;
	/* only PyASCIIObject is sure to exist: an ASCII string's data follows it */
	need = sh->ascii_data;
	if (head && headlen >= need) {
		hdr = head;
	} else {
		err = pyh_mem_read(pid, addr, buf, need);
		if (err)
			return err;
	}
	memcpy(&state, hdr + sh->state, sizeof(state));
	memcpy(&length, hdr + sh->length, sizeof(length));
	kind = (state >> sh->kind_shift) & 7u;
	if ((kind != 1 && kind != 2 && kind != 4) || length < 0)
		return -EINVAL;
	if (((state >> sh->ascii_bit) & 1u) && kind != 1)
		return -EINVAL;
	if ((state >> sh->compact_bit) & 1u) {
		data = addr + (((state >> sh->ascii_bit) & 1u) ? sh->ascii_data : sh->compact_data);
	} else {
		/* a legacy (non-compact) str: its text is in a block of its own */
		if (sh->legacy_data == PYH_NO_FIELD ||
		    sh->legacy_data > PYH_STR_MAX_HEADER ||
		    pyh_mem_read_u64(pid, addr + sh->legacy_data, &data) || data == 0)
			return -EINVAL;
	}
	out->data = data;
	out->kind = (int)kind;
	out->length = (uint64_t)length;
	return 0;
}

static int read_unicode(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			const uint8_t *head, size_t headlen, char *out, size_t outsz)
{
	struct pyh_strshape sh;
	struct pyh_strtext text;
	uint8_t *data = NULL;
	size_t n, w, done;
	int cut = 0;
	int err;

	pyh_strshape_from_layout(l, &sh);
	err = pyh_pystr_locate_head(pid, &sh, addr, head, headlen, &text);
	if (err)
		return err;
	n = (size_t)text.length;
	if (n > PYH_STR_MAX_CHARS) {
		n = PYH_STR_MAX_CHARS;
		cut = 1;
	}
	/* no point reading more characters than could be written (each >= 1 byte) */
	if (n > outsz - 1) {
		n = outsz - 1;
		cut = 1;
	}
	data = malloc(n * (size_t)text.kind + 1);
	if (!data)
		return -ENOMEM;
	/* a compact str's text follows its header: often all in head already */
	err = pyh_mem_read_from(pid, head, addr, headlen, text.data, data, n * (size_t)text.kind);
	if (err)
		goto cleanup;
	w = ucs_encode(data, n, text.kind, out, outsz, &done);
	if (cut || done < n) /* cut here, or out too small for all of it */
		w = add_ellipsis(out, w, outsz);
	err = (int)w;
cleanup:
	free(data);
	return err;
}

int pyh_pystr_read_head(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			const uint8_t *head, size_t headlen, char *out, size_t outsz)
{
	if (!out || outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!l || addr == 0)
		return -EFAULT;
	if (!head)
		headlen = 0;
	switch (l->str_kind) {
	case PYH_STR_BYTES:
		return read_str27(pid, l, addr, head, headlen, out, outsz);
	case PYH_STR_UNICODE:
		return read_unicode(pid, l, addr, head, headlen, out, outsz);
	}
	return -EINVAL;
}

int pyh_pystr_read(pid_t pid, const struct pyh_layout *l, uint64_t addr, char *out, size_t outsz)
{
	uint8_t head[PYH_STR_HEAD_READ];
	ssize_t got;

	if (!out || outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!l || addr == 0)
		return -EFAULT;
	/* Header and the start of the text in one read, as far as the mapping
	 * goes. Nothing readable: the reads below fail as they always did (one
	 * more system call, on the failing path only). */
	got = pyh_mem_read_some(pid, addr, head, sizeof(head));
	return pyh_pystr_read_head(pid, l, addr, head, got > 0 ? (size_t)got : 0, out, outsz);
}

int pyh_pybytes_size(pid_t pid, const struct pyh_layout *l, uint64_t addr, size_t *len)
{
	return pyh_pybytes_size_head(pid, l, addr, NULL, 0, len);
}

int pyh_pybytes_size_head(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			  const uint8_t *head, size_t headlen, size_t *len)
{
	int64_t size;
	int err;

	if (!l || !len || !addr)
		return -EFAULT;
	err = read_bytes_size(pid, l, addr, head, head ? headlen : 0, &size);
	if (err)
		return err;
	*len = (size_t)size;
	return 0;
}

int pyh_pybytes_read(pid_t pid, const struct pyh_layout *l, uint64_t addr, size_t max,
		     uint8_t **data, size_t *len)
{
	return pyh_pybytes_read_head(pid, l, addr, NULL, 0, max, data, len);
}

int pyh_pybytes_read_head(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			  const uint8_t *head, size_t headlen, size_t max, uint8_t **data,
			  size_t *len)
{
	uint8_t *buf = NULL;
	int64_t size;
	int err;

	if (!data || !len || !l)
		return -EINVAL;
	*data = NULL;
	*len = 0;
	if (addr == 0)
		return -EFAULT;
	if (!head)
		headlen = 0;
	err = read_bytes_size(pid, l, addr, head, headlen, &size);
	if (err)
		goto cleanup;
	if ((uint64_t)size > max || (uint64_t)size > PYH_MEM_MAX_READ) {
		err = -E2BIG;
		goto cleanup;
	}
	buf = malloc((size_t)size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = pyh_mem_read_from(pid, head, addr, headlen, addr + l->bytes_data, buf, (size_t)size);
	if (err)
		goto cleanup;
	buf[size] = 0; /* convenience for callers that treat it as text */
	*data = buf;
	*len = (size_t)size;
	buf = NULL;
cleanup:
	free(buf);
	return err;
}
