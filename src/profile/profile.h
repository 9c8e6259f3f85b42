/* Aggregated stacks: what record collects and every profile writer reads. */
#ifndef PYH_PROFILE_PROFILE_H
#define PYH_PROFILE_PROFILE_H
#include <stdint.h>
#include <stdio.h>

/* One frame of a stack. file == NULL marks a synthetic frame (a process or a
 * thread root added by --threads / --group): written as its function text only. */
struct pyh_pframe {
	const char *function;
	const char *file;
	int line;		/* 0 when unknown */
};

struct pyh_profile;

/* Stacks deeper than this keep their PYH_PROFILE_MAX_DEPTH - 1 root-most frames
 * and end in the synthetic frame PYH_PROFILE_TRUNCATED. */
#define PYH_PROFILE_MAX_DEPTH 1024
#define PYH_PROFILE_TRUNCATED "[truncated]"
/* An empty stack (n == 0) or a frame with function == NULL is recorded as this. */
#define PYH_PROFILE_UNKNOWN "[unknown]"

/* A profile keeps every distinct stack it is given, and under --all every
 * process's, whose names come from targets: its memory is budgeted. Past
 * PYH_PROFILE_MAX_BYTES (approximately: strings, frames, stacks, label sets
 * and entries with their tables) the stacks and entries it has go on
 * counting, and every sample of a stack or label set it does not have yet is
 * counted on one stack, PYH_PROFILE_FULL, without labels (pyh_profile_over
 * says how many). Nothing is dropped. */
#define PYH_PROFILE_MAX_BYTES ((size_t)256 << 20)
#define PYH_PROFILE_FULL "[profile memory budget full: stack not kept]"

/* Returns NULL only when out of memory. The budget is PYH_PROFILE_MAX_BYTES. */
struct pyh_profile *pyh_profile_new(void);
/* Set p's budget in bytes (tests; a profile already past it keeps what it has). */
void pyh_profile_set_limit(struct pyh_profile *p, size_t bytes);
/* Samples counted on PYH_PROFILE_FULL since the start. */
uint64_t pyh_profile_over(const struct pyh_profile *p);
/* The bytes the budget counts so far. */
size_t pyh_profile_bytes(const struct pyh_profile *p);
void pyh_profile_free(struct pyh_profile *p); /* NULL-safe */

/* Add count samples of the stack frames[0..n) given ROOT FIRST. Strings are
 * copied (interned) into the profile. Counts saturate at UINT64_MAX.
 * Returns 0, -EINVAL (p NULL, n < 0, or frames NULL with n > 0), or -ENOMEM
 * (stacks and totals unchanged). */
int pyh_profile_add(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count);

/* Per-sample labels (pprof Sample.label: "pid", "tid", "thread", "process", "task").
 * pid/tid <= 0 and NULL or "" strings mean "no such label". */
struct pyh_plabels {
	int32_t pid;
	int32_t tid;
	const char *process;	/* the process label, e.g. "python3 app.py [pid 123, 3.12.1]" */
	const char *thread;	/* the thread's name (its comm) */
	const char *task;	/* record --tasks: the asyncio task's root text */
};

/* Like pyh_profile_add, but the samples also carry labels (NULL: none, same as
 * pyh_profile_add). Strings are copied (interned). The profile keeps one entry
 * per (label set, stack); pyh_profile_foreach/_ids/_stacks still see each
 * distinct stack once with its count summed over all label sets. Same returns;
 * on -ENOMEM stacks, entries and totals are unchanged. */
int pyh_profile_add_labeled(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count,
			    const struct pyh_plabels *labels);

/* Like pyh_profile_add_labeled, and *entry (when not NULL) gets the id of the
 * (stack, label set) entry the samples went to: more samples of exactly that
 * stack and labels can then be added with pyh_profile_add_to(), without
 * naming or interning anything again. Ids stay valid until the profile is
 * freed. Same returns (*entry untouched on failure). */
int pyh_profile_add_entry(struct pyh_profile *p, const struct pyh_pframe *frames, int n, uint64_t count,
			  const struct pyh_plabels *labels, int *entry);
/* count more samples on entry. Returns 0, or -EINVAL for an id the profile
 * never gave. */
int pyh_profile_add_to(struct pyh_profile *p, int entry, uint64_t count);

/* Call cb once per (stack, label set) entry: stacks in the order of
 * pyh_profile_foreach_ids, and within one stack in the order the label sets
 * were first added to it. labels is never NULL (an unlabeled entry has pid and
 * tid 0 and NULL strings); ids, labels and their strings stay valid until the
 * next add/free. If memory runs out while ordering, the order is insertion
 * order. */
void pyh_profile_foreach_labeled(const struct pyh_profile *p,
				 void (*cb)(const int *ids, int n, uint64_t count,
					    const struct pyh_plabels *labels, void *arg),
				 void *arg);
