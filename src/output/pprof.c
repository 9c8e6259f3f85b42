/* pprof: a gzip-compressed perftools.profiles.Profile protobuf (proto/profile.proto,
 * packed by protobuf-c code generated at build time into build/proto/).
 *
 * Sample types: samples/count and cpu/nanoseconds (count * period), period
 * type cpu/nanoseconds with period = 1e9 / rate_hz (0 when the rate is
 * unknown). One Location per distinct frame (its one Line holds the line
 * number), one Function per distinct (name, file) pair; start_line is 0
 * because pyhang does not know where a function starts. Synthetic frames
 * (thread/process roots) are functions with an empty file name. One Sample per
 * (stack, label set) of the profile, with the labels that are set: "pid" and
 * "tid" (numbers), "process", "thread" and, with record --tasks, "task" (strings), so that `go tool pprof
 * -tagfocus`, Pyroscope and Parca can split by them. No mappings:
 * Python frames have no addresses. Strings are written as the profile has
 * them (pyhang's symbolizer hands out UTF-8). */
#include "profile/profile.h"
#include "proto/profile.pb-c.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define NONE UINT32_MAX
#define PP_LABELS 5 /* pid, tid, process, thread, task */

/* A string table or a function table: values in an array, an index hash. */
struct pp_table {
	uint32_t *slot;		/* NONE = free */
	uint32_t cap;
};

struct pp_ctx {
	const struct pyh_profile *p;
	int err;

	char **str;
	uint32_t nstr, capstr;
	struct pp_table strtab;

	Perftools__Profiles__Function *fn;
	Perftools__Profiles__Function **fnp;
	uint32_t nfn;		/* at most nframes */
	struct pp_table fntab;

	uint64_t *loc_of;	/* profile frame id -> location id, 0 = none yet */
	Perftools__Profiles__Location *loc;
	Perftools__Profiles__Location **locp;
	Perftools__Profiles__Line *line;
	Perftools__Profiles__Line **linep;
	uint32_t nloc;

	Perftools__Profiles__Sample *sample;
	Perftools__Profiles__Sample **samplep;
	Perftools__Profiles__Label *label;	/* at most PP_LABELS per sample */
	Perftools__Profiles__Label **labelp;
	uint32_t nlabel;
	int64_t key_pid, key_tid, key_process, key_thread, key_task;
	uint64_t *locids;	/* all samples' location ids */
	int64_t *values;	/* 2 per sample */
	uint32_t nsample, nlocids;
	int64_t period;
};

