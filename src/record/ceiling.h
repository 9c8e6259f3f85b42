/* The user side of the code-version ceiling (pyhang/sample.h,
 * PYH_SAMPLE_CEILING): a sample that carries the target's code-version
 * counter instead of its frames' fingerprints gets each frame's fingerprint
 * from the code object read AFTER the sample, when that is sound, and a
 * marker that names no code (PYH_CODE_FP_REPLACED) when it is not.
 *
 * Why it is sound. At the sample, every code object alive had
 * 0 < co_version < ceiling (versions come from one counter: on 3.13+ the
 * main interpreter's, on 3.12 the process's, and the sampler sends a
 * ceiling only while no other interpreter was ever made), and every code object
 * made after it gets co_version >= ceiling. The frame held its code object X alive at the sample, and objects
 * do not move. So an object read at X's address after the sample whose
 * version is below the ceiling was made before the sample, and was at that
 * address from then until the read: it is X (or the bytes X left when it was
 * freed, which still name it); one at or above the ceiling was made after X
 * was freed: X was replaced, and the frame is not named from it.
 * Two more facts let a read made BEFORE a sample stand for it, or a version
 * 0 count:
 * - The counter is read just before the objects: when it equals the sample's
 *   ceiling, no code object was made between that read and the sample (each
 *   one made moves the counter, and 0 — run out — never gives a ceiling), so
 *   the object read is the one the sample's frame ran.
 * - Only a static code object (3.13+'s _Py_InitCleanup, the shim frame of a
 *   class call that runs __init__) has version 0 while the counter has not
 *   run out; the counter is read again just after the objects, and a static
 *   object never moves or dies.
 * What this cannot see, as the sampler's own fingerprint cannot either: an
 * object caught by the read while it is being made (its type set, its
 * version not yet) shows the bytes that lay there before.
 *
 * The same first fact lets the collector count a stack it named from a
 * ceiling sample again for a later sample of the same frames with the same
 * ceiling, without looking at anything (record/collector.c).
 *
 * Reads: one process_vm_readv per sample that has frames not in the memo or
 * whose memo entry cannot stand for the sample — per distinct address per
 * drain of the ring at most, none while no code object is made. */
#ifndef PYH_RECORD_CEILING_H
#define PYH_RECORD_CEILING_H
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/layout.h"

/* What one read found at a code object's address. */
struct pyh_ceil_entry {
	uint64_t addr;		/* 0: an empty memo slot */
	int64_t read_ns;	/* CLOCK_MONOTONIC taken before the read (bpf_ktime_get_ns's clock) */
	uint32_t version;	/* co_version read */
	uint32_t counter_before; /* the counter read just before the object (0: unreadable) */
	uint8_t readable;	/* the object's bytes were read */
	uint8_t code;		/* its ob_type was the code type */
	uint8_t counter_after;	/* the counter read just after the object was not 0 */
	uint8_t _pad[5];
};

/* Whether e (as read) names the code object a frame of a sample taken at
 * ktime_ns (CLOCK_MONOTONIC ns) with code_ceiling ceiling ran:
 * 1: yes, its fingerprint is pyh_ceiling_fp(e); 0: no (replaced, not a code
 * object, unreadable): the frame is not named; -1: e cannot tell (read before
 * the sample while code objects were made since): read it again. A read taken
 * after the sample always tells (1 or 0). */
int pyh_ceiling_judge(const struct pyh_ceil_entry *e, uint64_t ktime_ns, uint32_t ceiling);

/* pyh_code_fp() of e's version: what the sampler takes (pyhang/frame.h). */
uint64_t pyh_ceiling_fp(const struct pyh_ceil_entry *e);

/* Read the n code objects at addrs[0..n) of process pid into out[0..n): one
 * process_vm_readv of the counter at counter_ptr, each object's ob_type ..
 * co_version, and the counter again (a read cut short is done again one
 * object at a time). code_type is &PyCode_Type in the target. read_ns is
 * taken before. n <= PYH_CEIL_MAX_READ. Returns 0 with out filled (objects
 * that could not be read have readable 0), -EINVAL on bad arguments or
 * -ENOMEM (out untouched), -ESRCH when the process is gone (out filled
 * unreadable). */
#define PYH_CEIL_MAX_READ 256
int pyh_ceiling_read(pid_t pid, const struct pyh_layout *l, uint64_t code_type, uint64_t counter_ptr,
		     const uint64_t *addrs, int n, struct pyh_ceil_entry *out);

/* out[0..n) for addrs[0..n) as not read, as of now (CLOCK_MONOTONIC): what
 * pyh_ceiling_read fills before it reads; a caller whose read did not happen
 * at all gives its frames this (named as unknown code, never guessed). */
void pyh_ceiling_unread(const uint64_t *addrs, int n, struct pyh_ceil_entry *out);

/* The memo of one target: the last read of each address, in PYH_CEIL_SETS
 * sets of PYH_CEIL_WAYS entries picked by the address (64 KiB: a stack of
 * 256 distinct code objects fits, its addresses rarely more than 4 to a
 * set); an address new to a full set replaces the one read longest ago. */
#define PYH_CEIL_SETS 512
#define PYH_CEIL_WAYS 4
#define PYH_CEIL_SLOTS (PYH_CEIL_SETS * PYH_CEIL_WAYS)
struct pyh_ceil_memo {
	struct pyh_ceil_entry e[PYH_CEIL_SETS][PYH_CEIL_WAYS];
};

/* The entry for addr, NULL when the memo has none. */
const struct pyh_ceil_entry *pyh_ceiling_lookup(const struct pyh_ceil_memo *m, uint64_t addr);
/* Keep e: in place of the entry of its address, or of an empty one, or of
 * the one of its set read longest ago. */
void pyh_ceiling_store(struct pyh_ceil_memo *m, const struct pyh_ceil_entry *e);
#endif
