/* The process tracker's user side: lifecycle open -> configure -> load -> attach. */
#include "host/proctrack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/bpf_features.h"
#include "kernel/corebtf.h"
#include "proctrack.skel.h"

enum { PYH_PT_EXEC, PYH_PT_EXIT, PYH_PT_FORK, PYH_PT_NPROGS };

static const char *const pyh_pt_tracepoints[PYH_PT_NPROGS] = {
	"sched_process_exec", "sched_process_exit", "sched_process_fork",
};

struct pyh_proctrack {
	struct proctrack_bpf *skel;
	struct bpf_link *links[PYH_PT_NPROGS];
	int btf;			/* attached as tp_btf, else classic tracepoints */
	int ncpus;
	pyh_proc_event_cb cb;
	void *arg;
};

/* The tp_btf program of tracepoint i, or its classic twin. */
static struct bpf_program *pyh_pt_prog(struct proctrack_bpf *skel, int i, int btf)
{
	switch (i) {
	case PYH_PT_EXEC:
		return btf ? skel->progs.pyh_exec_btf : skel->progs.pyh_exec_tp;
	case PYH_PT_EXIT:
		return btf ? skel->progs.pyh_exit_btf : skel->progs.pyh_exit_tp;
	default:
		return btf ? skel->progs.pyh_fork_btf : skel->progs.pyh_fork_tp;
	}
}

static void pyh_pt_unload(struct pyh_proctrack *pt)
{
	for (int i = 0; i < PYH_PT_NPROGS; i++) {
		bpf_link__destroy(pt->links[i]);
		pt->links[i] = NULL;
	}
	proctrack_bpf__destroy(pt->skel);
	pt->skel = NULL;
}

/* One attempt with tp_btf (btf = 1) or classic tracepoints. Returns 0 or
 * -errno with err filled; pt->skel is NULL on failure. */
static int pyh_pt_load(struct pyh_proctrack *pt, const struct pyh_proctrack_opts *o, int btf, char *err,
		       size_t errsz)
{
	int nprogs = o->forks ? PYH_PT_NPROGS : PYH_PT_FORK, rc;

	pt->btf = btf;
	{
		LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = pyh_corebtf_path(PYH_COREBTF_PROCTRACK));

		pt->skel = proctrack_bpf__open_opts(&oo);
	}
	if (!pt->skel) {
		rc = -errno;
		snprintf(err, errsz, "opening the BPF process tracker failed: %s", strerror(-rc));
		return rc ? rc : -EINVAL;
	}
	for (int i = 0; i < PYH_PT_NPROGS; i++) {
		bpf_program__set_autoload(pyh_pt_prog(pt->skel, i, 1), btf && i < nprogs);
		bpf_program__set_autoload(pyh_pt_prog(pt->skel, i, 0), !btf && i < nprogs);
	}
	pt->skel->rodata->all_execs = o->all_execs ? 1 : 0;
	pt->skel->rodata->thread_exits = o->thread_exits ? 1 : 0;
	rc = proctrack_bpf__load(pt->skel);
	if (rc) {
		snprintf(err, errsz, "loading the BPF process tracker failed: %s (root needed; -v shows the verifier log)",
			 strerror(-rc));
		goto fail;
	}
	for (int i = 0; i < nprogs; i++) {
		pt->links[i] = bpf_program__attach(pyh_pt_prog(pt->skel, i, btf));
		if (!pt->links[i]) {
			rc = -errno;
			snprintf(err, errsz, "attaching to the %s %s failed: %s%s", btf ? "tp_btf" : "tracepoint",
				 pyh_pt_tracepoints[i], strerror(-rc),
				 btf ? "" : " (is tracefs mounted at /sys/kernel/tracing?)");
			rc = rc ? rc : -EINVAL;
			goto fail;
		}
	}
	return 0;
fail:
	pyh_pt_unload(pt);
	return rc;
}

