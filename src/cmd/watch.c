/* pyhang watch: the hang detector. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "log/log.h"
#include "watch/exec.h"
#include "watch/ignore.h"
#include "watch/metrics.h"
#include "watch/watch.h"

static void watch_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang watch (--pid PID | --all) [--threshold S] [--duration S] [--json]\n"
		"                    [--once] [--exec CMD] [--ignore PATTERN]... [--no-default-ignores]\n"
		"                    [--trace-syscalls] [--no-gil] [--metrics ADDR:PORT]\n"
		"\n"
		"Reports, as it happens, every Python thread that is\n"
		"  blocked   in one system call longer than the threshold (again when it returns),\n"
		"  deadlock  waiting for a Python lock held by a thread that waits for one it holds,\n"
		"  stuck     (the whole process) when no thread of it is runnable,\n"
		"  spinning  on the CPU in the same Python frames longer than the threshold,\n"
		"  gil       waiting for the GIL longer than the threshold (with the holder's stack),\n"
		"with its Python stack, innermost first, and every asyncio task that is\n"
		"  awaiting  suspended at the same await point (frames and instruction offsets,\n"
		"            the same future) longer than the threshold, with its await chain,\n"
		"            what it awaits and who awaits it (\"resumed\" when it moves on);\n"
		"            a blocked or spinning loop thread names the task whose step it runs.\n"
		"The processes are never stopped.\n"
		"\n"
		"options:\n"
		"  -p, --pid PID          the process to watch\n"
		"  -a, --all              every Python process, including ones started later\n"
		"  -t, --threshold S      seconds before a wait is a hang (0.1..86400, default 5)\n"
		"  -d, --duration S       stop after S seconds (default: until Ctrl-C)\n"
		"  -j, --json             one JSON object per line per event\n"
		"      --once             exit with status 3 at the first hang\n"
		"      --exec CMD         run CMD with sh -c on each hang; the event is in its\n"
		"                         environment: PYHANG_EVENT PYHANG_PID PYHANG_TID\n"
		"                         PYHANG_SECONDS PYHANG_JSON (over 64 KiB: in the file\n"
		"                         PYHANG_JSON_FILE). At most one run per process and\n"
		"                         event kind per threshold, 4 at once; CMD's stdout\n"
		"                         goes to stderr; failures are logged\n"
		"      --ignore PATTERN   never report a thread (or task) with a frame matching PATTERN:\n"
		"                         FUNC or FILE:FUNC, shell globs (repeatable), e.g.\n"
		"                         'poll_forever' or '*/myapp/server.py:Server.loop'\n"
		"      --no-default-ignores  report idle waits too (the list below)\n"
		"      --trace-syscalls   time waits with raw_syscalls enter/exit (exact call\n"
		"                         boundaries and return values, but every system call\n"
		"                         of the machine pays for it) instead of sched_switch\n"
		"      --no-gil           do not watch GIL waits: no \"gil\" events, but no uprobe\n"
		"                         on PyEval_RestoreThread, which every blocking call passes\n"
		"      --metrics ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
		"                         (hung threads by process and kind, hung tasks, hang events, stacks\n"
		"                         read, records lost); nothing is served without it\n"
		"      --max-processes N  with --all, watch at most N processes at once (default %d);\n"
		"                         others wait, counted once each, and are watched when one exits\n"
		"  -v, --verbose          say more (libbpf's log, probes, counters)\n"
		"  -h, --help             this text\n"
		"\n"
		"ignored by default (idle, not hung) - innermost frames:\n", PYH_WATCH_MAX_PROCS);
	pyh_ignore_describe_defaults(f, "  ");
	fprintf(f, "asyncio tasks ignored by default (idle, not hung):\n");
	pyh_ignore_describe_task_defaults(f, "  ");
	fprintf(f,
		"\n"
		"signals: SIGTERM/SIGINT stop (summary line on stderr, status 0); SIGHUP rescans\n"
		"every process (--all) and says so on stderr\n"
		"\n"
		"exit status: 0 done, 1 error (or the watched process exited), 2 usage, 3 --once saw a hang\n"
		"\n"
		"examples:\n"
		"  pyhang watch --pid 1234\n"
		"  pyhang watch --all --threshold 10 --json >> /var/log/pyhang.jsonl\n"
		"  pyhang watch --all --json --metrics 127.0.0.1:9464\n"
		"  pyhang watch --pid 1234 --once --exec 'pyhang dump --pid $PYHANG_PID > /tmp/hang.txt'\n");
}

