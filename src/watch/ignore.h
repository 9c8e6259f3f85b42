/* Which waits are normal idleness, not hangs: the default list and --ignore patterns. */
#ifndef PYH_WATCH_IGNORE_H
#define PYH_WATCH_IGNORE_H
#include <stdio.h>
#include "python/stack.h"

#define PYH_IGNORE_MAX 64

struct pyh_ignore {
	const char *user[PYH_IGNORE_MAX];	/* --ignore patterns, not owned */
	int nuser;
	int defaults;				/* apply the built-in list */
};

/* Does a thread whose stack is frames[0..n) (innermost first) wait in an
 * ignored place? User patterns ("FUNC" or "FILE:FUNC", fnmatch globs; FUNC
 * matches co_name or the qualified name, FILE the whole co_filename, so use
 * "*name.py:func") match any frame of the stack. Built-in rules look at the
 * innermost frames only (see pyh_ignore_describe_defaults). If why is not
 * NULL it gets the rule that matched. Returns 1 or 0. */
int pyh_ignore_match(const struct pyh_ignore *ig, const struct pyh_frame *frames, int n,
		     const char **why);

/* Does an asyncio task whose await chain is frames[0..n) (innermost first)
 * and whose innermost await is of kind await_kind ("sleep", "server", ...;
 * NULL: none) wait in an idle way? User patterns as for threads (any frame);
 * built-in task rules by the await's kind or the innermost frame (see
 * pyh_ignore_describe_task_defaults). Returns 1 or 0, the rule in *why. */
int pyh_ignore_task_match(const struct pyh_ignore *ig, const struct pyh_frame *frames, int n,
			  const char *await_kind, const char **why);

/* Does one frame match one pattern? Returns 1 or 0. */
int pyh_ignore_frame_match(const char *pattern, const struct pyh_frame *f);

/* Write the built-in list, one rule a line, each line starting with indent. */
void pyh_ignore_describe_defaults(FILE *f, const char *indent);
/* The same for asyncio tasks. */
void pyh_ignore_describe_task_defaults(FILE *f, const char *indent);
#endif
