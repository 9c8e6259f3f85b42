/* From sampler records to named stacks in a profile. */
#include "record/collector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"
#include "log/log.h"
#include "native/native.h"
#include "proc/guard.h"
#include "proc/mem.h"
#include "proc/procfs.h"
#include "python/code.h"
#include "python/frames.h"
#include "python/stack.h"
#include "python/threads.h"
#include "record/callers.h"
#include "record/ceiling.h"
#include "record/mixed.h"
#include "record/taskroots.h"
#include "snapshot/snapshot.h"

#define PYH_NAME_SLOTS 4096
#define PYH_ROOTS 5 /* group, process, thread, task, [truncated] */
#define PYH_NATIVE_GAP "[native unwind stopped]"
#define PYH_NATIVE_UNREADABLE "[native frames unreadable]"
#define PYH_NATIVE_TEXT 96		/* "libfoo.so+0x1234" for a native frame without a name */
#define PYH_NATIVE_REOPEN_NS 20000000ll	/* a library loaded since: read the maps again, at most this often */

struct pyh_ctarget {
	struct pyh_target t;
	struct pyh_codecache *cache;
	char comm[32];
	char label[256];	/* --group process */
	char cgroup[256];	/* --group cgroup */
	int gone;
	int stalled;		/* a read of its memory missed its deadline: not read again,
				 * its samples dropped (counted) */
	int refs;		/* the collector's, and a naming job's that missed its
				 * deadline (it uses cache and t until it ends) */
	struct pyh_native *nat;	/* --native: its code as libdw sees it, opened at its first sample */
	int64_t nat_opened_ns;	/* when (0: never tried) */
	int native_stalled;	/* a native job (maps, its ELF files) missed its deadline: nat
				 * is that job's until it ends, never touched here again; its
				 * samples get Python frames only, marked PYH_NATIVE_UNREADABLE */
	uint64_t serial;	/* which target this is, never reused (seen-stack keys) */
	struct pyh_taskroots *roots;	/* --tasks */
	struct pyh_ceil_memo *memo;	/* its code objects as last read for ceiling samples
					 * (record/ceiling.h), made at the first one */
};

struct pyh_tname {
	pid_t pid, tid;
	char name[32];
};

/* A stack added before (pyh_add_stack): where it went. */
struct pyh_seen {
	uint64_t key;
	uint32_t check;
	int entry;	/* profile entry; -1: free slot */
};
#define PYH_SEEN_SLOTS 65536	/* power of two; 1 MiB */

struct pyh_native_job;
struct pyh_ceil_job;

struct pyh_collector {
	struct pyh_profile *prof;
	struct pyh_collector_opts opts;
	struct pyh_ctarget **targets;	/* each allocated apart: code caches keep &t */
	int ntargets;
	struct pyh_tname names[PYH_NAME_SLOTS];
	struct pyh_pframe frames[PYH_ROOTS + PYH_SAMPLE_MAX_DEPTH + PYH_MIXED_MAX_NATIVE + 1];
	struct pyh_native_job *njob;	/* --native: the sample being merged (NULL after a job that
					 * missed its deadline took it: made again when needed) */
	struct pyh_task_job *tjob;	/* --tasks: the sample being named, kept for the next
					 * (NULL after a job that missed its deadline took it) */
	char ntext[PYH_MIXED_MAX_NATIVE][PYH_NATIVE_TEXT];
	struct pyh_frame named[PYH_SAMPLE_MAX_DEPTH]; /* the frames of the stack being added */
	struct pyh_pythread *threads;	/* PYH_MAX_THREADS, for idle ticks */
	struct pyh_raw_frame *raw;	/* PYH_SAMPLE_MAX_DEPTH, for idle ticks */
	uint64_t *raw_addrs;		/* PYH_SAMPLE_MAX_DEPTH */
	struct pyh_collector_stats st;
	struct pyh_seen *seen;		/* PYH_SEEN_SLOTS */
	char task_text[PYH_TASKROOTS_TEXT];	/* pyh_collector_task's answer */
	struct pyh_raw_frame *craw;	/* PYH_SAMPLE_MAX_DEPTH: a ceiling sample's frames with
					 * their fingerprints */
	struct pyh_ceil_job *cjob;	/* the read for them (NULL after a job that missed its
					 * deadline took it: made again when needed) */
	uint64_t next_serial;		/* for targets' serial numbers */
	struct pyh_callers *callers;	/* each thread's last whole callers (PYH_SAMPLE_CALLERS) */
	struct pyh_sample *whole;	/* a record sent without its callers, with them */
};

static void pyh_native_release(void *nat)
{
	pyh_native_close(nat);
}

/* Let go of ct: freed with its code cache and native session by the last
 * holder (the collector, or a job that ended after its deadline). The
 * session is closed with a deadline (proc/guard.h: pyh_guard_release):
 * closing the ELF files it opened asks their file system, which may be a
 * FUSE server that stopped answering. */
