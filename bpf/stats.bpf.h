/* SPDX-License-Identifier: GPL-2.0 */
/* The per-CPU counters of one BPF object: the array map `stats` of
 * PYH_STATS_MAX __u64 values (define it before including this), which the
 * user side sums over the CPUs, and pyh_count() to add one to a counter.
 * PYH_STATS_ON, when defined, is an expression of rodata: where it is 0
 * pyh_count() does nothing and the verifier leaves the counting out. */
#ifndef PYH_BPF_STATS_H
#define PYH_BPF_STATS_H

#ifndef PYH_STATS_MAX
#error "define PYH_STATS_MAX (how many counters) before including stats.bpf.h"
#endif
#ifndef PYH_STATS_ON
#define PYH_STATS_ON 1
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYH_STATS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void pyh_count(__u32 idx)
{
	__u64 *v;

	if (!(PYH_STATS_ON))
		return;
	v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}
#endif
