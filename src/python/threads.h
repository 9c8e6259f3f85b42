/* The interpreter's thread states, and which one holds the GIL. */
#ifndef PYH_PYTHON_THREADS_H
#define PYH_PYTHON_THREADS_H
#include <stdint.h>
#include "python/target.h"

struct pyh_pythread {
	uint64_t tstate;	/* PyThreadState address */
	uint64_t interp;	/* its PyInterpreterState */
	uint64_t thread_id;	/* pthread_t */
	pid_t tid;		/* OS thread id, 0 when it could not be matched */
	uint64_t frame;		/* innermost frame (PyFrameObject or _PyInterpreterFrame), 0 if none */
};

#define PYH_MAX_THREADS 4096
#define PYH_MAX_INTERPS 64

/* The innermost frame of the thread state at tstate, read now (0: none).
 * Returns 0 or -errno (*top 0). */
int pyh_thread_top(const struct pyh_target *t, uint64_t tstate, uint64_t *top);

/* Read every thread state of every interpreter (at most max; cycles and
 * garbage stop the walk). Matches each to its OS tid (native_thread_id on 3.11+,
 * else pthread_t via the fs base of each thread). *gil_holder is the tstate
 * that holds the GIL, 0 when none does or it is unknown.
 * Returns 0 with *n, or -errno when not even the first interpreter is readable. */
int pyh_threads_read(const struct pyh_target *t, struct pyh_pythread *out, int max, int *n,
		     uint64_t *gil_holder);
#endif