static uint32_t pp_hash(const void *data, size_t len)
{
	const unsigned char *b = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* Size a table for up to n entries (fixed: the writer knows its bound). */
static int pp_table_init(struct pp_table *t, size_t n)
{
	size_t cap = 64;

	while (cap < 2 * n + 2)
		cap *= 2;
	if (cap > UINT32_MAX / 2)
		return -ENOMEM;
	t->slot = malloc(cap * sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	memset(t->slot, 0xff, cap * sizeof(*t->slot));
	t->cap = (uint32_t)cap;
	return 0;
}

/* String table index of s (added if new); -1 on ENOMEM. */
static int64_t pp_str(struct pp_ctx *c, const char *s)
{
	uint32_t h = pp_hash(s, strlen(s)), j;

	for (j = h & (c->strtab.cap - 1); c->strtab.slot[j] != NONE; j = (j + 1) & (c->strtab.cap - 1))
		if (strcmp(c->str[c->strtab.slot[j]], s) == 0)
			return c->strtab.slot[j];
	/* The table was sized for every string the profile can have. */
	if (c->nstr >= c->capstr)
		return -1;
	c->str[c->nstr] = (char *)s;
	c->strtab.slot[j] = c->nstr;
	return c->nstr++;
}

/* Function id of (name, file); 0 on ENOMEM. */
static uint64_t pp_function(struct pp_ctx *c, int64_t name, int64_t file)
{
	int64_t key[2] = { name, file };
	uint32_t h = pp_hash(key, sizeof(key)), j;
	Perftools__Profiles__Function *fn;

	for (j = h & (c->fntab.cap - 1); c->fntab.slot[j] != NONE; j = (j + 1) & (c->fntab.cap - 1)) {
		fn = &c->fn[c->fntab.slot[j]];
		if (fn->name == name && fn->filename == file)
			return fn->id;
	}
	fn = &c->fn[c->nfn];
	perftools__profiles__function__init(fn);
	fn->id = c->nfn + 1;
	fn->name = name;
	/* No system_name: go tool pprof demangles a function whose system_name
	 * equals its name as C++, which turns "<module>" or "<lambda>" into "". */
	fn->filename = file;
	c->fnp[c->nfn] = fn;
	c->fntab.slot[j] = c->nfn++;
	return fn->id;
}

static uint64_t pp_location(struct pp_ctx *c, int frame)
{
	const struct pyh_pframe *fr = pyh_profile_frame(c->p, frame);
	Perftools__Profiles__Location *loc;
	Perftools__Profiles__Line *ln;
	int64_t name, file;

	if (c->loc_of[frame])
		return c->loc_of[frame];
	name = pp_str(c, fr->function);
	file = pp_str(c, fr->file ? fr->file : "");
	if (name < 0 || file < 0)
		return 0;
	loc = &c->loc[c->nloc];
	ln = &c->line[c->nloc];
	perftools__profiles__location__init(loc);
	perftools__profiles__line__init(ln);
	ln->function_id = pp_function(c, name, file);
	ln->line = fr->line > 0 ? fr->line : 0;
	c->linep[c->nloc] = ln;
	loc->id = c->nloc + 1;
	loc->n_line = 1;
	loc->line = &c->linep[c->nloc];
	c->locp[c->nloc] = loc;
	c->nloc++;
	c->loc_of[frame] = loc->id;
	return loc->id;
}

static Perftools__Profiles__Label *pp_label(struct pp_ctx *c, int64_t key)
{
	Perftools__Profiles__Label *l = &c->label[c->nlabel];

	perftools__profiles__label__init(l);
	l->key = key;
	c->labelp[c->nlabel++] = l;
	return l;
}

/* The sample's labels, those that are set; 0 or -ENOMEM. */
static int pp_labels(struct pp_ctx *c, Perftools__Profiles__Sample *s, const struct pyh_plabels *lab)
{
	int64_t str;

	s->label = &c->labelp[c->nlabel];
	if (lab->pid > 0)
		pp_label(c, c->key_pid)->num = lab->pid;
	if (lab->tid > 0)
		pp_label(c, c->key_tid)->num = lab->tid;
	if (lab->process && *lab->process) {
		if ((str = pp_str(c, lab->process)) < 0)
			return -ENOMEM;
		pp_label(c, c->key_process)->str = str;
	}
	if (lab->thread && *lab->thread) {
		if ((str = pp_str(c, lab->thread)) < 0)
			return -ENOMEM;
		pp_label(c, c->key_thread)->str = str;
	}
	if (lab->task && *lab->task) {
		if ((str = pp_str(c, lab->task)) < 0)
			return -ENOMEM;
		pp_label(c, c->key_task)->str = str;
	}
	s->n_label = (size_t)(&c->labelp[c->nlabel] - s->label);
	if (!s->n_label)
		s->label = NULL;
	return 0;
}

static void pp_stack(const int *ids, int n, uint64_t count, const struct pyh_plabels *lab, void *arg)
{
	struct pp_ctx *c = arg;
	Perftools__Profiles__Sample *s;
	int64_t cnt = count > INT64_MAX ? INT64_MAX : (int64_t)count;

	if (c->err)
		return;
	s = &c->sample[c->nsample];
	perftools__profiles__sample__init(s);
	s->location_id = &c->locids[c->nlocids];
	s->n_location_id = (size_t)n;
	for (int i = 0; i < n; i++) {
		uint64_t id = pp_location(c, ids[n - 1 - i]); /* leaf first */

		if (!id) {
			c->err = -ENOMEM;
			return;
		}
		s->location_id[i] = id;
	}
	c->nlocids += (uint32_t)n;
	s->value = &c->values[2 * c->nsample];
	s->n_value = 2;
	s->value[0] = cnt;
	s->value[1] = c->period && cnt > INT64_MAX / c->period ? INT64_MAX : cnt * c->period;
	if (pp_labels(c, s, lab)) {
		c->err = -ENOMEM;
		return;
	}
	c->samplep[c->nsample++] = s;
}

/* Location ids in all samples: the sum of depths, counted by one walk. */
static void pp_count(const int *ids, int n, uint64_t count, const struct pyh_plabels *lab, void *arg)
{
	(void)ids;
	(void)count;
	(void)lab;
	*(uint64_t *)arg += (uint64_t)n;
}

static int pp_gzip(const uint8_t *buf, size_t len, FILE *f)
{
	z_stream zs = { 0 };
	unsigned char out[65536];
	int zr, err = 0;

	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)buf;
	do {
		size_t chunk = len > (1u << 30) ? (1u << 30) : len;
		int flush;

		zs.avail_in = (uInt)chunk;
		len -= chunk;
		flush = len ? Z_NO_FLUSH : Z_FINISH;
		do {
			zs.next_out = out;
			zs.avail_out = sizeof(out);
			zr = deflate(&zs, flush);
			if (zr == Z_STREAM_ERROR) {
				err = -EIO;
				goto cleanup;
			}
			if (fwrite(out, 1, sizeof(out) - zs.avail_out, f) != sizeof(out) - zs.avail_out) {
				err = errno ? -errno : -EIO;
				goto cleanup;
			}
		} while (zs.avail_out == 0);
	} while (len);
	if (zr != Z_STREAM_END)
		err = -EIO;
cleanup:
	deflateEnd(&zs);
	return err;
}

int pyh_write_pprof(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f)
{
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType st[2], pt;
	Perftools__Profiles__ValueType *stp[2] = { &st[0], &st[1] };
	struct pp_ctx c = { .p = p };
	int64_t comment = 0;
	uint64_t depth_sum = 0;
	size_t nframes, nsamples, packed_len;
	uint8_t *packed = NULL;
	struct timespec now;
	int err = 0;

	if (!p || !f)
		return -EINVAL;
	nframes = (size_t)pyh_profile_nframes(p);
	nsamples = (size_t)pyh_profile_entries(p);
	pyh_profile_foreach_labeled(p, pp_count, &depth_sum);
	if (depth_sum > UINT32_MAX / 2 || nsamples > UINT32_MAX / (2 * PP_LABELS) ||
	    nframes > UINT32_MAX / 4)
		return -ENOMEM;
	/* Strings: "", 6 fixed ones, 5 label keys, the title, a name and a file
	 * per frame, a process, a thread and a task text per sample. */
	c.capstr = (uint32_t)(2 * nframes + 3 * nsamples + 13);
	c.str = calloc(c.capstr, sizeof(*c.str));
	c.fn = calloc(nframes + 1, sizeof(*c.fn));
	c.fnp = calloc(nframes + 1, sizeof(*c.fnp));
	c.loc_of = calloc(nframes + 1, sizeof(*c.loc_of));
	c.loc = calloc(nframes + 1, sizeof(*c.loc));
	c.locp = calloc(nframes + 1, sizeof(*c.locp));
	c.line = calloc(nframes + 1, sizeof(*c.line));
	c.linep = calloc(nframes + 1, sizeof(*c.linep));
	c.sample = calloc(nsamples + 1, sizeof(*c.sample));
	c.samplep = calloc(nsamples + 1, sizeof(*c.samplep));
	c.label = calloc(PP_LABELS * nsamples + 1, sizeof(*c.label));
	c.labelp = calloc(PP_LABELS * nsamples + 1, sizeof(*c.labelp));
	c.locids = calloc(depth_sum + 1, sizeof(*c.locids));
	c.values = calloc(2 * nsamples + 2, sizeof(*c.values));
	if (!c.str || !c.fn || !c.fnp || !c.loc_of || !c.loc || !c.locp || !c.line || !c.linep ||
	    !c.sample || !c.samplep || !c.label || !c.labelp || !c.locids || !c.values ||
	    pp_table_init(&c.strtab, c.capstr) ||
	    pp_table_init(&c.fntab, nframes + 1)) {
		err = -ENOMEM;
		goto cleanup;
	}
	c.period = m && m->rate_hz ? (int64_t)(1000000000u / m->rate_hz) : 0;

	pp_str(&c, "");
	perftools__profiles__value_type__init(&st[0]);
	perftools__profiles__value_type__init(&st[1]);
	perftools__profiles__value_type__init(&pt);
	st[0].type = pp_str(&c, "samples");
	st[0].unit = pp_str(&c, "count");
	st[1].type = pp_str(&c, "cpu");
	st[1].unit = pp_str(&c, "nanoseconds");
	pt = st[1];
	c.key_pid = pp_str(&c, "pid");
	c.key_tid = pp_str(&c, "tid");
	c.key_process = pp_str(&c, "process");
	c.key_thread = pp_str(&c, "thread");
	c.key_task = pp_str(&c, "task");
	if (m && m->title) {
		comment = pp_str(&c, m->title);
		prof.n_comment = 1;
		prof.comment = &comment;
	}
	pyh_profile_foreach_labeled(p, pp_stack, &c);
	if (c.err) {
		err = c.err;
		goto cleanup;
	}
	prof.n_sample_type = 2;
	prof.sample_type = stp;
	prof.n_sample = c.nsample;
	prof.sample = c.samplep;
	prof.n_location = c.nloc;
	prof.location = c.locp;
	prof.n_function = c.nfn;
	prof.function = c.fnp;
	prof.n_string_table = c.nstr;
	prof.string_table = c.str;
	prof.period_type = &pt;
	prof.period = c.period;
	prof.default_sample_type = st[1].type;
	if (m && m->duration_s > 0 && m->duration_s < 1e9)
		prof.duration_nanos = (int64_t)(m->duration_s * 1e9);
	if (clock_gettime(CLOCK_REALTIME, &now) == 0)
		prof.time_nanos = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - prof.duration_nanos;

	packed_len = perftools__profiles__profile__get_packed_size(&prof);
	packed = malloc(packed_len ? packed_len : 1);
	if (!packed) {
		err = -ENOMEM;
		goto cleanup;
	}
	perftools__profiles__profile__pack(&prof, packed);
	errno = 0;
	err = pp_gzip(packed, packed_len, f);
	if (!err && (fflush(f) || ferror(f)))
		err = errno ? -errno : -EIO;
cleanup:
	free(packed);
	free(c.str);
	free(c.strtab.slot);
	free(c.fn);
	free(c.fnp);
	free(c.fntab.slot);
	free(c.loc_of);
	free(c.loc);
	free(c.locp);
	free(c.line);
	free(c.linep);
	free(c.sample);
	free(c.samplep);
	free(c.label);
	free(c.labelp);
	free(c.locids);
	free(c.values);
	return err;
}
