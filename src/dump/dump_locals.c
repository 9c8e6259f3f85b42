/* SPDX-License-Identifier: MIT */
/* dump --locals: the local variables of a snapshot's frames, named and repr'd. */
#include "dump/dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "python/frames.h"
#include "python/locals.h"
#include "python/objects.h"
#include "python/repr.h"
#include "python/threads.h"

void pyh_dump_locals_clear(struct pyh_dump_locals *l)
{
	if (!l)
		return;
	for (int i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].type);
		free(l->v[i].repr);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Name and repr every local of one frame into *out. */
static int read_frame(struct pyh_objects *o, const struct pyh_frame *fr,
		      const struct pyh_repr_limits *lim, struct pyh_local *buf, char *text,
		      struct pyh_dump_locals *out)
{
	const char *why = NULL;
	size_t n = 0;
	int more = 0, rc;

	out->read = 1;
	if (!fr->addr || !fr->ci) {
		snprintf(out->error, sizeof(out->error), "%s",
			 !fr->addr ? "running: the frame returned before its locals were read"
				   : "code object unreadable");
		return 0;
	}
	rc = pyh_frame_locals(o, fr->addr, fr->code, buf, PYH_LOCALS_MAX, &n, &more, &why);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		snprintf(out->error, sizeof(out->error), "%s", why ? why : "unreadable");
		return 0;
	}
	out->more = more;
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct pyh_dump_local *dl = &out->v[i];
		struct pyh_repr_info info;

		if (buf[i].readable) {
			pyh_repr(o, buf[i].value, lim, text, lim->max_bytes, &info);
		} else {
			snprintf(text, lim->max_bytes, PYH_REPR_UNREADABLE);
			memset(&info, 0, sizeof(info));
			info.length = -1;
		}
		dl->name = strdup(buf[i].name);
		dl->repr = strdup(text);
		dl->type = info.readable ? strdup(info.type) : NULL;
		dl->truncated = info.truncated;
		dl->length = info.length;
		out->n = (int)i + 1;
		if (!dl->name || !dl->repr || (info.readable && !dl->type))
			return -ENOMEM;
	}
	return 0;
}

/* A stack read in the kernel (a running thread) carries no frame addresses.
 * Walk the thread's frames in memory now and take the address of each frame
 * of the snapshot whose code, and the code of every frame below it to the
 * root, is the same in both: the calls the thread has not returned from
 * since. (pyh_frame_locals checks each frame's code pointer again as it
 * reads its locals.) Frames of the snapshot that no longer are keep 0. */
static void recover_addrs(const struct pyh_target *t, const struct pyh_dump_thread *th,
			  uint64_t *addrs)
{
	struct pyh_raw_frame *raw = calloc((size_t)th->nframes, sizeof(*raw));
	uint64_t *now = calloc((size_t)th->nframes, sizeof(*now));
	enum pyh_walk_status status;
	uint64_t top = 0;
	int n;

	if (!raw || !now || !th->tstate || pyh_thread_top(t, th->tstate, &top) || !top)
		goto out;
	n = pyh_frames_walk(t, top, raw, now, th->nframes, &status);
	/* align at the root: frame nframes-1-k of the snapshot is frame n-1-k now */
	for (int k = 0; k < n && k < th->nframes; k++) {
		int i = th->nframes - 1 - k, j = n - 1 - k;

		if (raw[j].code != th->frames[i].code)
			break;
		addrs[i] = now[j];
	}
out:
	free(now);
	free(raw);
}

int pyh_dump_read_locals(struct pyh_dump *d, const struct pyh_locals_opts *opts)
{
	struct pyh_objects o;
	struct pyh_local *buf = NULL;
	uint64_t *addrs = NULL;
	char *text = NULL;
	int rc;

	d->locals_error[0] = '\0';
	d->locals_read = 1;
	rc = pyh_objects_from_target(&o, &d->target, d->locals_error, sizeof(d->locals_error));
	if (rc)
		return rc == -ENOMEM ? rc : 0;	/* said in locals_error */
	buf = calloc(PYH_LOCALS_MAX, sizeof(*buf));
	text = malloc(opts->limits.max_bytes);
	if (!buf || !text) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < d->nthreads; i++) {
		struct pyh_dump_thread *th = &d->threads[i];

		if (!th->python || (opts->tid && th->task.tid != opts->tid) || th->nframes == 0)
			continue;
		if (!th->locals) {
			th->locals = calloc((size_t)th->nframes, sizeof(*th->locals));
			if (!th->locals) {
				rc = -ENOMEM;
				goto cleanup;
			}
		}
		if (th->nframes && !th->frames[0].addr) {
			free(addrs);
			addrs = calloc((size_t)th->nframes, sizeof(*addrs));
			if (!addrs) {
				rc = -ENOMEM;
				goto cleanup;
			}
			recover_addrs(&d->target, th, addrs);
		}
		for (int j = 0; j < th->nframes; j++) {
			struct pyh_frame fr = th->frames[j];

			if (opts->frame >= 0 && j != opts->frame)
				continue;
			if (!fr.addr && addrs)
				fr.addr = addrs[j];
			pyh_dump_locals_clear(&th->locals[j]);
			rc = read_frame(&o, &fr, &opts->limits, buf, text, &th->locals[j]);
			if (rc)
				goto cleanup;
		}
		free(addrs);
		addrs = NULL;
		if (opts->tid)
			break;	/* the Python thread of that tid */
	}
	rc = 0;
cleanup:
	free(addrs);
	free(text);
	free(buf);
	pyh_objects_close(&o);
	return rc;
}
