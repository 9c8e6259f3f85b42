/* Native stacks of a live process, without stopping it: the process's code
 * as libdw sees it (its mapped files, their call-frame information and
 * symbols, debug files found by build ID inside the target's root), and an
 * unwinder whose input is what the kernel can hand over without a stop.
 *
 * One struct pyh_native per process. Not thread-safe: one caller at a time. */
#ifndef PYH_NATIVE_NATIVE_H
#define PYH_NATIVE_NATIVE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyhang/uregs.h"

struct pyh_native;

struct pyh_native_opts {
	int no_debug_files;	/* 1: never look for separate debug files */
	const char *debug_dir;	/* inside the target's root; NULL: /usr/lib/debug */
};

/* Read pid's maps and report each file with executable code (and the vDSO)
 * to libdw; files are opened lazily, when a frame first needs them, always
 * through pyh_targetfile_open. Returns 0 with *out, or -errno with a one-line
 * reason in err (-ESRCH: the process is gone; -ENOENT: libdw could not be
 * loaded, native/dwlib.h). */
int pyh_native_open(pid_t pid, const struct pyh_native_opts *o, struct pyh_native **out,
		    char *err, size_t errsz);
void pyh_native_close(struct pyh_native *n); /* NULL-safe */

/* Read pid's maps again and report the files mapped since (a library loaded
 * after pyh_native_open). Returns 0; -EEXIST when a file now lies where
 * another was (unloaded and replaced): n is then stale, open a new one; or
 * -errno (-ESRCH: gone). n is usable as before on any failure. */
int pyh_native_refresh(struct pyh_native *n);

/* Reads len bytes of the target's memory at addr into buf; 0 or -errno. */
typedef int (*pyh_native_read_fn)(void *arg, uint64_t addr, void *buf, size_t len);

/* Where an unwind starts: the registers of the innermost frame, a copy of
 * the stack from image_addr (normally the stack pointer) up, and a reader
 * for memory outside that copy. A thread that is blocked does not move, so
 * its reader may read the live process (pyh_native_proc_read); a sample
 * taken at an interrupt has only its copy (read NULL): the unwind then stops
 * where the copy ends, and says so. */
struct pyh_native_stack {
	struct pyh_uregs regs;
	uint64_t image_addr;
	const uint8_t *image;
	size_t image_len;
	pyh_native_read_fn read;	/* NULL: nothing beyond the copy */
	void *read_arg;
};

/* A reader for pyh_native_stack.read over process_vm_readv: arg is a pid_t *. */
int pyh_native_proc_read(void *arg, uint64_t addr, void *buf, size_t len);

struct pyh_native_limits {
	int max_frames;		/* frames at most */
	size_t max_read;	/* bytes read through the reader at most */
	uint64_t max_ns;	/* time spent on one unwind at most */
};

#define PYH_NATIVE_MAX_FRAMES 4096
#define PYH_NATIVE_DEFAULT_LIMITS { .max_frames = 256, .max_read = 1u << 20, .max_ns = 100000000 }

struct pyh_native_frame {
	uint64_t pc;		/* the instruction (innermost frame) or the return address */
	uint64_t sp;		/* the frame's stack pointer (its CFA for callers), 0 unknown */
	int activation;		/* 1: pc is the interrupted instruction itself, not a return address */
};

/* Unwind one thread (tid, for libdw's bookkeeping) from in, innermost frame
 * first, into out[0..*nframes) (at most lim->max_frames and max). The unwind
 * ends at the outermost frame (stop = "", returns 0) or stops early: then
 * stop says where and why ("no call-frame information for
 * /usr/lib/libfoo.so+0x1234", "the stack copy ends at 0x7ffd... (16384
 * bytes)", "frame limit (256)", ...) and 0 is returned too, with the frames
 * found so far. Frames are never guessed: where the call-frame information
 * ends, the unwind ends. Returns -errno only for bad arguments or memory. */
int pyh_native_unwind(struct pyh_native *n, pid_t tid, const struct pyh_native_stack *in,
		      const struct pyh_native_limits *lim, struct pyh_native_frame *out, int max,
		      int *nframes, char *stop, size_t stopsz);

/* 1 when the last pyh_native_unwind stopped at a pc in none of the files the
 * process had mapped when pyh_native_open read its maps: JIT code, or a
 * library loaded since (open a new session to know it). */
int pyh_native_stopped_unmapped(const struct pyh_native *n);

#define PYH_NATIVE_SYM_MAX 256

/* What a frame's pc is. library stays valid until pyh_native_close. */
struct pyh_native_sym {
	char function[PYH_NATIVE_SYM_MAX]; /* "" when no symbol covers it; without the
					    * symbol version ("memcpy", not "memcpy@@GLIBC_2.14") */
	uint64_t function_offset;	/* pc - the function's start */
	const char *library;		/* the file as the target maps it; NULL: in no file */
	uint64_t offset;		/* pc in the file's link-time addresses (what addr2line takes) */
	int deleted;			/* the file was deleted after it was mapped */
	/* No symbol: where the call-frame information's range holding pc starts
	 * (a function's start, in link-time addresses), so that the pcs of one
	 * unnamed function can be told together. Valid when range_known. */
	uint64_t range_start;
	int range_known;
};

/* Name frame f (a return address is looked up one byte back, inside the call).
 * Fills *out always (unknown parts "", NULL or 0). */
void pyh_native_symbolize(struct pyh_native *n, const struct pyh_native_frame *f,
			  struct pyh_native_sym *out);

/* 1 when a debug file was opened for the module holding pc. */
int pyh_native_has_debug_file(struct pyh_native *n, uint64_t pc);
#endif
