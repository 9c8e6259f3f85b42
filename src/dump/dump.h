/* A snapshot of one Python process: every thread, its stack and what it waits for. */
#ifndef PYH_DUMP_DUMP_H
#define PYH_DUMP_DUMP_H
#include <stdint.h>
#include <stdio.h>

#include "asyncio/tasks.h"
#include "kernel/task.h"
#include "python/repr.h"
#include "python/stack.h"
#include "python/target.h"
#include "python/threads.h"

/* --native: a frame that is not Python code. */
enum pyh_dump_kind {
	PYH_DUMP_PYTHON = 0,	/* index: into pyh_dump_thread.frames */
	PYH_DUMP_NATIVE,	/* libc, the interpreter, C extensions; index: into .sys */
	PYH_DUMP_KERNEL,	/* where a blocked thread sleeps in the kernel; index: into .sys */
	PYH_DUMP_GAP,		/* the native unwind stopped here: the native frames between
				 * this and the next entry are unknown (native_error says why) */
};

struct pyh_dump_sysframe {
	int kind;		/* PYH_DUMP_NATIVE or PYH_DUMP_KERNEL */
	char *function;		/* the symbol; NULL when none is known */
	char *library;		/* native: the file as the target maps it; NULL: in no file */
	uint64_t offset;	/* native: pc in the library's link-time addresses (addr2line's);
				 * kernel: pc - the function's start (the address when unnamed) */
	uint64_t function_offset; /* native: pc - the function's start */
	int deleted;		/* native: the library was deleted after it was mapped */
};

struct pyh_dump_entry {
	int kind;		/* enum pyh_dump_kind */
	int index;		/* into frames or sys by kind; -1 for a gap */
};

/* One local variable of a frame, as dump --locals shows it. */
struct pyh_dump_local {
	char *name;
	char *type;		/* type(value).__name__; NULL when the value is unreadable */
	char *repr;		/* exactly repr(value), or cut and marked, or "<unreadable>" */
	int truncated;		/* the repr was cut (PYH_REPR_CUT marks where) */
	int64_t length;		/* len(value) of a str, bytes or container; -1 otherwise */
};

/* The locals of one frame. */
struct pyh_dump_locals {
	int read;			/* pyh_dump_read_locals looked at this frame */
	struct pyh_dump_local *v;	/* in the code object's order */
	int n;
	int more;			/* more names than were read (PYH_LOCALS_MAX) */
	char error[96];			/* why none could be read ("" when they could) */
};

struct pyh_dump_thread {
	struct pyh_task_info task;	/* tid 0 when the Python thread has no matching OS thread */
	int task_known;
	int python;			/* has a PyThreadState */
	int gil;			/* holds the GIL */
	char detail[512];		/* what the blocked call waits for */
	struct pyh_frame *frames;	/* innermost first, each held */
	int nframes;
	int truncated;			/* deeper than the frame limit */
	char broken[256];		/* what the stack lacks (pyh_stack_problem), "" if whole */
	int snapshot;			/* how the stack was read: enum pyh_snap_how */
	int gone;			/* the thread exited while the dump was taken */
	/* --native: */
	int native;			/* native frames were asked for this thread */
	struct pyh_sample_native *knative; /* a running thread's registers and stack copy,
					 * taken with its kernel snapshot (malloc'd) */
	struct pyh_dump_sysframe *sys;	/* its kernel and native frames */
	int nsys;
	struct pyh_dump_entry *stack;	/* every frame, innermost first (NULL: no native
					 * stack; frames alone then, native_error says why) */
	int nstack;
	char *native_error;		/* why the native stack is missing or incomplete;
					 * NULL: it reached the outermost frame */
	uint64_t tstate;		/* its PyThreadState (python threads) */
	int slices_known;		/* slices was read just before task (for the
					 * stack read's first check; used up by it) */
	uint64_t slices;		/* schedstat: times it was put on a CPU */
	struct pyh_dump_locals *locals;	/* one per frame after pyh_dump_read_locals, else NULL */
};

/* Where a process sits on the host (dump --all): written with the dump. */
struct pyh_dump_host {
	pid_t ns_pid;				/* in its own PID namespace */
	char label[256];			/* pyh_host_label() */
	char cgroup[256];
};

struct pyh_dump {
	struct pyh_target target;
	char cmdline[256];
	const struct pyh_dump_host *host;	/* NULL unless set by the caller (not owned) */
	struct pyh_dump_thread *threads;	/* sorted by tid, Python threads first within a tid tie */
	int nthreads;
	int gil_known;				/* the GIL holder could be determined (someone or no one) */
	int threads_unmatched;			/* thread states with frames or a thread id that matched
						 * no OS thread of the process, in every read of the list
						 * (PYH_THREADS_LIST_READS): the list changed while it was
						 * read (a thread storm frees states as they are walked),
						 * so OS threads shown without one may have one */
	char native_missing[256];		/* --native asked but impossible: what is missing */
	int locals_read;			/* pyh_dump_read_locals ran */
	char locals_error[256];			/* why no locals could be read at all, "" */
	uint64_t budget_evictions;		/* code cache entries evicted for the memory budget */
	uint64_t budget_refusals;		/* and not kept at all (read again as needed) */
	struct pyh_tasks tasks;			/* asyncio's tasks (tasks.present 0: none) */
};

struct pyh_snapper;

