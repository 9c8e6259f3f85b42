/* libFuzzer: every line-table format on arbitrary bytes and offsets. */
#include <stdint.h>
#include <string.h>

#include "python/linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t offset;
	int firstlineno;

	if (size < 9)
		return 0;
	memcpy(&offset, data, 4);
	memcpy(&firstlineno, data + 4, 4);
	for (int kind = PYH_LNOTAB_27; kind <= PYH_LOCATIONS_311; kind++)
		pyh_linetable_line((enum pyh_linetable_kind)kind, data + 8, size - 8, firstlineno,
				   offset % 4096);
	return 0;
}
