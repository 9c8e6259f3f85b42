/* Text that came from a target, made safe to show: the one rule for every
 * text output (dump and watch text, headers and labels, messages on stderr,
 * folded stacks, SVG titles) and the one UTF-8 rule of every writer.
 *
 * A target controls its thread names, function and file names, command line
 * and the contents of its files. Shown raw, ESC [ ... or ESC ] 52 ; ... BEL
 * would drive the operator's terminal (clear it, hide text, write the
 * clipboard). So, in what pyh_sanitize writes:
 *   - C0 controls (0x00-0x1f), DEL (0x7f) and the C1 controls (U+0080-U+009F)
 *     are escaped, byte by byte: ESC is "\x1b", U+009B is "\xc2\x9b";
 *   - each byte that does not start a valid UTF-8 sequence (overlong forms,
 *     surrogates, > U+10FFFF, truncated sequences, stray continuation bytes)
 *     is escaped the same way: a lone surrogate ED A0 80 is "\xed\xa0\x80";
 *   - the bidirectional overrides and isolates (U+202A-U+202E,
 *     U+2066-U+2069), which reorder what a terminal shows, are "\u202e";
 *   - everything else (printable ASCII, valid UTF-8 text) passes unchanged.
 * A backslash passes unchanged: the output is for people, not to be parsed
 * back, and no backslash sequence does anything to a terminal. */
#ifndef PYH_OUTPUT_SANITIZE_H
#define PYH_OUTPUT_SANITIZE_H
#include <stddef.h>
#include <stdio.h>

/* Length (1-4) of the valid UTF-8 sequence at s, of which at most n bytes may
 * be read; 0 when s does not start one (see above). ASCII, controls included,
 * is 1: the caller decides about controls. */
int pyh_utf8_len(const unsigned char *s, size_t n);

/* Write the sanitized form of s (NULL: "") into out, at most outsz - 1 bytes
 * and a NUL, never cutting inside an escape or a character. Returns the
 * length the whole result has (like snprintf): >= outsz means it was cut. */
size_t pyh_sanitize(const char *s, char *out, size_t outsz);

/* pyh_sanitize into buf, returning buf: for use as a printf argument. */
const char *pyh_safe(const char *s, char *buf, size_t bufsz);

/* Write the sanitized form of s (NULL: nothing) to f. */
void pyh_fput_safe(FILE *f, const char *s);

/* Bytes an escape may take per input byte, for sizing buffers: "\xNN". */
#define PYH_SANITIZE_GROWTH 4
#endif
