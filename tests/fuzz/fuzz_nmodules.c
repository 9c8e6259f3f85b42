/* libFuzzer: a whole /proc/PID/maps text grouped into modules (src/native/modules.c):
 * paths, orders and overlaps a target can arrange. Every module must be well formed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "native/modules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "r");
	struct pyh_nmodule *m = NULL;
	int n = 0;

	if (!f)
		return 0;
	if (pyh_nmodules_parse(f, &m, &n) == 0) {
		for (int i = 0; i < n; i++) {
			if (m[i].start > m[i].end || m[i].path[0] == '\0')
				abort();
			(void)pyh_nmodules_find(m, n, m[i].start);
		}
	}
	free(m);
	fclose(f);
	return 0;
}
