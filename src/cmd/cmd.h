/* The subcommands. Each parses its own options and returns the process exit
 * code; argv[0] is the subcommand name, options follow. */
#ifndef PYH_CMD_CMD_H
#define PYH_CMD_CMD_H
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
#endif
