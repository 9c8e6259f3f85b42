/* Each thread's callers as its last whole sample had them: what a record
 * sent without them (pyhang/sample.h, PYH_SAMPLE_CALLERS) gets back.
 *
 * A table of PYH_CALLERS_SLOTS threads, PYH_CALLERS_WAYS to a set by (pid,
 * tid); a thread new to a full set takes the place of the one whose callers
 * were used least recently. So it holds at most PYH_CALLERS_SLOTS threads'
 * callers, each at most PYH_SAMPLE_MAX_DEPTH - 1 frames (~6 KiB): its memory
 * is bounded whatever the targets do. A thread it no longer holds loses the
 * records sent without callers until the sampler sends the thread whole
 * again (it does at least every PYH_SAMPLE_WHOLE_NS): the caller counts them,
 * and never gives them anybody's callers, its own earlier ones included —
 * the callers are given back only under the hash and depth they came with.
 */
#ifndef PYHANG_RECORD_CALLERS_H
#define PYHANG_RECORD_CALLERS_H

#include <stdint.h>
#include <sys/types.h>

#include "pyhang/sample.h"

#define PYH_CALLERS_SLOTS 4096
#define PYH_CALLERS_WAYS 4

struct pyh_callers;

/* NULL when out of memory. */
struct pyh_callers *pyh_callers_new(void);
void pyh_callers_free(struct pyh_callers *t);

/* Keep frames[0..n) (1 <= n < PYH_SAMPLE_MAX_DEPTH, copied) as thread (pid,
 * tid)'s callers under hash, in place of what the thread had, with complete
 * (the caller's word on them: every one has its fingerprint). Returns 0, or
 * -1 (out of memory, or n out of range): the thread then has none. */
int pyh_callers_put(struct pyh_callers *t, pid_t pid, pid_t tid, uint64_t hash,
		    const struct pyh_raw_frame *frames, int n, int complete);

/* The thread's callers when they were kept under hash and are n frames,
 * with *complete as put; else NULL. Valid until the next put or forget. */
const struct pyh_raw_frame *pyh_callers_get(struct pyh_callers *t, pid_t pid, pid_t tid, uint64_t hash,
					    int n, int *complete);

/* Drop every thread of process pid (it is gone, or a new one has its PID). */
void pyh_callers_forget(struct pyh_callers *t, pid_t pid);

/* Threads held, and bytes of frames held (tests, -v). */
int pyh_callers_count(const struct pyh_callers *t);
size_t pyh_callers_bytes(const struct pyh_callers *t);

#endif
