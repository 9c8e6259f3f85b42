/* SPDX-License-Identifier: MIT */
/*
 * pyhang/uregs.h - a thread's user-mode registers as BPF programs hand them
 * to the native unwinder (src/native/): the task iterator for a blocked
 * thread (bpf/taskinfo.bpf.c), and a sampler at an interrupt.
 *
 * x86_64 only. The array is indexed by DWARF register number, the order
 * libdw's dwfl_thread_state_registers() takes: rax rdx rcx rbx rsi rdi rbp
 * rsp r8..r15, then the return address column (rip). Fixed-width types only,
 * no pointers; the size is asserted so the halves cannot disagree.
 */
#ifndef PYHANG_UREGS_H
#define PYHANG_UREGS_H

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

enum pyh_ureg {
	PYH_UREG_RAX = 0,
	PYH_UREG_RDX,
	PYH_UREG_RCX,
	PYH_UREG_RBX,
	PYH_UREG_RSI,
	PYH_UREG_RDI,
	PYH_UREG_RBP,
	PYH_UREG_RSP,
	PYH_UREG_R8,
	PYH_UREG_R9,
	PYH_UREG_R10,
	PYH_UREG_R11,
	PYH_UREG_R12,
	PYH_UREG_R13,
	PYH_UREG_R14,
	PYH_UREG_R15,
	PYH_UREG_RIP,
	PYH_UREG_COUNT,
};

struct pyh_uregs {
	__u64 r[PYH_UREG_COUNT];	/* indexed by enum pyh_ureg */
	__u64 orig_ax;			/* the system call number when in one, else -1 */
};

_Static_assert(sizeof(struct pyh_uregs) == 18 * 8, "pyh_uregs layout");

#ifdef __BPF__
#include <bpf/bpf_core_read.h>

/* Copy the user registers saved in *regs (the task's pt_regs, or the regs of
 * an interrupt taken in user mode) into *out. */
static __always_inline void pyh_uregs_from_pt_regs(struct pyh_uregs *out, struct pt_regs *regs)
{
	out->r[PYH_UREG_RAX] = BPF_CORE_READ(regs, ax);
	out->r[PYH_UREG_RDX] = BPF_CORE_READ(regs, dx);
	out->r[PYH_UREG_RCX] = BPF_CORE_READ(regs, cx);
	out->r[PYH_UREG_RBX] = BPF_CORE_READ(regs, bx);
	out->r[PYH_UREG_RSI] = BPF_CORE_READ(regs, si);
	out->r[PYH_UREG_RDI] = BPF_CORE_READ(regs, di);
	out->r[PYH_UREG_RBP] = BPF_CORE_READ(regs, bp);
	out->r[PYH_UREG_RSP] = BPF_CORE_READ(regs, sp);
	out->r[PYH_UREG_R8] = BPF_CORE_READ(regs, r8);
	out->r[PYH_UREG_R9] = BPF_CORE_READ(regs, r9);
	out->r[PYH_UREG_R10] = BPF_CORE_READ(regs, r10);
	out->r[PYH_UREG_R11] = BPF_CORE_READ(regs, r11);
	out->r[PYH_UREG_R12] = BPF_CORE_READ(regs, r12);
	out->r[PYH_UREG_R13] = BPF_CORE_READ(regs, r13);
	out->r[PYH_UREG_R14] = BPF_CORE_READ(regs, r14);
	out->r[PYH_UREG_R15] = BPF_CORE_READ(regs, r15);
	out->r[PYH_UREG_RIP] = BPF_CORE_READ(regs, ip);
	out->orig_ax = BPF_CORE_READ(regs, orig_ax);
}
#endif

#endif
