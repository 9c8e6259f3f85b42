/* The set of Python processes on the host, kept current.
 *
 * Every process the tracker knows is one entry, in one of three states:
 * PENDING (to be tried at next_ms, until deadline_ms), ATTACHED, or
 * NOT_PYTHON (remembered with its start time and executable so that it is
 * not opened again until it execs). An entry names a process by pid AND
 * start time: a pid found with another start time is a new process. */
#include "host/host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"
#include "log/log.h"
#include "proc/guard.h"
#include "proc/procfs.h"

#define PYH_HOST_RESCAN_MS 5000		/* safety rescan of /proc (missed events, forks) */
#define PYH_HOST_LIVENESS_MS 1000	/* attached processes re-checked this often */
#define PYH_HOST_BACKOFF_MIN_MS 2
#define PYH_HOST_BACKOFF_MAX_MS 256
#define PYH_HOST_WAIT_RETRY_MS 5000	/* a process refused for capacity: tried again this often */
#define PYH_HOST_OPEN_DEADLINE_MS 10000	/* attaching reads the target: at most this long
					 * (generous: a loaded host is slow, not stalled) */

/* WAITING: a Python process the user refused for capacity (-E2BIG, -ENOSPC),
 * tried again as soon as an attached process goes, and every
 * PYH_HOST_WAIT_RETRY_MS. */
enum pyh_host_state { PYH_HS_PENDING = 1, PYH_HS_ATTACHED, PYH_HS_NOT_PYTHON, PYH_HS_WAITING };

struct pyh_host_entry {
	pid_t pid;
	int state;
	int seen;			/* found by the current scan */
	uint64_t start_ticks;
	uint64_t next_ms, deadline_ms;
	unsigned backoff_ms;
	char exe[160];			/* NOT_PYTHON: /proc/PID/exe then */
};

struct pyh_host_event {
	pid_t pid;
	int exec;			/* 1 exec/fork, 0 exit */
};

struct pyh_host_tracker {
	struct pyh_host_ops ops;
	void *arg;
	pid_t self;
	struct pyh_host_entry *e;	/* PYH_HOST_MAX_PROCS */
	int n;
	int nattached;
	struct pyh_host_event ev[PYH_HOST_MAX_EVENTS];
	int nev;
	int overflow;			/* events dropped: rescan */
	uint64_t last_scan_ms, last_live_ms, last_wait_ms;
	int room;			/* an attached process went: retry the WAITING ones */
	struct pyh_host_stats st;
	pid_t *pids;			/* PYH_HOST_MAX_PROCS, for scans */
};

/* Milliseconds since pid started, from its start_ticks; 0 when unknown.
 * CLOCK_BOOTTIME, not clock/clock.h's monotonic one: start_ticks count from
 * boot including time suspended, as this clock does. */
static uint64_t pyh_age_ms(uint64_t start_ticks)
{
	struct timespec ts;
	uint64_t tick_ns = pyh_clock_tick_ns(), now_ms, start_ms;

	if (!tick_ns || start_ticks > UINT64_MAX / tick_ns || clock_gettime(CLOCK_BOOTTIME, &ts))
		return 0;
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	start_ms = start_ticks * tick_ns / 1000000;
	return now_ms > start_ms ? now_ms - start_ms : 0;
}

struct pyh_host_tracker *pyh_host_tracker_new(const struct pyh_host_ops *ops, void *arg,
					      pid_t self)
{
	struct pyh_host_tracker *tr;

	if (!ops || !ops->attach || !ops->detach)
		return NULL;
	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return NULL;
	tr->ops = *ops;
	tr->arg = arg;
	tr->self = self;
	tr->e = calloc(PYH_HOST_MAX_PROCS, sizeof(*tr->e));
	tr->pids = calloc(PYH_HOST_MAX_PROCS, sizeof(*tr->pids));
	if (!tr->e || !tr->pids) {
		pyh_host_tracker_free(tr);
		return NULL;
	}
	return tr;
}

void pyh_host_tracker_free(struct pyh_host_tracker *tr)
{
	if (!tr)
		return;
	free(tr->e);
	free(tr->pids);
	free(tr);
}

static struct pyh_host_entry *pyh_find(const struct pyh_host_tracker *tr, pid_t pid)
{
	for (int i = 0; i < tr->n; i++)
		if (tr->e[i].pid == pid)
			return &tr->e[i];
	return NULL;
}

