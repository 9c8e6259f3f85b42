/* The verbosity level, and libbpf's log through one callback. */
#include "log/log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>

#include "output/sanitize.h"

#define PYH_LOG_LINE_MAX 2048

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

void pyh_log_error(const char *fmt, ...)
{
	char msg[PYH_LOG_LINE_MAX], safe[PYH_LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pyhang: %s\n", pyh_safe(msg, safe, sizeof(safe)));
}
