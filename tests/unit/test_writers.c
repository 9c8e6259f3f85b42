/* Unit tests for the profile writers: folded, SVG, speedscope, pprof agree on
 * one profile of ~20 stacks with non-ASCII names, XML-special characters,
 * separators inside names and synthetic roots. SVG and speedscope are checked
 * by real parsers (python3's xml.etree and json); pprof is decoded back with
 * protobuf-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "profile/profile.h"
#include "proto/profile.pb-c.h"

static const struct pyh_pframe F[] = {
	{ "<module>", "/srv/app/main.py", 1 },			/* 0 */
	{ "serve_forever", "/usr/lib/python3.11/socketserver.py", 233 },
	{ "handle", "/srv/app/h\xc3\xa4ndler.py", 42 },		/* non-ASCII file */
	{ "r\xc3\xa9sum\xc3\xa9", "/srv/app/cv.py", 7 },	/* résumé */
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "/srv/app/jp.py", 3 }, /* 日本語 */
	{ "<lambda>", "/srv/app/a&b.py", 5 },			/* 5: & in file */
	{ "cmp\"quote'\"", "/srv/app/q.py", 8 },
	{ "<genexpr>", "/srv/app/x<y>.py", 11 },
	{ "semi;colon", "/srv/app/s.py", 2 },			/* ';' in a name */
	{ "new\nline", "/srv/app/n.py", 4 },			/* newline in a name */
	{ "thread 4242 \"worker-1\"", NULL, 0 },		/* 10: synthetic */
	{ "emoji_\xf0\x9f\x94\xa5", "/srv/app/e.py", 9 },	/* 🔥 */
	{ "sleep", "/usr/lib/python3.11/time.py", 0 },		/* unknown line */
	{ "ctl\x01" "char", "/srv/app/c.py", 6 },		/* control char */
	{ "run", "/srv/app/main.py", 20 },
};

/* ~20 stacks as index lists (root first), -1 terminated, with counts. */
static const int STACKS[][8] = {
	{ 0, 1, 2, 3, -1 }, { 0, 1, 2, 4, -1 }, { 0, 1, 2, 5, -1 }, { 0, 1, 2, 6, -1 },
	{ 0, 1, 2, 7, -1 }, { 0, 1, 2, 8, -1 }, { 0, 1, 2, 9, -1 }, { 10, 0, 14, 11, -1 },
	{ 10, 0, 14, 12, -1 }, { 10, 0, 14, 13, -1 }, { 0, 14, -1 }, { 0, -1 },
	{ 0, 14, 3, 4, 5, -1 }, { 0, 14, 6, 7, 8, 9, -1 }, { 10, 11, -1 }, { 10, 12, 13, -1 },
	{ 0, 1, -1 }, { 0, 1, 2, -1 }, { 10, 0, 1, 2, 3, -1 }, { 14, 14, 14, -1 },
};
#define NSTACKS (int)(sizeof(STACKS) / sizeof(STACKS[0]))

static struct pyh_profile *make_profile(uint64_t *total)
{
	struct pyh_profile *p = pyh_profile_new();

	*total = 0;
	assert_non_null(p);
	for (int s = 0; s < NSTACKS; s++) {
		struct pyh_pframe fr[8];
		int n = 0;

		for (; STACKS[s][n] >= 0; n++)
			fr[n] = F[STACKS[s][n]];
		assert_int_equal(pyh_profile_add(p, fr, n, (uint64_t)(s * 7 + 3)), 0);
		*total += (uint64_t)(s * 7 + 3);
	}
	assert_int_equal(pyh_profile_stacks(p), NSTACKS);
	return p;
}

static const struct pyh_profile_meta META = { "pyhang record --pid 4242 <&>", 100, 2.5 };

static char *write_to(const char *path, int (*fn)(const struct pyh_profile *, const struct pyh_profile_meta *, FILE *),
		      const struct pyh_profile *p)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fn(p, &META, f), 0);
	assert_int_equal(fclose(f), 0);
	return strdup(path);
}

static int folded_adapter(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f)
{
	(void)m;
	return pyh_write_folded(p, f);
}

