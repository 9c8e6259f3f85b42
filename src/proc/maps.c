/* Which mapped file of a process is the Python interpreter, and where it is loaded. */
#include "proc/maps.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf/elfsym.h"
#include "proc/rootfs.h"

/* Strict hex number of 1..16 digits at *p, advancing *p. Returns 0 or -EINVAL. */
static int parse_hex(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (isxdigit((unsigned char)**p)) {
		char c = *(*p)++;

		if (++n > 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)(isdigit((unsigned char)c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	if (n == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int pyh_maps_parse(const char *line, struct pyh_maps_line *m, char *path, size_t pathsz)
{
	const char *p = line;
	uint64_t s, e, off, maj, min, ino = 0;
	size_t len;

	if (!line || !m || !path || pathsz == 0)
		return -EINVAL;
	if (parse_hex(&p, &s) || *p++ != '-' || parse_hex(&p, &e) || *p++ != ' ' || e < s)
		return -EINVAL;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's') || p[4] != ' ')
		return -EINVAL;
	memcpy(m->perms, p, 4);
	m->perms[4] = '\0';
	p += 5;
	if (parse_hex(&p, &off) || *p++ != ' ')
		return -EINVAL;
	if (parse_hex(&p, &maj) || *p++ != ':' || parse_hex(&p, &min) || *p++ != ' ' ||
	    maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL; /* device major:minor */
	if (!isdigit((unsigned char)*p))
		return -EINVAL; /* inode */
	for (int n = 0; isdigit((unsigned char)*p); p++) {
		if (++n > 20 || ino > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		ino = ino * 10 + (uint64_t)(*p - '0');
	}
	if (*p != ' ' && *p != '\n' && *p != '\0')
		return -EINVAL;
	while (*p == ' ')
		p++;
	/* The rest of the line is the path, spaces and all. */
	len = strcspn(p, "\n");
	if (p[len] == '\n' && p[len + 1] != '\0')
		return -EINVAL;
	if (len >= pathsz)
		return -EINVAL;
	memcpy(path, p, len);
	path[len] = '\0';
	m->start = s;
	m->end = e;
	m->offset = off;
	m->dev_major = (unsigned)maj;
	m->dev_minor = (unsigned)min;
	m->inode = ino;
	return 0;
}

int pyh_maps_parse_line(const char *line, uint64_t *start, uint64_t *end, char perms[5],
			uint64_t *offset, char *path, size_t pathsz)
{
	struct pyh_maps_line m;
	int rc;

	if (!start || !end || !perms || !offset)
		return -EINVAL;
	rc = pyh_maps_parse(line, &m, path, pathsz);
	if (rc)
		return rc;
	*start = m.start;
	*end = m.end;
	*offset = m.offset;
	memcpy(perms, m.perms, 5);
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* "libpython3.12.so.1.0" -> 3, 12. Returns true when name starts like a libpython. */
static bool libpython_version(const char *name, int *major, int *minor)
{
	const char *p;
	long mi;
	char *endp;

	if (strncmp(name, "libpython", 9) != 0)
		return false;
	p = name + 9;
	if ((p[0] != '2' && p[0] != '3') || p[1] != '.' || !isdigit((unsigned char)p[2]))
		return false;
	mi = strtol(p + 2, &endp, 10);
	if (endp - (p + 2) > 3)
		return false;
	if (*endp != '.' && *endp != 'm' && *endp != 'd' && *endp != 'u' && *endp != 't')
		return false; /* libpython3.12.so, libpython3.6m.so, libpython3.13t.so */
	if (strstr(endp, ".so") == NULL)
		return false;
	*major = p[0] - '0';
	*minor = (int)mi;
	return true;
}

/* "python3.11" -> 3, 11; "python" or "uwsgi" leave 0, 0. */
static void exe_version(const char *name, int *major, int *minor)
{
	const char *p;
	char *endp;
	long mi;

	*major = *minor = 0;
	if (strncmp(name, "python", 6) != 0)
		return;
	p = name + 6;
	if ((p[0] != '2' && p[0] != '3') || p[1] != '.' || !isdigit((unsigned char)p[2]))
		return;
	mi = strtol(p + 2, &endp, 10);
	if (endp - (p + 2) > 3)
		return;
	*major = p[0] - '0';
	*minor = (int)mi;
}

static int proc_gone_or(pid_t pid, int err)
{
	char dir[64];
	struct stat st;

	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (stat(dir, &st) < 0 && errno == ENOENT)
		return -ESRCH;
	return err;
}

struct candidate {
	bool found;
	uint64_t base;	     /* start of the mapping at file offset 0, if seen */
	bool have_base;
	uint64_t low;	     /* start - offset of the lowest mapping, fallback base */
	uint64_t low_start;
	uint64_t low_end;
	unsigned dev_major, dev_minor;
	uint64_t inode;
};

static void note_mapping(struct candidate *c, const struct pyh_maps_line *m)
{
	if (m->offset == 0 && (!c->have_base || m->start < c->base)) {
		c->base = m->start;
		c->have_base = true;
	}
	if (!c->found || m->start < c->low_start) {
		c->low_start = m->start;
		c->low_end = m->end;
		c->low = m->start - m->offset;
		c->dev_major = m->dev_major;
		c->dev_minor = m->dev_minor;
		c->inode = m->inode;
	}
	c->found = true;
}

int pyh_pybinary_open(pid_t pid, const struct pyh_pybinary *b)
{
	struct pyh_rootfs_map m = {
		.start = b->map_start, .end = b->map_end, .dev_major = b->dev_major,
		.dev_minor = b->dev_minor, .inode = b->inode, .path = b->path,
	};

	return pyh_rootfs_open_mapped(pid, &m, NULL, NULL);
}

int pyh_maps_find_python(pid_t pid, struct pyh_pybinary *out)
{
	char fname[64], exe[PATH_MAX], path[PATH_MAX], lib[PATH_MAX] = "";
	char line[PATH_MAX + 256], fbuf[16u << 10];	/* fbuf: f's, until fclose */
	struct candidate libc = { 0 }, exec = { 0 };
	struct pyh_pybinary res = { 0 };
	struct candidate *use;
	struct pyh_elf *elf = NULL;
	FILE *f = NULL;
	ssize_t n;
	int err, lines = 0, lmaj = 0, lmin = 0;

	if (pid <= 0 || !out)
		return -EINVAL;

	snprintf(fname, sizeof(fname), "/proc/%d/exe", (int)pid);
	n = readlink(fname, exe, sizeof(exe) - 1);
	if (n < 0) {
		if (errno == EACCES || errno == EPERM)
			return -EACCES;
		exe[0] = '\0'; /* kernel threads have none */
	} else {
		exe[n] = '\0';
	}

	snprintf(fname, sizeof(fname), "/proc/%d/maps", (int)pid);
	f = fopen(fname, "re");
	if (!f) {
		err = errno == ENOENT ? -ESRCH : (errno == EPERM ? -EACCES : -errno);
		goto cleanup;
	}
	/* stdio sizes its own buffer by the file's st_blksize, 1 KiB on /proc:
	 * a read per 1 KiB, where the kernel gives a page of lines a read */
	setvbuf(f, fbuf, _IOFBF, sizeof(fbuf));
	while (lines++ < PYH_MAPS_MAX_LINES && fgets(line, sizeof(line), f)) {
		struct pyh_maps_line ml;
		int maj, min;

		if (!strchr(line, '\n') && !feof(f)) {
			int c;
			/* Longer than any real line: skip the rest of it. */
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if (pyh_maps_parse(line, &ml, path, sizeof(path)))
			continue;
		if (path[0] != '/')
			continue;
		if (libpython_version(base_name(path), &maj, &min)) {
			if (!lib[0]) {
				snprintf(lib, sizeof(lib), "%s", path);
				lmaj = maj;
				lmin = min;
			}
			if (strcmp(lib, path) == 0)
				note_mapping(&libc, &ml);
		} else if (exe[0] && strcmp(path, exe) == 0) {
			note_mapping(&exec, &ml);
		}
	}
	if (ferror(f)) {
		err = proc_gone_or(pid, -EIO);
		goto cleanup;
	}

	if (libc.found) {
		use = &libc;
		res.is_lib = 1;
		snprintf(res.path, sizeof(res.path), "%s", lib);
		res.major = lmaj;
		res.minor = lmin;
	} else if (exec.found) {
		use = &exec;
		res.is_lib = 0;
		snprintf(res.path, sizeof(res.path), "%s", exe);
		exe_version(base_name(exe), &res.major, &res.minor);
	} else {
		err = proc_gone_or(pid, -ENOENT);
		goto cleanup;
	}

	res.map_start = use->low_start;
	res.map_end = use->low_end;
	res.dev_major = use->dev_major;
	res.dev_minor = use->dev_minor;
	res.inode = use->inode;
	{
		struct pyh_rootfs_map m = {
			.start = res.map_start, .end = res.map_end, .dev_major = res.dev_major,
			.dev_minor = res.dev_minor, .inode = res.inode, .path = res.path,
		};
		enum pyh_rootfs_via via = 0;
		int fd = pyh_rootfs_open_mapped(pid, &m, NULL, &via);

		if (fd < 0) {
			err = proc_gone_or(pid, fd == -EPERM ? -EACCES : fd);
			goto cleanup;
		}
		if (via == PYH_VIA_MAP_FILES)
			snprintf(res.host_path, sizeof(res.host_path), "/proc/%d/map_files/%llx-%llx",
				 (int)pid, (unsigned long long)res.map_start,
				 (unsigned long long)res.map_end);
		else if (via == PYH_VIA_ROOT)
			snprintf(res.host_path, sizeof(res.host_path), "/proc/%d/root%.*s", (int)pid,
				 PATH_MAX - 64, res.path);
		else
			snprintf(res.host_path, sizeof(res.host_path), "%s", res.path);
		err = pyh_elf_open_fd(fd, &elf);
		if (err) {
			err = proc_gone_or(pid, err);
			goto cleanup;
		}
	}
	if (pyh_elf_is_dyn(elf)) {
		uint64_t base = use->have_base ? use->base : use->low;

		res.load_bias = base - pyh_elf_first_load_vaddr(elf);
	} else {
		res.load_bias = 0;
	}
	*out = res;
	err = 0;
cleanup:
	pyh_elf_close(elf);
	if (f)
		fclose(f);
	return err;
}
