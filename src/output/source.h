/* Source lines of the target's files, read inside its root (proc/rootfs.h:
 * a symlink in a container never reaches a host file; FIFOs and devices are
 * never opened) and cached per process within the "source" memory budget
 * (budget/budget.h: least recently used files are dropped first). */
#ifndef PYH_OUTPUT_SOURCE_H
#define PYH_OUTPUT_SOURCE_H
#include <stddef.h>
#include <sys/types.h>

struct pyh_source;

struct pyh_source *pyh_source_new(pid_t pid);
void pyh_source_free(struct pyh_source *s); /* NULL-safe */

/* 1 when a read of this process's files missed its deadline. */
int pyh_source_stalled(const struct pyh_source *s);

/* Copy line `line` (1-based) of file (a co_filename: absolute, inside the
 * target's root, or relative, beneath its working directory) into out
 * without its newline and leading blanks, cut to outsz-1 bytes; tabs become
 * spaces, and every other byte is left as it is (writers sanitize it). Files
 * over PYH_SOURCE_MAX_FILE bytes are not read; a file the budget cannot keep
 * is read for this line and dropped. Reading a file is a job with a deadline
 * (proc/guard.h): when one does not finish in time (a FUSE or NFS file system
 * that does not answer), this process gets no more source lines.
 * Returns 0, or -ENOENT when the file or line is not there (or the file is not
 * a regular one, or reading did not finish in time). */
int pyh_source_line(struct pyh_source *s, const char *file, int line, char *out, size_t outsz);

/* Lines first..last (1-based, clamped to the file) of file, each given to
 * visit(arg, number, text) with its indentation kept, without its newline,
 * cut to PYH_SOURCE_LINE_MAX bytes, tabs replaced by spaces (every other byte
 * as it is: writers sanitize); visit returns non-zero to stop. Returns 0
 * (also when the file ends before first), or -errno when the file cannot be
 * read: -ENOENT (absent, or no such path), -EACCES, -EINVAL (not a regular
 * file), -EFBIG (over PYH_SOURCE_MAX_FILE), -EXDEV, -ELOOP, -ENOMEM. */
int pyh_source_lines(struct pyh_source *s, const char *file, int first, int last,
		     int (*visit)(void *arg, int line, const char *text), void *arg);

#define PYH_SOURCE_LINE_MAX 512
#define PYH_SOURCE_MAX_FILE (16u << 20)
#define PYH_SOURCE_MAX_FILES 64		/* files remembered per process, read or not */
#endif
