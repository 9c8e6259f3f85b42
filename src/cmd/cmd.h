/* The subcommands. Each parses its own options and returns the process exit
 * code; argv[0] is the subcommand name, options follow. */
#ifndef PYH_CMD_CMD_H
#define PYH_CMD_CMD_H
#include <signal.h>
#include <sys/types.h>
int pyh_cmd_dump(int argc, char **argv);
int pyh_cmd_record(int argc, char **argv);
int pyh_cmd_watch(int argc, char **argv);

/* Strict number parsing for option values: the whole string, in [min, max].
 * Return 0 or -EINVAL / -ERANGE. */
int pyh_parse_long(const char *s, long min, long max, long *out);
int pyh_parse_double(const char *s, double min, double max, double *out);
/* Parse a PID option value. Returns 0, or -EINVAL / -ERANGE after printing
 * "pyhang: invalid PID 'x': ..." (*out untouched). */
int pyh_parse_pid(const char *s, pid_t *out);

/* The signals a long-running command (record, watch) stops on, caught for
 * as long as its engine runs: SIGINT and SIGTERM set *stop to the signal's
 * number; with hup, SIGHUP sets *hup to 1 (else it keeps its disposition).
 * pyh_cmd_restore_signals puts back what was there before. */
struct pyh_cmd_signals {
	struct sigaction old[3];	/* SIGINT, SIGTERM, SIGHUP */
	int n;
};
void pyh_cmd_catch_signals(struct pyh_cmd_signals *s, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup);
void pyh_cmd_restore_signals(const struct pyh_cmd_signals *s);

/* The allocator policy of a long-running command (watch): glibc's mmap and
 * trim thresholds fixed at 128 KiB. glibc otherwise raises both after the
 * first large block is freed (up to 32 MiB and 64 MiB), and from then on
 * large per-process buffers come from the heaps, where freed memory stays
 * resident, in the main heap and in each guard worker thread's arena: watch
 * --all over a churn of processes (tools/soak.py) held 2 MiB in each worker
 * arena with under 0.2 MiB of it in use, and its main heap twice what it
 * used. Fixed, large blocks are mapped and unmapped, and
 * free memory at the top of each heap past 128 KiB goes back to the kernel.
 * Called before the engine starts threads; nothing is reported (mallopt
 * cannot fail here in a way that matters: the defaults stay). */
void pyh_cmd_memory_policy(void);
#endif