/* Number of (stack, label set) entries: the calls foreach_labeled makes. */
int pyh_profile_entries(const struct pyh_profile *p);

/* Call cb once per distinct stack (root first) in a stable order (sorted by the
 * folded text), with its total count. frames[] and its strings stay valid
 * until the next pyh_profile_add/free. If memory runs out while sorting, the
 * order is insertion order instead. */
void pyh_profile_foreach(const struct pyh_profile *p,
			 void (*cb)(const struct pyh_pframe *frames, int n, uint64_t count, void *arg),
			 void *arg);
uint64_t pyh_profile_total(const struct pyh_profile *p);
int pyh_profile_stacks(const struct pyh_profile *p);

/* Distinct frames interned so far (ids 0..n-1); may include frames of an add
 * that later failed with -ENOMEM. */
int pyh_profile_nframes(const struct pyh_profile *p);
/* Frame id -> frame; NULL if id is out of range. Valid until the next add/free. */
const struct pyh_pframe *pyh_profile_frame(const struct pyh_profile *p, int id);
/* Like pyh_profile_foreach (same order) but gives frame ids, root first. */
void pyh_profile_foreach_ids(const struct pyh_profile *p,
			     void (*cb)(const int *ids, int n, uint64_t count, void *arg),
			     void *arg);

/* The folded text of one frame: "function (file:line)", "function (file)"
 * when line <= 0, or just "function" for a synthetic frame (file == NULL).
 * Each ';' in a name becomes ':' and each '\n' or '\r' a space, so a frame
 * never breaks a folded line, and then names are sanitized (output/sanitize.h:
 * controls and invalid UTF-8 shown as \x1b). Writes at most sz bytes including the NUL
 * (buf may be NULL when sz == 0); returns the full length, like snprintf. */
size_t pyh_pframe_label(const struct pyh_pframe *fr, char *buf, size_t sz);

/* Sampling metadata the writers may show (speedscope/pprof/svg title). */
struct pyh_profile_meta {
	const char *title;	/* e.g. "pyhang record --pid 123" */
	unsigned rate_hz;
	double duration_s;
};

enum pyh_format { PYH_FMT_SVG = 1, PYH_FMT_FOLDED, PYH_FMT_SPEEDSCOPE, PYH_FMT_PPROF };

/* Writers: return 0 or -errno (write errors included). */
int pyh_write_folded(const struct pyh_profile *p, FILE *f);
int pyh_write_svg(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f);
int pyh_write_speedscope(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f);
/* gzip-compressed protobuf in the pprof format (go tool pprof, Pyroscope, Parca). */
int pyh_write_pprof(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f);
/* Any of the above by format; -EINVAL for an unknown format. */
int pyh_profile_write(const struct pyh_profile *p, const struct pyh_profile_meta *m,
		      enum pyh_format fmt, FILE *f);

/* "svg", "folded", "speedscope", "pprof" -> format; 0 if unknown. */
enum pyh_format pyh_format_parse(const char *name);
/* From an output path's extension (.svg, .folded/.txt, .json/.speedscope.json, .pb.gz/.pprof); 0 if none. */
enum pyh_format pyh_format_from_path(const char *path);

/* Could a profile be written to path (checked before sampling starts)? "-",
 * a writable FIFO, character device or socket named directly, or anything
 * else (a symlink is replaced, as pyh_profile_write_path does: lstat decides)
 * in a writable directory; a directory or block device never. Returns 0, or
 * -errno with a one-line reason in err ("cannot write the profile to 'x':
 * it is a directory"). */
int pyh_profile_check_path(const char *path, char *err, size_t errsz);

/* Write the profile to path in format fmt. "-" means stdout. What is at the
 * path itself decides (lstat): a FIFO, a character device or a Unix socket
 * named directly is written directly (opened with O_NONBLOCK | O_NOFOLLOW,
 * only that very file; a FIFO gets 2 s to find a reader, else -EPIPE); a
 * block device or a directory is refused; anything else, a symlink whatever
 * it points to included, is replaced: the profile goes to a temporary file in
 * the same directory, renamed over path, so path holds the whole profile or
 * is left as it was. The new file keeps an existing regular file's mode
 * without setuid, setgid and sticky bits, else 0666 & ~umask. Returns 0 or
 * -errno; err gets a one-line reason. */
int pyh_profile_write_path(const struct pyh_profile *p, const struct pyh_profile_meta *m,
			   enum pyh_format fmt, const char *path, char *err, size_t errsz);
/* The same for a name pyhang chose (pyhang-PID.svg): created exclusively
 * (the temporary file is moved in with RENAME_NOREPLACE), so nothing planted
 * at a predictable name is ever written into or replaced: -EEXIST when
 * anything is at path, symlinks and FIFOs included. */
int pyh_profile_write_new(const struct pyh_profile *p, const struct pyh_profile_meta *m,
			  enum pyh_format fmt, const char *path, char *err, size_t errsz);
#endif
