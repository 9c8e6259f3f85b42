/* Now, on CLOCK_MONOTONIC: the one clock pyhang's own deadlines, rates,
 * budgets and intervals are measured on (it does not jump with the wall
 * clock and does not count suspend). Each call reads the clock afresh; none
 * can fail on Linux (CLOCK_MONOTONIC is always there), so each returns the
 * time directly.
 *
 * Other clocks stay where they are meant: CLOCK_REALTIME for timestamps
 * shown to people or written in outputs; CLOCK_BOOTTIME where a value is
 * compared with the kernel's (a process's start time in /proc counts
 * suspend); a thread's CPU clock for CPU budgets; a struct timespec deadline
 * where pthread_cond_timedwait wants one (proc/guard.c). */
#ifndef PYH_CLOCK_CLOCK_H
#define PYH_CLOCK_CLOCK_H

#include <stdint.h>

/* Nanoseconds since an arbitrary fixed point (the boot, on Linux). */
uint64_t pyh_mono_ns(void);

/* The same in whole milliseconds (truncated). */
uint64_t pyh_mono_ms(void);

/* The same in seconds, as a double (ns resolution for about 100 days). */
double pyh_mono_s(void);

/* Nanoseconds in one of /proc's clock ticks (USER_HZ, sysconf(_SC_CLK_TCK):
 * the unit of a task's start time and of /proc/stat's CPU times), or 0 when
 * the system does not say. The one place pyhang turns ticks into time. */
uint64_t pyh_clock_tick_ns(void);
#endif
