/* Unit tests for src/profile/profile.c: interning, merging, order, depth bound, labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"

struct seen {
	int n;
	char text[64][256];
	uint64_t count[64];
	int depth[64];
	struct pyh_pframe last[64];
};

static void collect(const struct pyh_pframe *frames, int n, uint64_t count, void *arg)
{
	struct seen *s = arg;
	size_t pos = 0;

	assert_true(s->n < 64);
	for (int i = 0; i < n; i++) {
		if (i)
			s->text[s->n][pos++] = ';';
		pos += pyh_pframe_label(&frames[i], s->text[s->n] + pos, sizeof(s->text[0]) - pos);
		assert_true(pos < sizeof(s->text[0]));
	}
	s->count[s->n] = count;
	s->depth[s->n] = n;
	s->last[s->n] = frames[n - 1];
	s->n++;
}

struct check {
	int n;
	const char *last;
	const char *root;
	const char *before_last;
};

static void check_cb(const struct pyh_pframe *frames, int n, uint64_t count, void *arg)
{
	struct check *c = arg;

	(void)count;
	c->n = n;
	c->root = frames[0].function;
	c->last = frames[n - 1].function;
	c->before_last = frames[n - 2].function;
	assert_null(frames[n - 1].file);
}

struct acc {
	uint64_t sum;
	int n;
	char prev[256];
	int sorted;
};

static void acc_cb(const struct pyh_pframe *frames, int n, uint64_t count, void *arg)
{
	struct acc *a = arg;
	char cur[256];
	size_t pos = 0;

	for (int i = 0; i < n; i++) {
		if (i)
			cur[pos++] = ';';
		pos += pyh_pframe_label(&frames[i], cur + pos, sizeof(cur) - pos);
	}
	if (a->n && strcmp(a->prev, cur) >= 0)
		a->sorted = 0;
	strcpy(a->prev, cur);
	a->sum += count;
	a->n++;
}

static void test_merge_and_order(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	struct pyh_pframe a[] = { { "main", "m.py", 10 }, { "work", "w.py", 3 } };
	struct pyh_pframe b[] = { { "main", "m.py", 10 }, { "idle", "w.py", 9 } };
	struct pyh_pframe c[] = { { "thread 7", NULL, 0 }, { "main", "m.py", 10 } };
	/* Built from fresh buffers: interning must not depend on pointer identity. */
	char fn[16], file[16];
	struct seen s = { 0 };

	assert_non_null(p);
	assert_int_equal(pyh_profile_add(p, a, 2, 5), 0);
	assert_int_equal(pyh_profile_add(p, c, 2, 1), 0);
	assert_int_equal(pyh_profile_add(p, b, 2, 2), 0);
	strcpy(fn, "work");
	strcpy(file, "w.py");
	a[1].function = fn;
	a[1].file = file;
	assert_int_equal(pyh_profile_add(p, a, 2, 4), 0);
	assert_int_equal(pyh_profile_stacks(p), 3);
	assert_int_equal(pyh_profile_total(p), 12);
	/* main, work, idle, thread 7: four distinct frames */
	assert_int_equal(pyh_profile_nframes(p), 4);
	assert_null(pyh_profile_frame(p, 4));
	assert_null(pyh_profile_frame(p, -1));

	pyh_profile_foreach(p, collect, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.text[0], "main (m.py:10);idle (w.py:9)");
	assert_int_equal(s.count[0], 2);
	assert_string_equal(s.text[1], "main (m.py:10);work (w.py:3)");
	assert_int_equal(s.count[1], 9);
	assert_string_equal(s.text[2], "thread 7;main (m.py:10)");
	assert_int_equal(s.count[2], 1);
	/* strings were copied, not borrowed */
	assert_true(s.last[1].function != fn);
	pyh_profile_free(p);
}