int pyh_proctrack_open(const struct pyh_proctrack_opts *o, pyh_proc_event_cb cb, void *arg,
		       struct pyh_proctrack **out, char *err, size_t errsz)
{
	struct pyh_proctrack *pt = NULL;
	int rc, btf = 1;

	pt = calloc(1, sizeof(*pt));
	if (!pt) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	pt->cb = cb;
	pt->arg = arg;
	pt->ncpus = libbpf_num_possible_cpus();
	/* Probe features, not kernel versions: tp_btf when the kernel loads it on each tracepoint. */
	for (int i = 0; i < (o->forks ? PYH_PT_NPROGS : PYH_PT_FORK); i++)
		btf = btf && pyh_bpf_has_tp_btf(pyh_pt_tracepoints[i]);
	rc = pyh_pt_load(pt, o, btf, err, errsz);
	if (rc && btf)
		rc = pyh_pt_load(pt, o, 0, err, errsz);
	if (rc) {
		free(pt);
		return rc;
	}
	*out = pt;
	return 0;
}

int pyh_proctrack_share(const struct pyh_proctrack *pt, struct bpf_object *obj, char *err, size_t errsz)
{
	struct bpf_map *mine[] = { pt->skel->maps.exec_gens, pt->skel->maps.tracked };

	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
		const char *name = bpf_map__name(mine[i]);
		struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
		int rc;

		if (!m) {
			snprintf(err, errsz, "BPF object %s has no map %s to share with the process tracker",
				 bpf_object__name(obj), name);
			return -ENOENT;
		}
		rc = bpf_map__reuse_fd(m, bpf_map__fd(mine[i]));
		if (rc) {
			snprintf(err, errsz, "sharing the process tracker's map %s failed: %s", name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int pyh_pt_ring_cb(void *ctx, void *data, size_t len)
{
	struct pyh_proctrack *pt = ctx;

	if (len >= sizeof(struct pyh_proc_event) && pt->cb)
		pt->cb(data, pt->arg);
	return 0;
}

int pyh_proctrack_add_ring(struct pyh_proctrack *pt, struct ring_buffer *rb)
{
	return ring_buffer__add(rb, bpf_map__fd(pt->skel->maps.events), pyh_pt_ring_cb, pt);
}

int pyh_proctrack_follow(struct pyh_proctrack *pt, pid_t pid)
{
	__u32 key = (__u32)pid, one = 1;

	if (bpf_map_update_elem(bpf_map__fd(pt->skel->maps.tracked), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

void pyh_proctrack_unfollow(struct pyh_proctrack *pt, pid_t pid)
{
	__u32 key = (__u32)pid;

	bpf_map_delete_elem(bpf_map__fd(pt->skel->maps.tracked), &key);
}

uint32_t pyh_proctrack_exec_gen(const struct pyh_proctrack *pt, pid_t pid)
{
	__u32 key = (__u32)pid, gen = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(pt->skel->maps.exec_gens), &key, &gen))
		return 0;
	return gen;
}

const char *pyh_proctrack_kind(const struct pyh_proctrack *pt)
{
	return pt->btf ? "tp_btf" : "tracepoint";
}

void pyh_proctrack_counters(const struct pyh_proctrack *pt, uint64_t out[PYH_PTCNT_MAX])
{
	uint64_t *vals = pt->ncpus > 0 ? calloc((size_t)pt->ncpus, sizeof(*vals)) : NULL;
	int fd = bpf_map__fd(pt->skel->maps.stats);

	memset(out, 0, sizeof(uint64_t) * PYH_PTCNT_MAX);
	for (__u32 i = 0; vals && i < PYH_PTCNT_MAX; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < pt->ncpus; c++)
			out[i] += vals[c];
	}
	free(vals);
}

void pyh_proctrack_free(struct pyh_proctrack *pt)
{
	if (!pt)
		return;
	pyh_pt_unload(pt);
	free(pt);
}