static void pyh_detach(struct pyh_host_tracker *tr, struct pyh_host_entry *e)
{
	if (e->state != PYH_HS_ATTACHED)
		return;
	tr->ops.detach(tr->arg, e->pid);
	e->state = PYH_HS_PENDING;
	tr->nattached--;
	tr->room = 1;
}

/* Detach if needed and forget e (the last entry moves into its slot). */
static void pyh_remove(struct pyh_host_tracker *tr, struct pyh_host_entry *e)
{
	if (e->state == PYH_HS_WAITING)
		tr->st.waiting--;
	pyh_detach(tr, e);
	*e = tr->e[--tr->n];
	memset(&tr->e[tr->n], 0, sizeof(tr->e[tr->n]));
}

/* A new entry for pid, PENDING from now for `window` ms. When the table is
 * full, a process known not to be Python gives up its entry (it is only a
 * memo); never an attached or pending one. NULL (counted) when none can. */
static struct pyh_host_entry *pyh_add(struct pyh_host_tracker *tr, pid_t pid, uint64_t now_ms,
				      uint64_t window)
{
	struct pyh_host_entry *e;

	if (tr->n >= PYH_HOST_MAX_PROCS) {
		for (int i = tr->n - 1; i >= 0; i--) {
			if (tr->e[i].state == PYH_HS_NOT_PYTHON) {
				pyh_remove(tr, &tr->e[i]);
				break;
			}
		}
	}
	if (tr->n >= PYH_HOST_MAX_PROCS) {
		tr->st.refused_table++;
		return NULL;
	}
	e = &tr->e[tr->n++];
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	e->state = PYH_HS_PENDING;
	e->next_ms = now_ms;
	e->deadline_ms = now_ms + window;
	e->backoff_ms = PYH_HOST_BACKOFF_MIN_MS;
	return e;
}

/* Reading a new process (its /proc entries, its interpreter file and memory)
 * can block on what it maps: done as a job with a deadline (proc/guard.h). */
struct pyh_open_job {
	pid_t pid;
	unsigned open_flags;
	struct pyh_host_proc p;
	struct pyh_target t;
	char err[512];
	int proc_rc;
};

static int pyh_open_run(void *arg)
{
	struct pyh_open_job *j = arg;

	j->proc_rc = pyh_host_proc_read(j->pid, &j->p);
	if (j->proc_rc)
		return 0;
	return pyh_target_open_flags(j->pid, &j->t, j->open_flags, j->err, sizeof(j->err));
}

