/* Each thread's last whole callers (callers.h). */
#include "record/callers.h"

#include <stdlib.h>
#include <string.h>

#define PYH_CALLERS_SETS (PYH_CALLERS_SLOTS / PYH_CALLERS_WAYS)
_Static_assert((PYH_CALLERS_SETS & (PYH_CALLERS_SETS - 1)) == 0, "sets are picked by a mask");

struct pyh_callers_slot {
	pid_t pid, tid;		/* tid 0: free */
	uint64_t hash;
	uint64_t used;		/* t->clock at the last put or get */
	int n, cap;		/* frames held, room for */
	int complete;		/* as put */
	struct pyh_raw_frame *frames;
};

struct pyh_callers {
	struct pyh_callers_slot slot[PYH_CALLERS_SLOTS];
	uint64_t clock;
	int count;
	size_t bytes;
};

struct pyh_callers *pyh_callers_new(void)
{
	return calloc(1, sizeof(struct pyh_callers));
}

void pyh_callers_free(struct pyh_callers *t)
{
	if (!t)
		return;
	for (int i = 0; i < PYH_CALLERS_SLOTS; i++)
		free(t->slot[i].frames);
	free(t);
}

static struct pyh_callers_slot *pyh_callers_set(struct pyh_callers *t, pid_t pid, pid_t tid)
{
	uint64_t h = ((uint64_t)(uint32_t)pid << 32 | (uint32_t)tid) * 0x9e3779b97f4a7c15ull;

	return &t->slot[((h >> 40) & (PYH_CALLERS_SETS - 1)) * PYH_CALLERS_WAYS];
}

static void pyh_callers_clear(struct pyh_callers *t, struct pyh_callers_slot *sl)
{
	if (sl->tid)
		t->count--;
	t->bytes -= (size_t)sl->cap * sizeof(*sl->frames);
	free(sl->frames);
	*sl = (struct pyh_callers_slot){ 0 };
}

int pyh_callers_put(struct pyh_callers *t, pid_t pid, pid_t tid, uint64_t hash,
		    const struct pyh_raw_frame *frames, int n, int complete)
{
	struct pyh_callers_slot *set = pyh_callers_set(t, pid, tid), *sl = NULL;

	if (tid == 0)
		return -1;
	for (int w = 0; w < PYH_CALLERS_WAYS && !sl; w++)
		if (set[w].tid == tid && set[w].pid == pid)
			sl = &set[w];
	if (n < 1 || n >= PYH_SAMPLE_MAX_DEPTH) {
		if (sl)
			pyh_callers_clear(t, sl);
		return -1;
	}
	if (!sl) {	/* a free way, else the least recently used */
		sl = &set[0];
		for (int w = 1; w < PYH_CALLERS_WAYS && sl->tid; w++)
			if (!set[w].tid || set[w].used < sl->used)
				sl = &set[w];
		if (sl->tid) {
			sl->tid = 0;
			t->count--;
		}
	}
	if (n > sl->cap) {
		struct pyh_raw_frame *grown = realloc(sl->frames, sizeof(*grown) * (size_t)n);

		if (!grown) {
			if (sl->tid)
				pyh_callers_clear(t, sl);
			return -1;
		}
		t->bytes += (size_t)(n - sl->cap) * sizeof(*grown);
		sl->frames = grown;
		sl->cap = n;
	}
	if (!sl->tid)
		t->count++;
	memcpy(sl->frames, frames, sizeof(*frames) * (size_t)n);
	sl->pid = pid;
	sl->tid = tid;
	sl->hash = hash;
	sl->n = n;
	sl->complete = complete;
	sl->used = ++t->clock;
	return 0;
}

const struct pyh_raw_frame *pyh_callers_get(struct pyh_callers *t, pid_t pid, pid_t tid, uint64_t hash,
					    int n, int *complete)
{
	struct pyh_callers_slot *set = pyh_callers_set(t, pid, tid);

	if (tid == 0)
		return NULL;
	for (int w = 0; w < PYH_CALLERS_WAYS; w++)
		if (set[w].tid == tid && set[w].pid == pid) {
			if (set[w].hash != hash || set[w].n != n)
				return NULL;
			set[w].used = ++t->clock;
			*complete = set[w].complete;
			return set[w].frames;
		}
	return NULL;
}

void pyh_callers_forget(struct pyh_callers *t, pid_t pid)
{
	for (int i = 0; i < PYH_CALLERS_SLOTS; i++)
		if (t->slot[i].tid && t->slot[i].pid == pid)
			pyh_callers_clear(t, &t->slot[i]);
}

int pyh_callers_count(const struct pyh_callers *t)
{
	return t->count;
}

size_t pyh_callers_bytes(const struct pyh_callers *t)
{
	return t->bytes;
}
