/* Unwinding one thread with libdw's CFI unwinder, from registers and a stack
 * copy handed over by the kernel (no ptrace, no stop).
 *
 * libdw asks for the initial registers (set_initial_registers) and for
 * memory one word at a time (memory_read): words inside the stack copy come
 * from it, others from the caller's reader through a small page cache, within
 * a byte budget. After each frame the unwinder checks that call-frame
 * information covers the frame's pc before letting libdw go on: where none
 * does, libdw would fall back to guessing from frame pointers, and a guess is
 * not an answer. The stack pointer must also move up at every step. */
#include "native/native_int.h"

#include <elfutils/libdw.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"

static uint64_t elapsed_ns(const struct pyh_unwind_ctx *u)
{
	return pyh_mono_ns() - u->start_ns;
}

/* The first reason given is the one kept. */
__attribute__((format(printf, 2, 3))) static void stop_at(struct pyh_unwind_ctx *u,
							   const char *fmt, ...)
{
	va_list ap;

	if (u->stop[0])
		return;
	va_start(ap, fmt);
	vsnprintf(u->stop, sizeof(u->stop), fmt, ap);
	va_end(ap);
}

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct pyh_native *n = arg;

	(void)dwfl;
	if (*thread_argp)
		return 0;	/* one thread per unwind */
	*thread_argp = n;
	return n->u.tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct pyh_native *n = arg;

	(void)dwfl;
	*thread_argp = n;
	return tid == n->u.tid && n->u.in;
}

/* One page of the reader's memory, cached for this unwind. NULL when unreadable. */
static const uint8_t *reader_page(struct pyh_native *n, uint64_t page)
{
	struct pyh_unwind_ctx *u = &n->u;
	unsigned slot;

	for (unsigned i = 0; i < PYH_NATIVE_PAGES; i++)
		if (u->page[i].addr == page)
			return u->page[i].bytes;
	if (!u->in->read) {
		stop_at(u, "the stack copy ends at 0x%llx (%llu bytes copied)",
			(unsigned long long)(u->in->image_addr + u->in->image_len),
			(unsigned long long)u->in->image_len);
		return NULL;
	}
	if (u->read_bytes + PYH_NATIVE_PAGE > u->lim.max_read) {
		stop_at(u, "read limit (%zu bytes beyond the stack copy)", u->lim.max_read);
		return NULL;
	}
	if (elapsed_ns(u) > u->lim.max_ns) {
		stop_at(u, "time limit (%llu ms)", (unsigned long long)(u->lim.max_ns / 1000000));
		return NULL;
	}
	slot = u->next_page++ % PYH_NATIVE_PAGES;
	u->read_bytes += PYH_NATIVE_PAGE;
	if (u->in->read(u->in->read_arg, page, u->page[slot].bytes, PYH_NATIVE_PAGE)) {
		u->page[slot].addr = 0;
		return NULL;
	}
	u->page[slot].addr = page;
	return u->page[slot].bytes;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct pyh_native *n = arg;
	const struct pyh_native_stack *in = n->u.in;
	uint64_t page = addr & ~(uint64_t)(PYH_NATIVE_PAGE - 1);
	const uint8_t *p;

	(void)dwfl;
	if (!in)
		return false;
	if (addr >= in->image_addr && addr - in->image_addr <= in->image_len &&
	    in->image_len - (addr - in->image_addr) >= sizeof(*result)) {
		memcpy(result, in->image + (addr - in->image_addr), sizeof(*result));
		return true;
	}
	if (addr > UINT64_MAX - sizeof(*result))
		return false;
	/* A word may straddle two pages. */
	p = reader_page(n, page);
	if (!p)
		return false;
	if (addr - page <= PYH_NATIVE_PAGE - sizeof(*result)) {
		memcpy(result, p + (addr - page), sizeof(*result));
	} else {
		uint8_t w[sizeof(*result)];
		size_t first = PYH_NATIVE_PAGE - (size_t)(addr - page);
		const uint8_t *q;

		memcpy(w, p + (addr - page), first);
		q = reader_page(n, page + PYH_NATIVE_PAGE);
		if (!q)
			return false;
		memcpy(w + first, q, sizeof(w) - first);
		memcpy(result, w, sizeof(w));
	}
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct pyh_native *n = arg;
	Dwarf_Word regs[PYH_UREG_COUNT];

	for (int i = 0; i < PYH_UREG_COUNT; i++)
		regs[i] = n->u.in->regs.r[i];
	return pyh_dw->dwfl_thread_state_registers(thread, 0, PYH_UREG_COUNT, regs);
}

static const Dwfl_Thread_Callbacks pyh_thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

int pyh_native_attach(struct pyh_native *n)
{
	if (!pyh_dw->dwfl_attach_state(n->dwfl, NULL, n->pid, &pyh_thread_callbacks, n))
		return -ENOTSUP;
	n->attached = 1;
	return 0;
}

/* 1 when call-frame information (.eh_frame, else .debug_frame) covers pc in
 * mod. Otherwise 0 with why set. */
