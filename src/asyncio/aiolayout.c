/* SPDX-License-Identifier: MIT */
/*
 * aiolayout.c - the _asyncio layouts: committed tables (tools/gen-aiolayouts.sh)
 * and, on 3.14+, the target's own AsyncioDebug section over them.
 */
#include "asyncio/aiolayout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "asyncio/aiolayouts_gen.h"

const struct pyh_aiolayout *pyh_aiolayout_table(int major, int minor, int free_threaded)
{
	if (major != 3)
		return NULL;
	if (free_threaded)
		return minor == 14 ? &pyh_aiolayout_3_14t : NULL;
	switch (minor) {
	case 6: return &pyh_aiolayout_3_6;
	case 7: return &pyh_aiolayout_3_7;
	case 8: return &pyh_aiolayout_3_8;
	case 9: return &pyh_aiolayout_3_9;
	case 10: return &pyh_aiolayout_3_10;
	case 11: return &pyh_aiolayout_3_11;
	case 12: return &pyh_aiolayout_3_12;
	case 13: return &pyh_aiolayout_3_13;
	case 14: return &pyh_aiolayout_3_14;
	default: return NULL;
	}
}

/*
 * Py_AsyncioModuleDebugOffsets (3.14, Modules/_asynciomodule.c): a flat array
 * of uint64_t, three groups each starting with the sizeof of its struct:
 *   0 sizeof(TaskObj), 1 task_name, 2 task_awaited_by, 3 task_is_task,
 *   4 task_awaited_by_is_set, 5 task_coro, 6 task_node;
 *   7 sizeof(PyInterpreterState), 8 asyncio_tasks_head;
 *   9 sizeof(_PyThreadStateImpl), 10 asyncio_running_loop,
 *  11 asyncio_running_task, 12 asyncio_tasks_head.
 */
struct pyh_aiodbg_field {
	const char *name;
	unsigned word, size_word;	/* the member, and its struct's sizeof */
	unsigned width;			/* bytes at the offset that must lie inside */
	size_t dst;			/* offsetof(struct pyh_aiolayout, ...) */
};

#define PYH_AIO(f) offsetof(struct pyh_aiolayout, f)
#define PYH_AIODBG_MAX_STRUCT (16u << 20)	/* no CPython struct is 16 MiB */
#define PYH_AIODBG_LLIST_NODE 16		/* struct llist_node: next, prev */

static const struct pyh_aiodbg_field pyh_aiodbg_fields[] = {
	{ "task_name", 1, 0, 8, PYH_AIO(task_name) },
	{ "task_awaited_by", 2, 0, 8, PYH_AIO(fut_awaited_by) },
	{ "task_awaited_by_is_set", 4, 0, 1, PYH_AIO(fut_awaited_by_is_set) },
	{ "task_coro", 5, 0, 8, PYH_AIO(task_coro) },
	{ "task_node", 6, 0, PYH_AIODBG_LLIST_NODE, PYH_AIO(task_node) },
	{ "interp.asyncio_tasks_head", 8, 7, PYH_AIODBG_LLIST_NODE, PYH_AIO(interp_tasks_head) },
	{ "tstate.asyncio_running_loop", 10, 9, 8, PYH_AIO(tstate_running_loop) },
	{ "tstate.asyncio_running_task", 11, 9, 8, PYH_AIO(tstate_running_task) },
	{ "tstate.asyncio_tasks_head", 12, 9, PYH_AIODBG_LLIST_NODE, PYH_AIO(tstate_tasks_head) },
};

static uint64_t pyh_aiodbg_word(const void *buf, unsigned idx)
{
	uint64_t v;

	memcpy(&v, (const unsigned char *)buf + (size_t)idx * 8, sizeof(v));
	return v;
}

int pyh_aiolayout_from_debug(const void *buf, size_t len, struct pyh_aiolayout *out,
			     int *mismatch, char *err, size_t errsz)
{
	struct pyh_aiolayout l;
	unsigned diff = 0;

	if (err && errsz)
		err[0] = '\0';
	if (!buf || !out || len < PYH_ASYNCIO_DEBUG_SIZE) {
		snprintf(err, errsz, "AsyncioDebug section: %zu bytes, %d expected", len,
			 PYH_ASYNCIO_DEBUG_SIZE);
		return -EINVAL;
	}
	if ((out->version_hex >> 16) < 0x030e) {
		snprintf(err, errsz, "AsyncioDebug section in a Python before 3.14");
		return -EINVAL;
	}
	l = *out;
	for (size_t i = 0; i < sizeof(pyh_aiodbg_fields) / sizeof(pyh_aiodbg_fields[0]); i++) {
		const struct pyh_aiodbg_field *f = &pyh_aiodbg_fields[i];
		uint64_t off = pyh_aiodbg_word(buf, f->word);
		uint64_t size = pyh_aiodbg_word(buf, f->size_word);
		uint32_t *dst = (uint32_t *)((char *)&l + f->dst);

		if (size == 0 || size > PYH_AIODBG_MAX_STRUCT || off >= size || off + f->width > size) {
			snprintf(err, errsz, "AsyncioDebug: %s at %llu (+%u) does not lie inside its "
				 "%llu-byte struct", f->name, (unsigned long long)off, f->width,
				 (unsigned long long)size);
			return -EINVAL;
		}
		if (*dst != PYH_NO_FIELD)
			diff += *dst != (uint32_t)off;
		*dst = (uint32_t)off;
	}
	/* A task's own fields must still lie past its object header and Future part. */
	if (l.task_coro <= l.fut_state || l.task_name <= l.fut_state || l.task_node <= l.fut_state) {
		snprintf(err, errsz, "AsyncioDebug: task fields overlap the Future fields");
		return -EINVAL;
	}
	*out = l;
	if (mismatch)
		*mismatch = (int)diff;
	return 0;
}
