/* libFuzzer: _Py_DebugOffsets parsing of arbitrary bytes (a hostile target's _PyRuntime). */
#include <stdint.h>
#include <string.h>

#include "python/layouts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[PYH_DEBUG_OFFSETS_READ] = { 0 };
	struct pyh_layout l;
	char err[128];

	/* Mostly-valid inputs: keep the cookie so the parser gets past it. */
	memcpy(buf, "xdebugpy", 8);
	memcpy(buf + 8, data, size < sizeof(buf) - 8 ? size : sizeof(buf) - 8);
	pyh_layout_from_debug_offsets(buf, sizeof(buf), &l, err, sizeof(err));
	pyh_layout_from_debug_offsets(data, size, &l, err, sizeof(err));
	return 0;
}