/* One attempt at e (PENDING or WAITING). Returns 1 when attached. May remove e. */
static int pyh_try(struct pyh_host_tracker *tr, struct pyh_host_entry *e, uint64_t now_ms)
{
	struct pyh_host_proc *p = NULL;
	struct pyh_target *t = NULL;
	char err[512] = "";
	struct pyh_open_job *j = NULL;
	uint32_t gen;
	int rc, jr = 0;

	if (e->pid == tr->self) {
		e->state = PYH_HS_NOT_PYTHON;
		return 0;
	}
	gen = tr->ops.generation ? tr->ops.generation(tr->arg, e->pid) : 0;
	j = calloc(1, sizeof(*j));
	if (!j) {
		rc = -ENOMEM;
		goto retry;
	}
	j->pid = e->pid;
	j->open_flags = tr->ops.open_flags;
	rc = pyh_guard_run(pyh_open_run, j, free, PYH_HOST_OPEN_DEADLINE_MS, &jr);
	if (rc == -ETIMEDOUT) {
		/* Its files or memory do not answer: not tried again until it execs. */
		j = NULL;	/* the job's now */
		tr->st.stalled++;
		pyh_log_error("process %d: reading its files or memory did not finish in time: not "
			      "followed (looked at again if it execs)", (int)e->pid);
		goto give_up;
	}
	if (rc == -EAGAIN)
		goto give_up;	/* too many stalled already: counted by the guard */
	if (rc)
		goto retry;
	p = malloc(sizeof(*p));
	t = malloc(sizeof(*t));
	if (!p || !t) {
		rc = -ENOMEM;
		goto retry;
	}
	*p = j->p;
	*t = j->t;
	snprintf(err, sizeof(err), "%s", j->err);
	rc = j->proc_rc;
	if (rc == -ESRCH) {
		if (pyh_log_verbosity() > 1)
			fprintf(stderr, "pyhang: process %d gone before it was followed\n", (int)e->pid);
		pyh_remove(tr, e);
		goto cleanup;
	}
	if (rc) {
		snprintf(err, sizeof(err), "reading /proc/%d: %s", (int)e->pid, strerror(-rc));
		goto give_up;
	}
	e->start_ticks = p->start_ticks;
	rc = jr;
	if (rc == -ESRCH) {
		if (pyh_log_verbosity() > 1)
			fprintf(stderr, "pyhang: process %d gone before it was followed: %s\n",
				(int)e->pid, err);
		pyh_remove(tr, e);
		goto cleanup;
	}
	if (rc == -EACCES || rc == -EPERM)
		goto give_up;
	if (rc)
		goto retry;
	rc = tr->ops.attach(tr->arg, t, p, gen);
	if (rc == -E2BIG || rc == -ENOSPC) {
		/* The user is full: wait for room, never give up on a Python process. */
		if (e->state != PYH_HS_WAITING) {
			tr->st.refused_capacity++;	/* once per process, not per try */
			tr->st.waiting++;
			if (pyh_log_verbosity())
				fprintf(stderr, "pyhang: process %d waits for room (as many processes as "
					"allowed at once)\n", (int)e->pid);
		}
		e->state = PYH_HS_WAITING;
		e->next_ms = now_ms + PYH_HOST_WAIT_RETRY_MS;
		rc = 0;
		goto cleanup;
	}
	if (rc)
		goto give_up;
	if (e->state == PYH_HS_WAITING)
		tr->st.waiting--;
	e->state = PYH_HS_ATTACHED;
	tr->nattached++;
	rc = 1;
	goto cleanup;

retry:
	/* Starting up (no interpreter yet, libpython not mapped yet): back off. */
	if (pyh_log_verbosity() > 2)
		fprintf(stderr, "pyhang: process %d not ready (%s): trying again in %u ms\n",
			(int)e->pid, err, e->backoff_ms);
	if (now_ms + e->backoff_ms <= e->deadline_ms) {
		e->next_ms = now_ms + e->backoff_ms;
		e->backoff_ms *= 2;
		if (e->backoff_ms > PYH_HOST_BACKOFF_MAX_MS)
			e->backoff_ms = PYH_HOST_BACKOFF_MAX_MS;
		rc = 0;
		goto cleanup;
	}
give_up:
	if (e->state == PYH_HS_WAITING)
		tr->st.waiting--;
	e->state = PYH_HS_NOT_PYTHON;
	pyh_proc_exe(e->pid, e->exe, sizeof(e->exe));
	if (pyh_log_verbosity() > 1)
		fprintf(stderr, "pyhang: process %d (%s) not followed: %s\n", (int)e->pid, e->exe,
			rc == -ENOMEM ? "out of memory" : err);
	rc = 0;
cleanup:
	free(j);
	free(p);
	free(t);
	return rc;
}

void pyh_host_tracker_exec(struct pyh_host_tracker *tr, pid_t pid)
{
	if (tr->nev >= PYH_HOST_MAX_EVENTS) {
		tr->overflow = 1;
		return;
	}
	tr->ev[tr->nev++] = (struct pyh_host_event){ .pid = pid, .exec = 1 };
}

void pyh_host_tracker_exit(struct pyh_host_tracker *tr, pid_t pid)
{
	if (tr->nev >= PYH_HOST_MAX_EVENTS) {
		tr->overflow = 1;
		return;
	}
	tr->ev[tr->nev++] = (struct pyh_host_event){ .pid = pid, .exec = 0 };
}

