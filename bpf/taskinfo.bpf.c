// SPDX-License-Identifier: GPL-2.0
/* Task iterator: one struct pyh_taskinfo_rec per thread of target_tgid.
 *
 * The user side asks the kernel to walk only that process (link info
 * .task.pid); the tgid check below keeps the output right where the kernel
 * ignores that and walks every task. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "pyhang/taskinfo.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;

SEC("iter/task")
int pyh_taskinfo_iter(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct pyh_taskinfo_rec rec = {};

	if (!task)	/* the end of the walk */
		return 0;
	rec.tgid = BPF_CORE_READ(task, tgid);
	if (target_tgid && rec.tgid != target_tgid)
		return 0;
	rec.tid = BPF_CORE_READ(task, pid);
	rec.fsbase = BPF_CORE_READ(task, thread.fsbase);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
