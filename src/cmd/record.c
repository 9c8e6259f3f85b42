/* `pyhang record`: the sampling profiler's options. The engine is
 * src/record/engine.c. */
#include "cmd/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "record/collector.h"
#include "record/engine.h"

#define PYH_REC_MAX_DURATION (365.0 * 86400)

static void pyh_rec_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang record [options] --pid PID\n"
		"       pyhang record [options] --all\n"
		"       pyhang record [options] -- COMMAND [ARGS...]\n"
		"\n"
		"Sample the Python stacks of a running process (or of a command pyhang starts)\n"
		"with a BPF sampler and write a flame graph or profile. Needs root (CAP_BPF, CAP_PERFMON).\n"
		"\n"
		"options:\n"
		"  -p, --pid PID          profile this running process\n"
		"  -a, --all              profile every Python process on the host, those running and\n"
		"                         those that start while recording (containers included)\n"
		"      --group HOW        root frames: process (\"python3 app.py [pid 123, 3.12.1]\"),\n"
		"                         cgroup (\"cgroup /system.slice/app.service\") or none\n"
		"                         (default: process with --all, else none)\n"
		"  -d, --duration SECS    stop after SECS seconds (default: when the target exits or Ctrl-C;\n"
		"                         a COMMAND pyhang started gets SIGTERM when SECS end)\n"
		"  -r, --rate HZ          samples per second of CPU time, 1..%d (default %d)\n"
		"  -o, --output FILE      where to write (default pyhang-PID.EXT; '-' is stdout)\n"
		"  -f, --format FMT       svg, folded, speedscope or pprof (default: from -o's extension, else svg)\n"
		"      --threads          a root frame per thread: \"thread TID (name)\"\n"
		"      --idle             also sample threads that are off CPU (sleeping, blocked)\n"
		"  -s, --subprocesses     also profile child processes (polled every %d ms)\n"
		"      --gil              only samples taken while the thread holds the GIL\n"
		"      --native           also the native frames (libc, the interpreter, C extensions)\n"
		"                         between the Python frames that called them; each sample\n"
		"                         then carries the thread's registers and %u KiB of its stack\n"
		"      --tasks            a root frame per asyncio task for samples taken while\n"
		"                         the task's step runs: \"task Task-5 (handle)\" (pprof:\n"
		"                         also a \"task\" label), so a profile shows which requests\n"
		"                         the time goes to\n"
		"      --ringbuf-mb MB    BPF ring buffer size in MiB (default %d)\n"
		"      --max-processes N  with --all, sample at most N processes at once (default %d);\n"
		"                         others wait, counted, and are sampled when one exits\n"
		"      --as-root          under sudo, run COMMAND as root (default: as the user who ran\n"
		"                         sudo, from SUDO_UID and SUDO_GID)\n"
		"  -v, --verbose          show libbpf's log and details\n"
		"  -h, --help             this text\n"
		"\n"
		"examples:\n"
		"  pyhang record --pid 1234 -d 30 -o app.svg\n"
		"  pyhang record -r 999 -f speedscope -o run.json -- python3 train.py --epochs 1\n"
		"  pyhang record --pid 1234 --idle --threads -o waits.folded\n"
		"  pyhang record --subprocesses -o build.svg -- make -j8\n"
		"  pyhang record --all -d 60 -o host.pb.gz\n"
		"  pyhang record --all --group cgroup -d 30 -o services.svg\n"
		"  pyhang record --native -f folded -o mixed.folded -- python3 numpy_job.py\n"
		"  pyhang record --pid 1234 --tasks -d 30 -o requests.svg\n",
		PYH_REC_MAX_HZ, PYH_REC_DEFAULT_HZ, PYH_REC_SCAN_MS, PYH_SAMPLE_STACK_MAX >> 10,
		PYH_REC_DEFAULT_RINGBUF_MB, PYH_COLLECTOR_MAX_TARGETS);
}

/* Returns 0 to run, or -EINVAL when the command ends here: *exit_code is 2
 * after a usage error (said on stderr), 0 after --help. */
