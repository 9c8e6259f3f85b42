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
#include "proc/caps.h"
#include "python/frames.h"
#include "python/repr.h"
#include "python/reprfmt.h"
#include "snapshot/snapshot.h"

/* --source N at most, and the context of --frame when --source is not given. */
#define PYH_DUMP_MAX_CONTEXT 1000
#define PYH_DUMP_FRAME_CONTEXT 10
/* Python thread ids named in an error message, at most. */
#define PYH_DUMP_LIST_TIDS 16

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: pyhang dump --pid PID [--json] [--locals] [--source N] [--no-source]\n"
		"                   [--max-frames N] [--native] [--thread TID [--frame N]]\n"
		"                   [--max-tasks N] [--no-tasks]\n"
		"       pyhang dump --all [--json] [--locals] [--source N] [--no-source]\n"
		"                   [--max-frames N] [--native] [--max-tasks N] [--no-tasks]\n"
		"\n"
		"Prints every thread of a running Python process: its Python stack innermost\n"
		"first with the source line, what it waits for in the kernel and for how long,\n"
		"and which thread holds the GIL; and every asyncio task: its coroutine stack, what\n"
		"it awaits and which tasks await it, as a tree under its event loop's thread.\n"
		"The process is read, never stopped.\n"
		"\n"
		"options:\n"
		"  -p, --pid PID        the process to look at\n"
		"  -a, --all            every Python process on the host, one after another\n"
		"                       (--json: one object per process, one per line)\n"
		"  -j, --json           print one JSON object instead of text\n"
		"  -l, --locals         each frame's arguments and local variables, with the type\n"
		"                       and the repr() the interpreter itself prints; long values\n"
		"                       are cut where \"" PYH_REPR_CUT "\" is, unreadable ones say <unreadable>\n"
		"  -s, --source N       N lines of source either side of each frame's line, the\n"
		"                       current one marked \">\" (0..%d)\n"
		"      --no-source      no source lines under the frames\n"
		"      --max-frames N   Python frames per thread at most (1..%d, default 1024)\n"
		"      --native         also each blocked thread's kernel and native frames\n"
		"                       (libc, the interpreter, C extensions), in one list with\n"
		"                       its Python frames; still without stopping the process\n"
		"      --max-tasks N    asyncio tasks shown at most (1..%d, default %d); the\n"
		"                       others are counted and the dump says it was cut\n"
		"      --no-tasks       no asyncio tasks\n"
		"  -t, --thread TID     only this thread (its OS thread id, as dump shows it)\n"
		"  -f, --frame N        with --thread: frame N alone, in full (0 is the innermost):\n"
		"                       every local, bounded by a larger limit, and %d lines of\n"
		"                       source either side (or --source N)\n"
		"  -v, --verbose        say more about failures (libbpf's log), and whether the\n"
		"                       BPF program for running threads was pinned\n"
		"  -h, --help           this text\n"
		"\n"
		"Running threads are read in the kernel by a BPF program that the first dump\n"
		"after boot pins in /sys/fs/bpf/pyhang for the next ones (where /sys/fs/bpf is a\n"
		"bpf filesystem); PYHANG_BPF_PIN=0 in the environment: neither use nor make one.\n"
		"\n"
		"examples:\n"
		"  pyhang --pid 1234\n"
		"  pyhang dump --pid 1234 --locals --source 2\n"
		"  pyhang dump --pid 1234 --thread 1240 --frame 3     # py-up / py-down, py-list, py-locals\n"
		"  pyhang dump --json --pid 1234 | jq '.threads[] | select(.gil)'\n"
		"  pyhang dump --json --locals --pid 1234 | jq '.threads[].frames[0].locals'\n"
		"  pyhang dump --json --pid 1234 | jq '.tasks[] | select(.awaiting.kind == \"event\")'\n"
		"  pyhang dump --all --no-source\n"
		"  pyhang dump --native --pid 1234\n",
		PYH_DUMP_MAX_CONTEXT, PYH_MAX_FRAMES, PYH_TASKS_MAX, PYH_TASKS_DEFAULT_MAX,
		PYH_DUMP_FRAME_CONTEXT);
}

/* "1234, 1240 and 2 more": the Python threads of d, for error messages. */
static void python_tids(const struct pyh_dump *d, char *out, size_t outsz)
{
	size_t w = 0;
	int shown = 0, total = 0;

	out[0] = '\0';
	for (int i = 0; i < d->nthreads; i++) {
		if (!d->threads[i].python || !d->threads[i].task.tid)
			continue;
		if (shown < PYH_DUMP_LIST_TIDS && w < outsz) {
			int k = snprintf(out + w, outsz - w, "%s%d", shown ? ", " : "",
					 d->threads[i].task.tid);

			w += k > 0 ? (size_t)k : 0;
			shown++;
		}
		total++;
	}
	if (total > shown && w < outsz)
		snprintf(out + w, outsz - w, " and %d more", total - shown);
	if (!total)
		snprintf(out, outsz, "none");
}

/* --thread / --frame name something that exists; else say what would. */
static int check_selection(const struct pyh_dump *d, const struct pyh_dump_view *v)
{
	const struct pyh_dump_thread *th;
	char tids[256];

	if (!v->tid)
		return 0;
	th = pyh_dump_thread_by_tid(d, v->tid);
	python_tids(d, tids, sizeof(tids));
	if (!th) {
		pyh_log_error("thread %d is not a thread of process %d (its Python "
				"threads: %s)", v->tid, d->target.pid, tids);
		return -ESRCH;
	}
	if (v->frame < 0)
		return 0;	/* the thread alone, whatever it runs */
	if (!th->python) {
		pyh_log_error("thread %d of process %d runs no Python code: no --frame "
				"(its Python threads: %s)", v->tid, d->target.pid, tids);
		return -EINVAL;
	}
	if (v->frame >= th->nframes) {
		if (th->nframes == 0)
			pyh_log_error("thread %d has no Python frames now: no --frame %d",
				v->tid, v->frame);
		else
			pyh_log_error("thread %d has %d Python frame%s: --frame must be "
					"0..%d, not %d", v->tid, th->nframes,
				th->nframes == 1 ? "" : "s", th->nframes - 1, v->frame);
		return -ERANGE;
	}
	return 0;
}

