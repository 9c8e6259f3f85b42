/* Walking one thread's Python frames, innermost first. */
#ifndef PYH_PYTHON_FRAMES_H
#define PYH_PYTHON_FRAMES_H
#include <stdint.h>
#include "python/target.h"

struct pyh_rawframe {
	uint64_t code;		/* PyCodeObject address */
	uint32_t offset;	/* byte offset of the current instruction in the code */
	int offset_valid;
};

#define PYH_MAX_FRAMES 4096

/* Walk from frame (as in struct pyh_pythread) through f_back/previous, skipping
 * C-stack shim frames, at most max frames. A cycle, an unreadable frame or a
 * non-code f_code ends the walk and sets *broken to a reason ("cycle",
 * "unreadable frame", "not a code object"); hitting max sets *truncated.
 * Returns the number of frames written (>= 0). */
int pyh_frames_walk(const struct pyh_target *t, uint64_t frame, struct pyh_rawframe *out, int max,
		    int *truncated, const char **broken);
#endif