static void test_depth_bound(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	struct pyh_pframe *fr = calloc(3000, sizeof(*fr));
	char names[3000][8];
	struct seen s = { 0 };
	const struct pyh_pframe *f;

	assert_non_null(fr);
	for (int i = 0; i < 3000; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		fr[i] = (struct pyh_pframe){ names[i], "deep.py", i + 1 };
	}
	assert_int_equal(pyh_profile_add(p, fr, 3000, 1), 0);
	assert_int_equal(pyh_profile_add(p, fr, PYH_PROFILE_MAX_DEPTH, 1), 0);
	assert_int_equal(pyh_profile_stacks(p), 2);
	/* 1023 real frames + [truncated] */
	assert_int_equal(pyh_profile_nframes(p), PYH_PROFILE_MAX_DEPTH + 1);
	pyh_profile_free(p);

	p = pyh_profile_new();
	assert_int_equal(pyh_profile_add(p, fr, 3000, 7), 0);
	struct check chk = { 0 };
	pyh_profile_foreach(p, check_cb, &chk);
	assert_int_equal(chk.n, PYH_PROFILE_MAX_DEPTH);
	assert_string_equal(chk.root, "f0");
	assert_string_equal(chk.before_last, "f1022");
	assert_string_equal(chk.last, PYH_PROFILE_TRUNCATED);
	f = pyh_profile_frame(p, 0);
	assert_string_equal(f->function, "f0");
	assert_int_equal(f->line, 1);
	pyh_profile_free(p);
	free(fr);

	/* empty stack and NULL function become [unknown]; bad arguments */
	p = pyh_profile_new();
	struct pyh_pframe nul = { NULL, "x.py", 3 };
	assert_int_equal(pyh_profile_add(p, NULL, 0, 2), 0);
	assert_int_equal(pyh_profile_add(p, &nul, 1, 3), 0);
	assert_int_equal(pyh_profile_stacks(p), 1);
	assert_int_equal(pyh_profile_total(p), 5);
	assert_int_equal(pyh_profile_add(p, NULL, 1, 1), -EINVAL);
	assert_int_equal(pyh_profile_add(p, &nul, -1, 1), -EINVAL);
	assert_int_equal(pyh_profile_add(NULL, &nul, 1, 1), -EINVAL);
	pyh_profile_foreach(p, collect, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.text[0], PYH_PROFILE_UNKNOWN);
	pyh_profile_free(p);
	pyh_profile_free(NULL);
}

static void test_labels(void **state)
{
	(void)state;
	struct pyh_pframe a = { "f;g\nh", "dir;x/a\r.py", 12 };
	struct pyh_pframe b = { "<module>", "m.py", 0 };
	struct pyh_pframe c = { "process 42 python3", NULL, 99 };
	char buf[64], tiny[6];

	assert_int_equal(pyh_pframe_label(&a, buf, sizeof(buf)), strlen("f:g h (dir:x/a .py:12)"));
	assert_string_equal(buf, "f:g h (dir:x/a .py:12)");
	pyh_pframe_label(&b, buf, sizeof(buf));
	assert_string_equal(buf, "<module> (m.py)");
	pyh_pframe_label(&c, buf, sizeof(buf));
	assert_string_equal(buf, "process 42 python3");
	/* snprintf-like truncation */
	assert_int_equal(pyh_pframe_label(&b, tiny, sizeof(tiny)), 15);
	assert_string_equal(tiny, "<modu");
	assert_int_equal(pyh_pframe_label(&b, NULL, 0), 15);
}