/* Run python3 code with args; returns its first output line (static). */
static const char *python(const char *code, const char *a1, const char *a2, const char *a3)
{
	static char out[4096];
	char cmd[8192];
	FILE *pp;

	snprintf(cmd, sizeof(cmd), "python3 -c '%s' '%s' '%s' '%s' 2>&1", code, a1, a2, a3);
	pp = popen(cmd, "r");
	assert_non_null(pp);
	out[0] = '\0';
	if (!fgets(out, sizeof(out), pp))
		out[0] = '\0';
	pclose(pp);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

/* Names file: every frame label as NUL-separated UTF-8 (python checks them). */
static void write_names(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < sizeof(F) / sizeof(F[0]); i++) {
		char buf[256];

		pyh_pframe_label(&F[i], buf, sizeof(buf));
		fwrite(buf, 1, strlen(buf) + 1, f);
	}
	fclose(f);
}

static void test_folded(void **state)
{
	(void)state;
	uint64_t total, sum = 0;
	struct pyh_profile *p = make_profile(&total);
	char *buf = NULL, *line, *save;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int lines = 0;

	assert_int_equal(pyh_write_folded(p, f), 0);
	fclose(f);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' ');
		int semis = 0;

		assert_non_null(sp);
		sum += strtoull(sp + 1, NULL, 10);
		for (char *c = line; c < sp; c++)
			semis += *c == ';';
		/* one more frame than separators: no name split a frame */
		assert_true(semis + 1 <= 6 && semis >= 0);
		lines++;
	}
	assert_int_equal(lines, NSTACKS);
	assert_int_equal(sum, total);
	free(buf);

	/* exact text of one line and order: sorted by text */
	buf = NULL;
	f = open_memstream(&buf, &len);
	pyh_write_folded(p, f);
	fclose(f);
	assert_non_null(strstr(buf, "<module> (/srv/app/main.py:1);serve_forever (/usr/lib/python3.11/socketserver.py:233);"
				    "handle (/srv/app/h\xc3\xa4ndler.py:42);semi:colon (/srv/app/s.py:2) 38\n"));
	assert_non_null(strstr(buf, "new line (/srv/app/n.py:4) 45\n"));
	assert_non_null(strstr(buf, "thread 4242 \"worker-1\";emoji_\xf0\x9f\x94\xa5 (/srv/app/e.py:9) 101\n"));
	assert_non_null(strstr(buf, "sleep (/usr/lib/python3.11/time.py) "));
	assert_true(strncmp(buf, "<module> (/srv/app/main.py:1) 80\n", 33) == 0);
	free(buf);
	pyh_profile_free(p);
}

static void test_speedscope_agrees_with_folded(void **state)
{
	(void)state;
	uint64_t total;
	struct pyh_profile *p = make_profile(&total);
	char *ss = write_to("/tmp/pyh_test_writers.speedscope.json", pyh_write_speedscope, p);
	char *fo = write_to("/tmp/pyh_test_writers.folded", folded_adapter, p);
	char expect[64];
	/* Rebuilds each folded line from the speedscope samples and compares. */
	static const char code[] =
		"import json,sys\n"
		"d=json.load(open(sys.argv[1],encoding=\"utf-8\"))\n"
		"assert d[\"$schema\"]==\"https://www.speedscope.app/file-format-schema.json\"\n"
		"assert d[\"exporter\"]==\"pyhang\" and d[\"activeProfileIndex\"]==0\n"
		"fr=d[\"shared\"][\"frames\"];pr=d[\"profiles\"][0]\n"
		"assert pr[\"type\"]==\"sampled\" and pr[\"unit\"]==\"none\" and pr[\"startValue\"]==0\n"
		"assert len(pr[\"samples\"])==len(pr[\"weights\"])\n"
		"def lab(f):\n"
		" n=f[\"name\"].replace(\";\",\":\").replace(\"\\n\",\" \").replace(\"\\x01\",\"\\\\x01\")\n"
		" if \"file\" not in f: return n\n"
		" fl=f[\"file\"].replace(\";\",\":\")\n"
		" return n+\" (\"+fl+(\":%d\"%f[\"line\"] if \"line\" in f else \"\")+\")\"\n"
		"lines=[\";\".join(lab(fr[i]) for i in s)+\" %d\"%w for s,w in zip(pr[\"samples\"],pr[\"weights\"])]\n"
		"folded=open(sys.argv[2],encoding=\"utf-8\").read().splitlines()\n"
		"assert lines==folded,(lines[:3],folded[:3])\n"
		"names=open(sys.argv[3],\"rb\").read().split(b\"\\0\")[:-1]\n"
		"have=set(lab(f) for f in fr)\n"
		"assert all(n.decode() in have for n in names)\n"
		"print(\"OK %d %d %d\"%(sum(pr[\"weights\"]),pr[\"endValue\"],len(pr[\"samples\"])))\n";

	write_names("/tmp/pyh_test_writers.names");
	snprintf(expect, sizeof(expect), "OK %" PRIu64 " %" PRIu64 " %d", total, total, NSTACKS);
	assert_string_equal(python(code, ss, fo, "/tmp/pyh_test_writers.names"), expect);
	unlink(ss);
	unlink(fo);
	free(ss);
	free(fo);
	pyh_profile_free(p);
}

