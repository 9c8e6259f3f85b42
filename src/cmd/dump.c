/* pyhang dump: every thread's Python stack of a live process. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "dump/dump.h"
#include "log/log.h"
#include "python/frames.h"
#include "snapshot/snapshot.h"

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang dump --pid PID [--json] [--no-source] [--max-frames N] [--native]\n"
		"       pyhang dump --all [--json] [--no-source] [--max-frames N] [--native]\n"
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
		"      --max-frames N   Python frames per thread at most (1..%d, default 1024)\n"
		"      --native         also each blocked thread's kernel and native frames\n"
		"                       (libc, the interpreter, C extensions), in one list with\n"
		"                       its Python frames; still without stopping the process\n"
		"  -v, --verbose        say more about failures (libbpf's log)\n"
		"  -h, --help           this text\n"
		"\n"
		"examples:\n"
		"  pyhang --pid 1234\n"
		"  pyhang dump --json --pid 1234 | jq '.threads[] | select(.gil)'\n"
		"  pyhang dump --all --no-source\n"
		"  pyhang dump --native --pid 1234\n",
		PYH_MAX_FRAMES);
}

int pyh_cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-source", no_argument, NULL, 'S' },
		{ "max-frames", required_argument, NULL, 'F' },
		{ "native", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pyh_dump_opts o = { 0 };
	struct pyh_dump d;
	const char *why = NULL;
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
		case 'N':
			o.native = 1;
			break;
		case 'v':
			pyh_log_set_verbosity(pyh_log_verbosity() + 1);
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
	if (!all && !pid) {
		fprintf(stderr, "pyhang: dump needs --pid PID or --all (see pyhang dump --help)\n");
		return 2;
	}
	if (all && geteuid() != 0) {
		fprintf(stderr, "pyhang: dump --all needs root: it reads every Python process's "
				"memory (run it with sudo)\n");
		return 1;
	}
	o.max_frames = (int)max_frames;
	o.snapper = pyh_snapper_new();
	if (!o.snapper) {
		fprintf(stderr, "pyhang: out of memory\n");
		return 1;
	}
	pyh_log_libbpf();
	if (all) {
		rc = pyh_dump_all(&o, json, source, stdout) ? 1 : 0;
	} else if ((rc = pyh_dump_take(&o, pid, &d, err, sizeof(err)))) {
		fprintf(stderr, "pyhang: %s\n", err);
		rc = 1;
	} else {
		if (d.native_missing[0])
			fprintf(stderr, "pyhang: no native frames (Python frames only): %s\n",
				d.native_missing);
		rc = json ? pyh_dump_write_json(&d, stdout) : pyh_dump_write_text(&d, stdout, source);
		pyh_dump_free(&d);
		if (rc || fflush(stdout)) {
			fprintf(stderr, "pyhang: cannot write the output: %s\n", strerror(rc ? -rc : errno));
			rc = 1;
		}
	}
	if (!pyh_snapper_kernel_ok(o.snapper, &why))
		fprintf(stderr, "pyhang: running threads were read from memory, not in the kernel: %s\n",
			why);
	pyh_snapper_free(o.snapper);
	return rc;
}
