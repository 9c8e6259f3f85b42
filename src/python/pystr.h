/* Strings and bytes read out of the target: 2.7 str, 3.x PEP 393 str, bytes. */
#ifndef PYH_PYTHON_PYSTR_H
#define PYH_PYTHON_PYSTR_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "pyhang/layout.h"

/* Read the text of the string object at addr as UTF-8 into out (NUL-terminated).
 * For 2.7 (str_kind BYTES) the bytes are copied as they are. At most
 * PYH_STR_MAX_CHARS characters are read; longer strings are cut and end in "...".
 * Returns the byte length written, or -errno: -EFAULT unreadable, -EINVAL not a
 * well-formed string (bad kind bits, non-compact, negative length) or outsz 0,
 * -ENOMEM. When out is too small the text is cut at a character boundary and
 * ends in "..." as well (2.7 bytes: cut by bytes). */
int pyh_pystr_read(pid_t pid, const struct pyh_layout *l, uint64_t addr, char *out, size_t outsz);
/* pyh_pystr_read takes the object's first PYH_STR_HEAD_READ bytes (fewer where
 * its mapping ends) in its first read: header and, for a short compact str,
 * all of its text, in one system call. */
#define PYH_STR_HEAD_READ 256
/* The same with the object's first headlen bytes already read into head
 * (NULL or 0: none): only what head does not hold is read from the target.
 * The result is the one pyh_pystr_read gives when those bytes are the
 * object's. */
int pyh_pystr_read_head(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			const uint8_t *head, size_t headlen, char *out, size_t outsz);

/* Read the payload of the bytes object at addr (str on 2.7) into a malloc'ed
 * buffer of *len bytes. Refuses objects longer than max (-E2BIG).
 * Returns 0 and *data (caller frees; one NUL byte follows the payload), or -errno
 * with *data NULL and *len 0. */
int pyh_pybytes_read(pid_t pid, const struct pyh_layout *l, uint64_t addr, size_t max,
		     uint8_t **data, size_t *len);

/* The length of the bytes object at addr (str on 2.7), and where its payload
 * starts is addr + l->bytes_data. Returns 0 with *len, or -errno. */
int pyh_pybytes_size(pid_t pid, const struct pyh_layout *l, uint64_t addr, size_t *len);

/* pyh_pybytes_read and pyh_pybytes_size with the object's first headlen bytes
 * already read into head (NULL: none): only the rest is read from the target. */
int pyh_pybytes_read_head(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			  const uint8_t *head, size_t headlen, size_t max, uint8_t **data,
			  size_t *len);
int pyh_pybytes_size_head(pid_t pid, const struct pyh_layout *l, uint64_t addr,
			  const uint8_t *head, size_t headlen, size_t *len);

/* Encode n code points of `kind` (1, 2 or 4 bytes each) at src as UTF-8 into out.
 * Lone surrogates and code points > 0x10FFFF become U+FFFD.
 * Returns bytes written (out is always NUL-terminated; output cut at a character boundary). */
size_t pyh_ucs_to_utf8(const void *src, size_t n, int kind, char *out, size_t outsz);

/* Where a PEP 393 str (3.3+) keeps its header fields and text: offsets into
 * the object and the bit positions of kind (3 bits), compact and ascii in the
 * 32-bit state word. legacy_data (PyUnicodeObject.data.any, the text pointer
 * of a non-compact str such as a str subclass instance) may be PYH_NO_FIELD. */
struct pyh_strshape {
	uint32_t length, state, ascii_data, compact_data, legacy_data;
	uint8_t kind_shift, compact_bit, ascii_bit;
};

/* The shape struct pyh_layout describes (kind at unicode_kind_shift). */
void pyh_strshape_from_layout(const struct pyh_layout *l, struct pyh_strshape *out);

/* Where the text of a str is: its code units start at data, each kind (1, 2
 * or 4) bytes wide, length of them. */
struct pyh_strtext {
	uint64_t data;
	int kind;
	uint64_t length;
};

/* Read the header of the str at addr and locate its text. Checks the kind
 * bits, that an ASCII string is of kind 1, that the length is not negative
 * and, for a non-compact str, that its text pointer is set.
 * Returns 0 with *out filled, -EFAULT when unreadable, -EINVAL when not a
 * well-formed str (or shape unusable); *out untouched on failure. */
int pyh_pystr_locate(pid_t pid, const struct pyh_strshape *sh, uint64_t addr,
		     struct pyh_strtext *out);
/* The same with the object's first hdrlen bytes already read into hdr (used
 * where they hold the header; read from the target otherwise). */
int pyh_pystr_locate_head(pid_t pid, const struct pyh_strshape *sh, uint64_t addr,
			  const uint8_t *hdr, size_t hdrlen, struct pyh_strtext *out);

#define PYH_STR_MAX_CHARS 4096
#endif