static void test_svg_parses_and_counts(void **state)
{
	(void)state;
	uint64_t total;
	struct pyh_profile *p = make_profile(&total);
	char *svg = write_to("/tmp/pyh_test_writers.svg", pyh_write_svg, p);
	char expect[64];
	/* Parses the SVG, checks every name is some frame's title, the root's
	 * width is all samples, and each depth's widths add up to its parents'. */
	static const char code[] =
		"import sys,xml.etree.ElementTree as E\n"
		"ns=\"{http://www.w3.org/2000/svg}\"\n"
		"t=E.parse(sys.argv[1]).getroot()\n"
		"gs=[g for g in t.iter(ns+\"g\") if g.get(\"class\")==\"f\"]\n"
		"titles=[g.find(ns+\"title\").text for g in gs]\n"
		"labels=set(x.split(\"\\n\")[0] for x in titles)\n"
		"names=open(sys.argv[2],\"rb\").read().split(b\"\\0\")[:-1]\n"
		"miss=[n for n in names if n.decode().replace(\"\\x01\",\"\\\\x01\") not in labels]\n"
		"assert not miss,miss\n"
		"assert t.find(ns+\"title\").text==\"pyhang record --pid 4242 <&>\"\n"
		"assert sys.argv[3] in t.find(ns+\"script\").text\n"
		"root=[g for g in gs if g.get(\"data-d\")==\"0\"]\n"
		"assert len(root)==1\n"
		"d1=sum(int(g.get(\"data-n\")) for g in gs if g.get(\"data-d\")==\"1\")\n"
		"print(\"OK %s %d %d\"%(root[0].get(\"data-n\"),d1,len(gs)))\n";

	write_names("/tmp/pyh_test_writers.names");
	/* 1 root + the 33 distinct root-first prefixes of STACKS */
	snprintf(expect, sizeof(expect), "OK %" PRIu64 " %" PRIu64 " %d", total, total, 34);
	assert_string_equal(python(code, svg, "/tmp/pyh_test_writers.names", "function zoom("), expect);
	unlink(svg);
	free(svg);
	pyh_profile_free(p);
}

