/* pyhang dump: every thread's Python stack of a live process. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "log/log.h"
#include "dump/dump.h"
#include "host/host.h"
#include "output/json.h"
#include "python/frames.h"

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang dump --pid PID [--json] [--no-source] [--max-frames N]\n"
		"       pyhang dump --all [--json] [--no-source] [--max-frames N]\n"
		"\n"
		"Prints every thread of a running Python process: its Python stack innermost\n"
		"first with the source line, what it waits for in the kernel and for how long,\n"
		"and which thread holds the GIL. The process is read, never stopped.\n"
		"\n"
		"options:\n"
		"  -p, --pid PID        the process to look at\n"
		"  -a, --all            every Python process on the host, one after another\n"
		"                       (--json: one object per process, one per line)\n"
		"  -j, --json           print one JSON object instead of text\n"
		"      --no-source      do not show source lines under the frames\n"
		"      --max-frames N   frames per thread at most (1..%d, default 1024)\n"
		"  -v, --verbose        say more about failures (libbpf's log)\n"
		"  -h, --help           this text\n"
		"\n"
		"examples:\n"
		"  pyhang --pid 1234\n"
		"  pyhang dump --json --pid 1234 | jq '.threads[] | select(.gil)'\n"
		"  pyhang dump --all --no-source\n",
		PYH_MAX_FRAMES);
}

/* One process of --json --all: the dump's object with "ns_pid", "label" and
 * "cgroup" added before its closing brace. Returns 0 or -errno. */
static int dump_json_host(const struct pyh_dump *d, const struct pyh_host_proc *hp,
			  const char *label, FILE *out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int rc = 0;

	if (!m)
		return -ENOMEM;
	rc = pyh_dump_write_json(d, m);
	if (fclose(m) || rc || !buf) {
		free(buf);
		return rc ? rc : -ENOMEM;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (len < 2 || buf[len - 1] != '}') {
		free(buf);
		return -EIO;
	}
	fwrite(buf, 1, len - 1, out);
	fprintf(out, ", \"ns_pid\": %d, ", (int)hp->ns_pid);
	pyh_json_write_string(out, "label");
	fputs(": ", out);
	pyh_json_write_string(out, label);
	fputs(", ", out);
	pyh_json_write_string(out, "cgroup");
	fputs(": ", out);
	pyh_json_write_string(out, hp->cgroup);
	fputs("}\n", out);
	free(buf);
	return ferror(out) ? -EIO : 0;
}

/* dump --all: every Python process, in PID order. */
static int dump_all(int max_frames, int json, int source)
{
	pid_t *pids = NULL;
	int n, found = 0, failed = 0, rc = 1;

	if (geteuid() != 0) {
		fprintf(stderr, "pyhang: dump --all needs root: it reads every Python process's memory "
				"(run it with sudo)\n");
		return 1;
	}
	pids = calloc(PYH_HOST_MAX_PROCS, sizeof(*pids));
	if (!pids) {
		fprintf(stderr, "pyhang: out of memory\n");
		return 1;
	}
	n = pyh_host_list_pids(pids, PYH_HOST_MAX_PROCS);
	if (n < 0) {
		fprintf(stderr, "pyhang: cannot list /proc: %s\n", strerror(-n));
		goto cleanup;
	}
	pyh_log_libbpf();
	for (int i = 0; i < n; i++) {
		struct pyh_host_proc hp;
		struct pyh_target t;
		struct pyh_dump d;
		char err[512], label[256];
		int e;

		/* Not Python, gone, or still starting: not part of the list. */
		if (pyh_target_open(pids[i], &t, err, sizeof(err)))
			continue;
		if (pyh_host_proc_read(pids[i], &hp))
			continue;
		e = pyh_dump_take(pids[i], max_frames, &d, err, sizeof(err));
		if (e) {
			if (e != -ESRCH) {
				fprintf(stderr, "pyhang: %s\n", err);
				failed++;
			}
			continue;
		}
		pyh_host_label(&hp, &d.target.ver, label, sizeof(label));
		if (json) {
			e = dump_json_host(&d, &hp, label, stdout);
		} else {
			printf("%s== %s, cgroup %s ==\n", found ? "\n" : "", label, hp.cgroup);
			e = pyh_dump_write_text(&d, stdout, source);
		}
		pyh_dump_free(&d);
		found++;
		if (e || fflush(stdout)) {
			fprintf(stderr, "pyhang: cannot write the output: %s\n", strerror(errno));
			goto cleanup;
		}
	}
	if (!found && !failed) {
		fprintf(stderr, "pyhang: no Python process is running\n");
		goto cleanup;
	}
	rc = failed ? 1 : 0;
cleanup:
	free(pids);
	return rc;
}

int pyh_cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-source", no_argument, NULL, 'S' },
		{ "max-frames", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pyh_dump d;
	char err[512];
	pid_t pid = 0;
	long max_frames = 1024;
	int json = 0, source = 1, all = 0, c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:ajvh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (pyh_parse_pid(optarg, &pid))
				return 2;
			break;
		case 'a':
			all = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'S':
			source = 0;
			break;
		case 'F':
			if (pyh_parse_long(optarg, 1, PYH_MAX_FRAMES, &max_frames)) {
				fprintf(stderr, "pyhang: invalid --max-frames '%s': expected 1..%d\n",
					optarg, PYH_MAX_FRAMES);
				return 2;
			}
			break;
		case 'v':
			pyh_log_set_verbosity(1);
			break;
		case 'h':
			dump_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "pyhang: option '%s' needs a value (see pyhang dump --help)\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "pyhang: unknown option '%s' (see pyhang dump --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pyhang: unexpected argument '%s' (see pyhang dump --help)\n",
			argv[optind]);
		return 2;
	}
	if (all && pid) {
		fprintf(stderr, "pyhang: give either --pid or --all, not both\n");
		return 2;
	}
	if (all)
		return dump_all((int)max_frames, json, source);
	if (!pid) {
		fprintf(stderr, "pyhang: dump needs --pid PID or --all (see pyhang dump --help)\n");
		return 2;
	}
	pyh_log_libbpf();
	rc = pyh_dump_take(pid, (int)max_frames, &d, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "pyhang: %s\n", err);
		return 1;
	}
	rc = json ? pyh_dump_write_json(&d, stdout) : pyh_dump_write_text(&d, stdout, source);
	pyh_dump_free(&d);
	if (rc || fflush(stdout)) {
		fprintf(stderr, "pyhang: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
