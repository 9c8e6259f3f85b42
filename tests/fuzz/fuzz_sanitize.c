/* libFuzzer: the text sanitizer (names, paths, command lines and source
 * lines come from targets). Whatever the input, the output must be valid
 * UTF-8 without a C0/C1 control or DEL, the length must be what it claims,
 * and a cut output must be a prefix of the whole one. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/sanitize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *out, small[17];
	size_t need, got;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	need = pyh_sanitize(in, NULL, 0);
	out = malloc(need + 1);
	if (out) {
		got = pyh_sanitize(in, out, need + 1);
		if (got != need || strlen(out) != need)
			abort();
		for (size_t i = 0; i < need;) {
			int k = pyh_utf8_len((const unsigned char *)out + i, need - i);
			unsigned char c = (unsigned char)out[i];

			if (k == 0 || c < 0x20 || c == 0x7f || (k == 2 && c == 0xc2 && (unsigned char)out[i + 1] < 0xa0))
				abort();
			i += (size_t)k;
		}
		pyh_sanitize(in, small, sizeof(small));
		if (strncmp(small, out, strlen(small)))
			abort();
		free(out);
	}
	free(in);
	return 0;
}