static void test_svg_omits_tiny_and_handles_empty(void **state)
{
	(void)state;
	struct pyh_profile *p = pyh_profile_new();
	struct pyh_pframe big = { "big", "b.py", 1 }, tiny = { "tiny_frame_xyz", "t.py", 2 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(pyh_write_svg(p, NULL, f), 0); /* empty profile: still an SVG */
	fclose(f);
	assert_non_null(strstr(buf, "(no samples)"));
	assert_non_null(strstr(buf, "</svg>"));
	free(buf);

	pyh_profile_add(p, &big, 1, 100000);
	pyh_profile_add(p, &tiny, 1, 50); /* 0.05% < 0.1%: omitted */
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(pyh_write_svg(p, NULL, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "big (b.py:1)"));
	assert_null(strstr(buf, "tiny_frame_xyz"));
	free(buf);
	pyh_profile_free(p);
}

/* gunzip a whole file into memory. */
static uint8_t *gunzip_file(const char *path, size_t *outlen)
{
	FILE *f = fopen(path, "r");
	uint8_t in[1 << 16], *out = NULL;
	size_t cap = 0, n;
	z_stream zs = { 0 };
	int zr = Z_OK;
	unsigned char magic[2];

	assert_non_null(f);
	assert_int_equal(fread(magic, 1, 2, f), 2);
	assert_int_equal(magic[0], 0x1f); /* gzip, not zlib or raw */
	assert_int_equal(magic[1], 0x8b);
	rewind(f);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	*outlen = 0;
	while (zr != Z_STREAM_END && (n = fread(in, 1, sizeof(in), f)) > 0) {
		zs.next_in = in;
		zs.avail_in = (uInt)n;
		do {
			if (cap - *outlen < 65536) {
				cap = cap ? cap * 2 : 1 << 17;
				out = realloc(out, cap);
				assert_non_null(out);
			}
			zs.next_out = out + *outlen;
			zs.avail_out = (uInt)(cap - *outlen);
			zr = inflate(&zs, Z_NO_FLUSH);
			assert_true(zr == Z_OK || zr == Z_STREAM_END);
			*outlen = cap - zs.avail_out;
		} while (zs.avail_out == 0 || (zs.avail_in && zr != Z_STREAM_END));
	}
	assert_int_equal(zr, Z_STREAM_END);
	inflateEnd(&zs);
	fclose(f);
	return out;
}

static void test_pprof_roundtrip(void **state)
{
	(void)state;
	uint64_t total, sum0 = 0, sum1 = 0;
	struct pyh_profile *p = make_profile(&total);
	char *pb = write_to("/tmp/pyh_test_writers.pb.gz", pyh_write_pprof, p);
	size_t len;
	uint8_t *raw = gunzip_file(pb, &len);
	Perftools__Profiles__Profile *prof = perftools__profiles__profile__unpack(NULL, len, raw);
	char *folded = NULL, *rebuilt = NULL;
	size_t flen = 0, rlen = 0;
	FILE *f;

	assert_non_null(prof);
	assert_int_equal(prof->n_string_table > 0, 1);
	assert_string_equal(prof->string_table[0], "");
	assert_int_equal(prof->n_sample_type, 2);
	assert_string_equal(prof->string_table[prof->sample_type[0]->type], "samples");
	assert_string_equal(prof->string_table[prof->sample_type[0]->unit], "count");
	assert_string_equal(prof->string_table[prof->sample_type[1]->type], "cpu");
	assert_string_equal(prof->string_table[prof->sample_type[1]->unit], "nanoseconds");
	assert_string_equal(prof->string_table[prof->period_type->type], "cpu");
	assert_int_equal(prof->period, 10000000); /* 1e9 / 100 Hz */
	assert_int_equal(prof->duration_nanos, 2500000000LL);
	assert_int_equal(prof->n_comment, 1);
	assert_string_equal(prof->string_table[prof->comment[0]], META.title);
	assert_int_equal(prof->n_sample, NSTACKS);
	assert_int_equal(prof->n_location, sizeof(F) / sizeof(F[0]));
	/* 15 frames, 15 distinct (name, file) pairs */
	assert_int_equal(prof->n_function, 15);

	/* Rebuild folded text from the decoded profile (leaf first -> root first). */
	f = open_memstream(&rebuilt, &rlen);
	for (size_t i = 0; i < prof->n_sample; i++) {
		Perftools__Profiles__Sample *s = prof->sample[i];

		assert_int_equal(s->n_value, 2);
		sum0 += (uint64_t)s->value[0];
		sum1 += (uint64_t)s->value[1];
		for (size_t k = s->n_location_id; k-- > 0;) {
			uint64_t id = s->location_id[k];
			Perftools__Profiles__Location *loc;
			Perftools__Profiles__Function *fn;
			struct pyh_pframe fr;
			char lab[256];

			assert_true(id >= 1 && id <= prof->n_location);
			loc = prof->location[id - 1];
			assert_int_equal(loc->id, id);
			assert_int_equal(loc->n_line, 1);
			assert_true(loc->line[0]->function_id >= 1 && loc->line[0]->function_id <= prof->n_function);
			fn = prof->function[loc->line[0]->function_id - 1];
			fr.function = prof->string_table[fn->name];
			fr.file = *prof->string_table[fn->filename] ? prof->string_table[fn->filename] : NULL;
			fr.line = (int)loc->line[0]->line;
			pyh_pframe_label(&fr, lab, sizeof(lab));
			fprintf(f, "%s%s", lab, k ? ";" : "");
		}
		fprintf(f, " %" PRId64 "\n", s->value[0]);
	}
	fclose(f);
	assert_int_equal(sum0, total);
	assert_int_equal(sum1, total * 10000000);
	f = open_memstream(&folded, &flen);
	pyh_write_folded(p, f);
	fclose(f);
	assert_string_equal(rebuilt, folded);

	free(rebuilt);
	free(folded);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	free(raw);
	unlink(pb);
	free(pb);
	pyh_profile_free(p);
}

/* The label of sample s with key name: its num (*num) or string (*str); 0 when absent. */
static int sample_label(const Perftools__Profiles__Profile *prof, const Perftools__Profiles__Sample *s,
			const char *key, int64_t *num, const char **str)
{
	int found = 0;

	for (size_t i = 0; i < s->n_label; i++) {
		const Perftools__Profiles__Label *l = s->label[i];

		assert_true(l->key > 0 && (size_t)l->key < prof->n_string_table);
		assert_true(l->str >= 0 && (size_t)l->str < prof->n_string_table);
		/* exactly one of str and num */
		assert_true((l->str != 0) != (l->num != 0));
		if (strcmp(prof->string_table[l->key], key))
			continue;
		assert_int_equal(found, 0); /* each key at most once per sample */
		found = 1;
		if (num)
			*num = l->num;
		if (str)
			*str = l->str ? prof->string_table[l->str] : NULL;
	}
	return found;
}

/* Samples under label sets: one pprof Sample per (stack, label set) with its
 * labels and count; the folded output still merges them. */
static void test_pprof_labels(void **state)
{
	(void)state;
	static const struct pyh_pframe X[] = { { "<module>", "/srv/a.py", 1 }, { "spin", "/srv/a.py", 4 } };
	static const struct pyh_pframe Y[] = { { "<module>", "/srv/a.py", 1 }, { "wait", "/srv/a.py", 9 } };
	const struct pyh_plabels main100 = { 100, 100, "python3 a.py [pid 100, 3.12.1]", "python3" };
	const struct pyh_plabels work100 = { 100, 102, "python3 a.py [pid 100, 3.12.1]", "worker-1" };
	const struct pyh_plabels b200 = { 200, 201, "python2 b.py [pid 200, 2.7.18]", "" };
	struct pyh_profile *p = pyh_profile_new();
	char *pb, *folded = NULL;
	size_t len, flen = 0;
	uint8_t *raw;
	Perftools__Profiles__Profile *prof;
	uint64_t per_pid[2] = { 0, 0 }, unlabeled = 0, total = 0;
	int seen_worker = 0;
	FILE *f;

	assert_non_null(p);
	assert_int_equal(pyh_profile_add_labeled(p, X, 2, 5, &main100), 0);
	assert_int_equal(pyh_profile_add_labeled(p, X, 2, 7, &work100), 0);
	assert_int_equal(pyh_profile_add_labeled(p, X, 2, 11, &b200), 0);
	assert_int_equal(pyh_profile_add(p, X, 2, 2), 0);
	assert_int_equal(pyh_profile_add_labeled(p, Y, 2, 13, &b200), 0);
	assert_int_equal(pyh_profile_add_labeled(p, X, 2, 1, &main100), 0);

	f = open_memstream(&folded, &flen);
	assert_int_equal(pyh_write_folded(p, f), 0);
	fclose(f);
	assert_string_equal(folded, "<module> (/srv/a.py:1);spin (/srv/a.py:4) 26\n"
				    "<module> (/srv/a.py:1);wait (/srv/a.py:9) 13\n");
	free(folded);

	pb = write_to("/tmp/pyh_test_writers_labels.pb.gz", pyh_write_pprof, p);
	raw = gunzip_file(pb, &len);
	prof = perftools__profiles__profile__unpack(NULL, len, raw);
	assert_non_null(prof);
	assert_int_equal(prof->n_sample, 5);
	assert_int_equal(prof->n_location, 3);
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];
		int64_t pid = 0, tid = 0;
		const char *proc = NULL, *thr = NULL;
		int has_pid = sample_label(prof, s, "pid", &pid, NULL);
		int has_tid = sample_label(prof, s, "tid", &tid, NULL);
		int has_proc = sample_label(prof, s, "process", NULL, &proc);
		int has_thr = sample_label(prof, s, "thread", NULL, &thr);

		assert_int_equal(s->n_value, 2);
		assert_int_equal(s->value[1], s->value[0] * 10000000);
		total += (uint64_t)s->value[0];
		if (!has_pid) {
			assert_int_equal(s->n_label, 0);
			unlabeled += (uint64_t)s->value[0];
			continue;
		}
		assert_true(has_tid && has_proc);
		if (pid == 100) {
			assert_string_equal(proc, "python3 a.py [pid 100, 3.12.1]");
			assert_int_equal(s->n_label, 4);
			assert_int_equal(s->n_location_id, 2);
			if (tid == 102) {
				assert_string_equal(thr, "worker-1");
				assert_int_equal(s->value[0], 7);
				seen_worker = 1;
			} else {
				assert_int_equal(tid, 100);
				assert_string_equal(thr, "python3");
				assert_int_equal(s->value[0], 6); /* 5 + 1 */
			}
			per_pid[0] += (uint64_t)s->value[0];
		} else {
			assert_int_equal(pid, 200);
			assert_int_equal(tid, 201);
			assert_string_equal(proc, "python2 b.py [pid 200, 2.7.18]");
			assert_false(has_thr); /* empty thread name: no label */
			assert_int_equal(s->n_label, 3);
			per_pid[1] += (uint64_t)s->value[0];
		}
	}
	assert_true(seen_worker);
	assert_int_equal(per_pid[0], 13);
	assert_int_equal(per_pid[1], 24);
	assert_int_equal(unlabeled, 2);
	assert_int_equal(total, pyh_profile_total(p));

	perftools__profiles__profile__free_unpacked(prof, NULL);
	free(raw);
	unlink(pb);
	free(pb);
	pyh_profile_free(p);
}

