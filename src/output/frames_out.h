/* One frame, written the same way by every output that shows Python frames
 * (dump's and watch's text and JSON). */
#ifndef PYH_OUTPUT_FRAMES_OUT_H
#define PYH_OUTPUT_FRAMES_OUT_H
#include <stdio.h>

#include "output/json.h"
#include "python/stack.h"

/* "qualname (file:line)", "qualname (file)" without a line, "qualname" without
 * a file; indent first, newline after; names sanitized (output/sanitize.h). */
void pyh_text_frame(FILE *f, const char *indent, const struct pyh_frame *fr);

/* {"kind": "python", "function": …, "qualname": …, "file": … | null, "line": N | null}
 * ("kind" tells it from dump --native's native and kernel frames) as an
 * element of the array being written. */
void pyh_json_frame(struct pyh_json *j, const struct pyh_frame *fr);
/* The same four members, into the object being written (for callers that
 * add members of their own). */
void pyh_json_frame_fields(struct pyh_json *j, const struct pyh_frame *fr);
#endif
