/* Showing target text safely: one UTF-8 rule, one escape rule. */
#include "output/sanitize.h"

#include <string.h>

int pyh_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c, lo = 0x80, hi = 0xbf;
	int need;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates U+D800-DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* > U+10FFFF */
	} else {
		return 0;		/* continuation byte, C0/C1 lead, F5-FF */
	}
	if ((size_t)need > n || s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/* The code point of the valid sequence of length len at s. */
static unsigned codepoint(const unsigned char *s, int len)
{
	switch (len) {
	case 1: return s[0];
	case 2: return (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu);
	case 3: return (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
	default: return (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
	}
}

static int bidi_control(unsigned cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The next piece of s (n bytes left): *adv bytes are consumed; returns the
 * escape to write instead of them (in esc), or NULL to copy them as they are. */
static const char *next_piece(const unsigned char *s, size_t n, size_t *adv, char esc[16])
{
	static const char hex[] = "0123456789abcdef";
	int len = pyh_utf8_len(s, n);
	unsigned cp;
	size_t o = 0;

	if (len == 0) {			/* not UTF-8: this one byte */
		*adv = 1;
		goto bytes;
	}
	cp = codepoint(s, len);
	*adv = (size_t)len;
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
		goto bytes;		/* C0, DEL, C1: each byte */
	if (bidi_control(cp)) {
		esc[o++] = '\\';
		esc[o++] = 'u';
		for (int sh = 12; sh >= 0; sh -= 4)
			esc[o++] = hex[(cp >> sh) & 15];
		esc[o] = '\0';
		return esc;
	}
	return NULL;
bytes:
	for (size_t i = 0; i < *adv; i++) {
		esc[o++] = '\\';
		esc[o++] = 'x';
		esc[o++] = hex[s[i] >> 4];
		esc[o++] = hex[s[i] & 15];
	}
	esc[o] = '\0';
	return esc;
}

size_t pyh_sanitize(const char *str, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)s), total = 0, w = 0;
	int full = 0;

	while (n > 0) {
		char esc[16];
		size_t adv, plen;
		const char *piece = next_piece(s, n, &adv, esc);

		plen = piece ? strlen(piece) : adv;
		if (!full && outsz && w + plen < outsz) {
			memcpy(out + w, piece ? piece : (const char *)s, plen);
			w += plen;
		} else {
			full = 1;	/* never a piece cut in two */
		}
		total += plen;
		s += adv;
		n -= adv;
	}
	if (outsz)
		out[w] = '\0';
	return total;
}

const char *pyh_safe(const char *s, char *buf, size_t bufsz)
{
	pyh_sanitize(s, buf, bufsz);
	return bufsz ? buf : "";
}

void pyh_fput_safe(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	if (!s)
		return;
	n = strlen(str);
	while (n > 0) {
		char esc[16];
		size_t adv = 0, run = 0;
		const char *piece = NULL;

		/* Copy the longest run of bytes that pass, then one escape. */
		while (run < n && !(piece = next_piece(s + run, n - run, &adv, esc)))
			run += adv;
		if (run) {
			fwrite(s, 1, run, f);
			s += run;
			n -= run;
			continue;
		}
		fputs(piece, f);
		s += adv;
		n -= adv;
	}
}
