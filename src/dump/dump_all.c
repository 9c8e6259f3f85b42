/* dump --all: every Python process on the host, one after another. */
#include "dump/dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "log/log.h"

int pyh_dump_all(struct pyh_dump_opts *o, int json, const struct pyh_dump_view *v,
		 const struct pyh_locals_opts *lo, FILE *out)
{
	struct pyh_dump_render r = { .json = json, .view = *v, .read_locals = lo != NULL };
	pid_t *pids = calloc(PYH_HOST_MAX_PROCS, sizeof(*pids));
	int n, found = 0, rc = 0, warned = 0;

	if (lo)
		r.lo = *lo;
	if (!pids) {
		fprintf(stderr, "pyhang: out of memory\n");
		return -ENOMEM;
	}
	n = pyh_host_list_pids(pids, PYH_HOST_MAX_PROCS);
	if (n < 0) {
		fprintf(stderr, "pyhang: cannot list /proc: %s\n", strerror(-n));
		rc = n;
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		char err[512] = "", *text = NULL;
		size_t len = 0;
		int e = pyh_dump_guarded(o, pids[i], 1, &r, &text, &len, err, sizeof(err));

		if (e == -ENOENT || e == -ESRCH)
			continue;	/* not Python, gone, or still starting */
		/* A failure, a stall, or a note; the note about native frames once. */
		if (err[0] && (strncmp(err, PYH_DUMP_NO_NATIVE, strlen(PYH_DUMP_NO_NATIVE)) || !warned++))
			pyh_log_error("%s", err);
		if (e) {
			rc = e;
			continue;
		}
		if (!json && found)
			fputc('\n', out);
		fwrite(text, 1, len, out);
		free(text);
		found++;
		if (fflush(out) || ferror(out)) {
			fprintf(stderr, "pyhang: cannot write the output: %s\n", strerror(errno));
			rc = -errno;
			goto cleanup;
		}
	}
	if (!found && !rc) {
		fprintf(stderr, "pyhang: no Python process is running\n");
		rc = -ENOENT;
	}
cleanup:
	free(pids);
	return rc;
}
