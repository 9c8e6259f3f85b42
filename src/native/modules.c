/* Grouping a process's file mappings into modules (one per mapped file). */
#include "native/modules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc/maps.h"

#define PYH_NM_DELETED " (deleted)"
#define PYH_NM_VDSO "[vdso]"

static int strip_deleted(char *path)
{
	size_t n = strlen(path), d = strlen(PYH_NM_DELETED);

	if (n > d && strcmp(path + n - d, PYH_NM_DELETED) == 0) {
		path[n - d] = '\0';
		return 1;
	}
	return 0;
}

static struct pyh_nmodule *find_path(struct pyh_nmodule *m, int n, const char *path)
{
	/* Mappings of one file are almost always adjacent: look from the end. */
	for (int i = n - 1; i >= 0; i--)
		if (strcmp(m[i].path, path) == 0)
			return &m[i];
	return NULL;
}

int pyh_nmodules_parse(FILE *maps, struct pyh_nmodule **out, int *n)
{
	char line[PATH_MAX + 256], path[PATH_MAX];
	struct pyh_nmodule *m = NULL;
	int count = 0, cap = 0, lines = 0;

	*out = NULL;
	*n = 0;
	while (lines++ < PYH_MAPS_MAX_LINES && fgets(line, sizeof(line), maps)) {
		uint64_t start, end, off;
		char perms[5];
		struct pyh_nmodule *mod;
		int deleted;

		if (!strchr(line, '\n') && !feof(maps)) {
			int c;

			while ((c = fgetc(maps)) != EOF && c != '\n')
				;	/* longer than any real line: skip it */
			continue;
		}
		if (pyh_maps_parse_line(line, &start, &end, perms, &off, path, sizeof(path)))
			continue;
		if (path[0] != '/' && strcmp(path, PYH_NM_VDSO) != 0)
			continue;
		deleted = strip_deleted(path);
		mod = find_path(m, count, path);
		if (!mod) {
			if (count == PYH_NMODULES_MAX)
				continue;
			if (count == cap) {
				int ncap = cap ? cap * 2 : 64;
				struct pyh_nmodule *nm = realloc(m, (size_t)ncap * sizeof(*nm));

				if (!nm) {
					free(m);
					return -ENOMEM;
				}
				m = nm;
				cap = ncap;
			}
			mod = &m[count++];
			memset(mod, 0, sizeof(*mod));
			snprintf(mod->path, sizeof(mod->path), "%s", path);
			mod->start = start;
			mod->end = end;
			mod->base = start - off;
			mod->base_exact = off == 0;
			mod->map_start = start;
			mod->map_end = end;
		}
		/* maps is in address order: the first mapping is the lowest, and
		 * the first one of file offset 0 is where the file's start is. */
		if (start < mod->start) {
			mod->start = mod->map_start = start;
			mod->map_end = end;
		}
		if (end > mod->end)
			mod->end = end;
		if (off == 0 && !mod->base_exact) {
			mod->base = start;
			mod->base_exact = 1;
		}
		mod->deleted |= deleted;
		mod->executable |= perms[2] == 'x';
	}
	*out = m;
	*n = count;
	return 0;
}

int pyh_nmodules_read(pid_t pid, struct pyh_nmodule **out, int *n)
{
	char path[64];
	FILE *f;
	int err;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : (errno == EPERM ? -EACCES : -errno);
	err = pyh_nmodules_parse(f, out, n);
	if (!err && ferror(f)) {
		free(*out);
		*out = NULL;
		*n = 0;
		err = -ESRCH;	/* a read error on maps: the process went away */
	}
	fclose(f);
	return err;
}

const struct pyh_nmodule *pyh_nmodules_find(const struct pyh_nmodule *m, int n, uint64_t addr)
{
	for (int i = 0; i < n; i++)
		if (addr >= m[i].start && addr < m[i].end)
			return &m[i];
	return NULL;
}
