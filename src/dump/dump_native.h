/* dump --native: kernel and native frames of each thread that is not running,
 * merged with its Python frames. Used by dump.c only. */
#ifndef PYH_DUMP_DUMP_NATIVE_H
#define PYH_DUMP_DUMP_NATIVE_H
#include "dump/dump.h"

struct pyh_dump_native;

/* Take the kernel's record of every thread of pid (one BPF task iterator
 * walk) and get ready to unwind. Returns 0 with *out, or -errno with why
 * (one line: the feature missing); the dump then goes on with Python frames
 * only. */
int pyh_dump_native_begin(pid_t pid, const struct pyh_dump_opts *o, struct pyh_dump_native **out,
			  char *why, size_t whysz);

/* Give th (task.tid set; frames[0..nframes) its named Python frames, read
 * after the record was taken; none for a thread without Python state) its
 * kernel and native frames and the whole stack in one list (th->sys,
 * th->stack), or, when its native stack cannot be had, th->native_error
 * saying why. With final 0, a thread that ran since the record is left as it
 * was and -EAGAIN returned: take a new record (pyh_dump_native_refresh),
 * read its Python frames again and call again; with final 1 it gets
 * native_error. Returns 0, -EAGAIN or -ENOMEM. */
int pyh_dump_native_thread(struct pyh_dump_native *dn, const struct pyh_target *t, int final,
			   struct pyh_dump_thread *th);

/* Walk the threads again (after -EAGAIN). Returns 0 or -errno; on failure
 * the threads still to read get native_error. */
int pyh_dump_native_refresh(struct pyh_dump_native *dn);

void pyh_dump_native_end(struct pyh_dump_native *dn); /* NULL-safe */

/* Free th's native part (sys, stack, native_error). */
void pyh_dump_native_free_thread(struct pyh_dump_thread *th);
#endif
