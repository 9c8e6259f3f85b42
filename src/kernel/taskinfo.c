/* Per-thread facts only the kernel knows, from BPF task iterators
 * (bpf/taskinfo.bpf.c): each thread's fs base, which on x86_64 glibc is its
 * pthread_self() and so CPython's tstate->thread_id; and, for native stacks,
 * each thread's saved user registers, kernel stack and top of user stack;
 * and for a dump, what /proc's five files per thread say of every thread.
 *
 * Lifecycle: open the skeleton, choose the one program to load, set the
 * target tgid in rodata, load, attach the iterator (restricted to pid's
 * threads through bpf_iter_link_info where the kernel supports it, else over
 * all tasks with the BPF-side tgid filter), create an iterator fd, read the
 * records, tear everything down. The threads iterator instead is loaded
 * once and kept in the store (kernel/bpfpin.h), without a tgid of its own:
 * each run takes it from there, attaches, reads, and lets it go. (Seen on
 * 6.18: a walk restricted to pid 1 finds no thread, -ESRCH; the callers
 * read /proc then.)
 */
#include "kernel/taskinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/bpfpin.h"
#include "kernel/corebtf.h"

#include "taskinfo.skel.h"

#define PYH_TASKINFO_MAX_RECS (1 << 20)	/* stop reading a runaway iterator here */

/* Attach the iterator program prog_fd restricted to pid's threads; fall back
 * to walking every task when the kernel does not know the task parameters of
 * iterator links. Returns the link's fd, or -errno. */
static int attach_iter(int prog_fd, pid_t pid)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	int fd;

	memset(&linfo, 0, sizeof(linfo));
	linfo.task.pid = (__u32)pid;
	opts.iter_info = &linfo;
	opts.iter_info_len = sizeof(linfo);
	fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, &opts);
	if (fd >= 0 || (errno != EINVAL && errno != E2BIG && errno != EOPNOTSUPP))
		return fd >= 0 ? fd : -errno;
	fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, NULL);
	return fd >= 0 ? fd : -errno;
}

/* Called with each whole record of recsz bytes; non-zero stops the walk. */
typedef int (*rec_cb)(const void *rec, void *arg);

/* Attach the loaded iterator program prog_fd and hand every record to cb.
 * Returns 0, cb's value, -ESRCH when the walk had no record, or -errno. */
static int read_iter(int prog_fd, pid_t pid, size_t recsz, rec_cb cb, void *arg)
{
	/* Room for many small records a read (a read runs the program for as
	 * many as fit); a few of the large ones */
	size_t bufsz = recsz * (recsz < 1024 ? 64 : 4), have = 0;	/* have: a partial record's bytes */
	char *buf = malloc(bufsz);
	long seen = 0;
	int link_fd = -1, iter_fd = -1, err = 0;

	if (!buf)
		return -ENOMEM;
	link_fd = attach_iter(prog_fd, pid);
	if (link_fd < 0) {
		err = link_fd;
		goto cleanup;
	}
	iter_fd = bpf_iter_create(link_fd);
	if (iter_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(iter_fd, buf + have, bufsz - have);
		size_t whole;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		whole = have / recsz;
		for (size_t i = 0; i < whole && !err; i++)
			err = cb(buf + i * recsz, arg);
		if (err)
			goto cleanup;
		seen += (long)whole;
		have -= whole * recsz;
		memmove(buf, buf + whole * recsz, have);
		if (seen >= PYH_TASKINFO_MAX_RECS)
			break;
	}
	/* The walk found no thread: the process is gone (or never was). */
	err = seen == 0 ? -ESRCH : 0;
cleanup:
	if (iter_fd >= 0)
		close(iter_fd);
	if (link_fd >= 0)
		close(link_fd);
	free(buf);
	return err;
}

/* Open the skeleton with only prog (one of its programs, by name) to load. */
static int load_one(pid_t pid, const char *prog, struct taskinfo_bpf **out, struct bpf_program **p)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = pyh_corebtf_path(PYH_COREBTF_TASKINFO));
	struct taskinfo_bpf *skel = taskinfo_bpf__open_opts(&oo);
	struct bpf_program *it;
	int err;

	*out = NULL;
	if (!skel)
		return errno ? -errno : -ENOMEM;
	bpf_object__for_each_program(it, skel->obj)
		bpf_program__set_autoload(it, strcmp(bpf_program__name(it), prog) == 0);
	skel->rodata->target_tgid = (__u32)pid;
	err = taskinfo_bpf__load(skel);
	if (err) {
		taskinfo_bpf__destroy(skel);
		return err;
	}
	*p = bpf_object__find_program_by_name(skel->obj, prog);
	*out = skel;
	return 0;
}

struct fsbase_ctx {
	pid_t pid;
	struct pyh_fsbase *out;
	int max, count;
};

static int fsbase_rec(const void *r, void *arg)
{
	const struct pyh_taskinfo_rec *rec = r;
	struct fsbase_ctx *c = arg;

	if (rec->tgid != (__u32)c->pid || c->count >= c->max)
		return 0;
	c->out[c->count].tid = (pid_t)rec->tid;
	c->out[c->count].fsbase = rec->fsbase;
	c->count++;
	return 0;
}

int pyh_taskinfo_fsbase(pid_t pid, struct pyh_fsbase *out, int max, int *n)
{
	struct fsbase_ctx c = { .pid = pid, .out = out, .max = max };
	struct taskinfo_bpf *skel = NULL;
	struct bpf_program *prog = NULL;
	int err;

	*n = 0;
	if (pid <= 0 || max < 0 || (max > 0 && !out))
		return -EINVAL;
	err = load_one(pid, "pyh_taskinfo_iter", &skel, &prog);
	if (err)
		goto cleanup;
	err = read_iter(bpf_program__fd(prog), pid, sizeof(struct pyh_taskinfo_rec), fsbase_rec, &c);
	if (err == -ESRCH && c.count)
		err = 0;
	*n = c.count;
cleanup:
	taskinfo_bpf__destroy(skel);
	return err;
}

