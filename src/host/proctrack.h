/* The process tracker's user side: loads bpf/proctrack.bpf.c (exec
 * generations; processes that exec, exit and fork: include/pyhang/proctrack.h)
 * once per command, lends its maps to the command's other BPF objects, and
 * hands its events to a callback from the command's own ring-buffer polls.
 *
 * Lifecycle: pyh_proctrack_open() (open, configure, load, attach), then for
 * each other BPF object pyh_proctrack_share() between its open and load, and
 * pyh_proctrack_add_ring() on the ring_buffer the command polls. */
#ifndef PYH_HOST_PROCTRACK_H
#define PYH_HOST_PROCTRACK_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/proctrack.h"

struct bpf_object;
struct ring_buffer;
struct pyh_proctrack;

struct pyh_proctrack_opts {
	int all_execs;		/* EXEC events of every process (--all); else of tracked ones */
	int forks;		/* FORK events: the fork tracepoint is attached only then */
	int thread_exits;	/* THREAD_EXIT events */
};

/* Called for every event, from the polls of the ring_buffer the tracker was
 * added to (pyh_proctrack_add_ring). */
typedef void (*pyh_proc_event_cb)(const struct pyh_proc_event *e, void *arg);

/* Probe tp_btf on the tracepoints needed (the classic tracepoints otherwise,
 * and also when tp_btf fails to load or attach), open, configure, load and
 * attach the tracker. Returns 0 with *out, or -errno with a one-line reason
 * in err naming what was attempted; nothing stays loaded on failure. */
int pyh_proctrack_open(const struct pyh_proctrack_opts *o, pyh_proc_event_cb cb, void *arg,
		       struct pyh_proctrack **out, char *err, size_t errsz);

/* Make obj's exec_gens and tracked maps (declared by including
 * pyhang/proctrack.h) the tracker's. Call between obj's open and load.
 * Returns 0, or -errno with err filled (obj then keeps its own maps). */
int pyh_proctrack_share(const struct pyh_proctrack *pt, struct bpf_object *obj, char *err,
			size_t errsz);

/* Deliver the tracker's events through rb (ring_buffer__add). Returns 0 or -errno. */
int pyh_proctrack_add_ring(struct pyh_proctrack *pt, struct ring_buffer *rb);

/* Follow pid (report its exit and forks; watch records its threads) or stop
 * following it. follow returns 0 or -errno (-E2BIG: PYH_PROCTRACK_MAX_TRACKED
 * followed already); unfollow is a no-op for a pid not followed. */
int pyh_proctrack_follow(struct pyh_proctrack *pt, pid_t pid);
void pyh_proctrack_unfollow(struct pyh_proctrack *pt, pid_t pid);

/* pid's exec generation now (0: it has not exec'd since the tracker loaded). */
uint32_t pyh_proctrack_exec_gen(const struct pyh_proctrack *pt, pid_t pid);

/* "tp_btf" or "tracepoint": what the programs are attached as. */
const char *pyh_proctrack_kind(const struct pyh_proctrack *pt);

/* Sum of each per-CPU counter (indexes enum pyh_proctrack_counter); zeros
 * when unreadable. */
void pyh_proctrack_counters(const struct pyh_proctrack *pt, uint64_t out[PYH_PTCNT_MAX]);

/* Detach and unload. NULL-safe. Objects sharing the maps keep them alive. */
void pyh_proctrack_free(struct pyh_proctrack *pt);
#endif