static void test_write_errors(void **state)
{
	(void)state;
	uint64_t total;
	struct pyh_profile *p = make_profile(&total);
	FILE *f;

	/* /dev/full: every write fails with ENOSPC, and every writer says so. */
	f = fopen("/dev/full", "w");
	assert_non_null(f);
	assert_int_equal(pyh_write_folded(p, f), -ENOSPC);
	fclose(f);
	f = fopen("/dev/full", "w");
	assert_int_equal(pyh_write_svg(p, &META, f), -ENOSPC);
	fclose(f);
	f = fopen("/dev/full", "w");
	assert_int_equal(pyh_write_speedscope(p, &META, f), -ENOSPC);
	fclose(f);
	f = fopen("/dev/full", "w");
	assert_int_equal(pyh_write_pprof(p, &META, f), -ENOSPC);
	fclose(f);
	assert_int_equal(pyh_write_folded(NULL, stdout), -EINVAL);
	pyh_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_speedscope_agrees_with_folded),
		cmocka_unit_test(test_svg_parses_and_counts),
		cmocka_unit_test(test_svg_omits_tiny_and_handles_empty),
		cmocka_unit_test(test_pprof_roundtrip),
		cmocka_unit_test(test_pprof_labels),
		cmocka_unit_test(test_write_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
