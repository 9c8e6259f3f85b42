/* What every subcommand shares: strict option parsing. */
#include "cmd/cmd.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
