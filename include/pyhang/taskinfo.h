/* SPDX-License-Identifier: MIT */
/*
 * pyhang/taskinfo.h - the record the task iterator (bpf/taskinfo.bpf.c)
 * writes, once per thread, into the iterator's output, and that
 * src/kernel/taskinfo.c reads back with read(2).
 *
 * Shared by the user side and the BPF side: fixed-width types only, no
 * pointers; the size is asserted so the halves cannot disagree.
 */
#ifndef PYHANG_TASKINFO_H
#define PYHANG_TASKINFO_H

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

struct pyh_taskinfo_rec {
	__u32 tid;	/* task->pid: the thread id */
	__u32 tgid;	/* task->tgid: the process id */
	__u64 fsbase;	/* task->thread.fsbase: pthread_self() on x86_64 glibc */
};

_Static_assert(sizeof(struct pyh_taskinfo_rec) == 16, "pyh_taskinfo_rec layout");

#endif