static int pyh_rec_parse(int argc, char **argv, struct pyh_record_opts *o, int *exit_code)
{
	enum { OPT_THREADS = 256, OPT_IDLE, OPT_GIL, OPT_RINGBUF, OPT_GROUP, OPT_NATIVE, OPT_AS_ROOT, OPT_TASKS,
	       OPT_MAX_PROCS };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "threads", no_argument, NULL, OPT_THREADS },
		{ "idle", no_argument, NULL, OPT_IDLE },
		{ "subprocesses", no_argument, NULL, 's' },
		{ "gil", no_argument, NULL, OPT_GIL },
		{ "native", no_argument, NULL, OPT_NATIVE },
		{ "tasks", no_argument, NULL, OPT_TASKS },
		{ "ringbuf-mb", required_argument, NULL, OPT_RINGBUF },
		{ "max-processes", required_argument, NULL, OPT_MAX_PROCS },
		{ "as-root", no_argument, NULL, OPT_AS_ROOT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt_arg = NULL;
	int c, group_set = 0;

	memset(o, 0, sizeof(*o));
	o->rate = PYH_REC_DEFAULT_HZ;
	o->ringbuf_mb = PYH_REC_DEFAULT_RINGBUF_MB;
	*exit_code = 2;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:ad:r:o:f:svh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (pyh_parse_pid(optarg, &o->pid))
				return -EINVAL;
			break;
		case 'd':
			if (pyh_parse_double(optarg, 0.001, PYH_REC_MAX_DURATION, &o->duration)) {
				fprintf(stderr, "pyhang: invalid duration '%s': want seconds, > 0 and <= %.0f\n",
					optarg, PYH_REC_MAX_DURATION);
				return -EINVAL;
			}
			break;
		case 'r':
			if (pyh_parse_long(optarg, 1, PYH_REC_MAX_HZ, &o->rate)) {
				fprintf(stderr, "pyhang: invalid rate '%s': want a whole number of Hz from 1 to %d\n",
					optarg, PYH_REC_MAX_HZ);
				return -EINVAL;
			}
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'f':
			fmt_arg = optarg;
			o->fmt = pyh_format_parse(optarg);
			if (!o->fmt) {
				fprintf(stderr, "pyhang: unknown format '%s': want svg, folded, speedscope or pprof\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'a': o->all = 1; break;
		case OPT_GROUP:
			group_set = 1;
			if (!strcmp(optarg, "process")) {
				o->group = PYH_GROUP_PROCESS;
			} else if (!strcmp(optarg, "cgroup")) {
				o->group = PYH_GROUP_CGROUP;
			} else if (!strcmp(optarg, "none")) {
				o->group = PYH_GROUP_NONE;
			} else {
				fprintf(stderr, "pyhang: invalid --group '%s': want process, cgroup or none\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_THREADS: o->threads = 1; break;
		case OPT_IDLE: o->idle = 1; break;
		case 's': o->subprocs = 1; break;
		case OPT_GIL: o->gil = 1; break;
		case OPT_NATIVE: o->native = 1; break;
		case OPT_AS_ROOT: o->as_root = 1; break;
		case OPT_TASKS: o->tasks = 1; break;
		case OPT_MAX_PROCS:
			if (pyh_parse_long(optarg, 1, PYH_COLLECTOR_MAX_TARGETS, &o->max_procs)) {
				fprintf(stderr, "pyhang: invalid --max-processes '%s': want a count from 1 to %d\n",
					optarg, PYH_COLLECTOR_MAX_TARGETS);
				return -EINVAL;
			}
			break;
		case OPT_RINGBUF:
			if (pyh_parse_long(optarg, 1, 1024, &o->ringbuf_mb)) {
				fprintf(stderr, "pyhang: invalid ring buffer size '%s': want MiB from 1 to 1024\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'v': pyh_log_set_verbosity(pyh_log_verbosity() + 1); break;
		case 'h':
			pyh_rec_usage(stdout);
			*exit_code = 0;
			return -EINVAL;
		case ':':
			fprintf(stderr, "pyhang: option '%s' needs a value (see pyhang record --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "pyhang: unknown option '%s' (see pyhang record --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (o->all && (o->pid || o->cmd)) {
		fprintf(stderr, "pyhang: --all profiles every Python process: give --all, --pid or a "
				"command, not several\n");
		return -EINVAL;
	}
	if (o->max_procs && !o->all) {
		fprintf(stderr, "pyhang: --max-processes is for --all: drop it, or add --all\n");
		return -EINVAL;
	}
	if (o->all && o->subprocs) {
		fprintf(stderr, "pyhang: --all already includes every subprocess: drop --subprocesses\n");
		return -EINVAL;
	}
	if (!group_set)
		o->group = o->all ? PYH_GROUP_PROCESS : PYH_GROUP_NONE;
	if (!o->all && !o->pid == !o->cmd) {
		fprintf(stderr, o->pid ? "pyhang: give either --pid or a command, not both\n"
				       : "pyhang: nothing to profile: give --pid PID, --all or -- COMMAND "
					 "(see pyhang record --help)\n");
		return -EINVAL;
	}
	if (!fmt_arg) {
		o->fmt = o->output ? pyh_format_from_path(o->output) : 0;
		if (!o->fmt)
			o->fmt = PYH_FMT_SVG;
	}
	return 0;
}

int pyh_cmd_record(int argc, char **argv)
{
	static volatile sig_atomic_t stop;
	struct pyh_record_opts o;
	struct pyh_cmd_signals sigs;
	char err[512] = "";
	int rc;

	if (pyh_rec_parse(argc, argv, &o, &rc))
		return rc;
	o.stop = &stop;
	pyh_cmd_catch_signals(&sigs, &stop, NULL);
	rc = pyh_record_run(&o, err, sizeof(err));
	pyh_cmd_restore_signals(&sigs);
	if (rc) {
		pyh_log_error("%s", err[0] ? err : "record failed");
		return 1;
	}
	return 0;
}
