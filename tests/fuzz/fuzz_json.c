/* libFuzzer: JSON string escaping of arbitrary bytes (names and paths from a target). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	FILE *f = fopen("/dev/null", "w");

	if (s && f) {
		memcpy(s, data, size);
		s[size] = '\0';
		pyh_json_write_string(f, s);
	}
	if (f)
		fclose(f);
	free(s);
	return 0;
}
