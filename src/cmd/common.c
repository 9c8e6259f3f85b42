/* What every subcommand shares: strict option parsing, signals, the allocator policy. */
#include "cmd/cmd.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pyh_parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int pyh_parse_double(const char *s, double min, double max, double *out)
{
	char *end = NULL;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || isnan(v))
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int pyh_parse_pid(const char *s, pid_t *out)
{
	long v;
	int err = pyh_parse_long(s, 1, INT_MAX, &v);

	if (err == -EINVAL) {
		fprintf(stderr, "pyhang: invalid PID '%s': not a number\n", s ? s : "");
		return err;
	}
	if (err) {
		fprintf(stderr, "pyhang: invalid PID '%s': must be between 1 and %d\n", s, INT_MAX);
		return err;
	}
	*out = (pid_t)v;
	return 0;
}

static const int pyh_cmd_sigs[3] = { SIGINT, SIGTERM, SIGHUP };	/* as in pyh_cmd_signals.old */
static volatile sig_atomic_t *pyh_sig_stop, *pyh_sig_hup;

static void pyh_cmd_on_signal(int sig)
{
	if (sig == SIGHUP)
		*pyh_sig_hup = 1;
	else
		*pyh_sig_stop = sig;
}

void pyh_cmd_catch_signals(struct pyh_cmd_signals *s, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup)
{
	struct sigaction sa;

	*stop = 0;
	if (hup)
		*hup = 0;
	pyh_sig_stop = stop;
	pyh_sig_hup = hup;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pyh_cmd_on_signal;
	sigemptyset(&sa.sa_mask);
	s->n = hup ? 3 : 2;
	for (int i = 0; i < s->n; i++)
		sigaction(pyh_cmd_sigs[i], &sa, &s->old[i]);
}

void pyh_cmd_restore_signals(const struct pyh_cmd_signals *s)
{
	for (int i = 0; i < s->n; i++)
		sigaction(pyh_cmd_sigs[i], &s->old[i], NULL);
}

void pyh_cmd_memory_policy(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}