struct native_ctx {
	pid_t pid;
	pyh_taskinfo_native_cb cb;
	void *arg;
};

static int native_rec(const void *r, void *arg)
{
	const struct pyh_taskinfo_native_rec *rec = r;
	struct native_ctx *c = arg;

	if (rec->tgid != (__u32)c->pid)
		return 0;
	return c->cb(rec, c->arg);
}

int pyh_taskinfo_native(pid_t pid, pyh_taskinfo_native_cb cb, void *arg, int *copied, char *why,
			size_t whysz)
{
	struct native_ctx c = { .pid = pid, .cb = cb, .arg = arg };
	struct taskinfo_bpf *skel = NULL;
	struct bpf_program *prog = NULL;
	int err, err_plain;

	if (copied)
		*copied = 0;
	if (why && whysz)
		why[0] = '\0';
	if (pid <= 0 || !cb)
		return -EINVAL;
	/* Probe, don't guess from the version: the sleepable iterator needs
	 * bpf_copy_from_user_task (Linux 5.18), the plain one bpf_task_pt_regs (5.15). */
	err = load_one(pid, "pyh_taskinfo_native", &skel, &prog);
	if (err == 0) {
		if (copied)
			*copied = 1;
	} else {
		err_plain = load_one(pid, "pyh_taskinfo_native_nocopy", &skel, &prog);
		if (err_plain) {
			if (why && whysz)
				snprintf(why, whysz, err_plain == -EPERM || err_plain == -EACCES
					 ? "loading a BPF task iterator needs root (CAP_BPF and CAP_PERFMON): %s"
					 : "the kernel does not load a BPF task iterator reading saved user "
					   "registers (iter/task with bpf_task_pt_regs, Linux 5.15+): %s",
					 strerror(-err_plain));
			return err_plain;
		}
	}
	err = read_iter(bpf_program__fd(prog), pid, sizeof(struct pyh_taskinfo_native_rec), native_rec, &c);
	if (err < 0 && err != -ESRCH && why && whysz)
		snprintf(why, whysz, "the BPF task iterator failed: %s", strerror(-err));
	taskinfo_bpf__destroy(skel);
	return err;
}

struct threads_ctx {
	pid_t pid;
	struct pyh_taskinfo_thread_rec *out;
	int max, count;
};

static int threads_rec(const void *r, void *arg)
{
	const struct pyh_taskinfo_thread_rec *rec = r;
	struct threads_ctx *c = arg;

	if (rec->tgid != (__u32)c->pid || c->count >= c->max)
		return 0;
	c->out[c->count] = *rec;
	c->out[c->count].comm[sizeof(rec->comm) - 1] = '\0';
	c->out[c->count].wchan[sizeof(rec->wchan) - 1] = '\0';
	c->count++;
	return 0;
}

/* The store's program (pinned now if it was not), or -errno. */
static int threads_prog(struct pyh_bpfpin *pin)
{
	struct taskinfo_bpf *skel = NULL;
	struct bpf_program *prog = NULL;
	int fd, err;

	err = pyh_bpfpin_acquire(pin, "threads", PYH_BPF_OBJ_ID_taskinfo, 0);
	if (err)
		return err;
	fd = pyh_bpfpin_get(pin);
	if (fd >= 0 && pyh_bpf_prog_is(fd, BPF_PROG_TYPE_TRACING, "pyh_taskinfo_threads"))
		return fd;
	if (fd >= 0) {
		close(fd);
		pyh_bpfpin_drop(pin);	/* not this build's: replaced */
	}
	/* 0: no target_tgid of its own, so that one program serves every process */
	err = load_one(0, "pyh_taskinfo_threads", &skel, &prog);
	if (err)
		return err;
	err = pyh_bpfpin_put(pin, bpf_program__fd(prog));
	fd = err ? err : pyh_bpfpin_get(pin);
	taskinfo_bpf__destroy(skel);
	return fd;
}

static int cmp_thread_tid(const void *a, const void *b)
{
	const struct pyh_taskinfo_thread_rec *x = a, *y = b;

	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

const struct pyh_taskinfo_thread_rec *pyh_taskinfo_thread_find(const struct pyh_taskinfo_thread_rec *recs,
							       int n, pid_t tid)
{
	struct pyh_taskinfo_thread_rec key = { .tid = (__u32)tid };

	if (n <= 0 || tid <= 0)
		return NULL;
	return bsearch(&key, recs, (size_t)n, sizeof(*recs), cmp_thread_tid);
}

int pyh_taskinfo_threads(pid_t pid, struct pyh_taskinfo_thread_rec *out, int max, int *n)
{
	struct threads_ctx c = { .pid = pid, .out = out, .max = max };
	struct pyh_bpfpin pin;
	int fd, err;

	*n = 0;
	if (pid <= 0 || max < 0 || (max > 0 && !out))
		return -EINVAL;
	fd = threads_prog(&pin);
	if (fd < 0) {
		pyh_bpfpin_release(&pin);
		return fd;
	}
	err = read_iter(fd, pid, sizeof(struct pyh_taskinfo_thread_rec), threads_rec, &c);
	close(fd);
	pyh_bpfpin_release(&pin);
	if (err == -ESRCH && c.count)
		err = 0;
	if (!err)
		qsort(out, (size_t)c.count, sizeof(*out), cmp_thread_tid);
	*n = err ? 0 : c.count;
	return err;
}
