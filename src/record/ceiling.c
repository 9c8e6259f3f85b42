/* The code-version ceiling's user side: the rule, the batched read, the memo. */
#include "record/ceiling.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "proc/mem.h"
#include "pyhang/frame.h"

/* Bytes of a code object read: ob_type .. co_version (3.14t: 24 .. 112). */
#define PYH_CEIL_SPAN 256

int pyh_ceiling_judge(const struct pyh_ceil_entry *e, uint64_t ktime_ns, uint32_t ceiling)
{
	int after = e->read_ns > 0 && (uint64_t)e->read_ns > ktime_ns;
	int steady = ceiling != 0 && e->counter_before == ceiling;
	int ok;

	if (!after && !steady)
		return -1;
	ok = e->readable && e->code && ceiling != 0 &&
	     (e->version ? e->version < ceiling : (e->counter_after || steady));
	if (ok)
		return 1;
	/* a read from before the sample that does not fit: the one after decides */
	return after ? 0 : -1;
}

uint64_t pyh_ceiling_fp(const struct pyh_ceil_entry *e)
{
	uint8_t b[4];

	memcpy(b, &e->version, sizeof(b));
	return pyh_code_fp(b, sizeof(b));
}

/* out's fields from the bytes of the object (span from lo). */
static void pyh_ceil_fill(struct pyh_ceil_entry *out, const uint8_t *obj, uint32_t lo,
			  const struct pyh_layout *l, uint64_t code_type)
{
	uint64_t type;

	memcpy(&type, obj + (l->object_type - lo), sizeof(type));
	memcpy(&out->version, obj + (l->code_version - lo), sizeof(out->version));
	out->code = type == code_type;
	out->readable = 1;
}

void pyh_ceiling_unread(const uint64_t *addrs, int n, struct pyh_ceil_entry *out)
{
	int64_t now = (int64_t)pyh_mono_ns();

	memset(out, 0, sizeof(*out) * (size_t)(n > 0 ? n : 0));
	for (int i = 0; i < n; i++) {
		out[i].addr = addrs[i];
		out[i].read_ns = now;
	}
}

int pyh_ceiling_read(pid_t pid, const struct pyh_layout *l, uint64_t code_type, uint64_t counter_ptr,
		     const uint64_t *addrs, int n, struct pyh_ceil_entry *out)
{
	struct pyh_mem_iov iov[PYH_CEIL_MAX_READ + 2];
	uint8_t (*buf)[PYH_CEIL_SPAN] = NULL;
	uint32_t before = 0, after = 0, lo, hi;
	int rc;

	if (n <= 0 || n > PYH_CEIL_MAX_READ || !counter_ptr || l->object_type == PYH_NO_FIELD ||
	    l->code_version == PYH_NO_FIELD)
		return -EINVAL;
	lo = l->object_type < l->code_version ? l->object_type : l->code_version;
	hi = l->object_type + 8 > l->code_version + 4 ? l->object_type + 8 : l->code_version + 4;
	if (hi - lo > PYH_CEIL_SPAN)
		return -EINVAL;
	buf = malloc((size_t)n * sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	iov[0] = (struct pyh_mem_iov){ .addr = counter_ptr, .buf = &before, .len = sizeof(before) };
	for (int i = 0; i < n; i++)
		iov[i + 1] = (struct pyh_mem_iov){ .addr = addrs[i] + lo, .buf = buf[i], .len = hi - lo };
	iov[n + 1] = (struct pyh_mem_iov){ .addr = counter_ptr, .buf = &after, .len = sizeof(after) };
	pyh_ceiling_unread(addrs, n, out);	/* its time is before the read: the read is after it */
	rc = pyh_mem_readv(pid, iov, n + 2);
	if (rc && rc != -ESRCH) {
		/* one unreadable object (or a counter) cut the read short: one at a
		 * time, in the same order */
		rc = 0;
		before = after = 0;
		if (pyh_mem_readv(pid, &iov[0], 1))
			before = 0;
		for (int i = 0; i < n && rc != -ESRCH; i++) {
			int e = pyh_mem_readv(pid, &iov[i + 1], 1);

			if (e == -ESRCH)
				rc = -ESRCH;
			else if (!e)
				pyh_ceil_fill(&out[i], buf[i], lo, l, code_type);
		}
		if (rc != -ESRCH && pyh_mem_readv(pid, &iov[n + 1], 1))
			after = 0;
	} else if (!rc) {
		for (int i = 0; i < n; i++)
			pyh_ceil_fill(&out[i], buf[i], lo, l, code_type);
	}
	for (int i = 0; i < n && rc != -ESRCH; i++) {
		out[i].counter_before = before;
		out[i].counter_after = after != 0;
	}
	free(buf);
	return rc == -ESRCH ? -ESRCH : 0;
}

static struct pyh_ceil_entry *pyh_ceil_set(const struct pyh_ceil_memo *m, uint64_t addr)
{
	size_t set = (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 55) & (PYH_CEIL_SETS - 1);

	return (struct pyh_ceil_entry *)m->e[set];
}

const struct pyh_ceil_entry *pyh_ceiling_lookup(const struct pyh_ceil_memo *m, uint64_t addr)
{
	const struct pyh_ceil_entry *set = pyh_ceil_set(m, addr);

	for (int w = 0; addr && w < PYH_CEIL_WAYS; w++)
		if (set[w].addr == addr)
			return &set[w];
	return NULL;
}

void pyh_ceiling_store(struct pyh_ceil_memo *m, const struct pyh_ceil_entry *e)
{
	struct pyh_ceil_entry *set = pyh_ceil_set(m, e->addr), *to = &set[0];

	if (!e->addr)
		return;
	for (int w = 0; w < PYH_CEIL_WAYS; w++) {
		if (set[w].addr == e->addr || !set[w].addr) {
			to = &set[w];
			break;
		}
		if (set[w].read_ns < to->read_ns)
			to = &set[w];
	}
	*to = *e;
}
