/* A snapshot of one Python process: every thread, its stack and what it waits for. */
#ifndef PYH_DUMP_DUMP_H
#define PYH_DUMP_DUMP_H
#include <stdint.h>
#include <stdio.h>

#include "kernel/task.h"
#include "python/stack.h"
#include "python/target.h"

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
};

struct pyh_dump {
	struct pyh_target target;
	char cmdline[256];
	struct pyh_dump_thread *threads;	/* sorted by tid, Python threads first within a tid tie */
	int nthreads;
	int gil_known;				/* the GIL holder could be determined (someone or no one) */
};

/* Take the snapshot. On failure returns -errno with a one-line reason in err. */
int pyh_dump_take(pid_t pid, int max_frames, struct pyh_dump *d, char *err, size_t errsz);
void pyh_dump_free(struct pyh_dump *d); /* NULL-safe, idempotent */

/* Writers (src/output/dump_text.c, dump_json.c). Return 0 or -EIO. */
int pyh_dump_write_text(const struct pyh_dump *d, FILE *f, int source_lines);
int pyh_dump_write_json(const struct pyh_dump *d, FILE *f);

/* "3.12.1" */
void pyh_dump_version(const struct pyh_dump *d, char *out, size_t outsz);
#endif
