/* The C walker: one thread's Python frames read from user space with
 * process_vm_readv, by the frame rule the BPF sampler uses (pyhang/frame.h). */
#ifndef PYH_PYTHON_FRAMES_H
#define PYH_PYTHON_FRAMES_H
#include <stdint.h>

#include "pyhang/frame.h"
#include "python/target.h"

#define PYH_MAX_FRAMES 4096

/* Walk from top (a thread's innermost frame, as struct pyh_pythread has it)
 * toward the root, taking at most max (<= PYH_MAX_FRAMES) Python frames into
 * out[], innermost first, and each frame's address into addrs[] when addrs is
 * not NULL. Never reads a frame twice and never more than
 * PYH_WALK_MAX_STEPS(max) frames. Returns the number of frames taken (>= 0);
 * *status says why the walk ended (PYH_WALK_END: the chain's end was reached). */
int pyh_frames_walk(const struct pyh_target *t, uint64_t top, struct pyh_raw_frame *out,
		    uint64_t *addrs, int max, enum pyh_walk_status *status);

/* Why a walk ended, for people: NULL for PYH_WALK_END and PYH_WALK_TRUNCATED
 * (a whole or a deliberately cut stack), else "unreadable frame", ... */
const char *pyh_walk_status_text(enum pyh_walk_status s);

/* The innermost frame of the thread state at tstate, from its tstate_frame
 * field as read (tstate_field), following 3.11/3.12's _PyCFrame. Returns 0
 * with *top (0: no Python frame), or -errno. */
int pyh_frames_top(const struct pyh_target *t, uint64_t tstate_field, uint64_t *top);
#endif
