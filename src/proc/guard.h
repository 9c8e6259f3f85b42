/* Reading a target with a deadline, so that nothing a target does stalls
 * pyhang.
 *
 * Some reads of a target can block for as long as the target likes: opening
 * or reading a file on a FUSE file system it serves and stops answering (or a
 * dead NFS server), process_vm_readv on a page of such a file it maps, or
 * /proc/PID/maps while it holds its mmap lock in such a fault. No flag makes
 * those non-blocking, and a thread blocked in them cannot be woken. So the
 * work that reads one target runs as a job on another thread, and the
 * caller waits for it until a deadline. Threads are kept for later jobs
 * (up to PYH_GUARD_IDLE_WORKERS wait, each for 10 s at most): a job costs a
 * hand-over, not a thread start. A job that is slow rather than
 * blocked (it used at least 5% of a CPU over the last period: a loaded
 * machine, valgrind) gets another period, up to 30. A job that misses it is
 * abandoned:
 * the caller goes on (reports the target, skips it), the job's thread stays
 * blocked until the kernel lets it go, then finishes and frees what it owns.
 *
 * Ownership is the rule that makes this safe: a job owns its argument and
 * everything reachable from it; the caller may read the argument only when
 * pyh_guard_run returned 0, and never touches it after -ETIMEDOUT (the job's
 * release function frees it when the job ends, whenever that is). At most
 * PYH_GUARD_MAX_STALLED jobs may be abandoned and still blocked at once;
 * past that no new job is started (-EAGAIN), so stalled threads are bounded. */
#ifndef PYH_PROC_GUARD_H
#define PYH_PROC_GUARD_H
#include <stdint.h>

#define PYH_GUARD_MAX_STALLED 8
#define PYH_GUARD_IDLE_WORKERS 4	/* threads kept waiting for the next job */

/* Run fn(arg) on a worker thread and wait at most timeout_ms for it.
 * Returns 0 with *result = what fn returned (arg is the caller's again; the
 * caller frees it as it likes), -ETIMEDOUT (abandoned: arg now belongs to the
 * job, release(arg) is called when fn returns), -EAGAIN (too many jobs
 * stalled already: fn not run, arg still the caller's), or -errno when no
 * thread could be started (fn not run). The job's thread takes no signals. */
int pyh_guard_run(int (*fn)(void *arg), void *arg, void (*release)(void *arg), unsigned timeout_ms,
		  int *result);

/* Run release(arg) on a worker thread and wait at most timeout_ms for it:
 * for letting go of what holds a target's files, since closing a file of a
 * FUSE mount asks its server (FLUSH) and may never return. Returns 0 when
 * arg was released in time; otherwise arg is never released on the
 * caller's thread: -ETIMEDOUT (the job releases it when it can), -EAGAIN
 * (PYH_GUARD_MAX_STALLED releases stalled already: reads stalled do not
 * count) or -errno (no thread): arg is leaked. */
int pyh_guard_release(void (*release)(void *arg), void *arg, unsigned timeout_ms);

/* Jobs abandoned and still blocked now; and abandoned since the start. */
int pyh_guard_stalled_now(void);
uint64_t pyh_guard_stalls_total(void);
#endif