struct pyh_dump_opts {
	int max_frames;			/* per thread, 1 .. PYH_MAX_FRAMES */
	struct pyh_snapper *snapper;	/* reads the stacks (snapshot/snapshot.h); kept by the caller */
	int native;			/* also kernel and native frames, merged with the Python ones */
	int no_debug_files;		/* --native: do not look for separate debug files */
	int no_tasks;			/* do not read asyncio's tasks */
	size_t max_tasks;		/* tasks read at most (0: PYH_TASKS_DEFAULT_MAX) */
};

/* Python threads whose stacks are taken together (a running one among them
 * gets PYH_SNAP_DEADLINE_MS): memory for their frames is bounded by this. */
#define PYH_DUMP_SNAP_BATCH 64

/* Take the snapshot. On failure returns -errno with a one-line reason in err.
 * With o->native, a kernel that cannot give native stacks is not a failure:
 * the dump has Python frames only and native_missing says why. */
int pyh_dump_take(const struct pyh_dump_opts *o, pid_t pid, struct pyh_dump *d, char *err,
		  size_t errsz);
void pyh_dump_free(struct pyh_dump *d); /* NULL-safe, idempotent */

/* Which frames pyh_dump_read_locals reads, and how far each value goes. */
struct pyh_locals_opts {
	struct pyh_repr_limits limits;
	pid_t tid;		/* 0: every thread */
	int frame;		/* -1: every frame (of the threads chosen); else frame N, innermost 0 */
};

/* Read the locals of the chosen frames of a snapshot (src/dump/dump_locals.c)
 * into their threads' locals[]. A frame whose locals cannot be read (it
 * returned, the memory moved, its address is not known) gets its error; when
 * the interpreter's objects cannot be read at all (an object layout pyhang
 * does not know), every frame is left unread and d->locals_error says why.
 * Returns 0, or -ENOMEM. */
int pyh_dump_read_locals(struct pyh_dump *d, const struct pyh_locals_opts *opts);
void pyh_dump_locals_clear(struct pyh_dump_locals *l);	/* frees; leaves it empty, unread */

/* What the writers show. */
struct pyh_dump_view {
	int source;		/* text: the current source line under each frame */
	int context;		/* >= 0: that many source lines either side, the current one
				 * marked (-1: not asked) */
	pid_t tid;		/* 0: every thread; else only this one */
	int frame;		/* -1: every frame; else frame N of thread tid alone, in full */
};

/* Writers (src/output/dump_text.c, dump_json.c, dump_frame.c). Return 0 or
 * -EIO. JSON is one object on one line; with d->host it also carries
 * "ns_pid", "label" and "cgroup"; text then starts with a "== label, cgroup
 * ... ==" line. */
int pyh_dump_write_text(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v);
int pyh_dump_write_json(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v);
/* One frame alone (v->tid, v->frame, which must exist, else -EINVAL): its
 * locals in full and its source with context. */
int pyh_dump_write_frame_text(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v);
int pyh_dump_write_frame_json(const struct pyh_dump *d, FILE *f, const struct pyh_dump_view *v);

/* The thread with OS thread id tid (its Python entry first), or NULL. */
const struct pyh_dump_thread *pyh_dump_thread_by_tid(const struct pyh_dump *d, pid_t tid);

/* dump --all: every Python process of the host in PID order, each taken (with
 * its locals when lo is not NULL) and written as it is taken (JSON: one
 * object per line), to out. Returns 0 when every process was dumped, -ENOENT
 * when none runs Python, else -errno of the last failure (each said on stderr
 * as it happened). */
int pyh_dump_all(struct pyh_dump_opts *o, int json, const struct pyh_dump_view *v,
		 const struct pyh_locals_opts *lo, FILE *out);

/* How a dump taken with a deadline is written: copied into the job, so
 * nothing of the caller's is touched once the job is given up. check (may be
 * NULL) refuses a dump the view cannot show (-errno), having said why on stderr. */
struct pyh_dump_render {
	int json;
	struct pyh_dump_view view;
	int read_locals;		/* read lo's locals first */
	struct pyh_locals_opts lo;
	int (*check)(const struct pyh_dump *d, const struct pyh_dump_view *v);
};

/* How long one process's dump may take before it is given up (its files or
 * memory do not answer; a dump that is slow but busy gets more time, see
 * proc/guard.h): a dump of thousands of threads takes well under a second. */
#define PYH_DUMP_DEADLINE_MS 10000

/* Take and write one process's dump as r says (with its host label and
 * cgroup when with_host) as a job with a deadline (proc/guard.h), into a
 * malloc'd *text of *len bytes. A dump that misses the deadline with source
 * lines is taken once more without them. Returns 0 (err holds a note, or
 * ""), -ETIMEDOUT (skipped: err says so; o's snapper was left to the stalled
 * job and replaced), -ENOENT (with_host: not a Python process), -ECANCELED
 * (r->check refused it, and said so), or -errno with a reason in err. */
int pyh_dump_guarded(struct pyh_dump_opts *o, pid_t pid, int with_host, const struct pyh_dump_render *r,
		     char **text, size_t *len, char *err, size_t errsz);

/* The start of the note pyh_dump_guarded gives when --native found no way
 * to native frames. */
#define PYH_DUMP_NO_NATIVE "no native frames (Python frames only): "

/* "3.12.1" */
void pyh_dump_version(const struct pyh_dump *d, char *out, size_t outsz);
#endif
