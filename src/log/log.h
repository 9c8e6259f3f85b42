/* How much pyhang says on stderr beyond its one-line errors, owned here so
 * that no lower layer reaches up into the commands for it. The commands set
 * it from -v; everything else asks. */
#ifndef PYH_LOG_LOG_H
#define PYH_LOG_LOG_H

/* 0: errors only; 1 (-v): libbpf's own log and what was attached; 2, 3:
 * detail per scan and per event. */
void pyh_log_set_verbosity(int level);
int pyh_log_verbosity(void);

/* Route libbpf's messages to stderr, shown only at verbosity >= 1 (our own
 * errors already say what failed). Call once before any BPF work. */
void pyh_log_libbpf(void);
#endif
