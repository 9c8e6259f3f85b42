/* Named frames for unit tests: a struct pyh_frame holding a code info made
 * up here (no target involved). Release each with pyh_frame_release(). */
#ifndef PYH_TEST_FRAME_FIXTURE_H
#define PYH_TEST_FRAME_FIXTURE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/stack.h"

static inline struct pyh_frame pyh_test_frame(const char *fn, const char *qual, const char *file,
					      int line)
{
	struct pyh_code_info *ci = pyh_code_info_make(fn, qual, file, line);
	struct pyh_frame f;

	memset(&f, 0, sizeof(f));
	if (!ci)
		abort();
	f.ci = ci;
	f.code = (uint64_t)(uintptr_t)ci;
	f.line = line;
	return f;
}

static inline void pyh_test_frames_release(struct pyh_frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pyh_frame_release(&f[i]);
}
#define PYH_TEST_RELEASE(arr) pyh_test_frames_release(arr, sizeof(arr) / sizeof(arr[0]))
#endif