static void pyh_ctarget_put(struct pyh_ctarget *ct)
{
	if (!ct || __atomic_sub_fetch(&ct->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pyh_taskroots_free(ct->roots);
	free(ct->memo);
	pyh_codecache_free(ct->cache);
	if (ct->nat && pyh_guard_release(pyh_native_release, ct->nat, PYH_COLLECTOR_READ_DEADLINE_MS) == -ETIMEDOUT)
		pyh_log_error("process %d: closing its native code's files did not finish in time", (int)ct->t.pid);
	free(ct);
}

struct pyh_collector *pyh_collector_new(struct pyh_profile *p, const struct pyh_collector_opts *o)
{
	struct pyh_collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->prof = p;
	if (o)
		c->opts = *o;
	c->targets = calloc(PYH_COLLECTOR_MAX_TARGETS, sizeof(*c->targets));
	c->threads = calloc(PYH_MAX_THREADS, sizeof(*c->threads));
	c->raw = calloc(PYH_SAMPLE_MAX_DEPTH, sizeof(*c->raw));
	c->raw_addrs = calloc(PYH_SAMPLE_MAX_DEPTH, sizeof(*c->raw_addrs));
	c->craw = calloc(PYH_SAMPLE_MAX_DEPTH, sizeof(*c->craw));
	c->seen = malloc(PYH_SEEN_SLOTS * sizeof(*c->seen));
	c->callers = pyh_callers_new();
	c->whole = malloc(sizeof(*c->whole));
	if (!c->targets || !c->threads || !c->raw || !c->raw_addrs || !c->craw || !c->seen || !c->callers ||
	    !c->whole) {
		pyh_collector_free(c);
		return NULL;
	}
	for (size_t i = 0; i < PYH_SEEN_SLOTS; i++)
		c->seen[i].entry = -1;
	return c;
}

void pyh_collector_free(struct pyh_collector *c)
{
	if (!c)
		return;
	for (int i = 0; c->targets && i < c->ntargets; i++)
		pyh_ctarget_put(c->targets[i]);
	free(c->targets);
	free(c->seen);
	free(c->njob);
	free(c->tjob);
	free(c->threads);
	free(c->raw);
	free(c->raw_addrs);
	free(c->craw);
	free(c->cjob);
	pyh_callers_free(c->callers);
	free(c->whole);
	free(c);
}

static struct pyh_ctarget *pyh_find(const struct pyh_collector *c, pid_t pid)
{
	for (int i = 0; i < c->ntargets; i++)
		if (c->targets[i]->t.pid == pid)
			return c->targets[i];
	return NULL;
}

/* comm of pid (tid 0) or of its thread tid; "?" when unreadable. */
static void pyh_read_comm(pid_t pid, pid_t tid, char *out, size_t outsz)
{
	if (pyh_proc_comm(pid, tid, out, outsz))
		snprintf(out, outsz, "?");
}

int pyh_collector_add_target(struct pyh_collector *c, const struct pyh_target *t)
{
	struct pyh_ctarget *ct;

	if (pyh_find(c, t->pid))
		return -EEXIST;
	if (c->ntargets >= (c->opts.max_targets > 0 && c->opts.max_targets < PYH_COLLECTOR_MAX_TARGETS
				    ? c->opts.max_targets : PYH_COLLECTOR_MAX_TARGETS))
		return -E2BIG;
	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return -ENOMEM;
	ct->t = *t;
	ct->refs = 1;
	ct->serial = ++c->next_serial;
	ct->cache = pyh_codecache_new(&ct->t);
	if (ct->cache && c->opts.tasks)
		ct->roots = pyh_taskroots_new(&ct->t, ct->cache);
	if (!ct->cache || (c->opts.tasks && !ct->roots)) {
		pyh_codecache_free(ct->cache);
		free(ct);
		return -ENOMEM;
	}
	pyh_read_comm(t->pid, 0, ct->comm, sizeof(ct->comm));
	snprintf(ct->label, sizeof(ct->label), "process %d (%s)", (int)t->pid, ct->comm);
	snprintf(ct->cgroup, sizeof(ct->cgroup), "cgroup ?");
	c->targets[c->ntargets++] = ct;
	pyh_callers_forget(c->callers, t->pid);	/* an earlier process's threads */
	return 0;
}

int pyh_collector_set_labels(struct pyh_collector *c, pid_t pid, const char *process_label,
			     const char *cgroup_label)
{
	struct pyh_ctarget *ct = pyh_find(c, pid);

	if (!ct)
		return -ENOENT;
	if (process_label)
		snprintf(ct->label, sizeof(ct->label), "%s", process_label);
	if (cgroup_label)
		snprintf(ct->cgroup, sizeof(ct->cgroup), "%s", cgroup_label);
	return 0;
}

void pyh_collector_forget(struct pyh_collector *c, pid_t pid)
{
	for (int i = 0; i < c->ntargets; i++) {
		if (c->targets[i]->t.pid != pid)
			continue;
		pyh_ctarget_put(c->targets[i]);
		c->targets[i] = c->targets[--c->ntargets];
		c->targets[c->ntargets] = NULL;
		pyh_callers_forget(c->callers, pid);
		return;
	}
}

int pyh_collector_has_target(const struct pyh_collector *c, pid_t pid)
{
	return pyh_find(c, pid) != NULL;
}

void pyh_collector_mark_gone(struct pyh_collector *c, pid_t pid)
{
	struct pyh_ctarget *ct = pyh_find(c, pid);

	if (ct)
		ct->gone = 1;
}

static const char *pyh_thread_name(struct pyh_collector *c, pid_t pid, pid_t tid)
{
	struct pyh_tname *n = &c->names[((unsigned)tid * 2654435761u) % PYH_NAME_SLOTS];

	if (n->pid != pid || n->tid != tid) {
		n->pid = pid;
		n->tid = tid;
		pyh_read_comm(pid, tid, n->name, sizeof(n->name));
	}
	return n->name;
}

/* The per-sample labels of thread tid of ct (pprof "pid", "tid", "process",
 * "thread", and with --tasks "task"). */
static struct pyh_plabels pyh_sample_labels(struct pyh_collector *c, struct pyh_ctarget *ct, pid_t tid,
					    const char *task)
{
	return (struct pyh_plabels){
		.pid = (int32_t)ct->t.pid,
		.tid = (int32_t)tid,
		.process = ct->label[0] ? ct->label : ct->comm,
		.thread = pyh_thread_name(c, ct->t.pid, tid),
		.task = task,
	};
}

/* Fill the root frames; returns how many. Texts live in the caller's buffers. */
static int pyh_roots(struct pyh_collector *c, struct pyh_ctarget *ct, pid_t tid, int truncated,
		     const char *task, char *proc_text, char *thread_text, size_t textsz)
{
	int n = 0;

	if (c->opts.group == PYH_GROUP_PROCESS)
		c->frames[n++] = (struct pyh_pframe){ .function = ct->label };
	else if (c->opts.group == PYH_GROUP_CGROUP)
		c->frames[n++] = (struct pyh_pframe){ .function = ct->cgroup };
	if (c->opts.processes) {
		snprintf(proc_text, textsz, "process %d (%s)", (int)ct->t.pid, ct->comm);
		c->frames[n++] = (struct pyh_pframe){ .function = proc_text };
	}
	if (c->opts.threads) {
		snprintf(thread_text, textsz, "thread %d (%s)", (int)tid,
			 pyh_thread_name(c, ct->t.pid, tid));
		c->frames[n++] = (struct pyh_pframe){ .function = thread_text };
	}
	if (task)
		c->frames[n++] = (struct pyh_pframe){ .function = task };
	if (truncated)
		c->frames[n++] = (struct pyh_pframe){ .function = "[truncated]" };
	return n;
}

/* The seen-stack table's key of a stack: everything its profile entry
 * depends on (the target — by its serial number, which a later process with
 * the same pid does not share — and the thread, hence the roots and labels,
 * how many roots, whether a leaf marker follows (there is one text: PYH_NATIVE_UNREADABLE),
 * and each frame's code object, fingerprint and offset), hashed twice
 * (FNV-1a, two seeds). Only stacks whose every frame has a fingerprint have
 * one: a frame named from a fingerprint is named the same every time.
 * fp_all, when not 0, stands for every frame's fingerprint: a ceiling
 * sample's key (pyh_ceiling_fp_all). callers, when not 0, is the sampler's
 * hash of raw[1..n) (pyhang/sample.h, PYH_SAMPLE_CALLERS: their code objects,
 * fingerprints, offsets and flags, and n) and stands for them: the key is
 * then made of raw[0] and it alone, whatever the depth (a key of its own
 * kind, never equal to one made of every frame but by chance). The caller
 * passes it only where those frames all have fingerprints, or fp_all. */
static int pyh_seen_key(uint64_t serial, pid_t tid, int r, const char *task, int leaf,
			const struct pyh_raw_frame *raw, int n, uint64_t fp_all, uint64_t callers,
			uint64_t *key, uint32_t *check)
{
	uint64_t h = 14695981039346656037ull, g = 0x9e3779b97f4a7c15ull, t = 0;
	uint64_t head[4] = { serial, (uint64_t)tid,
			     (uint64_t)(uint32_t)r << 32 | (uint32_t)n | (leaf ? 1u << 31 : 0) |
				     (callers ? 1u << 30 : 0),
			     0 };

	for (const char *p = task; p && *p; p++)	/* the task root: its text */
		t = (t ^ (unsigned char)*p) * 1099511628211ull;
	head[3] = t;
	for (int i = 0; i < 4; i++) {
		h = (h ^ head[i]) * 1099511628211ull;
		g = (g ^ head[i]) * 0xff51afd7ed558ccdull;
	}
	for (int i = 0; i < (callers && n > 1 ? 1 : n); i++) {
		uint64_t fp = fp_all ? fp_all : raw[i].fp;

		if (!fp)
			return -1;
		h = (h ^ raw[i].code) * 1099511628211ull;
		h = (h ^ fp) * 1099511628211ull;
		h = (h ^ raw[i].offset) * 1099511628211ull;
		g = (g ^ raw[i].code ^ (fp << 1) ^ ((uint64_t)raw[i].offset << 32)) *
		    0xff51afd7ed558ccdull;
	}
	if (callers && n > 1) {
		h = (h ^ callers) * 1099511628211ull;
		g = (g ^ (callers << 17 | callers >> 47)) * 0xff51afd7ed558ccdull;
	}
	*key = h;
	*check = (uint32_t)(g >> 32);
	return 0;
}

/* Naming frames reads the target (code objects, line tables), so it runs as
 * a job with a deadline (proc/guard.h). The job holds a reference to ct and
 * names into its own copies; past the deadline ct is stalled: its cache is
 * the job's until it ends, and nothing of ct is read again. */
struct pyh_name_job {
	struct pyh_ctarget *ct;
	int n, revalidate;
	struct pyh_raw_frame *raw;	/* n, a copy */
	struct pyh_frame *named;	/* n */
};

static int pyh_name_job_run(void *arg)
{
	struct pyh_name_job *j = arg;

	for (int i = 0; i < j->n; i++)
		pyh_frame_name(j->ct->cache, &j->raw[i], 0, j->revalidate, &j->named[i]);
	return 0;
}

static void pyh_name_job_free(void *arg)
{
	struct pyh_name_job *j = arg;

	for (int i = 0; j->named && i < j->n; i++)
		pyh_frame_release(&j->named[i]);
	free(j->named);
	free(j->raw);
	pyh_ctarget_put(j->ct);
	free(j);
}

/* ct is stalled from now on: said once, counted. */
static void pyh_target_stalled(struct pyh_collector *c, struct pyh_ctarget *ct)
{
	ct->stalled = 1;
	c->st.stalled++;
	pyh_log_error("process %d: reading its memory did not finish in time: not sampled from now on",
		      (int)ct->t.pid);
	if (c->opts.on_stalled && c->opts.on_stalled(c->opts.on_stalled_arg, ct->t.pid) == 0)
		c->st.stalled_unsampled++;
}

/* Name raw[0..n) of ct into c->named[0..n) (the caller releases them).
 * Returns 0, or -1 when they were not named: ct stalled (now or before), or
 * out of memory, or too many reads stalled already (c->named untouched). */
static int pyh_name_frames(struct pyh_collector *c, struct pyh_ctarget *ct, const struct pyh_raw_frame *raw,
			   int n)
{
	struct pyh_name_job *j;
	int rc, result = 0;

	if (ct->stalled)
		return -1;
	if (n <= 0)
		return 0;
	j = calloc(1, sizeof(*j));
	if (j) {
		j->raw = malloc(sizeof(*j->raw) * (size_t)n);
		j->named = calloc((size_t)n, sizeof(*j->named));
	}
	if (!j || !j->raw || !j->named) {
		if (j) {
			free(j->raw);
			free(j->named);
		}
		free(j);
		c->st.oom++;
		return -1;
	}
	memcpy(j->raw, raw, sizeof(*raw) * (size_t)n);
	j->n = n;
	j->revalidate = !ct->gone;
	j->ct = ct;
	__atomic_add_fetch(&ct->refs, 1, __ATOMIC_ACQ_REL);
	rc = pyh_guard_run(pyh_name_job_run, j, pyh_name_job_free, PYH_COLLECTOR_READ_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT) {
		pyh_target_stalled(c, ct);	/* j is the job's now */
		return -1;
	}
	if (rc) {
		c->st.not_named++;
		pyh_name_job_free(j);
		return -1;
	}
	memcpy(c->named, j->named, sizeof(*j->named) * (size_t)n);	/* the holds are the caller's */
	free(j->named);
	j->named = NULL;
	pyh_name_job_free(j);
	return 0;
}

static int pyh_ceiling_frames(struct pyh_collector *c, struct pyh_ctarget *ct,
			      const struct pyh_sample *s);

/* A record's callers as the sampler hashed them (pyhang/sample.h,
 * PYH_SAMPLE_CALLERS), for pyh_add_stack. */
struct pyh_callers_ref {
	uint64_t hash;		/* s->callers */
	int complete;		/* every caller has its fingerprint (a ceiling sample's key needs
				 * none: pyh_add_stack passes cr past it only to the non-ceiling key) */
	const struct pyh_raw_frame *pending; /* the n - 1 callers still to be copied to
					      * c->whole->frames + 1 (a record sent without them) */
};

/* Put cr's pending callers (if any) after frames[0] in c->whole. */
static void pyh_callers_fill(struct pyh_collector *c, struct pyh_callers_ref *cr, int n)
{
	if (!cr || !cr->pending)
		return;
	memcpy(c->whole->frames + 1, cr->pending, sizeof(*cr->pending) * (size_t)(n - 1));
	cr->pending = NULL;
}

/* A ceiling sample's stand-in for every frame's fingerprint in its seen-stack
 * key: even, so never a fingerprint (pyh_code_fp sets bit 0). A stack added
 * from a ceiling sample whose every frame was named is kept under it too:
 * a later sample of the same frames (code objects, offsets) with the same
 * ceiling ran the same code objects — no code object was made between the
 * two (each one made moves the counter), so none took the place of one
 * named — and is counted at once, without looking at the memo. */
static uint64_t pyh_ceiling_fp_all(uint32_t ceiling)
{
	return (uint64_t)ceiling << 32 | 2;
}

/* Add the stack raw[0..n) (innermost first) of thread tid with weight count:
 * root frames r first, then the named frames, root first, then leaf (a
 * marker frame, PYH_NATIVE_UNREADABLE, or NULL: none). A stack added
 * before is counted on its profile entry at once: the cost of a stack seen
 * again does not grow with its depth, and nothing is read from the target.
 * cs: raw are the frames of ceiling sample cs (no fingerprints yet: given by
 * pyh_ceiling_frames unless the stack is seen under its ceiling), else NULL.
 * cr: raw are a record's frames and cr its callers hash (the key stands on
 * raw[0] and it: a stack seen before costs the same at any depth), else NULL;
 * raw[1..n) are filled from cr->pending when every frame is needed. */
static void pyh_add_stack(struct pyh_collector *c, struct pyh_ctarget *ct, pid_t tid,
			  const struct pyh_raw_frame *raw, int n, int r, const char *task, const char *leaf,
			  uint64_t count, uint64_t *counter, const struct pyh_sample *cs,
			  struct pyh_callers_ref *cr)
{
	struct pyh_plabels labels;
	struct pyh_seen *seen = NULL, *cseen = NULL;
	uint64_t key = 0, ckey = 0;
	uint32_t check = 0, ccheck = 0;
	int entry = -1, unknown = 0;

	if (cs) {
		if (!pyh_seen_key(ct->serial, tid, r, task, leaf != NULL, raw, n,
				  pyh_ceiling_fp_all(cs->code_ceiling), cr ? cr->hash : 0, &ckey, &ccheck)) {
			cseen = &c->seen[ckey & (PYH_SEEN_SLOTS - 1)];
			if (cseen->entry >= 0 && cseen->key == ckey && cseen->check == ccheck &&
			    !pyh_profile_add_to(c->prof, cseen->entry, count)) {
				*counter += count;
				c->st.seen++;
				c->st.ceiling_samples++;
				return;
			}
		}
		pyh_callers_fill(c, cr, n);
		if (pyh_ceiling_frames(c, ct, cs)) {
			c->st.stalled_samples += ct->stalled ? count : 0;
			return;	/* counted */
		}
		raw = c->craw;	/* fingerprints given here, which the sampler's hash did not see */
		cr = NULL;
	}
	if (!cr || !cr->complete)
		pyh_callers_fill(c, cr, n);
	if (!pyh_seen_key(ct->serial, tid, r, task, leaf != NULL, raw, n, 0, cr && cr->complete ? cr->hash : 0,
			  &key, &check)) {
		seen = &c->seen[key & (PYH_SEEN_SLOTS - 1)];
		if (seen->entry >= 0 && seen->key == key && seen->check == check &&
		    !pyh_profile_add_to(c->prof, seen->entry, count)) {
			*counter += count;
			c->st.seen++;
			if (cseen)	/* its frames were named: all of them have fingerprints */
				*cseen = (struct pyh_seen){ .key = ckey, .check = ccheck,
							    .entry = seen->entry };
			return;
		}
	}
	pyh_callers_fill(c, cr, n);
	if (pyh_name_frames(c, ct, raw, n)) {
		c->st.stalled_samples += ct->stalled ? count : 0;
		return;
	}
	for (int i = 0; i < n; i++) {
		struct pyh_frame *f = &c->named[i];
		struct pyh_pframe *out = &c->frames[r + n - 1 - i];

		if (!f->ci) {
			c->st.unknown_code++;
			unknown = 1;
		}
		*out = (struct pyh_pframe){ .function = pyh_frame_qualname(f), .file = pyh_frame_file(f),
					    .line = f->line == PYH_LINE_UNKNOWN ? 0 : f->line };
	}
	if (leaf)
		c->frames[r + n] = (struct pyh_pframe){ .function = leaf };
	labels = pyh_sample_labels(c, ct, tid, task);
	if (pyh_profile_add_entry(c->prof, c->frames, r + n + !!leaf, count, &labels, &entry)) {
		c->st.oom++;
	} else {
		*counter += count;
		/* a stack with an unknown frame is named again next time: the code
		 * object may be readable then */
		if (seen && !unknown)
			*seen = (struct pyh_seen){ .key = key, .check = check, .entry = entry };
		if (cseen && !unknown)
			*cseen = (struct pyh_seen){ .key = ckey, .check = ccheck, .entry = entry };
	}
	for (int i = 0; i < n; i++)
		pyh_frame_release(&c->named[i]);
}

/* ct's native session, opened at its first native sample. reopen: an unwind
 * met a pc in no file the session knew (a library loaded since): read the
 * maps again, at most once a PYH_NATIVE_REOPEN_NS. NULL when the process
 * cannot be read for it. Reads the target's maps (and libdw its first ELF
 * file): only from a native job (pyh_native_job_run). */
static struct pyh_native *pyh_target_native(struct pyh_ctarget *ct, int reopen)
{
	int64_t now = (int64_t)pyh_mono_ns();
	char err[256];

	if (ct->nat_opened_ns && (!reopen || ct->gone || now - ct->nat_opened_ns < PYH_NATIVE_REOPEN_NS))
		return reopen ? NULL : ct->nat;
	ct->nat_opened_ns = now;
	if (ct->nat && pyh_native_refresh(ct->nat) == 0)
		return ct->nat;
	pyh_native_close(ct->nat);	/* stale (a file replaced another), or never opened */
	if (pyh_native_open(ct->t.pid, NULL, &ct->nat, err, sizeof(err)))
		ct->nat = NULL;
	return ct->nat;
}

/* The name of merged native frame i (index into m->syms) as a profile frame. */
static struct pyh_pframe pyh_native_pframe(struct pyh_collector *c, const struct pyh_mixed *m,
					   int i)
{
	const struct pyh_native_sym *sym = &m->syms[i];
	const char *base;

	if (sym->function[0])
		return (struct pyh_pframe){ .function = sym->function, .file = sym->library };
	if (!sym->library) {
		snprintf(c->ntext[i], sizeof(c->ntext[i]), "[unknown 0x%llx]",
			 (unsigned long long)m->frames[i].pc);
		return (struct pyh_pframe){ .function = c->ntext[i] };
	}
	/* Unnamed: by where its code's range starts, so its pcs add up as one. */
	base = strrchr(sym->library, '/');
	snprintf(c->ntext[i], sizeof(c->ntext[i]), "%s+0x%llx", base ? base + 1 : sym->library,
		 (unsigned long long)(sym->range_known ? sym->range_start : sym->offset));
	return (struct pyh_pframe){ .function = c->ntext[i], .file = sym->library };
}

/* The native part of one sample reads the target's files: its maps when
 * the session opens (or a library loaded since is looked for), and the ELF
 * files libdw opens and reads lazily as frames need them (pread, from the
 * unwind and the names alike) — on a FUSE mount or a dead NFS server those
 * may never answer. So the whole of it (session, unwind, names) runs as a
 * job with a deadline (proc/guard.h), holding a reference to ct, on a copy
 * of the record, into a merge buffer the job owns while it runs. Past the
 * deadline ct->nat and the buffer are the job's until it ends (its release
 * frees the buffer; the last reference to ct the session). */
struct pyh_native_job {
	struct pyh_ctarget *ct;		/* a reference while a job runs; NULL between jobs */
	const char *eval;		/* pyh_native_eval_function: a static string */
	size_t len;			/* of rec */
	struct pyh_mixed m;
	union {
		struct pyh_sample s;
		unsigned char bytes[PYH_SAMPLE_NATIVE_SIZE(PYH_SAMPLE_MAX_DEPTH, PYH_SAMPLE_STACK_MAX)];
	} rec;
};

static int pyh_native_job_run(void *arg)
{
	struct pyh_native_job *j = arg;
	struct pyh_native *nat = pyh_target_native(j->ct, 0);

	if (!nat || pyh_mixed_build(nat, j->eval, &j->rec.s, j->len, &j->m))
		return -1;
	if (pyh_native_stopped_unmapped(nat) && (nat = pyh_target_native(j->ct, 1)) &&
	    pyh_mixed_build(nat, j->eval, &j->rec.s, j->len, &j->m))
		return -1;
	return 0;
}

static void pyh_native_job_free(void *arg)
{
	struct pyh_native_job *j = arg;

	pyh_ctarget_put(j->ct);
	free(j);
}

/* ct's native part is stalled from now on: said once, counted. */
static void pyh_native_stalled(struct pyh_collector *c, struct pyh_ctarget *ct)
{
	ct->native_stalled = 1;
	c->st.native_stalled++;
	pyh_log_error("process %d: reading its native code (its maps, its ELF files) did not finish in "
		      "time: its samples have Python frames only from now on, marked \"%s\"",
		      (int)ct->t.pid, PYH_NATIVE_UNREADABLE);
}

/* Unwind and name the native part of sample s (len bytes) of ct into c->njob->m,
 * as a job. Returns 0, or -1 when it has none usable (unreadable, malformed,
 * out of memory, too many jobs stalled, or the job missed its deadline: then
 * ct is native_stalled). */
static int pyh_native_build(struct pyh_collector *c, struct pyh_ctarget *ct, const struct pyh_sample *s,
			    size_t len)
{
	struct pyh_native_job *j;
	int rc, result = -1;

	if (ct->native_stalled)
		return -1;
	if (!c->njob && !(c->njob = malloc(sizeof(*c->njob)))) {
		c->st.oom++;
		return -1;
	}
	j = c->njob;
	j->len = len < sizeof(j->rec) ? len : sizeof(j->rec);
	memcpy(j->rec.bytes, s, j->len);
	j->eval = pyh_native_eval_function(ct->t.ver.major);
	j->ct = ct;
	__atomic_add_fetch(&ct->refs, 1, __ATOMIC_ACQ_REL);
	rc = pyh_guard_run(pyh_native_job_run, j, pyh_native_job_free, PYH_COLLECTOR_NATIVE_DEADLINE_MS,
			   &result);
	if (rc == -ETIMEDOUT) {
		c->njob = NULL;			/* the job's now */
		pyh_native_stalled(c, ct);
		return -1;
	}
	j->ct = NULL;
	pyh_ctarget_put(ct);			/* the collector holds one still */
	return rc || result ? -1 : 0;
}

/* --native: the sample's Python frames (frames, its own or those
 * pyh_ceiling_frames gave) with its native frames between them,
 * root frames r first. Returns 0, or -1 when the sample has no usable native
 * part (the caller adds its Python frames alone). */
static int pyh_add_mixed(struct pyh_collector *c, struct pyh_ctarget *ct, const struct pyh_sample *s,
			 size_t len, const struct pyh_raw_frame *frames, int r, const char *task)
{
	struct pyh_plabels labels;
	struct pyh_mixed *m;
	int n = r;

	if (pyh_native_build(c, ct, s, len))
		return -1;
	m = &c->njob->m;
	if (m->mismatch) {
		/* More eval calls than Python frames (a frame being entered or left at
		 * the sample), or fewer: which native frames go where is not known. */
		c->st.native_unpaired++;
		return -1;
	}
	if (pyh_name_frames(c, ct, frames, (int)s->depth)) {
		c->st.stalled_samples += ct->stalled;
		return 0;	/* not added: counted */
	}
	for (int k = m->nmerged - 1; k >= 0; k--) {	/* root first */
		const struct pyh_merged *e = &m->merged[k];

		if (e->kind == PYH_MERGED_PYTHON) {
			struct pyh_frame *f = &c->named[e->index];

			if (!f->ci)
				c->st.unknown_code++;
			c->frames[n++] = (struct pyh_pframe){
				.function = pyh_frame_qualname(f), .file = pyh_frame_file(f),
				.line = f->line == PYH_LINE_UNKNOWN ? 0 : f->line };
		} else if (e->kind == PYH_MERGED_NATIVE) {
			c->frames[n++] = pyh_native_pframe(c, m, e->index);
		} else if (e->kind == PYH_MERGED_GAP) {
			c->frames[n++] = (struct pyh_pframe){ .function = PYH_NATIVE_GAP };
		}
	}
	labels = pyh_sample_labels(c, ct, (pid_t)s->tid, task);
	if (pyh_profile_add_labeled(c->prof, c->frames, n, 1, &labels)) {
		c->st.oom++;
	} else {
		c->st.samples++;
		c->st.native++;
		c->st.native_cut += m->stop[0] != '\0';
	}
	for (int i = 0; i < (int)s->depth; i++)
		pyh_frame_release(&c->named[i]);
	return 0;
}

/* The read of a ceiling sample's code objects (record/ceiling.h), as a job
 * with a deadline (proc/guard.h): it reads into what it owns; past the
 * deadline ct is stalled (the rule of pyh_name_frames) and the job frees
 * itself when it ends. */
struct pyh_ceil_job {
	pid_t pid;
	struct pyh_layout l;
	uint64_t code_type, counter_ptr;
	int n;
	uint64_t addrs[PYH_CEIL_MAX_READ];
	struct pyh_ceil_entry out[PYH_CEIL_MAX_READ];
};

static int pyh_ceil_job_run(void *arg)
{
	struct pyh_ceil_job *j = arg;
	int rc = pyh_ceiling_read(j->pid, &j->l, j->code_type, j->counter_ptr, j->addrs, j->n, j->out);

	if (rc && rc != -ESRCH)	/* not read at all (out of memory) */
		pyh_ceiling_unread(j->addrs, j->n, j->out);
	return 0;
}

static void pyh_ceil_job_free(void *arg)
{
	free(arg);
}

/* Give the frames of ceiling sample s of ct their fingerprints, into
 * c->craw[0..depth) (record/ceiling.h): from ct's memo where an entry stands
 * for the sample, else from one read of those code objects made now (and
 * kept in the memo); PYH_CODE_FP_REPLACED where the object read is not the
 * one the frame ran. Returns 0, or -1 when they could not be given: ct
 * stalled (now or before), out of memory, too many reads stalled at once
 * (counted). */
static int pyh_ceiling_frames(struct pyh_collector *c, struct pyh_ctarget *ct,
			      const struct pyh_sample *s)
{
	int n = (int)s->depth, nneed = 0, rc, result = 0;
	struct pyh_ceil_job *j;

	if (ct->stalled)
		return -1;
	if ((!ct->memo && !(ct->memo = calloc(1, sizeof(*ct->memo)))) ||
	    (!c->cjob && !(c->cjob = malloc(sizeof(*c->cjob))))) {
		c->st.oom++;
		return -1;
	}
	j = c->cjob;
	for (int i = 0; i < n; i++) {
		const struct pyh_ceil_entry *e = pyh_ceiling_lookup(ct->memo, s->frames[i].code);
		int v = e ? pyh_ceiling_judge(e, s->ktime_ns, s->code_ceiling) : -1, k;

		c->craw[i] = s->frames[i];
		c->craw[i].fp = v == 1 ? pyh_ceiling_fp(e) : v == 0 ? PYH_CODE_FP_REPLACED : 0;
		if (v >= 0)
			continue;
		for (k = 0; k < nneed && j->addrs[k] != s->frames[i].code; k++)
			;
		if (k == nneed && nneed < PYH_CEIL_MAX_READ)
			j->addrs[nneed++] = s->frames[i].code;
	}
	if (nneed) {
		j->pid = ct->t.pid;
		j->l = ct->t.layout;
		j->code_type = ct->t.code_type;
		j->counter_ptr = ct->t.code_counter_ptr;
		j->n = nneed;
		rc = pyh_guard_run(pyh_ceil_job_run, j, pyh_ceil_job_free, PYH_COLLECTOR_READ_DEADLINE_MS,
				   &result);
		if (rc == -ETIMEDOUT) {
			c->cjob = NULL;			/* the job's now */
			pyh_target_stalled(c, ct);
			return -1;
		}
		if (rc) {
			c->st.not_named++;
			return -1;
		}
		c->st.ceiling_reads++;
		c->st.ceiling_objects += (uint64_t)nneed;
		for (int k = 0; k < nneed; k++)
			pyh_ceiling_store(ct->memo, &j->out[k]);
	}
	for (int i = 0; i < n; i++) {
		int k;

		if (!c->craw[i].fp) {	/* read just now (a read after the sample always tells) */
			for (k = 0; k < nneed && j->out[k].addr != c->craw[i].code; k++)
				;
			c->craw[i].fp = k < nneed && pyh_ceiling_judge(&j->out[k], s->ktime_ns,
								       s->code_ceiling) == 1
						? pyh_ceiling_fp(&j->out[k])
						: PYH_CODE_FP_REPLACED;
		}
		c->st.ceiling_replaced += c->craw[i].fp == PYH_CODE_FP_REPLACED;
	}
	c->st.ceiling_samples++;
	return 0;
}

/* Naming a sample's task reads the target (its task registries, each task's
 * coroutine, the task it checks still holds it): a job with a deadline
 * (proc/guard.h) holding a reference to ct; past the deadline ct is stalled
 * (the rule of pyh_name_frames): ct->roots and its cache are the job's until
 * it ends. */
struct pyh_task_job {
	struct pyh_ctarget *ct;
	uint64_t gens[PYH_SAMPLE_TASK_GENS];
	int n, gone, found;
	char text[PYH_TASKROOTS_TEXT];
};

static int pyh_task_job_run(void *arg)
{
	struct pyh_task_job *j = arg;
	const char *task = pyh_taskroots_name(j->ct->roots, j->gens, j->n, j->gone);

	j->found = task != NULL;
	if (task)
		snprintf(j->text, sizeof(j->text), "%s", task);
	return 0;
}

static void pyh_task_job_free(void *arg)
{
	struct pyh_task_job *j = arg;

	pyh_ctarget_put(j->ct);
	free(j);
}

/* --tasks: the root text of the task whose step gens[0..n) name (NULL: none,
 * or ct stalled now or before: the caller checks ct->stalled), valid until
 * the next call. */
static const char *pyh_collector_task(struct pyh_collector *c, struct pyh_ctarget *ct,
				      const uint64_t *gens, int n)
{
	struct pyh_task_job *j;
	const char *task = NULL;
	int rc;

	if (ct->stalled || n <= 0 || !gens[0])
		return NULL;	/* no generator frames: not a task's step, nothing to read */
	if (!c->tjob && !(c->tjob = malloc(sizeof(*c->tjob)))) {
		c->st.oom++;
		return NULL;
	}
	j = c->tjob;
	memset(j, 0, sizeof(*j));
	n = n < PYH_SAMPLE_TASK_GENS ? n : PYH_SAMPLE_TASK_GENS;
	memcpy(j->gens, gens, sizeof(*gens) * (size_t)n);
	j->n = n;
	j->gone = ct->gone;
	j->ct = ct;
	__atomic_add_fetch(&ct->refs, 1, __ATOMIC_ACQ_REL);
	rc = pyh_guard_run(pyh_task_job_run, j, pyh_task_job_free, PYH_COLLECTOR_READ_DEADLINE_MS, NULL);
	if (rc == -ETIMEDOUT) {
		c->tjob = NULL;			/* the job's now */
		pyh_target_stalled(c, ct);
		return NULL;
	}
	if (!rc && j->found) {
		snprintf(c->task_text, sizeof(c->task_text), "%s", j->text);
		task = c->task_text;
		c->st.task_samples++;
		c->st.task_unknown += !strcmp(task, PYH_TASKROOTS_UNKNOWN);
	} else if (rc) {
		c->st.not_named++;
	}
	j->ct = NULL;
	pyh_ctarget_put(ct);			/* the collector holds one still */
	return task;
}

/* --tasks, a stack walked from user space: the same runs of generator frames
 * the sampler reports (pyhang/sample.h), from the frames' addresses. */
static void pyh_idle_gens(const struct pyh_target *t, const struct pyh_raw_frame *raw,
			  const uint64_t *addrs, int n, uint64_t *gens)
{
	const struct pyh_layout *l = &t->layout;
	uint64_t prev = 0;
	int k = 0;

	memset(gens, 0, PYH_SAMPLE_TASK_GENS * sizeof(*gens));
	for (int i = 0; i <= n && k < PYH_SAMPLE_TASK_GENS; i++) {
		uint64_t gen = 0;

		if (i < n && addrs[i]) {
			if (l->frame_gen != PYH_NO_FIELD)
				pyh_mem_read_u64(t->pid, addrs[i] + l->frame_gen, &gen);
			else if (l->gen_iframe != PYH_NO_FIELD && (raw[i].flags & PYH_RAWF_GENERATOR))
				gen = addrs[i] - l->gen_iframe;
		}
		if (!gen && prev)
			gens[k++] = prev;
		prev = gen;
	}
}

/* Whether record s of length len is well formed: its frames all there, or
 * with PYH_SAMPLE_CALLERS frames[0] of a deeper stack (and no native part). */
static int pyh_sample_ok(const struct pyh_sample *s, size_t len)
{
	if (len < PYH_SAMPLE_HDR_SIZE || s->depth > PYH_SAMPLE_MAX_DEPTH)
		return 0;
	if (s->flags & PYH_SAMPLE_CALLERS)
		return s->depth >= 2 && !(s->flags & PYH_SAMPLE_NATIVE) && len >= PYH_SAMPLE_SIZE(1);
	return len >= PYH_SAMPLE_SIZE(s->depth);
}

/* 1 when frames[0..n) all have their fingerprints. */
static int pyh_all_fp(const struct pyh_raw_frame *frames, int n)
{
	for (int i = 0; i < n; i++)
		if (!frames[i].fp)
			return 0;
	return 1;
}

/* Record s as one with all its frames, and *cr its callers hash (cr->hash 0:
 * none): s itself when it carries them (which are then kept as its
 * thread's), else c->whole, its header and frames[0], whose callers (the
 * thread's last whole ones) cr->pending holds until they are needed. NULL
 * when those are not held under s's hash (counted). */
static const struct pyh_sample *pyh_with_callers(struct pyh_collector *c, const struct pyh_sample *s,
						 struct pyh_callers_ref *cr)
{
	int n = (int)s->depth - 1;

	*cr = (struct pyh_callers_ref){ 0 };
	if (!(s->flags & PYH_SAMPLE_CALLERS)) {
		if (n >= 1 && s->callers) {
			cr->hash = s->callers;
			cr->complete = pyh_all_fp(s->frames + 1, n);
			pyh_callers_put(c->callers, (pid_t)s->pid, (pid_t)s->tid, s->callers, s->frames + 1, n,
					cr->complete);
		}
		return s;
	}
	cr->pending = pyh_callers_get(c->callers, (pid_t)s->pid, (pid_t)s->tid, s->callers, n, &cr->complete);
	if (!cr->pending) {
		c->st.callers_lost++;
		return NULL;
	}
	cr->hash = s->callers;
	memcpy(c->whole, s, PYH_SAMPLE_SIZE(1));
	c->whole->flags &= ~PYH_SAMPLE_CALLERS;
	c->st.callers_given++;
	return c->whole;
}

int pyh_collector_on_sample(const struct pyh_sample *s, size_t len, void *arg)
{
	struct pyh_collector *c = arg;
	char ptext[64], ttext[64];
	struct pyh_ctarget *ct;
	const struct pyh_raw_frame *frames;
	const char *task = NULL, *leaf = NULL;
	struct pyh_callers_ref cr;
	int r;

	if (!pyh_sample_ok(s, len)) {
		c->st.malformed++;
		return 0;
	}
	ct = pyh_find(c, (pid_t)s->pid);
	if (!ct) {
		c->st.unknown_pid++;
		return 0;
	}
	if (ct->stalled) {
		c->st.stalled_samples++;
		return 0;
	}
	s = pyh_with_callers(c, s, &cr);
	if (!s)
		return 0;	/* counted */
	frames = s->frames;
	if (s->flags & PYH_SAMPLE_TRUNCATED)
		c->st.truncated++;
	if (s->flags & PYH_SAMPLE_BROKEN)
		c->st.broken++;
	if (ct->roots) {
		uint64_t gens[PYH_SAMPLE_TASK_GENS];

		for (int i = 0; i < PYH_SAMPLE_TASK_GENS; i++)
			gens[i] = s->task_gens[i];
		task = pyh_collector_task(c, ct, gens, PYH_SAMPLE_TASK_GENS);
		if (ct->stalled) {	/* that read stalled */
			c->st.stalled_samples++;
			return 0;
		}
	}
	r = pyh_roots(c, ct, (pid_t)s->tid, !!(s->flags & PYH_SAMPLE_TRUNCATED), task, ptext, ttext,
		      sizeof(ptext));
	if (c->opts.native) {
		uint64_t unpaired = c->st.native_unpaired;

		if ((s->flags & PYH_SAMPLE_NATIVE) && (s->flags & PYH_SAMPLE_CEILING)) {
			if (pyh_ceiling_frames(c, ct, s)) {
				c->st.stalled_samples += ct->stalled;
				return 0;	/* counted */
			}
			frames = c->craw;	/* named: no longer the ceiling's */
		}
		if ((s->flags & PYH_SAMPLE_NATIVE) && pyh_add_mixed(c, ct, s, len, frames, r, task) == 0)
			return 0;
		if (ct->native_stalled) {
			leaf = PYH_NATIVE_UNREADABLE;	/* never silently Python-only */
			c->st.native_unreadable++;
		} else if (c->st.native_unpaired == unpaired) {
			c->st.native_none++;
		}
	}
	pyh_add_stack(c, ct, (pid_t)s->tid, frames, (int)s->depth, r, task, leaf, 1, &c->st.samples,
		      (s->flags & PYH_SAMPLE_CEILING) && frames == s->frames ? s : NULL,
		      cr.hash && frames == s->frames ? &cr : NULL);
	return 0;
}

/* The off-CPU read of one target, as a job with a deadline (proc/guard.h):
 * its thread list and the stacks of its sleeping threads, read into what
 * the job owns (a copy of the target, its own buffers), so that a target
 * whose memory does not answer is abandoned, never waited for. */
struct pyh_idle_stack {
	pid_t tid;
	int n;
	enum pyh_walk_status status;
	struct pyh_raw_frame raw[PYH_SAMPLE_MAX_DEPTH];
	uint64_t gens[PYH_SAMPLE_TASK_GENS];	/* record --tasks: pyh_idle_gens */
};

struct pyh_idle_job {
	struct pyh_target t;
	int gil_only;
	int tasks;			/* fill each stack's gens (record --tasks) */
	struct pyh_pythread *threads;	/* PYH_MAX_THREADS */
	struct pyh_idle_stack *stacks;	/* grown as sleeping threads are found */
	int nstacks, cap, errors;
	int list_changed;		/* the thread list changed in every read: nothing kept */
	uint64_t addrs[PYH_SAMPLE_MAX_DEPTH];
};

static void pyh_idle_job_free(void *arg)
{
	struct pyh_idle_job *j = arg;

	free(j->threads);
	free(j->stacks);
	free(j);
}

static int pyh_idle_job_run(void *arg)
{
	struct pyh_idle_job *j = arg;
	uint64_t gil_holder = 0;
	int nthreads = 0;

	struct pyh_threads_check chk = { 0 };

	if (pyh_threads_read(&j->t, j->threads, PYH_MAX_THREADS, &nthreads, &gil_holder, &chk))
		return -EIO;
	if (chk.unmatched) {
		/* threads cut off the list would go without their tick, a freed
		 * state would be taken for a thread's: this tick is the target's
		 * no more (counted) */
		j->list_changed = 1;
		return 0;
	}
	for (int i = 0; i < nthreads && i < PYH_MAX_THREADS; i++) {
		const struct pyh_pythread *th = &j->threads[i];
		struct pyh_idle_stack *st;
		struct pyh_snap sn = { .tid = th->tid, .tstate = th->tstate, .addrs = j->addrs };

		if (!th->tid || !th->frame)
			continue;
		if (j->gil_only && th->tstate != gil_holder)
			continue;
		if (j->nstacks == j->cap) {
			int cap = j->cap ? j->cap * 2 : 8;
			struct pyh_idle_stack *more = realloc(j->stacks, (size_t)cap * sizeof(*more));

			if (!more)
				return -ENOMEM;
			j->stacks = more;
			j->cap = cap;
		}
		st = &j->stacks[j->nstacks];
		sn.frames = st->raw;
		/* running ones (and ones that ran while read) are the BPF sampler's;
		 * gone ones are nobody's */
		if (pyh_snap_sleeping(&j->t, &sn, PYH_SAMPLE_MAX_DEPTH) != 1)
			continue;
		if (sn.n <= 0) {
			j->errors++;
			continue;
		}
		st->tid = th->tid;
		st->n = sn.n;
		st->status = sn.status;
		memset(st->gens, 0, sizeof(st->gens));
		if (j->tasks)
			pyh_idle_gens(&j->t, st->raw, j->addrs, sn.n, st->gens);
		j->nstacks++;
	}
	return 0;
}

static int pyh_idle_target(struct pyh_collector *c, struct pyh_ctarget *ct, uint64_t ticks)
{
	char ptext[64], ttext[64];
	struct pyh_idle_job *j;
	int added = 0, rc, result = 0;

	if (ct->stalled)
		return 0;
	j = calloc(1, sizeof(*j));
	if (j)
		j->threads = calloc(PYH_MAX_THREADS, sizeof(*j->threads));
	if (!j || !j->threads) {
		if (j)
			pyh_idle_job_free(j);
		c->st.idle_errors++;
		return 0;
	}
	j->t = ct->t;
	j->gil_only = c->opts.gil_only;
	j->tasks = ct->roots != NULL;
	rc = pyh_guard_run(pyh_idle_job_run, j, pyh_idle_job_free, PYH_COLLECTOR_READ_DEADLINE_MS, &result);
	if (rc == -ETIMEDOUT) {
		pyh_target_stalled(c, ct);	/* j is the job's now */
		return 0;
	}
	if (rc || result) {
		c->st.idle_errors++;
		pyh_idle_job_free(j);
		return 0;
	}
	c->st.idle_errors += (uint64_t)j->errors;
	c->st.idle_list_changed += (uint64_t)j->list_changed;
	for (int i = 0; i < j->nstacks; i++) {
		struct pyh_idle_stack *st = &j->stacks[i];
		const char *task;
		int r;

		if (ct->stalled)
			break;	/* naming an earlier stack stalled: its cache is a job's now */
		task = ct->roots ? pyh_collector_task(c, ct, st->gens, PYH_SAMPLE_TASK_GENS) : NULL;
		if (ct->stalled)
			break;	/* naming its task stalled */
		r = pyh_roots(c, ct, st->tid, st->status == PYH_WALK_TRUNCATED, task, ptext, ttext,
			      sizeof(ptext));

		pyh_add_stack(c, ct, st->tid, st->raw, st->n, r, task, NULL, ticks, &c->st.idle_samples,
			      NULL, NULL);
		added++;
	}
	pyh_idle_job_free(j);
	return added;
}

int pyh_collector_idle_tick(struct pyh_collector *c, uint64_t ticks)
{
	int added = 0;

	if (!ticks)
		return 0;
	for (int i = 0; i < c->ntargets; i++)
		if (!c->targets[i]->gone)
			added += pyh_idle_target(c, c->targets[i], ticks);
	return added;
}

void pyh_collector_stats(const struct pyh_collector *c, struct pyh_collector_stats *out)
{
	*out = c->st;
	for (int i = 0; i < c->ntargets; i++) {
		uint64_t rescans = 0, unknown = 0, changed = 0;

		pyh_taskroots_stats(c->targets[i]->roots, &rescans, &unknown, &changed);
		out->task_rescans += rescans;
		out->task_list_changed += changed;
	}
}
