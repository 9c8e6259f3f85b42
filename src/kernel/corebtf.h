/* Small BTF for CO-RE: libbpf relocates a BPF object's field accesses with
 * the kernel's BTF, which it otherwise parses whole from
 * /sys/kernel/btf/vmlinux (5 MiB: about 25 ms here, the largest part of
 * loading a program for one dump). The build cuts out the types each object
 * needs (bpftool gen min_core_btf, tools/gen-corebtf.sh) and records the size
 * and CRC-32 of the kernel BTF it cut them from, and that kernel's GNU build
 * ID; on a kernel whose BTF is that one (same build ID and BTF size, or where
 * either has no build ID, same BTF size and CRC-32), those few KiB are handed
 * to libbpf instead (btf_custom_path). */
#ifndef PYH_KERNEL_COREBTF_H
#define PYH_KERNEL_COREBTF_H

enum pyh_corebtf_unit {
	PYH_COREBTF_SAMPLER = 0,	/* bpf/sampler.bpf.c */
	PYH_COREBTF_PROCTRACK,		/* bpf/proctrack.bpf.c */
	PYH_COREBTF_TASKINFO,		/* bpf/taskinfo.bpf.c */
	PYH_COREBTF_WATCH,		/* bpf/watch.bpf.c */
	PYH_COREBTF_UNITS,
};

/* A path to give libbpf as bpf_object_open_opts.btf_custom_path for unit u,
 * or NULL where the running kernel is not the one the build cut the BTF from
 * (or anything fails): libbpf then uses the kernel's own BTF, as always.
 * The path stays valid for the life of the process. */
const char *pyh_corebtf_path(enum pyh_corebtf_unit u);
#endif