static void test_many_and_saturation(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	char fn[32], file[32];
	uint64_t sum = 0;

	for (int i = 0; i < 20000; i++) {
		struct pyh_pframe fr[3] = { { "root", "r.py", 1 }, { fn, file, i % 50 }, { "leaf", "l.py", i % 7 } };

		snprintf(fn, sizeof(fn), "fn%d", i % 1000);
		snprintf(file, sizeof(file), "file%d.py", i % 13);
		assert_int_equal(pyh_profile_add(p, fr, 3, (uint64_t)i + 1), 0);
		sum += (uint64_t)i + 1;
	}
	assert_int_equal(pyh_profile_total(p), sum);
	int stacks = pyh_profile_stacks(p);
	assert_true(stacks > 1000 && stacks <= 20000);
	struct acc acc = { 0, 0, "", 1 };

	pyh_profile_foreach(p, acc_cb, &acc);
	assert_int_equal(acc.sum, sum);
	assert_int_equal(acc.n, stacks);
	assert_true(acc.sorted);
	pyh_profile_free(p);

	p = pyh_profile_new();
	struct pyh_pframe one = { "x", "x.py", 1 };
	assert_int_equal(pyh_profile_add(p, &one, 1, UINT64_MAX - 1), 0);
	assert_int_equal(pyh_profile_add(p, &one, 1, 5), 0);
	assert_true(pyh_profile_total(p) == UINT64_MAX);
	pyh_profile_free(p);
}


static void sum_cb(const int *ids, int n, uint64_t count, const struct pyh_plabels *labels, void *arg)
{
	uint64_t *s = arg;

	(void)ids;
	(void)n;
	assert_true(labels->pid >= 100 && labels->pid < 107);
	assert_string_equal(labels->process, "proc");
	s[0] += count;
	s[1]++;
}

struct lseen {
	int n;
	int depth[16];
	int root[16];
	uint64_t count[16];
	struct pyh_plabels lab[16];
};

static void lcollect(const int *ids, int n, uint64_t count, const struct pyh_plabels *labels, void *arg)
{
	struct lseen *s = arg;

	assert_non_null(labels);
	assert_true(s->n < 16);
	s->depth[s->n] = n;
	s->root[s->n] = ids[0];
	s->count[s->n] = count;
	s->lab[s->n] = *labels;
	s->n++;
}

static void ids_collect(const int *ids, int n, uint64_t count, void *arg)
{
	struct lseen *s = arg;

	assert_true(s->n < 16);
	s->depth[s->n] = n;
	s->root[s->n] = ids[0];
	s->count[s->n] = count;
	s->n++;
}

/* One stack under several label sets: one stack, one folded line with the sum;
 * foreach_labeled gives each label set its own count. */
