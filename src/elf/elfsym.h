/* ELF symbols with libelf: .dynsym's exports through its hash table, .symtab for the rest.
 * The file is read with pread into owned buffers (never mapped: a file
 * truncated while it is read gives -EINVAL or -EFAULT, not SIGBUS), and
 * symbol tables are read and scanned only when a symbol is looked up. */
#ifndef PYH_ELF_ELFSYM_H
#define PYH_ELF_ELFSYM_H
#include <stddef.h>
#include <stdint.h>

struct pyh_elf;

/* Open an ELF file (any size; malformed files give -EINVAL, never a crash).
 * Returns 0 and *out, or -errno; *out untouched on failure. Opened with
 * O_NONBLOCK and checked to be a regular file; for a file a target names use
 * pyh_elf_open_fd on a descriptor from proc/rootfs.h instead. */
int pyh_elf_open(const char *path, struct pyh_elf **out);
/* The same from an open descriptor, which the ELF then owns (closed by
 * pyh_elf_close, or here on failure). */
int pyh_elf_open_fd(int fd, struct pyh_elf **out);
void pyh_elf_close(struct pyh_elf *elf); /* NULL-safe */
/* The loaded (SHF_ALLOC) section named name: its link-time address and size.
 * Returns 0, or -ENOENT. */
int pyh_elf_section(const struct pyh_elf *elf, const char *name, uint64_t *vaddr,
		    uint64_t *size);

/* Look a symbol up by exact name: the first defined symbol of that name in
 * .dynsym (what the file exports, found through its .gnu.hash table as the
 * dynamic linker finds it; by one pass over .dynsym when the file has no
 * usable hash table), else the first in .symtab (local symbols: one pass over
 * it). Tables are read on the first lookup, at most 32 MiB each; a larger or
 * malformed table counts as empty. Returns 0 with *value = st_value (a
 * link-time address) and *size, or -ENOENT. */
int pyh_elf_symbol(const struct pyh_elf *elf, const char *name, uint64_t *value, uint64_t *size);
/* The same in .dynsym alone: for a symbol that is exported wherever it is
 * defined, whose absence from .dynsym does not call for reading .symtab
 * (about a megabyte on a libpython with symbols). */
int pyh_elf_export(const struct pyh_elf *elf, const char *name, uint64_t *value, uint64_t *size);

/* Copy len bytes at link-time virtual address vaddr out of the file's loaded
 * segments (PT_LOAD with file bytes). Returns 0, or -EFAULT if any byte is not in the file. */
int pyh_elf_read_vaddr(const struct pyh_elf *elf, uint64_t vaddr, void *buf, size_t len);

/* The file offset of link-time address vaddr (what a uprobe is placed at):
 * from the PT_LOAD segment with file bytes that holds it. Returns 0 or
 * -EFAULT when no segment does. */
int pyh_elf_file_offset(const struct pyh_elf *elf, uint64_t vaddr, uint64_t *off);

/* Lowest PT_LOAD p_vaddr rounded down to its alignment, and whether the file is ET_DYN. */
uint64_t pyh_elf_first_load_vaddr(const struct pyh_elf *elf);
int pyh_elf_is_dyn(const struct pyh_elf *elf);

/* Find the first NUL-terminated string in loaded, non-executable read-only data
 * (.rodata) for which match(str, arg) returns non-zero; copy it to out.
 * Returns 0 or -ENOENT. Scans at most PYH_ELF_MAX_SCAN bytes. */
int pyh_elf_find_string(const struct pyh_elf *elf, int (*match)(const char *s, void *arg),
			void *arg, char *out, size_t outsz);

/* The GNU build ID (NT_GNU_BUILD_ID note) as lowercase hex into hex[hexsz].
 * Returns 0, -ENOENT when the file has none, -ENOSPC when hexsz is too small
 * (hex untouched). */
int pyh_elf_build_id(const struct pyh_elf *elf, char *hex, size_t hexsz);

#define PYH_ELF_MAX_SCAN (64u << 20)
#endif
