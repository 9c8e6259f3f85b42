/* Source lines of the target's files, read through /proc/PID/root (containers). */
#ifndef PYH_OUTPUT_SOURCE_H
#define PYH_OUTPUT_SOURCE_H
#include <stddef.h>
#include <sys/types.h>

struct pyh_source;

struct pyh_source *pyh_source_new(pid_t pid);
void pyh_source_free(struct pyh_source *s); /* NULL-safe */

/* Copy line `line` (1-based) of file (a co_filename: absolute, or relative to
 * the target's cwd) into out without its newline and leading blanks, cut to
 * outsz-1 bytes. Files over PYH_SOURCE_MAX_FILE bytes are not read.
 * Returns 0, or -ENOENT when the file or line is not there. */
int pyh_source_line(struct pyh_source *s, const char *file, int line, char *out, size_t outsz);

#define PYH_SOURCE_MAX_FILE (16u << 20)
#define PYH_SOURCE_MAX_FILES 32
#endif