static int has_cfi(struct pyh_native *n, Dwfl_Module *mod, uint64_t pc)
{
	Dwarf_CFI *cfis[2];
	Dwarf_Addr bias;

	(void)n;
	cfis[0] = pyh_dw->dwfl_module_eh_cfi(mod, &bias);
	for (int i = 0; i < 2; i++) {
		Dwarf_Frame *fr = NULL;
		Dwarf_Addr b = bias;

		if (i == 1)
			cfis[1] = pyh_dw->dwfl_module_dwarf_cfi(mod, &b);
		if (!cfis[i])
			continue;
		if (pyh_dw->dwarf_cfi_addrframe(cfis[i], pc - b, &fr) == 0) {
			free(fr);
			return 1;
		}
	}
	return 0;
}

struct walk {
	struct pyh_native *n;
	struct pyh_native_frame *out;
	int max, count;
	uint64_t last_sp;
};

/* Why no frame can be unwound from one at pc: "" when one can. */
static void check_unwindable(struct walk *w, uint64_t pc, uint64_t look)
{
	struct pyh_unwind_ctx *u = &w->n->u;
	Dwfl_Module *mod = pyh_dw->dwfl_addrmodule(w->n->dwfl, look);
	struct pyh_nmod *nm = NULL;
	void **ud = NULL;
	Dwarf_Addr bias = 0;

	if (!mod) {
		u->stop_unmapped = !u->stop[0];
		stop_at(u, "pc 0x%llx is in no mapped file (JIT code or anonymous memory)",
			(unsigned long long)pc);
		return;
	}
	pyh_dw->dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	nm = ud ? *ud : NULL;
	if (!pyh_dw->dwfl_module_getelf(mod, &bias)) {
		stop_at(u, "cannot open %s%s: %s", nm ? nm->m->path : "?",
			nm && nm->m->deleted ? " (deleted)" : "",
			nm && nm->open_err ? strerror(-nm->open_err) : "not an ELF file");
		return;
	}
	if (!has_cfi(w->n, mod, look))
		stop_at(u, "no call-frame information for %s+0x%llx", nm ? nm->m->path : "?",
			(unsigned long long)(pc - bias));
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct walk *w = arg;
	struct pyh_unwind_ctx *u = &w->n->u;
	Dwarf_Addr pc = 0;
	Dwarf_Word sp = 0;
	bool act = false;
	uint64_t look;

	if (!pyh_dw->dwfl_frame_pc(state, &pc, &act)) {
		stop_at(u, "no pc for frame %d: %s", w->count, pyh_dw->dwfl_errmsg(-1));
		return DWARF_CB_ABORT;
	}
	if (pc == 0)
		return DWARF_CB_ABORT;	/* the outermost frame's caller: the end */
	if (pyh_dw->dwfl_frame_reg(state, PYH_UREG_RSP, &sp) != 0)
		sp = 0;
	if (w->count > 0 && sp && w->last_sp && sp <= w->last_sp) {
		stop_at(u, "the stack pointer did not move up (0x%llx after 0x%llx): a corrupt stack",
			(unsigned long long)sp, (unsigned long long)w->last_sp);
		return DWARF_CB_ABORT;
	}
	w->out[w->count++] = (struct pyh_native_frame){ .pc = pc, .sp = sp, .activation = act };
	if (sp)
		w->last_sp = sp;
	if (w->count >= w->max) {
		stop_at(u, "frame limit (%d)", w->max);
		return DWARF_CB_ABORT;
	}
	if (elapsed_ns(u) > u->lim.max_ns) {
		stop_at(u, "time limit (%llu ms)", (unsigned long long)(u->lim.max_ns / 1000000));
		return DWARF_CB_ABORT;
	}
	look = act ? pc : pc - 1;
	check_unwindable(w, pc, look);
	return u->stop[0] ? DWARF_CB_ABORT : DWARF_CB_OK;
}

int pyh_native_stopped_unmapped(const struct pyh_native *n)
{
	return n->u.stop_unmapped;
}

int pyh_native_unwind(struct pyh_native *n, pid_t tid, const struct pyh_native_stack *in,
		      const struct pyh_native_limits *lim, struct pyh_native_frame *out, int max,
		      int *nframes, char *stop, size_t stopsz)
{
	struct pyh_native_limits def = PYH_NATIVE_DEFAULT_LIMITS;
	struct walk w = { .n = n, .out = out };
	struct pyh_unwind_ctx *u;
	int rc;

	*nframes = 0;
	if (stop && stopsz)
		stop[0] = '\0';
	if (!n || !in || !out || max <= 0 || tid <= 0 || (in->image_len && !in->image))
		return -EINVAL;
	if (!n->attached)
		return -ENOTSUP;
	u = &n->u;
	memset(u, 0, sizeof(*u));
	u->tid = tid;
	u->in = in;
	u->lim = lim ? *lim : def;
	u->start_ns = pyh_mono_ns();
	w.max = u->lim.max_frames < max ? u->lim.max_frames : max;
	if (w.max > PYH_NATIVE_MAX_FRAMES)
		w.max = PYH_NATIVE_MAX_FRAMES;
	if (w.max <= 0)
		w.max = 1;
	rc = pyh_dw->dwfl_getthread_frames(n->dwfl, tid, frame_cb, &w);
	if (rc == -1)
		stop_at(u, "libdw: %s", pyh_dw->dwfl_errmsg(-1));
	*nframes = w.count;
	if (stop && stopsz)
		snprintf(stop, stopsz, "%s", u->stop);
	u->in = NULL;
	return 0;
}
