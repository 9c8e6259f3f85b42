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

static void *job_main(void *p)
{
	struct pyh_guard_job *j = p;
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
	return NULL;
}

int pyh_guard_run(int (*fn)(void *arg), void *arg, void (*release)(void *arg), unsigned timeout_ms,
		  int *result)
{
	struct pyh_guard_job *j;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t th;
	sigset_t all, old;
	struct timespec until;
	int rc, done;

	if (pyh_guard_stalled_now() >= PYH_GUARD_MAX_STALLED)
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
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&ta, PYH_GUARD_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* inherited: the job takes no signals */
	rc = -pthread_create(&th, &ta, job_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
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
