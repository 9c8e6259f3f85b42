/* libFuzzer: the AsyncioDebug section decoder (asyncio/aiolayout.h) on
 * arbitrary bytes, as a corrupt or hostile _asyncio could hold them: offsets
 * and struct sizes of any value. It must return 0 or -EINVAL, leave its
 * output untouched on failure, and on success give only offsets inside a
 * struct of at most 16 MiB, the task's own fields past the Future's state. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio/aiolayout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[4096];
	const struct pyh_aiolayout *tab;
	struct pyh_aiolayout l, before;
	char err[256];
	int mismatch = -1, rc;

	if (size < 1)
		return 0;
	tab = pyh_aiolayout_table(3, 14, data[0] & 1);
	if (!tab)
		abort();
	l = *tab;
	if (data[0] & 2)
		l.version_hex = 0x030d00f0;	/* a section in a 3.13 is refused */
	before = l;
	if (size - 1 > sizeof(buf))
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 4) {
		/* plausible words, to reach past the range checks: sizes (words 0,
		 * 7, 9) of 1 .. 1024 bytes, offsets below 1024 */
		for (size_t i = 0; i + 8 <= size - 1; i += 8) {
			uint64_t w;

			memcpy(&w, buf + i, 8);
			w = (i / 8 == 0 || i / 8 == 7 || i / 8 == 9) ? 1 + w % 1024 : w % 1024;
			memcpy(buf + i, &w, 8);
		}
	}
	rc = pyh_aiolayout_from_debug(buf, size - 1, &l, &mismatch, err, sizeof(err));
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (strnlen(err, sizeof(err)) >= sizeof(err))
		abort();
	if (rc) {
		if (memcmp(&l, &before, sizeof(l)) || !err[0])
			abort();
		return 0;
	}
	if ((before.version_hex >> 16) < 0x030e || size - 1 < PYH_ASYNCIO_DEBUG_SIZE)
		abort();
	if (l.task_coro >= (16u << 20) || l.task_name >= (16u << 20) || l.task_node >= (16u << 20) ||
	    l.task_coro <= l.fut_state || mismatch < 0)
		abort();
	return 0;
}
