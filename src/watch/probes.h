/* The hang detector's BPF side as user space sees it: open, configure, load
 * and attach bpf/watch.bpf.c (sched_switch, or raw_syscalls with
 * --trace-syscalls), the uprobes on each interpreter binary, and reading and
 * pruning its maps (include/pyhang/watch.h). Decides nothing: the detectors
 * (watch/detect.h) judge what is read here. */
#ifndef PYH_WATCH_PROBES_H
#define PYH_WATCH_PROBES_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/proctrack.h"
#include "pyhang/watch.h"
#include "watch/detect.h"

#define PYH_PROBES_MAX_LINKS 16		/* uprobes on one interpreter binary */

struct bpf_link;
struct pyh_probes;

struct pyh_probes_opts {
	int trace_syscalls;	/* raw_syscalls enter/exit instead of sched_switch */
	int no_gil;		/* no uprobes on the GIL functions */
	uint64_t min_report_ns;	/* a wait that lasted this long sends a "returned" record */
};

/* Called from pyh_probes_poll() for every "returned" record. */
typedef void (*pyh_returned_cb)(const struct pyh_watch_event *ev, void *arg);

/* Probe tp_btf on the tracepoints the mode needs (the classic ones otherwise,
 * and also when tp_btf fails to load or attach), open watch.bpf.c sharing
 * pt's maps (its `tracked` set says which processes are watched), load and
 * attach it, and poll pt's events along with its own. Returns 0 with *out,
 * or -errno with a one-line reason in err; nothing stays loaded on failure. */
int pyh_probes_open(const struct pyh_probes_opts *o, struct pyh_proctrack *pt, pyh_returned_cb cb,
		    void *arg, struct pyh_probes **out, char *err, size_t errsz);

/* Take the records of both ring buffers, waiting up to timeout_ms for the
 * first. Returns how many, or -errno (-EINTR: a signal came). */
int pyh_probes_poll(struct pyh_probes *pb, int timeout_ms);

/* Detach and unload; NULL-safe. Every probe set must be detached before. */
void pyh_probes_free(struct pyh_probes *pb);

/* ---- uprobes on interpreters -------------------------------------------- */

struct pyh_probe_set {
	struct bpf_link *links[PYH_PROBES_MAX_LINKS];
	int n;
	int lock_probes;	/* every lock probe is attached: holders are known */
};

/* Lock holders and GIL waits: uprobes on the functions t's interpreter
 * exports, for process pid (-1: every process that maps it; the BPF programs
 * count only watched ones). The file is the one t maps, opened as
 * proc/maps.h's pyh_pybinary_open does, probed through its descriptor at
 * offsets read here. A probe that cannot be attached is missing from set
 * (said at -v); set->lock_probes says whether holders are tracked. Returns
 * 0, or -ETIMEDOUT when the file did not answer in time (said on stderr;
 * set empty). A file on a served file system (FUSE, NFS, ...) gets none
 * (said once; see probes.c). */
struct pyh_target;
int pyh_probes_attach_interp(struct pyh_probes *pb, pid_t pid, const struct pyh_target *t,
			     struct pyh_probe_set *set);
void pyh_probe_set_detach(struct pyh_probe_set *set);

/* --all: the probes of t's interpreter binary, attached once for
 * every process that maps it (attaching and above all detaching a uprobe
 * costs the kernel an RCU grace period, which per process would hold up the
 * watcher as processes come and go; and a new process of a known binary is
 * probed from its first instruction). Each call is one more user of the set,
 * until pyh_probes_binary_put; a binary without users for
 * PYH_PROBES_BIN_IDLE_NS loses its probes at pyh_probes_idle (they hold its
 * inode: a deleted interpreter of an old container image would stay on disk,
 * and the descriptors would grow with every binary ever seen), and when
 * PYH_PROBES_MAX_BINS are probed a new binary takes the slot of the one idle
 * longest. NULL when the binary cannot be identified or every slot has
 * users (then the caller probes the process alone); *stalled set (else
 * cleared) when that is because its file did not answer in time (said on
 * stderr): then do not try pyh_probes_attach_interp. */
#define PYH_PROBES_MAX_BINS 64
#define PYH_PROBES_BIN_IDLE_NS (60ull * 1000000000ull)
const struct pyh_probe_set *pyh_probes_binary(struct pyh_probes *pb, const struct pyh_target *t, int *stalled);
void pyh_probes_binary_put(struct pyh_probes *pb, const struct pyh_probe_set *set, uint64_t now_ns);
void pyh_probes_idle(struct pyh_probes *pb, uint64_t now_ns);

/* ---- the maps ------------------------------------------------------------ */

/* The inflight map (every watched thread's call) and the gilwait map (the
 * threads waiting for the GIL), at most max entries. Return how many. */
int pyh_probes_read_calls(struct pyh_probes *pb, struct pyh_wcall *out, int max);
int pyh_probes_read_gil(struct pyh_probes *pb, struct pyh_wgil *out, int max);

/* Who holds the lock waiter waits for (struct pyh_scan's holder, which
 * says how the lock is found). arg is the struct pyh_probes. */
int pyh_probes_holder(void *arg, uint32_t tgid, pid_t waiter, uint64_t futex, uint64_t *lock, pid_t *tid);

/* A call that began before watch did (read from /proc), as tid's inflight
 * entry unless BPF has one already. */
void pyh_probes_seed_call(struct pyh_probes *pb, uint32_t tid, const struct pyh_watch_call *c);

/* Thread tid of tgid exited at ktime_ns: its entries go (its tid may come
 * back in another process), unless a new thread with that tid made them
 * after the exit. The engine calls it on the process tracker's exit events. */
void pyh_probes_forget_thread(struct pyh_probes *pb, uint32_t tgid, uint32_t tid, uint64_t ktime_ns);

/* Process tgid is no longer watched (it exited or exec'd): the entries of
 * its threads among calls/gil (this scan's snapshots), and the locks it held
 * (the BPF side never sees the owner of a lock die; holders are keyed by
 * process and lock, include/pyhang/watch.h). */
void pyh_probes_forget_process(struct pyh_probes *pb, uint32_t tgid, const struct pyh_wcall *calls,
			       int ncalls, const struct pyh_wgil *gil, int ngil);

/* The safety net behind the exit events (lost when the ring buffer was
 * full): entries of calls/gil whose thread no longer exists, and lock
 * holders whose process no longer exists. */
void pyh_probes_prune(struct pyh_probes *pb, const struct pyh_wcall *calls, int ncalls,
		      const struct pyh_wgil *gil, int ngil);

/* Sum over CPUs of the BPF side's counter idx (enum pyh_watch_counter); 0
 * when unreadable. */
uint64_t pyh_probes_counter(struct pyh_probes *pb, uint32_t idx);
#endif
