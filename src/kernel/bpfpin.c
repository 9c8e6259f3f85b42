/* The store of pinned BPF programs (bpfpin.h). */
#include "kernel/bpfpin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#define PYH_BPF_FS_MAGIC 0xcafe4a11
/* At most this many entries are looked at when sweeping other builds. */
#define PYH_BPFPIN_SWEEP_MAX 64
/* A program pyhang pins uses this many maps at most (sampler: 10). */
#define PYH_BPFPIN_MAX_MAPS 32
/* "-" and 16 hex digits: the build's part of an entry's name, after its kind. */
#define PYH_BPFPIN_BUILD_LEN 17

/* Where the entry at dir keeps its program. */
static void pyh_bpfpin_prog_path(const char *dir, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/prog", dir);
}

uint64_t pyh_bpfpin_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i = 0;

	h ^= (uint64_t)n * 0x9e3779b97f4a7c15ull;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return h;
}

static int pyh_bpfpin_enabled(void)
{
	const char *e = getenv("PYHANG_BPF_PIN");

	return !(e && strcmp(e, "0") == 0);
}

/* Open dir (which must be a real directory, not a link) and flock it without
 * waiting: the fd, or -errno. */
static int pyh_bpfpin_lockdir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), e;

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		e = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		close(fd);
		return e;
	}
	return fd;
}

int pyh_bpfpin_acquire(struct pyh_bpfpin *p, const char *kind, uint64_t build, uint64_t config)
{
	struct statfs sf;
	int fd;

	memset(p, 0, sizeof(*p));
	p->dirfd = -1;
	snprintf(p->kind, sizeof(p->kind), "%s", kind);
	if (!pyh_bpfpin_enabled())
		return -EPERM;
	if (statfs(PYH_BPFPIN_ROOT, &sf) || (unsigned long)sf.f_type != PYH_BPF_FS_MAGIC)
		return -ENOENT;
	if (mkdir(PYH_BPFPIN_DIR, 0700) && errno != EEXIST)
		return -errno;
	snprintf(p->path, sizeof(p->path), "%s/%s-%016llx-%016llx", PYH_BPFPIN_DIR, p->kind,
		 (unsigned long long)build, (unsigned long long)config);
	if (mkdir(p->path, 0700) && errno != EEXIST)
		return -errno;
	fd = pyh_bpfpin_lockdir(p->path);
	if (fd < 0)
		return fd;
	p->dirfd = fd;
	return 0;
}

int pyh_bpfpin_get(const struct pyh_bpfpin *p)
{
	char path[128];
	int fd;

	if (p->dirfd < 0)
		return -EBADF;
	pyh_bpfpin_prog_path(p->path, path, sizeof(path));
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

/* Remove the entry at dir (under PYH_BPFPIN_DIR) when nobody holds it. */
static void pyh_bpfpin_remove(const char *dir)
{
	char path[320];
	int fd = pyh_bpfpin_lockdir(dir);

	if (fd < 0)
		return;
	pyh_bpfpin_prog_path(dir, path, sizeof(path));
	unlink(path);
	rmdir(dir);
	close(fd);
}

/* Entries of p's kind from other builds: "kind-<build>-<config>" whose build
 * is not p's. */
static void pyh_bpfpin_sweep(const struct pyh_bpfpin *p)
{
	size_t klen = strlen(p->kind), dlen = strlen(PYH_BPFPIN_DIR) + 1;
	const char *mine = p->path + dlen;	/* kind-build-config */
	struct dirent *d;
	DIR *dir = opendir(PYH_BPFPIN_DIR);
	int seen = 0;

	if (!dir)
		return;
	while ((d = readdir(dir)) && seen++ < PYH_BPFPIN_SWEEP_MAX) {
		char path[288];

		if (strncmp(d->d_name, p->kind, klen) || d->d_name[klen] != '-' ||
		    strlen(d->d_name) != strlen(mine) ||
		    !strncmp(d->d_name, mine, klen + PYH_BPFPIN_BUILD_LEN))
			continue;
		snprintf(path, sizeof(path), "%s/%s", PYH_BPFPIN_DIR, d->d_name);
		pyh_bpfpin_remove(path);
	}
	closedir(dir);
}

int pyh_bpfpin_put(const struct pyh_bpfpin *p, int prog_fd)
{
	char path[128];

	if (p->dirfd < 0)
		return -EBADF;
	pyh_bpfpin_prog_path(p->path, path, sizeof(path));
	unlink(path);	/* one found unusable and not dropped */
	if (bpf_obj_pin(prog_fd, path))
		return -errno;
	pyh_bpfpin_sweep(p);
	return 0;
}

void pyh_bpfpin_drop(const struct pyh_bpfpin *p)
{
	char path[128];

	if (p->dirfd < 0)
		return;
	pyh_bpfpin_prog_path(p->path, path, sizeof(path));
	unlink(path);
}

void pyh_bpfpin_release(struct pyh_bpfpin *p)
{
	if (!p || p->dirfd < 0)
		return;
	close(p->dirfd);	/* and with it the flock */
	p->dirfd = -1;
}

int pyh_bpf_prog_is(int prog_fd, uint32_t type, const char *name)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	size_t n = strlen(name);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	if (n >= sizeof(info.name))
		n = sizeof(info.name) - 1;	/* what the kernel keeps of it */
	return info.type == type && !strncmp(info.name, name, n) && info.name[n] == '\0';
}

static void pyh_bpf_maps_close(struct pyh_bpf_map_want *w, int n)
{
	for (int i = 0; i < n; i++) {
		if (w[i].fd >= 0)
			close(w[i].fd);
		w[i].fd = -1;
	}
}

int pyh_bpf_prog_maps(int prog_fd, struct pyh_bpf_map_want *w, int n)
{
	__u32 ids[PYH_BPFPIN_MAX_MAPS], len = sizeof(struct bpf_prog_info), nids;
	struct bpf_prog_info info;
	int found = 0, e = 0;

	for (int j = 0; j < n; j++)
		w[j].fd = -1;
	memset(ids, 0, sizeof(ids));	/* (valgrind does not see the kernel fill them) */
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = PYH_BPFPIN_MAX_MAPS;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	nids = info.nr_map_ids < PYH_BPFPIN_MAX_MAPS ? info.nr_map_ids : PYH_BPFPIN_MAX_MAPS;
	for (__u32 i = 0; i < nids && found < n && !e; i++) {
		struct bpf_map_info mi;
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]), j;

		if (fd < 0 && errno != ENOENT) {
			e = -errno;	/* -EPERM without CAP_SYS_ADMIN: not the program's fault */
			break;
		}
		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen)) {
			close(fd);
			continue;
		}
		for (j = 0; j < n; j++)
			if (w[j].fd < 0 && !strncmp(mi.name, w[j].name, sizeof(mi.name) - 1))
				break;
		if (j == n) {
			close(fd);
			continue;
		}
		if (mi.type != w[j].type || mi.key_size != w[j].key_size ||
		    mi.value_size != w[j].value_size ||
		    (w[j].max_entries && mi.max_entries != w[j].max_entries)) {
			close(fd);
			e = -EPROTO;
			break;
		}
		w[j].fd = fd;
		found++;
	}
	if (!e && found < n)
		e = -ENOENT;
	if (e)
		pyh_bpf_maps_close(w, n);
	return e;
}