int pyh_cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "threshold", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "once", no_argument, NULL, 'O' },
		{ "exec", required_argument, NULL, 'E' },
		{ "ignore", required_argument, NULL, 'I' },
		{ "no-default-ignores", no_argument, NULL, 'N' },
		{ "trace-syscalls", no_argument, NULL, 'S' },
		{ "no-gil", no_argument, NULL, 'G' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "max-processes", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static volatile sig_atomic_t stop, rescan;
	struct pyh_watch_opts o;
	struct pyh_cmd_signals sigs;
	char err[512] = "";
	int c, rc;

	memset(&o, 0, sizeof(o));
	o.threshold_s = PYH_WATCH_DEFAULT_THRESHOLD_S;
	o.ignore.defaults = 1;
	o.out = stdout;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:at:d:jvh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (pyh_parse_pid(optarg, &o.pid))
				return 2;
			break;
		case 'a':
			o.all = 1;
			break;
		case 't':
			if (pyh_parse_double(optarg, 0.1, 86400, &o.threshold_s)) {
				fprintf(stderr, "pyhang: invalid --threshold '%s': expected seconds, 0.1..86400\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			if (pyh_parse_double(optarg, 0.1, 31536000, &o.duration_s)) {
				fprintf(stderr, "pyhang: invalid --duration '%s': expected seconds, 0.1..31536000\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			o.json = 1;
			break;
		case 'O':
			o.once = 1;
			break;
		case 'E':
			if (!*optarg) {
				fprintf(stderr, "pyhang: --exec needs a command\n");
				return 2;
			}
			o.exec_cmd = optarg;
			break;
		case 'I':
			if (!*optarg || strlen(optarg) > 512) {
				fprintf(stderr, "pyhang: invalid --ignore '%s': expected FUNC or FILE:FUNC\n", optarg);
				return 2;
			}
			if (o.ignore.nuser >= PYH_IGNORE_MAX) {
				fprintf(stderr, "pyhang: too many --ignore patterns (at most %d)\n", PYH_IGNORE_MAX);
				return 2;
			}
			o.ignore.user[o.ignore.nuser++] = optarg;
			break;
		case 'N':
			o.ignore.defaults = 0;
			break;
		case 'S':
			o.trace_syscalls = 1;
			break;
		case 'G':
			o.no_gil = 1;
			break;
		case 'M': {
			char host[128], port[16], perr[256];

			if (pyh_metrics_parse_addr(optarg, host, sizeof(host), port, sizeof(port), perr,
						   sizeof(perr))) {
				pyh_log_error("%s", perr);
				return 2;
			}
			o.metrics_addr = optarg;
			break;
		}
		case 'P':
			if (pyh_parse_long(optarg, 1, PYH_WATCH_MAX_PROCS, &o.max_procs)) {
				fprintf(stderr, "pyhang: invalid --max-processes '%s': want a count from 1 to %d\n",
					optarg, PYH_WATCH_MAX_PROCS);
				return 2;
			}
			break;
		case 'v':
			pyh_log_set_verbosity(pyh_log_verbosity() + 1);
			break;
		case 'h':
			watch_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "pyhang: option '%s' needs a value (see pyhang watch --help)\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "pyhang: unknown option '%s' (see pyhang watch --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pyhang: unexpected argument '%s' (see pyhang watch --help)\n", argv[optind]);
		return 2;
	}
	if (!o.all && !o.pid) {
		fprintf(stderr, "pyhang: watch needs --pid PID or --all (see pyhang watch --help)\n");
		return 2;
	}
	if (o.all && o.pid) {
		fprintf(stderr, "pyhang: give either --pid or --all, not both\n");
		return 2;
	}
	if (o.max_procs && !o.all) {
		fprintf(stderr, "pyhang: --max-processes is for --all: drop it, or add --all\n");
		return 2;
	}
	o.stop = &stop;
	o.rescan = &rescan;
	pyh_cmd_catch_signals(&sigs, &stop, &rescan);
	/* --exec: one run per process and event kind per threshold at most. */
	pyh_exec_configure(o.threshold_s, 0);
	pyh_cmd_memory_policy();
	rc = pyh_watch_run(&o, err, sizeof(err));
	pyh_cmd_restore_signals(&sigs);
	switch (rc) {
	case PYH_WATCH_DONE:
		return 0;
	case PYH_WATCH_HANG_SEEN:
		return 3;
	default:	/* the --pid process went away, or an error */
		pyh_log_error("%s", err[0] ? err : "watch failed");
		return 1;
	}
}
