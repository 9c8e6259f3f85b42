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

/* Read the payload of the bytes object at addr (str on 2.7) into a malloc'ed
 * buffer of *len bytes. Refuses objects longer than max (-E2BIG).
 * Returns 0 and *data (caller frees; one NUL byte follows the payload), or -errno
 * with *data NULL and *len 0. */
int pyh_pybytes_read(pid_t pid, const struct pyh_layout *l, uint64_t addr, size_t max,
		     uint8_t **data, size_t *len);

/* Encode n code points of `kind` (1, 2 or 4 bytes each) at src as UTF-8 into out.
 * Lone surrogates and code points > 0x10FFFF become U+FFFD.
 * Returns bytes written (out is always NUL-terminated; output cut at a character boundary). */
size_t pyh_ucs_to_utf8(const void *src, size_t n, int kind, char *out, size_t outsz);

#define PYH_STR_MAX_CHARS 4096
#endif