/* Take and write one process as a job with a deadline (dump/dump.h). Returns
 * the exit status. */
static int dump_one(struct pyh_dump_opts *o, pid_t pid, const struct pyh_dump_render *r)
{
	char err[512] = "", *text = NULL;
	size_t len = 0;
	int rc = pyh_dump_guarded(o, pid, 0, r, &text, &len, err, sizeof(err));

	if (err[0])
		pyh_log_error("%s", err);	/* the failure, or a note */
	if (rc)
		return 1;
	fwrite(text, 1, len, stdout);
	free(text);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "pyhang: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int pyh_cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "locals", no_argument, NULL, 'l' },
		{ "source", required_argument, NULL, 's' },
		{ "no-source", no_argument, NULL, 'S' },
		{ "max-frames", required_argument, NULL, 'F' },
		{ "thread", required_argument, NULL, 't' },
		{ "frame", required_argument, NULL, 'f' },
		{ "native", no_argument, NULL, 'N' },
		{ "max-tasks", required_argument, NULL, 'T' },
		{ "no-tasks", no_argument, NULL, 'X' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pyh_dump_opts o = { 0 };
	struct pyh_dump_view view = { .source = 1, .context = -1, .tid = 0, .frame = -1 };
	struct pyh_locals_opts lo;
	const char *why = NULL;
	char why_caps[128];
	pid_t pid = 0;
	long max_frames = 1024, v;
	int json = 0, all = 0, locals = 0, c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:ajls:t:f:vh", opts, NULL)) != -1) {
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
		case 'l':
			locals = 1;
			break;
		case 's':
			if (pyh_parse_long(optarg, 0, PYH_DUMP_MAX_CONTEXT, &v)) {
				fprintf(stderr, "pyhang: invalid --source '%s': expected a number of "
						"lines, 0..%d\n", optarg, PYH_DUMP_MAX_CONTEXT);
				return 2;
			}
			view.context = (int)v;
			break;
		case 'S':
			view.source = 0;
			break;
		case 't':
			if (pyh_parse_long(optarg, 1, 0x7fffffff, &v)) {
				fprintf(stderr, "pyhang: invalid --thread '%s': expected an OS thread "
						"id (1..2147483647)\n", optarg);
				return 2;
			}
			view.tid = (pid_t)v;
			break;
		case 'f':
			if (pyh_parse_long(optarg, 0, PYH_MAX_FRAMES - 1, &v)) {
				fprintf(stderr, "pyhang: invalid --frame '%s': expected a frame number, "
						"0 (the innermost) .. %d\n", optarg, PYH_MAX_FRAMES - 1);
				return 2;
			}
			view.frame = (int)v;
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
		case 'T':
			if (pyh_parse_long(optarg, 1, PYH_TASKS_MAX, &v)) {
				fprintf(stderr, "pyhang: invalid --max-tasks '%s': expected 1..%d\n",
					optarg, PYH_TASKS_MAX);
				return 2;
			}
			o.max_tasks = (size_t)v;
			break;
		case 'X':
			o.no_tasks = 1;
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
	if (view.frame >= 0 && !view.tid) {
		fprintf(stderr, "pyhang: --frame needs --thread TID: frames are numbered per thread\n");
		return 2;
	}
	if (all && view.tid) {
		fprintf(stderr, "pyhang: --thread names a thread of one process: use it with --pid, "
				"not --all\n");
		return 2;
	}
	if (view.frame >= 0 && view.context < 0)
		view.context = PYH_DUMP_FRAME_CONTEXT;
	lo = (struct pyh_locals_opts){
		.limits = view.frame >= 0 ? PYH_REPR_FULL : PYH_REPR_SHORT,
		.tid = view.tid,
		.frame = view.frame,
	};
	locals = locals || view.frame >= 0;
	if (all && pyh_caps_missing(PYH_NEED_READ, why_caps, sizeof(why_caps))) {
		fprintf(stderr, "pyhang: dump --all needs %s: it reads every Python process's "
				"memory (run it as root)\n", why_caps);
		return 1;
	}
	o.max_frames = (int)max_frames;
	o.snapper = pyh_snapper_new();
	if (!o.snapper) {
		fprintf(stderr, "pyhang: out of memory\n");
		return 1;
	}
	if (o.native)
		pyh_snapper_want_native(o.snapper);	/* running threads' native stacks too */
	if (!all)
		pyh_snapper_set_max_targets(o.snapper, 1);	/* one process */
	pyh_log_libbpf();
	if (all) {
		rc = pyh_dump_all(&o, json, &view, locals ? &lo : NULL, stdout) ? 1 : 0;
	} else {
		struct pyh_dump_render r = { .json = json, .view = view, .read_locals = locals,
					     .check = check_selection };

		if (locals)
			r.lo = lo;
		rc = dump_one(&o, pid, &r);
	}
	if (!pyh_snapper_kernel_ok(o.snapper, &why))
		fprintf(stderr, "pyhang: running threads were read from memory, not in the kernel: %s\n",
			why);
	pyh_snapper_free(o.snapper);
	return rc;
}
