/* `watch --exec CMD`: a command run for each hang event, within limits.
 *
 * A target decides how often it hangs; it must not decide how many shells
 * pyhang forks. So: at most one run per process and event kind per period
 * (the threshold: a thread that stays blocked is one event, a process that
 * blocks again and again is one run per period), at most
 * PYH_EXEC_MAX_CHILDREN runs at once; each run refused is counted. The event
 * JSON is in PYHANG_JSON, and when it is larger than PYH_EXEC_JSON_ENV_MAX
 * (an environment string that long makes exec fail: E2BIG) in a file instead,
 * named by PYHANG_JSON_FILE (mode 0600, removed when the run ends). The
 * command's stdout goes to pyhang's stderr, never into the event stream on
 * stdout; a run that exits non-zero or is killed is logged on stderr.
 *
 * pyh_wevent_exec() (event.h) starts a run; pyh_watch_reap() (event.h) reaps
 * the runs that ended, logging failures. */
#ifndef PYH_WATCH_EXEC_H
#define PYH_WATCH_EXEC_H
#include <stdint.h>

#define PYH_EXEC_MAX_CHILDREN 4
#define PYH_EXEC_JSON_ENV_MAX (64u << 10)
#define PYH_EXEC_RATE_SLOTS 1024	/* (process, kind) pairs remembered for the period */

/* The period between two runs for one process and kind (seconds; the
 * threshold), and the cap on runs at once (0: PYH_EXEC_MAX_CHILDREN). */
void pyh_exec_configure(double period_s, int max_children);

struct pyh_exec_stats {
	uint64_t started;
	uint64_t limited;	/* not started: the same process and kind ran within the period */
	uint64_t busy;		/* not started: too many runs at once */
	uint64_t failed;	/* ended non-zero or by a signal */
	int running;
};

void pyh_exec_stats(struct pyh_exec_stats *out);
#endif
