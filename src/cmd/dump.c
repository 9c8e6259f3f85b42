/* pyhang dump: every thread's Python stack of a live process. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "dump/dump.h"
#include "python/frames.h"

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang dump --pid PID [--json] [--no-source] [--max-frames N]\n"
		"\n"
		"Prints every thread of a running Python process: its Python stack innermost\n"
		"first with the source line, what it waits for in the kernel and for how long,\n"
		"and which thread holds the GIL. The process is read, never stopped.\n"
		"\n"
		"options:\n"
		"  -p, --pid PID        the process to look at (required)\n"
		"  -j, --json           print one JSON object instead of text\n"
		"      --no-source      do not show source lines under the frames\n"
		"      --max-frames N   frames per thread at most (1..%d, default 1024)\n"
		"  -v, --verbose        say more about failures (libbpf's log)\n"
		"  -h, --help           this text\n"
		"\n"
		"examples:\n"
		"  pyhang --pid 1234\n"
		"  pyhang dump --json --pid 1234 | jq '.threads[] | select(.gil)'\n",
		PYH_MAX_FRAMES);
}

int pyh_cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
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
	int json = 0, source = 1, c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:jvh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (pyh_parse_pid(optarg, &pid))
				return 2;
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
			pyh_verbose = 1;
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
	if (!pid) {
		fprintf(stderr, "pyhang: dump needs --pid PID (see pyhang dump --help)\n");
		return 2;
	}
	pyh_libbpf_setup();
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