static void test_labeled_stacks(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	struct pyh_pframe a[] = { { "main", "m.py", 10 }, { "work", "w.py", 3 } };
	struct pyh_pframe b[] = { { "main", "m.py", 10 }, { "idle", "w.py", 9 } };
	char proc[32], thr[32];
	struct pyh_plabels l1 = { 10, 11, proc, thr };
	struct pyh_plabels l2 = { 20, 21, "python3 b.py [pid 20]", "worker" };
	struct pyh_plabels empty = { -5, 0, "", "" };
	struct lseen ls = { 0 }, is = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(p);
	strcpy(proc, "python3 a.py [pid 10]");
	strcpy(thr, "MainThread");
	assert_int_equal(pyh_profile_add_labeled(p, a, 2, 3, &l1), 0);
	assert_int_equal(pyh_profile_add_labeled(p, a, 2, 4, &l2), 0);
	assert_int_equal(pyh_profile_add_labeled(p, b, 2, 6, &l2), 0);
	assert_int_equal(pyh_profile_add(p, a, 2, 1), 0);
	assert_int_equal(pyh_profile_add_labeled(p, a, 2, 2, &l1), 0); /* merges with the first */
	assert_int_equal(pyh_profile_add_labeled(p, a, 2, 5, &empty), 0); /* == unlabeled */
	assert_int_equal(pyh_profile_add_labeled(NULL, a, 2, 1, &l1), -EINVAL);
	assert_int_equal(pyh_profile_add_labeled(p, NULL, 2, 1, &l1), -EINVAL);
	strcpy(proc, "changed");
	strcpy(thr, "changed");

	assert_int_equal(pyh_profile_stacks(p), 2);
	assert_int_equal(pyh_profile_entries(p), 4);
	assert_int_equal(pyh_profile_total(p), 21);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(pyh_write_folded(p, f), 0);
	fclose(f);
	assert_string_equal(text, "main (m.py:10);idle (w.py:9) 6\n"
				  "main (m.py:10);work (w.py:3) 15\n");
	free(text);

	/* foreach_ids: each stack once, summed, sorted by text */
	pyh_profile_foreach_ids(p, ids_collect, &is);
	assert_int_equal(is.n, 2);
	assert_int_equal(is.count[0], 6);
	assert_int_equal(is.count[1], 15);

	/* foreach_labeled: same stack order; within a stack the order label sets came in */
	pyh_profile_foreach_labeled(p, lcollect, &ls);
	assert_int_equal(ls.n, 4);
	assert_int_equal(ls.count[0], 6);	/* idle under l2 */
	assert_int_equal(ls.lab[0].pid, 20);
	assert_int_equal(ls.lab[0].tid, 21);
	assert_string_equal(ls.lab[0].process, "python3 b.py [pid 20]");
	assert_string_equal(ls.lab[0].thread, "worker");
	assert_int_equal(ls.count[1], 5);	/* work under l1: 3 + 2 */
	assert_int_equal(ls.lab[1].pid, 10);
	assert_int_equal(ls.lab[1].tid, 11);
	assert_string_equal(ls.lab[1].process, "python3 a.py [pid 10]"); /* copied */
	assert_string_equal(ls.lab[1].thread, "MainThread");
	assert_int_equal(ls.count[2], 4);	/* work under l2 */
	assert_int_equal(ls.lab[2].pid, 20);
	assert_ptr_equal(ls.lab[2].process, ls.lab[0].process); /* interned once */
	assert_int_equal(ls.count[3], 6);	/* work unlabeled: 1 + 5 ("" and pid < 0 are no labels) */
	assert_int_equal(ls.lab[3].pid, 0);
	assert_int_equal(ls.lab[3].tid, 0);
	assert_null(ls.lab[3].process);
	assert_null(ls.lab[3].thread);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ls.depth[i], 2);
		assert_int_equal(ls.root[i], is.root[0]);
	}
	pyh_profile_foreach_labeled(NULL, lcollect, &ls);
	assert_int_equal(pyh_profile_entries(NULL), 0);
	pyh_profile_free(p);
}

/* Many threads of many processes: stacks stay distinct frame sequences and
 * the entries' counts add up to the stacks' counts. */
static void test_labeled_many(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	uint64_t sum = 0, lsum[2] = { 0, 0 };
	struct acc acc = { 0, 0, "", 1 };
	char fn[32], th[32];

	assert_non_null(p);
	for (int i = 0; i < 5000; i++) {
		struct pyh_pframe fr[2] = { { "root", "r.py", 1 }, { fn, "f.py", (i % 50) % 11 } };
		struct pyh_plabels l = { 100 + i % 7, 1000 + i % 37, "proc", th };

		snprintf(fn, sizeof(fn), "fn%d", i % 50);
		snprintf(th, sizeof(th), "t%d", i % 37);
		assert_int_equal(pyh_profile_add_labeled(p, fr, 2, (uint64_t)i + 1, &l), 0);
		sum += (uint64_t)i + 1;
	}
	assert_int_equal(pyh_profile_total(p), sum);
	assert_int_equal(pyh_profile_stacks(p), 50);	/* the line follows the function */
	assert_true(pyh_profile_entries(p) > 50 && pyh_profile_entries(p) <= 5000);
	pyh_profile_foreach(p, acc_cb, &acc);
	assert_int_equal(acc.n, 50);
	assert_int_equal(acc.sum, sum);
	assert_true(acc.sorted);
	pyh_profile_foreach_labeled(p, sum_cb, lsum);
	assert_int_equal(lsum[0], sum);
	assert_int_equal(lsum[1], (uint64_t)pyh_profile_entries(p));
	pyh_profile_free(p);
}

static void count_cb(const int *ids, int n, uint64_t count, const struct pyh_plabels *labels, void *arg)
{
	(void)ids;
	(void)n;
	(void)labels;
	*(uint64_t *)arg += count;
}

