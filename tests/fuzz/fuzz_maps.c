/* libFuzzer: /proc/PID/maps lines (a path in a container can be anything). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc/maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	char perms[5], path[PATH_MAX];
	uint64_t start, end, offset;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	pyh_maps_parse_line(line, &start, &end, perms, &offset, path, sizeof(path));
	free(line);
	return 0;
}
