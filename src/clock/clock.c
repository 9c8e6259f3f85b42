#include "clock/clock.h"

#include <time.h>
#include <unistd.h>

uint64_t pyh_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t pyh_mono_ms(void)
{
	return pyh_mono_ns() / 1000000ull;
}

double pyh_mono_s(void)
{
	return (double)pyh_mono_ns() / 1e9;
}

uint64_t pyh_clock_tick_ns(void)
{
	long tck = sysconf(_SC_CLK_TCK);

	return tck > 0 && tck <= 1000000000L ? 1000000000ull / (uint64_t)tck : 0;
}
