/* Kernel symbols for kernel stacks: one streaming pass over /proc/kallsyms.
 *
 * The file lists about 120,000 symbols, not sorted across modules. Rather than
 * keep them all, the addresses asked about are sorted once; each text symbol
 * read is offered only to the asked addresses in the PYH_KSYM_MAX_FUNC bytes
 * above it (a binary search), and kept where it is closer than what they have.
 */
#include "kernel/kallsyms.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/procfs.h"

#define PYH_KSYM_LINE_MAX 512
#define PYH_KSYM_MAX_LINES (4u << 20)	/* a runaway file stops here */
#define PYH_KSYM_STACK_MAX 16384		/* bytes of a /proc/.../stack file read at most */

struct slot {
	uint64_t addr;
	uint64_t best;		/* the closest symbol start at or below addr, if found */
	int found;
	char name[PYH_KSYM_NAME_MAX];
	char module[PYH_KSYM_MODULE_MAX];
};

static int slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* First slot whose addr >= v. */
static size_t lower_bound(const struct slot *s, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s[mid].addr < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* "ffffffff8141fc60 T hrtimer_nanosleep\t[module]" -> parts. Returns 0 for
 * a text symbol, -EINVAL otherwise. */
static int parse_line(char *line, uint64_t *addr, char **name, char **module)
{
	char *p = line, *end;
	unsigned long long v;

	if (!isxdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 16);
	if (errno || end == p || *end != ' ')
		return -EINVAL;
	p = end + 1;
	if ((p[0] != 't' && p[0] != 'T') || p[1] != ' ')
		return -EINVAL;
	p += 2;
	*name = p;
	p += strcspn(p, " \t\n");
	*module = NULL;
	if (*p == ' ' || *p == '\t') {
		*p++ = '\0';
		p += strspn(p, " \t");
		if (*p == '[') {
			*module = ++p;
			p[strcspn(p, "]\n")] = '\0';
		}
	} else {
		*p = '\0';
	}
	*addr = v;
	return **name ? 0 : -EINVAL;
}

int pyh_kallsyms_resolve(struct pyh_ksym *syms, size_t n, const char *path)
{
	char line[PYH_KSYM_LINE_MAX];
	struct slot *s = NULL;
	size_t lines = 0, nonzero = 0;
	FILE *f = NULL;
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		syms[i].name[0] = syms[i].module[0] = '\0';
		syms[i].offset = 0;
	}
	if (n == 0)
		return 0;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		s[i].addr = syms[i].addr;
	qsort(s, n, sizeof(*s), slot_cmp);
	f = fopen(path ? path : "/proc/kallsyms", "re");
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	while (lines++ < PYH_KSYM_MAX_LINES && fgets(line, sizeof(line), f)) {
		char *name, *module;
		uint64_t a;

		if (parse_line(line, &a, &name, &module))
			continue;
		if (a == 0)
			continue;
		nonzero++;
		for (size_t j = lower_bound(s, n, a); j < n && s[j].addr - a < PYH_KSYM_MAX_FUNC; j++) {
			if (s[j].found && s[j].best >= a)
				continue;
			s[j].found = 1;
			s[j].best = a;
			snprintf(s[j].name, sizeof(s[j].name), "%s", name);
			snprintf(s[j].module, sizeof(s[j].module), "%s", module ? module : "");
		}
	}
	if (ferror(f)) {
		err = -EIO;
		goto cleanup;
	}
	if (nonzero == 0) {
		err = -EPERM;	/* every address shown as 0: kptr_restrict */
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		const struct slot *m = &s[lower_bound(s, n, syms[i].addr)];

		if (!m->found)
			continue;
		snprintf(syms[i].name, sizeof(syms[i].name), "%s", m->name);
		snprintf(syms[i].module, sizeof(syms[i].module), "%s", m->module);
		syms[i].offset = syms[i].addr - m->best;
	}
cleanup:
	if (f)
		fclose(f);
	free(s);
	return err;
}

/* "[<0>] name+0x74/0xf0 [module]" -> out. Returns 0 or -EINVAL. */
static int parse_stack_line(char *line, struct pyh_ksym *out)
{
	char *p = strstr(line, "] "), *plus, *mod;
	unsigned long long off = 0;

	if (line[0] != '[' || !p)
		return -EINVAL;
	p += 2;
	mod = strchr(p, ' ');
	if (mod) {
		*mod++ = '\0';
		if (*mod == '[') {
			mod++;
			mod[strcspn(mod, "]")] = '\0';
		}
	}
	plus = strrchr(p, '+');
	if (plus) {
		*plus = '\0';
		off = strtoull(plus + 1, NULL, 16);
	}
	if (!*p)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", p);
	snprintf(out->module, sizeof(out->module), "%s", mod ? mod : "");
	out->offset = off;
	return 0;
}

int pyh_kstack_read(pid_t pid, pid_t tid, struct pyh_ksym *out, int max, int *n)
{
	char buf[PYH_KSYM_STACK_MAX], *line, *save = NULL;
	ssize_t r;
	int count = 0;

	*n = 0;
	r = pyh_proc_read(pid, tid, "stack", buf, sizeof(buf));
	if (r < 0)
		return (int)r;
	for (line = strtok_r(buf, "\n", &save); line && count < max;
	     line = strtok_r(NULL, "\n", &save))
		if (parse_stack_line(line, &out[count]) == 0)
			count++;
	*n = count;
	return 0;
}
