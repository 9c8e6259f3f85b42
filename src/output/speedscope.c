/* speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * one "sampled" profile, frames shared, each sample root first with its count
 * as weight. Frames are numbered in the order the (sorted) stacks first use
 * them, so the same profile always gives the same file. */
#include "profile/profile.h"
#include "output/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct ss_ctx {
	const struct pyh_profile *p;
	struct pyh_json *j;
	int *index;		/* profile frame id -> output index, -1 = not yet */
	int *order;		/* output index -> profile frame id */
	int nout;
	int pass;		/* 0: number frames, 1: samples, 2: weights */
};

static int64_t clamp64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void ss_stack(const int *ids, int n, uint64_t count, void *arg)
{
	struct ss_ctx *c = arg;

	if (c->pass == 0) {
		for (int i = 0; i < n; i++) {
			if (c->index[ids[i]] < 0) {
				c->index[ids[i]] = c->nout;
				c->order[c->nout++] = ids[i];
			}
		}
	} else if (c->pass == 1) {
		pyh_json_array_begin(c->j, NULL);
		for (int i = 0; i < n; i++)
			pyh_json_int(c->j, NULL, c->index[ids[i]]);
		pyh_json_array_end(c->j);
	} else {
		pyh_json_int(c->j, NULL, clamp64(count));
	}
}

int pyh_write_speedscope(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f)
{
	const char *title = m && m->title ? m->title : "pyhang profile";
	struct pyh_json j;
	struct ss_ctx c = { .p = p, .j = &j };
	int nframes, err = 0;

	if (!p || !f)
		return -EINVAL;
	nframes = pyh_profile_nframes(p);
	c.index = malloc(((size_t)nframes + 1) * sizeof(*c.index));
	c.order = malloc(((size_t)nframes + 1) * sizeof(*c.order));
	if (!c.index || !c.order) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < nframes; i++)
		c.index[i] = -1;
	pyh_profile_foreach_ids(p, ss_stack, &c);

	errno = 0;
	pyh_json_init(&j, f);
	pyh_json_object_begin(&j, NULL);
	pyh_json_string(&j, "$schema", "https://www.speedscope.app/file-format-schema.json");
	pyh_json_object_begin(&j, "shared");
	pyh_json_array_begin(&j, "frames");
	for (int i = 0; i < c.nout; i++) {
		const struct pyh_pframe *fr = pyh_profile_frame(p, c.order[i]);

		pyh_json_object_begin(&j, NULL);
		pyh_json_string(&j, "name", fr->function);
		if (fr->file) {
			pyh_json_string(&j, "file", fr->file);
			if (fr->line > 0)
				pyh_json_int(&j, "line", fr->line);
		}
		pyh_json_object_end(&j);
	}
	pyh_json_array_end(&j);
	pyh_json_object_end(&j);
	pyh_json_array_begin(&j, "profiles");
	pyh_json_object_begin(&j, NULL);
	pyh_json_string(&j, "type", "sampled");
	pyh_json_string(&j, "name", title);
	pyh_json_string(&j, "unit", "none");
	pyh_json_int(&j, "startValue", 0);
	pyh_json_int(&j, "endValue", clamp64(pyh_profile_total(p)));
	pyh_json_array_begin(&j, "samples");
	c.pass = 1;
	pyh_profile_foreach_ids(p, ss_stack, &c);
	pyh_json_array_end(&j);
	pyh_json_array_begin(&j, "weights");
	c.pass = 2;
	pyh_profile_foreach_ids(p, ss_stack, &c);
	pyh_json_array_end(&j);
	pyh_json_object_end(&j);
	pyh_json_array_end(&j);
	pyh_json_string(&j, "name", title);
	pyh_json_int(&j, "activeProfileIndex", 0);
	pyh_json_string(&j, "exporter", "pyhang");
	pyh_json_object_end(&j);
	fputc('\n', f);
	if (fflush(f) || ferror(f))
		err = errno ? -errno : -EIO;
cleanup:
	free(c.index);
	free(c.order);
	return err;
}