/* Past its memory budget the profile keeps counting what it has, and counts
 * every new stack, or known stack under new labels, on PYH_PROFILE_FULL. */
static void test_budget(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	struct pyh_plabels l1 = { 1, 1, "proc", "t" }, l2 = { 2, 2, "other", "t" };
	char fn[32];
	struct pyh_pframe fr[2] = { { "root", "r.py", 1 }, { fn, "f.py", 7 } };
	struct seen seen = { 0 };
	uint64_t sum = 0, lsum = 0;
	int kept, entries, e = -1, full = -1;

	assert_non_null(p);
	pyh_profile_set_limit(p, 4096);
	for (int i = 0; pyh_profile_over(p) == 0; i++) {
		assert_true(i < 1000);	/* the budget stops it long before */
		snprintf(fn, sizeof(fn), "fn%d", i);
		assert_int_equal(pyh_profile_add_labeled(p, fr, 2, 1, &l1), 0);
		sum++;
	}
	/* the last one went to the full stack */
	kept = pyh_profile_stacks(p);
	entries = pyh_profile_entries(p);
	assert_int_equal(pyh_profile_over(p), 1);
	/* a stack it has, under labels it has: counted where it was */
	snprintf(fn, sizeof(fn), "fn0");
	assert_int_equal(pyh_profile_add_entry(p, fr, 2, 5, &l1, &e), 0);
	sum += 5;
	/* new stacks, and a known stack under new labels: on the full stack */
	for (int i = 0; i < 100; i++) {
		snprintf(fn, sizeof(fn), "new%d", i);
		assert_int_equal(pyh_profile_add_labeled(p, fr, 2, 2, &l1), 0);
		sum += 2;
	}
	snprintf(fn, sizeof(fn), "fn0");
	assert_int_equal(pyh_profile_add_entry(p, fr, 2, 3, &l2, &full), 0);
	sum += 3;
	assert_int_not_equal(e, full);
	assert_int_equal(pyh_profile_add_to(p, full, 1), 0);	/* the fast path lands there too */
	sum++;
	assert_int_equal(pyh_profile_over(p), 1 + 200 + 3 + 1);
	assert_int_equal(pyh_profile_stacks(p), kept);	/* nothing new kept */
	assert_true(pyh_profile_bytes(p) >= 4096 && pyh_profile_bytes(p) < 4096 + 512);
	assert_int_equal(pyh_profile_entries(p), entries);
	assert_int_equal(pyh_profile_total(p), sum);
	pyh_profile_set_limit(p, PYH_PROFILE_MAX_BYTES);
	pyh_profile_free(p);

	/* what the views show */
	p = pyh_profile_new();
	assert_non_null(p);
	pyh_profile_set_limit(p, 1);	/* the first stack is kept, none after it */
	snprintf(fn, sizeof(fn), "a");
	assert_int_equal(pyh_profile_add(p, fr, 2, 4), 0);
	snprintf(fn, sizeof(fn), "b");
	assert_int_equal(pyh_profile_add(p, fr, 2, 6), 0);
	snprintf(fn, sizeof(fn), "a");
	assert_int_equal(pyh_profile_add(p, fr, 2, 1), 0);
	pyh_profile_foreach(p, collect, &seen);
	assert_int_equal(seen.n, 2);
	for (int i = 0; i < 2; i++) {
		if (!strcmp(seen.text[i], PYH_PROFILE_FULL))
			assert_int_equal(seen.count[i], 6);
		else {
			assert_string_equal(seen.text[i], "root (r.py:1);a (f.py:7)");
			assert_int_equal(seen.count[i], 5);
		}
	}
	assert_int_equal(pyh_profile_over(p), 6);
	pyh_profile_foreach_labeled(p, count_cb, &lsum);
	assert_int_equal(lsum, 11);
	pyh_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_and_order),
		cmocka_unit_test(test_depth_bound),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_many_and_saturation),
		cmocka_unit_test(test_labeled_stacks),
		cmocka_unit_test(test_labeled_many),
		cmocka_unit_test(test_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
