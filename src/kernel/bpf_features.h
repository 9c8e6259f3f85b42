/* What the running kernel's BPF can do: probe features, not kernel versions. */
#ifndef PYH_KERNEL_BPF_FEATURES_H
#define PYH_KERNEL_BPF_FEATURES_H

/* 1 when the kernel loads a tp_btf program for the raw tracepoint `name`
 * (a two-instruction program against its BTF, as bcc's runqslower probes), else 0. */
int pyh_bpf_has_tp_btf(const char *name);
#endif
