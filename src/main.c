/* pyhang: what are my Python processes doing? See README.md. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang <command> [options]\n"
		"\n"
		"Shows what live Python processes are doing, without stopping them.\n"
		"\n"
		"commands:\n"
		"  dump --pid PID      every thread's Python stack, what it waits for, who holds the GIL\n"
		"  watch --pid PID     report, as it happens, threads blocked, spinning or starved of the GIL\n"
		"  record --pid PID    sample a process (or `record -- CMD ARGS...`) into a flamegraph\n"
		"\n"
		"`pyhang --pid PID` is `pyhang dump --pid PID`. `pyhang COMMAND --help` for options.\n"
		"\n"
		"examples:\n"
		"  pyhang --pid 1234\n"
		"  pyhang dump --json --pid 1234\n"
		"  pyhang record -d 10 -o profile.svg --pid 1234\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "dump"))
		return pyh_cmd_dump(argc - 1, argv + 1);
	if (!strcmp(argv[1], "watch"))
		return pyh_cmd_watch(argc - 1, argv + 1);
	if (!strcmp(argv[1], "record"))
		return pyh_cmd_record(argc - 1, argv + 1);
	if (argv[1][0] == '-')	/* pyhang --pid PID: dump */
		return pyh_cmd_dump(argc, argv);
	fprintf(stderr, "pyhang: unknown command '%s' (expected dump, watch or record; see pyhang --help)\n",
		argv[1]);
	return 2;
}
