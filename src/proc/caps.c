/* The effective capability set, from /proc/self/status. */
#include "proc/caps.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/procfs.h"

#define PYH_STATUS_MAX 8192
/* Capability numbers (linux/capability.h; CAP_BPF and later are newer than
 * some headers). */
#define PYH_CAP_SYS_PTRACE 19
#define PYH_CAP_SYS_ADMIN 21
#define PYH_CAP_PERFMON 38
#define PYH_CAP_BPF 39
#define PYH_CAP_CHECKPOINT_RESTORE 40

static int cap_eff(uint64_t *eff)
{
	char buf[PYH_STATUS_MAX], *p, *end;

	if (pyh_proc_read(getpid(), 0, "status", buf, sizeof(buf)) <= 0)
		return -EIO;
	p = strstr(buf, "\nCapEff:");
	if (!p)
		return -ENOENT;
	errno = 0;
	*eff = strtoull(p + 8, &end, 16);
	return errno || end == p + 8 ? -EINVAL : 0;
}

static int has(uint64_t eff, int cap)
{
	return (eff >> cap) & 1;
}

static void add(char *why, size_t whysz, const char *name)
{
	size_t n = strlen(why);

	snprintf(why + n, whysz - n, "%s%s", n ? ", " : "", name);
}

unsigned pyh_caps_missing(unsigned need, char *why, size_t whysz)
{
	uint64_t eff;
	unsigned missing = 0;
	int admin;

	if (whysz)
		why[0] = '\0';
	if (cap_eff(&eff))
		return 0;
	admin = has(eff, PYH_CAP_SYS_ADMIN);
	if ((need & PYH_NEED_READ) && !has(eff, PYH_CAP_SYS_PTRACE)) {
		missing |= PYH_NEED_READ;
		add(why, whysz, "CAP_SYS_PTRACE");
	}
	if ((need & PYH_NEED_BPF) && !admin &&
	    (!has(eff, PYH_CAP_BPF) || !has(eff, PYH_CAP_PERFMON))) {
		missing |= PYH_NEED_BPF;
		if (!has(eff, PYH_CAP_BPF))
			add(why, whysz, "CAP_BPF");
		if (!has(eff, PYH_CAP_PERFMON))
			add(why, whysz, "CAP_PERFMON");
	}
	if ((need & PYH_NEED_MAP_FILES) && !admin && !has(eff, PYH_CAP_CHECKPOINT_RESTORE)) {
		missing |= PYH_NEED_MAP_FILES;
		add(why, whysz, "CAP_CHECKPOINT_RESTORE");
	}
	return missing;
}