int pyh_host_tracker_scan(struct pyh_host_tracker *tr, uint64_t now_ms)
{
	int n, attached = 0;

	tr->last_scan_ms = now_ms;
	n = pyh_host_list_pids(tr->pids, PYH_HOST_MAX_PROCS);
	if (n < 0)
		return 0;
	for (int i = 0; i < tr->n; i++)
		tr->e[i].seen = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = tr->pids[i];
		struct pyh_host_entry *e = pyh_find(tr, pid);
		uint64_t start = 0, age;
		char exe[sizeof(e->exe)];

		if (pid == tr->self || pyh_host_start_ticks(pid, &start))
			continue;
		if (e && e->start_ticks && e->start_ticks != start) {
			pyh_remove(tr, e); /* the pid names another process now */
			e = NULL;
		}
		if (e) {
			e->seen = 1;
			if (e->state != PYH_HS_NOT_PYTHON)
				continue;	/* attached, pending or waiting for room */
			pyh_proc_exe(pid, exe, sizeof(exe));
			if (!strcmp(exe, e->exe))
				continue;
			/* exec'd without our seeing the event: look again */
			e->state = PYH_HS_PENDING;
			e->next_ms = now_ms;
			e->deadline_ms = now_ms + PYH_HOST_ATTACH_WINDOW_MS;
			e->backoff_ms = PYH_HOST_BACKOFF_MIN_MS;
		} else {
			/* Young processes may still be loading Python: give them the window. */
			age = pyh_age_ms(start);
			e = pyh_add(tr, pid, now_ms,
				    age < PYH_HOST_ATTACH_WINDOW_MS ? PYH_HOST_ATTACH_WINDOW_MS - age : 0);
			if (!e)
				break;
			e->seen = 1;
			e->start_ticks = start;
		}
		attached += pyh_try(tr, e, now_ms);
	}
	/* Gone without an event. */
	for (int i = 0; i < tr->n;) {
		if (!tr->e[i].seen && tr->e[i].state != PYH_HS_PENDING)
			pyh_remove(tr, &tr->e[i]);
		else
			i++;
	}
	return attached;
}

int pyh_host_tracker_tick(struct pyh_host_tracker *tr, uint64_t now_ms)
{
	int attached = 0;

	for (int k = 0; k < tr->nev; k++) {
		struct pyh_host_entry *e = pyh_find(tr, tr->ev[k].pid);

		if (!tr->ev[k].exec) {
			if (e)
				pyh_remove(tr, e);
			continue;
		}
		/* A new program (or a forked Python child): drop what we knew
		 * before attaching again. */
		if (e)
			pyh_remove(tr, e);
		e = pyh_add(tr, tr->ev[k].pid, now_ms, PYH_HOST_ATTACH_WINDOW_MS);
		if (!e)
			tr->overflow = 1;
	}
	tr->nev = 0;
	if (tr->overflow || now_ms - tr->last_scan_ms >= PYH_HOST_RESCAN_MS) {
		tr->overflow = 0;
		attached += pyh_host_tracker_scan(tr, now_ms);
	}
	/* pyh_try may remove an entry (the last one moves into its slot, and
	 * waits for the next tick). Processes waiting for room: when some was
	 * made, else now and then. */
	for (int i = 0; i < tr->n; i++) {
		struct pyh_host_entry *e = &tr->e[i];

		if ((e->state == PYH_HS_PENDING && e->next_ms <= now_ms) ||
		    (e->state == PYH_HS_WAITING && (tr->room || e->next_ms <= now_ms)))
			attached += pyh_try(tr, e, now_ms);
	}
	tr->room = 0;
	if (now_ms - tr->last_live_ms >= PYH_HOST_LIVENESS_MS) {
		tr->last_live_ms = now_ms;
		for (int i = 0; i < tr->n;) {
			struct pyh_host_entry *e = &tr->e[i];
			uint64_t start = 0;

			if (e->state == PYH_HS_ATTACHED &&
			    (pyh_host_start_ticks(e->pid, &start) || start != e->start_ticks)) {
				pyh_remove(tr, e);
				continue;
			}
			i++;
		}
	}
	return attached;
}

int pyh_host_tracker_attached(const struct pyh_host_tracker *tr)
{
	return tr->nattached;
}

void pyh_host_tracker_stats(const struct pyh_host_tracker *tr, struct pyh_host_stats *out)
{
	*out = tr->st;
}

void pyh_host_tracker_forget_not_python(struct pyh_host_tracker *tr)
{
	for (int i = 0; tr && i < tr->n;) {
		if (tr->e[i].state == PYH_HS_NOT_PYTHON)
			pyh_remove(tr, &tr->e[i]);	/* moves the last entry here */
		else
			i++;
	}
}
