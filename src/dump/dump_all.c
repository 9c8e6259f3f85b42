/* dump --all: every Python process on the host, one after another. */
#include "dump/dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "log/log.h"

int pyh_dump_all(const struct pyh_dump_opts *o, int json, const struct pyh_dump_view *v,
		 const struct pyh_locals_opts *lo, FILE *out)
{
	pid_t *pids = calloc(PYH_HOST_MAX_PROCS, sizeof(*pids));
	int n, found = 0, warned = 0, rc = 0;

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
		struct pyh_dump_host host;
		struct pyh_host_proc hp;
		struct pyh_target t;
		struct pyh_dump d;
		char err[512];
		int e;

		/* Not Python, gone, or still starting: not part of the list. */
		if (pyh_target_open(pids[i], &t, err, sizeof(err)))
			continue;
		if (pyh_host_proc_read(pids[i], &hp))
			continue;
		e = pyh_dump_take(o, pids[i], &d, err, sizeof(err));
		if (e) {
			if (e != -ESRCH) {
				pyh_log_error("%s", err);
				rc = e;
			}
			continue;
		}
		if (d.native_missing[0] && !warned++)
			fprintf(stderr, "pyhang: no native frames (Python frames only): %s\n",
				d.native_missing);
		if (lo && pyh_dump_read_locals(&d, lo)) {
			fprintf(stderr, "pyhang: out of memory reading the locals of process %d\n",
				pids[i]);
			pyh_dump_free(&d);
			rc = -ENOMEM;
			goto cleanup;
		}
		host.ns_pid = hp.ns_pid;
		pyh_host_label(&hp, &d.target.ver, host.label, sizeof(host.label));
		snprintf(host.cgroup, sizeof(host.cgroup), "%s", hp.cgroup);
		d.host = &host;
		if (!json && found)
			fputc('\n', out);
		e = json ? pyh_dump_write_json(&d, out, v) : pyh_dump_write_text(&d, out, v);
		pyh_dump_free(&d);
		found++;
		if (e || fflush(out)) {
			fprintf(stderr, "pyhang: cannot write the output: %s\n", strerror(e ? -e : errno));
			rc = e ? e : -errno;
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
