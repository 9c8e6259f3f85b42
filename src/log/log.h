/* How much pyhang says on stderr beyond its one-line errors, owned here so
 * that no lower layer reaches up into the commands for it. The commands set
 * it from -v; everything else asks. */
#ifndef PYH_LOG_LOG_H
#define PYH_LOG_LOG_H

/* 0: errors only; 1 (-v): libbpf's own log and what was attached; 2, 3:
 * detail per scan and per event. */
void pyh_log_set_verbosity(int level);
int pyh_log_verbosity(void);

/* One line on stderr: "pyhang: " and the formatted message, sanitized
 * (output/sanitize.h), since messages name what targets control (paths,
 * command lines). No newline in fmt: one is added. */
void pyh_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Route libbpf's messages to stderr, shown only at verbosity >= 1 (our own
 * errors already say what failed). Call once before any BPF work. */
void pyh_log_libbpf(void);
#endif
