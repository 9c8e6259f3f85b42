/* The verbosity level, and libbpf's log through one callback. */
#include "log/log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>

static int pyh_log_level;

void pyh_log_set_verbosity(int level)
{
	pyh_log_level = level < 0 ? 0 : level;
}

int pyh_log_verbosity(void)
{
	return pyh_log_level;
}

static int pyh_log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	if (pyh_log_level < 1)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void pyh_log_libbpf(void)
{
	libbpf_set_print(pyh_log_libbpf_print);
}
