/* Jobs with a deadline, on threads of their own. */
#include "proc/guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define PYH_GUARD_STACK (1u << 20)	/* a job's thread stack: walks and writers are shallow */
/* A job that is not blocked but slow (a loaded machine, valgrind) uses CPU:
 * while it used at least 1/PYH_GUARD_BUSY_PART of the last period, its
 * deadline moves on by one period, PYH_GUARD_MAX_PERIODS periods at most. */
#define PYH_GUARD_BUSY_PART 20
#define PYH_GUARD_MAX_PERIODS 30

struct pyh_guard_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int (*fn)(void *arg);
	void (*release)(void *arg);
	void *arg;
	int result;
	int done;
	int abandoned;
	clockid_t cpu;			/* the job thread's CPU clock, valid while !done */
	int have_cpu;
};

static int pyh_guard_stalled;		/* atomic */
static uint64_t pyh_guard_stalls;	/* atomic */

int pyh_guard_stalled_now(void)
{
	return __atomic_load_n(&pyh_guard_stalled, __ATOMIC_RELAXED);
}

uint64_t pyh_guard_stalls_total(void)
{
	return __atomic_load_n(&pyh_guard_stalls, __ATOMIC_RELAXED);
}

static void job_free(struct pyh_guard_job *j)
{
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

/* A thread that runs jobs: the one it was started with, then, while at
 * most PYH_GUARD_IDLE_WORKERS wait, the next ones handed to it; it ends
 * after PYH_GUARD_IDLE_MS without one. A thread whose job was abandoned is
 * not handed another until that job ends (it is not waiting then). */
struct pyh_guard_worker {
	pthread_cond_t cv;			/* under pyh_guard_pool_mu */
	struct pyh_guard_job *job;		/* the next job; NULL while waiting */
	struct pyh_guard_worker *next;		/* in the idle list */
};

#define PYH_GUARD_IDLE_MS 10000

static pthread_mutex_t pyh_guard_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pyh_guard_worker *pyh_guard_idle;	/* waiting for a job */
static int pyh_guard_nidle;

static void job_run(struct pyh_guard_job *j)
{
	int r, abandoned;

	pthread_mutex_lock(&j->mu);
	j->have_cpu = pthread_getcpuclockid(pthread_self(), &j->cpu) == 0;
	pthread_mutex_unlock(&j->mu);
	r = j->fn(j->arg);

	pthread_mutex_lock(&j->mu);
	j->result = r;
	j->done = 1;
	abandoned = j->abandoned;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (abandoned) {
		/* Late: the caller has gone on. What the job owns is freed here. */
		if (j->release)
			j->release(j->arg);
		job_free(j);
		__atomic_sub_fetch(&pyh_guard_stalled, 1, __ATOMIC_RELAXED);
	}
}

static void *worker_main(void *p)
{
	struct pyh_guard_worker *w = p;

	for (;;) {
		struct timespec until;

		job_run(w->job);	/* the job (j) may be freed by now: not touched again */
		pthread_mutex_lock(&pyh_guard_pool_mu);
		if (pyh_guard_nidle >= PYH_GUARD_IDLE_WORKERS) {
			pthread_mutex_unlock(&pyh_guard_pool_mu);
			break;
		}
		w->job = NULL;
		w->next = pyh_guard_idle;
		pyh_guard_idle = w;
		pyh_guard_nidle++;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += PYH_GUARD_IDLE_MS / 1000;
		while (!w->job && pthread_cond_timedwait(&w->cv, &pyh_guard_pool_mu, &until) != ETIMEDOUT)
			;
		if (!w->job) {
			/* Nobody took it (taking sets job under the lock): still listed. */
			for (struct pyh_guard_worker **q = &pyh_guard_idle; *q; q = &(*q)->next)
				if (*q == w) {
					*q = w->next;
					break;
				}
			pyh_guard_nidle--;
			pthread_mutex_unlock(&pyh_guard_pool_mu);
			break;
		}
		pthread_mutex_unlock(&pyh_guard_pool_mu);
	}
	pthread_cond_destroy(&w->cv);
	free(w);
	return NULL;
}

/* Give j to a waiting worker, or to a new one. 0, or -errno (j not run). */
static int job_start(struct pyh_guard_job *j)
{
	struct pyh_guard_worker *w;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t th;
	sigset_t all, old;
	int rc;

	pthread_mutex_lock(&pyh_guard_pool_mu);
	w = pyh_guard_idle;
	if (w) {
		pyh_guard_idle = w->next;
		pyh_guard_nidle--;
		w->job = j;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&pyh_guard_pool_mu);
	if (w)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->job = j;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&ta, PYH_GUARD_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* inherited: the job takes no signals */
	rc = -pthread_create(&th, &ta, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
	if (rc) {
		pthread_cond_destroy(&w->cv);
		free(w);
	}
	return rc;
}

/* pyh_guard_run; capped: refused past PYH_GUARD_MAX_STALLED stalled jobs. */
static int guard_run(int (*fn)(void *arg), void *arg, void (*release)(void *arg), unsigned timeout_ms,
		     int *result, int capped)
{
	struct pyh_guard_job *j;
	pthread_condattr_t ca;
	struct timespec until;
	int rc, done;

	if (capped && pyh_guard_stalled_now() >= PYH_GUARD_MAX_STALLED)
		return -EAGAIN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->arg = arg;
	j->release = release;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = job_start(j);
	if (rc) {
		job_free(j);
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	pthread_mutex_lock(&j->mu);
	for (int period = 0; period < PYH_GUARD_MAX_PERIODS && !j->done; period++) {
		struct timespec cpu0 = { 0 }, cpu1 = { 0 };
		int64_t used_ns;

		/* Holding mu with done unset, the job's thread is alive: its clock is valid. */
		if (j->have_cpu)
			clock_gettime(j->cpu, &cpu0);
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!j->done && pthread_cond_timedwait(&j->cv, &j->mu, &until) != ETIMEDOUT)
			;
		if (j->done || !j->have_cpu || clock_gettime(j->cpu, &cpu1))
			break;
		used_ns = (int64_t)(cpu1.tv_sec - cpu0.tv_sec) * 1000000000LL + (cpu1.tv_nsec - cpu0.tv_nsec);
		if (used_ns * PYH_GUARD_BUSY_PART < (int64_t)timeout_ms * 1000000LL)
			break;	/* blocked, not busy: give it up */
	}
	done = j->done;
	if (!done) {
		j->abandoned = 1;
		__atomic_add_fetch(&pyh_guard_stalled, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&pyh_guard_stalls, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&j->mu);
	if (!done)
		return -ETIMEDOUT;
	if (result)
		*result = j->result;
	job_free(j);
	return 0;
}

int pyh_guard_run(int (*fn)(void *arg), void *arg, void (*release)(void *arg), unsigned timeout_ms,
		  int *result)
{
	return guard_run(fn, arg, release, timeout_ms, result, 1);
}

/* pyh_guard_release's job: the release function and its argument. Releases
 * have a cap of their own (PYH_GUARD_MAX_STALLED stalled releases at once),
 * apart from the reads': with reads stalled elsewhere a release still runs,
 * so that what it frees (a file's symbols, megabytes) is not leaked at every
 * call while they stay blocked. */
struct pyh_guard_rel {
	void (*release)(void *arg);
	void *arg;
	int state;	/* atomic: 0 running, 1 done, 2 abandoned */
};

static int pyh_guard_rel_stalled;	/* atomic: releases abandoned and still blocked */

static int rel_run(void *p)
{
	struct pyh_guard_rel *r = p;

	r->release(r->arg);
	if (__atomic_exchange_n(&r->state, 1, __ATOMIC_ACQ_REL) == 2)
		__atomic_sub_fetch(&pyh_guard_rel_stalled, 1, __ATOMIC_RELAXED);
	return 0;
}

int pyh_guard_release(void (*release)(void *arg), void *arg, unsigned timeout_ms)
{
	struct pyh_guard_rel *r;
	int rc;

	if (__atomic_load_n(&pyh_guard_rel_stalled, __ATOMIC_RELAXED) >= PYH_GUARD_MAX_STALLED)
		return -EAGAIN;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->release = release;
	r->arg = arg;
	r->state = 0;
	rc = guard_run(rel_run, r, free, timeout_ms, NULL, 0);
	if (rc == -ETIMEDOUT) {
		/* the job's now (freed when it ends); counted while it is blocked */
		__atomic_add_fetch(&pyh_guard_rel_stalled, 1, __ATOMIC_RELAXED);
		if (__atomic_exchange_n(&r->state, 2, __ATOMIC_ACQ_REL) == 1)
			__atomic_sub_fetch(&pyh_guard_rel_stalled, 1, __ATOMIC_RELAXED);
	} else {
		free(r);
	}
	return rc;
}
