/* Per-thread facts only the kernel knows, from a BPF task iterator
 * (bpf/taskinfo.bpf.c): each thread's fs base, which on x86_64 glibc is its
 * pthread_self() and so CPython's tstate->thread_id.
 *
 * Lifecycle: open the skeleton, set the target tgid in rodata, load, attach
 * the iterator (restricted to pid's threads through bpf_iter_link_info where
 * the kernel supports it, else over all tasks with the BPF-side tgid filter),
 * create an iterator fd, read the records, tear everything down.
 */
#include "kernel/taskinfo.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyhang/taskinfo.h"
#include "taskinfo.skel.h"

#define PYH_TASKINFO_MAX_RECS (1 << 20)	/* stop reading a runaway iterator here */

/* Attach restricted to pid's threads; fall back to walking every task when
 * the kernel does not know the task parameters of iterator links. */
static struct bpf_link *attach_iter(struct bpf_program *prog, pid_t pid)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	struct bpf_link *link;

	memset(&linfo, 0, sizeof(linfo));
	linfo.task.pid = (__u32)pid;
	opts.link_info = &linfo;
	opts.link_info_len = sizeof(linfo);
	link = bpf_program__attach_iter(prog, &opts);
	if (link || (errno != EINVAL && errno != E2BIG && errno != EOPNOTSUPP))
		return link;
	return bpf_program__attach_iter(prog, NULL);
}

int pyh_taskinfo_fsbase(pid_t pid, struct pyh_fsbase *out, int max, int *n)
{
	struct taskinfo_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	struct pyh_taskinfo_rec recs[64];
	size_t have = 0;	/* bytes of a partial record carried over */
	long seen = 0;
	int iter_fd = -1, err = 0, count = 0;

	*n = 0;
	if (pid <= 0 || max < 0 || (max > 0 && !out))
		return -EINVAL;
	skel = taskinfo_bpf__open();
	if (!skel) {
		err = errno ? -errno : -ENOMEM;
		goto cleanup;
	}
	skel->rodata->target_tgid = (__u32)pid;
	err = taskinfo_bpf__load(skel);
	if (err)
		goto cleanup;
	link = attach_iter(skel->progs.pyh_taskinfo_iter, pid);
	if (!link) {
		err = errno ? -errno : -EINVAL;
		goto cleanup;
	}
	iter_fd = bpf_iter_create(bpf_link__fd(link));
	if (iter_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(iter_fd, (char *)recs + have, sizeof(recs) - have);
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
		whole = have / sizeof(recs[0]);
		for (size_t i = 0; i < whole; i++) {
			if (recs[i].tgid != (__u32)pid || count >= max)
				continue;
			out[count].tid = (pid_t)recs[i].tid;
			out[count].fsbase = recs[i].fsbase;
			count++;
		}
		seen += (long)whole;
		have -= whole * sizeof(recs[0]);
		memmove(recs, (char *)recs + whole * sizeof(recs[0]), have);
		if (seen >= PYH_TASKINFO_MAX_RECS)
			break;
	}
	/* The walk found no thread of pid: it is gone (or never was). */
	err = count == 0 && seen == 0 ? -ESRCH : 0;
	*n = count;
cleanup:
	if (iter_fd >= 0)
		close(iter_fd);
	bpf_link__destroy(link);
	taskinfo_bpf__destroy(skel);
	return err;
}
