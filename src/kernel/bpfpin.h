/* Loaded BPF programs kept from one run of pyhang to the next, so that a
 * program is loaded and verified once per boot, not once per run: loading
 * the snapshot sampler (the verifier, mostly) was ~40% of the CPU of a dump
 * of a running thread.
 *
 * The store is /sys/fs/bpf/pyhang, on the bpf filesystem that systemd mounts
 * at /sys/fs/bpf. pyhang never mounts it: where it is not mounted, every run
 * loads its own programs, as without a store. PYHANG_BPF_PIN=0 in the
 * environment does the same.
 *
 * An entry is a directory named by what was loaded: a kind, a hash of the
 * BPF object (the build) and a hash of its configuration (rodata, map
 * sizes); in it one pinned program, which holds its maps. An entry serves
 * one process at a time: a process that uses it holds an flock of its
 * directory, taken without waiting, so a second process that wants the same
 * entry meanwhile loads its own program, and a program's maps (its ring
 * buffer too) are never shared by two processes at once. What an earlier
 * user left in the maps is the next user's to clear (its process may have
 * died at any point). Entries of other builds of the same kind are removed
 * when a new one is pinned, those in use excepted.
 *
 * Only root reaches the store (bpffs pins are 0600, the directories 0700);
 * what is read from it is checked all the same (pyh_bpf_prog_maps). */
#ifndef PYH_KERNEL_BPFPIN_H
#define PYH_KERNEL_BPFPIN_H
#include <stddef.h>
#include <stdint.h>

#define PYH_BPFPIN_ROOT "/sys/fs/bpf"
#define PYH_BPFPIN_DIR PYH_BPFPIN_ROOT "/pyhang"

struct pyh_bpfpin {
	int dirfd;		/* the entry's directory, flocked; -1: not held */
	char kind[16];
	char path[96];		/* the entry's directory */
};

/* A hash to name builds and configurations: h folded with n bytes at p
 * (start with h = 0). Not cryptographic: only root writes the store. */
uint64_t pyh_bpfpin_hash(uint64_t h, const void *p, size_t n);

/* Take the entry kind-build-config (kind: a short word of [a-z]) for this
 * process. Returns 0 with p held (pyh_bpfpin_release), or -errno: no store
 * (-ENOENT: /sys/fs/bpf is not a bpf filesystem; -EPERM: PYHANG_BPF_PIN=0),
 * or -EWOULDBLOCK: another process holds that entry. p is always set: held
 * or not, pyh_bpfpin_release may be called. */
int pyh_bpfpin_acquire(struct pyh_bpfpin *p, const char *kind, uint64_t build, uint64_t config);

/* The held entry's program: an fd (the caller closes it), or -errno
 * (-ENOENT: nothing pinned yet). */
int pyh_bpfpin_get(const struct pyh_bpfpin *p);

/* Pin prog_fd as the held entry's program, then remove the entries of the
 * same kind and another build that nobody holds. Returns 0 or -errno. */
int pyh_bpfpin_put(const struct pyh_bpfpin *p, int prog_fd);

/* Unpin the held entry's program (it was found unusable). */
void pyh_bpfpin_drop(const struct pyh_bpfpin *p);

/* Let the entry go. NULL-safe; a no-op when not held. */
void pyh_bpfpin_release(struct pyh_bpfpin *p);

/* A map a pinned program should use, and (out) its fd. */
struct pyh_bpf_map_want {
	const char *name;
	uint32_t type, key_size, value_size;
	uint32_t max_entries;	/* 0: any */
	int fd;			/* out: -1 until found */
};

/* Find each of w[0..n) among the maps program prog_fd uses, by name, each of
 * its type, key and value sizes and max_entries. Returns 0 with every fd set
 * (the caller closes them), or -errno with none open (-ENOENT: one not
 * there, -EPROTO: one of another shape, -EPERM: this process may not open
 * a map by its id, which takes CAP_SYS_ADMIN). */
int pyh_bpf_prog_maps(int prog_fd, struct pyh_bpf_map_want *w, int n);

/* 1 when prog_fd is a program of type type named name (as far as the
 * kernel keeps names: 15 characters), else 0. */
int pyh_bpf_prog_is(int prog_fd, uint32_t type, const char *name);
#endif
