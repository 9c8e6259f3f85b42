/* Folded stacks (Brendan Gregg's stackcollapse format), one line per stack:
 *   root;child;leaf COUNT
 * Each frame is pyh_pframe_label(): "function (file:line)", or just the
 * function text for a synthetic frame. ';' inside names becomes ':' and
 * newlines become spaces, so a name can never split a frame or a line. */
#include "profile/profile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

struct folded_ctx {
	FILE *f;
	int err;
};

static void folded_line(const struct pyh_pframe *frames, int n, uint64_t count, void *arg)
{
	struct folded_ctx *c = arg;
	char small[512];

	for (int i = 0; i < n && !c->err; i++) {
		size_t len = pyh_pframe_label(&frames[i], small, sizeof(small));
		char *text = small;

		if (len >= sizeof(small)) {
			text = malloc(len + 1);
			if (!text) {
				c->err = -ENOMEM;
				return;
			}
			pyh_pframe_label(&frames[i], text, len + 1);
		}
		if (i)
			fputc(';', c->f);
		fwrite(text, 1, len, c->f);
		if (text != small)
			free(text);
	}
	fprintf(c->f, " %" PRIu64 "\n", count);
}

int pyh_write_folded(const struct pyh_profile *p, FILE *f)
{
	struct folded_ctx c = { .f = f };

	if (!p || !f)
		return -EINVAL;
	errno = 0;
	pyh_profile_foreach(p, folded_line, &c);
	if (c.err)
		return c.err;
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
