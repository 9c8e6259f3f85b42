/* The interpreter's thread states, and which one holds the GIL. */
#ifndef PYH_PYTHON_THREADS_H
#define PYH_PYTHON_THREADS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
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

/* pyh_thread_top of each of tstates[0..n), every level of the pointer chain
 * read for all of them in one system call (a thread's read alone where one
 * of theirs fails): tops[i], and rcs[i] what pyh_thread_top returns for it. */
void pyh_thread_tops(const struct pyh_target *t, const uint64_t *tstates, int n, uint64_t *tops,
		     int *rcs);

/* Reads of the thread list (and of the OS threads) pyh_threads_read makes
 * at most while a thread state matches no OS thread. */
#define PYH_THREADS_LIST_READS 5

/* What pyh_threads_read found of the OS threads, checked against the states. */
struct pyh_threads_check {
	pid_t *tids;		/* in: room for max_tids OS thread ids, or NULL (not kept) */
	int max_tids;
	int ntids;		/* out: the process's threads listed with the last read (with
				 * tids: the first min(ntids, max_tids) are there, /proc's order) */
	int reads;		/* out: times the list was read, 1 .. PYH_THREADS_LIST_READS */
	int unmatched;		/* out: pyh_threads_unmatched of the last read, plus 1 when
				 * its walk was cut (pyh_threads_linked). 0: the list agrees
				 * with the OS threads. > 0: it changed while it was read in
				 * every read (a thread storm frees states as they are walked,
				 * and a freed state's bytes may have ended the walk early): an
				 * OS thread without a state in the list may have one, and the
				 * unmatched states themselves are not any live thread's */
};

/* The rule: of the thread states py[0..npy), how many match no OS thread of
 * tids[0..ntids) though they have frames or an OS thread id. Such a state was
 * freed as the walk read it (its thread ended; its bytes, or the next pointer
 * read from them, are not to be trusted). A state with neither is a thread
 * being started (its parent makes it before the thread runs): not counted.
 * Pure: reads nothing but its arguments. */
int pyh_threads_unmatched(const struct pyh_pythread *py, int npy, const pid_t *tids, int ntids);
/* The rule for each step of the walk: the state read into tb[0..len) is
 * linked where the walk found it, in the list of the interpreter at interp
 * after the state at from (0: it is the list's head). Its interp must be that
 * one, and (3.6+, where the list is doubly linked) its prev must be from; a
 * head's prev is not checked (a state being added sets the head's prev before
 * it becomes the head). Nor (3.6+) may it be the list's last (next 0) and
 * not yet bound to a thread (thread_id 0): states are added at the head, so
 * the last is the oldest, whose thread runs (the main thread's, in the main
 * interpreter). A freed state's bytes fail it, which the OS threads cannot
 * show: reused by a state made but not yet linked (prev, next and tid 0, no
 * frame: a walk that ends there early looks whole, the state like a thread
 * being started). 1 linked, 0 not. Pure. */
int pyh_threads_linked(const struct pyh_layout *l, const uint8_t *tb, size_t len, uint64_t interp,
		       uint64_t from);
/* 1 when th's OS thread is one of tids[0..ntids), else 0 (its tid is 0, or
 * names no thread listed). Pure. */
int pyh_threads_listed(const struct pyh_pythread *th, const pid_t *tids, int ntids);

/* Read every thread state of every interpreter (at most max; cycles and
 * garbage stop the walk), then the OS threads of the process. Matches each
 * state to its OS tid (native_thread_id on 3.11+, else pthread_t via the fs
 * base of each thread). While a state matches no OS thread
 * (pyh_threads_unmatched) or one is not linked where the walk found it
 * (pyh_threads_linked) both are read again, up to PYH_THREADS_LIST_READS
 * times in all; chk says how it ended, and a caller with chk->unmatched > 0
 * must not take a thread missing from the list for one without Python state.
 * *gil_holder is the tstate that holds the GIL, 0 when none does or it is
 * unknown. Returns 0 with *n and *chk filled, or -errno (*n 0; chk->unmatched
 * 0): not even the first interpreter is readable (-EAGAIN: none yet), the
 * process's threads cannot be listed (-ESRCH: it is gone), or in every read
 * the list's first state was not linked (-EPROTO: not a live CPython's list). More OS threads
 * than chk->max_tids (or PYH_MAX_THREADS without tids) is not an error: the
 * first are checked. */
int pyh_threads_read(const struct pyh_target *t, struct pyh_pythread *out, int max, int *n,
		     uint64_t *gil_holder, struct pyh_threads_check *chk);
#endif
