/* SPDX-License-Identifier: MIT */
/* What a suspended task waits on. See awaiting.h. */
#include "asyncio/awaiting.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "kernel/syscalls.h"
#include "proc/mem.h"
#include "proc/procfs.h"
#include "python/pydict.h"
#include "python/repr.h"

#define PYH_AWAIT_FD_TEXT 160		/* one fd's description */
#define PYH_AWAIT_SELECTOR_MAX 4096	/* fds of a loop's selector looked at */
#define PYH_AWAIT_NAMES_SHOWN 3		/* gather children named in the detail */
#define PYH_SELECTOR_READ 1		/* selectors.EVENT_READ */
#define PYH_SELECTOR_WRITE 2		/* selectors.EVENT_WRITE */
#define PYH_SELECTOR_KEY_ITEMS 4	/* SelectorKey(fileobj, fd, events, data) */
#define PYH_TIMENS_LINE 128
#define PYH_AWAIT_LABEL (PYH_TYPE_NAME_MAX + 24)	/* "asyncio.locks.Event 0x7f…" */
#define PYH_AWAIT_NAMES 96		/* "Task-2, Task-3, Task-4" */

static const char *const pyh_await_names[PYH_AWAIT_NKINDS] = {
	[PYH_AWAIT_FUTURE] = "future", [PYH_AWAIT_TASK] = "task", [PYH_AWAIT_GATHER] = "gather",
	[PYH_AWAIT_WAIT] = "wait", [PYH_AWAIT_WAIT_FOR] = "wait_for",
	[PYH_AWAIT_TASKGROUP] = "taskgroup", [PYH_AWAIT_EVENT] = "event", [PYH_AWAIT_LOCK] = "lock",
	[PYH_AWAIT_CONDITION] = "condition", [PYH_AWAIT_SEMAPHORE] = "semaphore",
	[PYH_AWAIT_BARRIER] = "barrier", [PYH_AWAIT_QUEUE] = "queue", [PYH_AWAIT_SLEEP] = "sleep",
	[PYH_AWAIT_IO] = "io", [PYH_AWAIT_SERVER] = "server", [PYH_AWAIT_THREAD] = "thread",
	[PYH_AWAIT_SUBPROCESS] = "subprocess", [PYH_AWAIT_UNKNOWN] = "unknown",
};

const char *pyh_await_kind_name(int kind)
{
	return kind > 0 && kind < PYH_AWAIT_NKINDS ? pyh_await_names[kind] : NULL;
}

/* ------------------------------------------------------------ classes */

/* The asyncio classes a frame's `self` is checked against. */
enum pyh_await_cls {
	PYH_CLS_EVENT, PYH_CLS_LOCK, PYH_CLS_CONDITION, PYH_CLS_SEMAPHORE, PYH_CLS_BARRIER,
	PYH_CLS_QUEUE, PYH_CLS_TASKGROUP, PYH_CLS_STREAMREADER, PYH_CLS_STREAMWRITER,
	PYH_CLS_FLOWCONTROL, PYH_CLS_SERVER, PYH_CLS_SELECTORLOOP, PYH_CLS_SUBPROCESS,
	PYH_CLS_SOCKET, PYH_CLS_N
};

static const struct {
	const char *module, *name;
} pyh_await_classes[PYH_CLS_N] = {
	[PYH_CLS_EVENT] = { "asyncio.locks", "Event" },
	[PYH_CLS_LOCK] = { "asyncio.locks", "Lock" },
	[PYH_CLS_CONDITION] = { "asyncio.locks", "Condition" },
	[PYH_CLS_SEMAPHORE] = { "asyncio.locks", "Semaphore" },
	[PYH_CLS_BARRIER] = { "asyncio.locks", "Barrier" },
	[PYH_CLS_QUEUE] = { "asyncio.queues", "Queue" },
	[PYH_CLS_TASKGROUP] = { "asyncio.taskgroups", "TaskGroup" },
	[PYH_CLS_STREAMREADER] = { "asyncio.streams", "StreamReader" },
	[PYH_CLS_STREAMWRITER] = { "asyncio.streams", "StreamWriter" },
	[PYH_CLS_FLOWCONTROL] = { "asyncio.streams", "FlowControlMixin" },
	[PYH_CLS_SERVER] = { "asyncio.base_events", "Server" },
	[PYH_CLS_SELECTORLOOP] = { "asyncio.selector_events", "BaseSelectorEventLoop" },
	[PYH_CLS_SUBPROCESS] = { "asyncio.base_subprocess", "BaseSubprocessTransport" },
	[PYH_CLS_SOCKET] = { "_socket", "socket" },
};

_Static_assert(PYH_CLS_N <= 16, "pyh_await_ctx.cls has room for 16 classes");

static uint64_t pyh_cls(struct pyh_await_ctx *c, int which)
{
	uint64_t mod = 0, cls = 0;

	if (!c->cls_done[which]) {
		c->cls_done[which] = 1;
		if (!pyh_sys_module(c->a->o, pyh_await_classes[which].module, &mod) &&
		    !pyh_module_getattr(c->a->o, mod, pyh_await_classes[which].name, &cls))
			c->cls[which] = cls;
	}
	return c->cls[which];
}

/* 1 when obj is an instance of the class (or a subclass). */
static int pyh_isinstance(struct pyh_await_ctx *c, uint64_t obj, int which)
{
	struct pyh_typeinfo ti;
	uint64_t cls = pyh_cls(c, which);

	return cls && obj && !pyh_obj_type(c->a->o, obj, &ti) &&
	       pyh_type_is_subclass(c->a->o, ti.addr, cls) == 1;
}

/* ------------------------------------------------------------ helpers */

int pyh_await_ctx_init(struct pyh_await_ctx *c, struct pyh_aio *a, double now)
{
	memset(c, 0, sizeof(*c));
	c->a = a;
	c->now = now;
	c->locals = calloc(PYH_AWAIT_LOCALS, sizeof(*c->locals));
	return c->locals ? 0 : -ENOMEM;
}

void pyh_await_ctx_free(struct pyh_await_ctx *c)
{
	if (!c)
		return;
	free(c->locals);
	free(c->watched);
	c->locals = NULL;
	c->watched = NULL;
}

void pyh_await_free(struct pyh_await *w)
{
	if (!w)
		return;
	free(w->awaits);
	memset(w, 0, sizeof(*w));
}

double pyh_await_target_now(pid_t pid)
{
	char buf[4 * PYH_TIMENS_LINE];
	double now;
	ssize_t n;

	now = pyh_mono_s();
	/* a process in a time namespace sees CLOCK_MONOTONIC moved by an offset */
	n = pyh_proc_read(pid, 0, "timens_offsets", buf, sizeof(buf) - 1);
	if (n > 0) {
		long long sec = 0, nsec = 0;
		char *at;

		buf[n] = '\0';
		at = strstr(buf, "monotonic");
		if (at && sscanf(at, "monotonic %lld %lld", &sec, &nsec) == 2)
			now += (double)sec + (double)nsec / 1e9;
	}
	return now;
}

__attribute__((format(printf, 3, 4)))
static void pyh_detail(struct pyh_await *w, int kind, const char *fmt, ...)
{
	va_list ap;

	w->kind = kind;
	va_start(ap, fmt);
	vsnprintf(w->detail, sizeof(w->detail), fmt, ap);
	va_end(ap);
}

/* Append to the detail. */
__attribute__((format(printf, 2, 3)))
static void pyh_detail_add(struct pyh_await *w, const char *fmt, ...)
{
	size_t len = strlen(w->detail);
	va_list ap;

	if (len + 1 >= sizeof(w->detail))
		return;
	va_start(ap, fmt);
	vsnprintf(w->detail + len, sizeof(w->detail) - len, fmt, ap);
	va_end(ap);
}

static int pyh_edge(struct pyh_await *w, uint64_t task)
{
	if (!task)
		return 0;
	for (int i = 0; i < w->nawaits; i++)
		if (w->awaits[i] == task)
			return 0;
	return pyh_await_add_edge(w, task);
}

int pyh_await_add_edge(struct pyh_await *w, uint64_t task)
{
	if (w->nawaits >= PYH_AWAIT_MAX_EDGES) {
		w->awaits_cut = 1;
		return 0;
	}
	if (w->nawaits == w->cap) {
		int cap = w->cap ? 2 * w->cap : PYH_AWAIT_FIRST_EDGES;
		uint64_t *p = realloc(w->awaits, (size_t)cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->awaits = p;
		w->cap = cap;
	}
	w->awaits[w->nawaits++] = task;
	return 0;
}

/* A local of chain frame f by name (its value; 0 when unbound or unreadable). */
static uint64_t pyh_local_of(struct pyh_await_ctx *c, const struct pyh_chain_frame *f,
			     const char *name)
{
	size_t n = 0;
	int truncated = 0;
	const char *why = NULL;

	if (pyh_frame_locals(c->a->o, f->frame, f->raw.code, c->locals, PYH_AWAIT_LOCALS, &n,
			     &truncated, &why))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c->locals[i].name, name) && c->locals[i].readable)
			return c->locals[i].value;
	return 0;
}

/* len() of an attribute that is a container, -1 unknown; None counts 0. */
static int64_t pyh_attr_len(struct pyh_await_ctx *c, uint64_t obj, const char *name)
{
	uint64_t v = 0;
	int64_t n;

	if (pyh_aio_attr(c->a, obj, name, &v))
		return -1;
	if (v == c->a->o->none)
		return 0;
	return pyh_aio_len(c->a, v, &n) ? -1 : n;
}

static void pyh_waiters(struct pyh_await *w, int64_t n, const char *what)
{
	if (n >= 0)
		pyh_detail_add(w, "%s%lld %s%s", w->detail[0] ? ", " : "", (long long)n, what,
			       n == 1 ? "" : "s");
}

/* " (N waiters)" after a label; nothing when unknown. */
static void pyh_list_waiters(struct pyh_await *w, int64_t n, const char *what)
{
	if (n >= 0)
		pyh_detail_add(w, " (%lld %s%s)", (long long)n, what, n == 1 ? "" : "s");
}

/* The class name and address of an object: "asyncio.locks.Event 0x7f…". */
static void pyh_obj_label(struct pyh_await_ctx *c, uint64_t obj, char *out, size_t outsz)
{
	struct pyh_typeinfo ti;
	char name[PYH_TYPE_NAME_MAX];

	if (pyh_obj_type(c->a->o, obj, &ti)) {
		snprintf(out, outsz, "object 0x%llx (unreadable)", (unsigned long long)obj);
		return;
	}
	if (pyh_obj_type_name(c->a->o, &ti, name, sizeof(name)))
		snprintf(name, sizeof(name), "%s", ti.tp_name);
	snprintf(out, outsz, "%s 0x%llx", name, (unsigned long long)obj);
}

/* ------------------------------------------------------------ fds */

/* The file descriptor of a socket object (_socket.socket: sock_fd follows
 * the object header). -1 when it is not one. */
static int64_t pyh_socket_fd(struct pyh_await_ctx *c, uint64_t sock)
{
	int32_t fd = -1;

	if (!pyh_isinstance(c, sock, PYH_CLS_SOCKET) ||
	    pyh_mem_read(c->a->o->pid, sock + c->a->o->l.object_size, &fd, sizeof(fd)))
		return -1;
	return fd;
}

/* Which events the loop's selector watches fd for: a SELECTOR_* mask, 0
 * when the selector does not hold fd, -1 when it cannot be read. */
static int pyh_selector_events(struct pyh_await_ctx *c, uint64_t loop, int64_t fd)
{
	struct pyh_kv *kv = NULL;
	uint64_t sel = 0, map = 0;
	struct pyh_obj ob;
	size_t n = 0, length = 0;
	int events = -1;

	if (pyh_aio_attr(c->a, loop, "_selector", &sel) ||
	    pyh_aio_attr(c->a, sel, "_fd_to_key", &map) || pyh_obj_get(c->a->o, map, &ob) ||
	    ob.ti.kind != PYH_OBJ_DICT)
		return -1;
	kv = malloc(PYH_AWAIT_SELECTOR_MAX * sizeof(*kv));
	if (!kv || pyh_dict_items(c->a->o, &ob, kv, PYH_AWAIT_SELECTOR_MAX, &n, &length))
		goto cleanup;
	events = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t items[PYH_SELECTOR_KEY_ITEMS];
		struct pyh_obj key;
		size_t len = 0;
		int64_t k = -1, ev = 0;

		if (pyh_aio_int(c->a, kv[i].key, &k) || k != fd)
			continue;
		if (pyh_obj_get(c->a->o, kv[i].value, &key) ||
		    pyh_obj_seq(c->a->o, &key, items, PYH_SELECTOR_KEY_ITEMS, &len) ||
		    len < PYH_SELECTOR_KEY_ITEMS || pyh_aio_int(c->a, items[2], &ev)) {
			events = -1;
			break;
		}
		events = (int)(ev & (PYH_SELECTOR_READ | PYH_SELECTOR_WRITE));
		break;
	}
cleanup:
	free(kv);
	return events;
}

#define PYH_AWAIT_HANDLE_ARGS 8	/* arguments of a selector callback looked at */

/* The futures among the arguments of handle (a Handle in the selector). */
static void pyh_watch_handle(struct pyh_await_ctx *c, uint64_t handle, int64_t fd, int events)
{
	uint64_t args = 0, items[PYH_AWAIT_HANDLE_ARGS];
	struct pyh_obj ob;
	size_t len = 0;

	if (!handle || handle == c->a->o->none || pyh_aio_attr(c->a, handle, "_args", &args) ||
	    pyh_obj_get(c->a->o, args, &ob) || pyh_obj_seq(c->a->o, &ob, items,
							  PYH_AWAIT_HANDLE_ARGS, &len))
		return;
	for (size_t i = 0; i < len && i < PYH_AWAIT_HANDLE_ARGS && c->nwatched < PYH_AWAIT_SELECTOR_MAX; i++) {
		struct pyh_typeinfo ti;

		if (pyh_obj_type(c->a->o, items[i], &ti) || pyh_aio_impl(c->a, ti.addr) == PYH_FUT_NOT)
			continue;
		c->watched[c->nwatched++] = (struct pyh_await_watch){ items[i], fd, events };
	}
}

/* Build c->watched for loop: every (future, fd) its selector's callbacks hold. */
static void pyh_watch_build(struct pyh_await_ctx *c, uint64_t loop)
{
	struct pyh_kv *kv = NULL;
	uint64_t sel = 0, map = 0;
	struct pyh_obj ob;
	size_t n = 0, length = 0;

	c->watched_loop = loop;
	c->nwatched = 0;
	if (!c->watched && !(c->watched = malloc(PYH_AWAIT_SELECTOR_MAX * sizeof(*c->watched))))
		return;
	if (pyh_aio_attr(c->a, loop, "_selector", &sel) ||
	    pyh_aio_attr(c->a, sel, "_fd_to_key", &map) || pyh_obj_get(c->a->o, map, &ob) ||
	    ob.ti.kind != PYH_OBJ_DICT)
		return;
	kv = malloc(PYH_AWAIT_SELECTOR_MAX * sizeof(*kv));
	if (!kv || pyh_dict_items(c->a->o, &ob, kv, PYH_AWAIT_SELECTOR_MAX, &n, &length)) {
		free(kv);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t items[PYH_SELECTOR_KEY_ITEMS], data[2];
		struct pyh_obj key, dob;
		size_t len = 0, dlen = 0;
		int64_t fd = -1;

		if (pyh_aio_int(c->a, kv[i].key, &fd) || pyh_obj_get(c->a->o, kv[i].value, &key) ||
		    pyh_obj_seq(c->a->o, &key, items, PYH_SELECTOR_KEY_ITEMS, &len) ||
		    len < PYH_SELECTOR_KEY_ITEMS || pyh_obj_get(c->a->o, items[3], &dob) ||
		    pyh_obj_seq(c->a->o, &dob, data, 2, &dlen) || dlen < 2)
			continue;
		pyh_watch_handle(c, data[0], fd, PYH_SELECTOR_READ);
		pyh_watch_handle(c, data[1], fd, PYH_SELECTOR_WRITE);
	}
	free(kv);
}

/* The fd of loop's selector whose callback completes fut: 1 with *fd and
 * *events, 0 when none. */
static int pyh_watched_fd(struct pyh_await_ctx *c, uint64_t loop, uint64_t fut, int64_t *fd,
			  int *events)
{
	if (!loop)
		return 0;
	if (c->watched_loop != loop)
		pyh_watch_build(c, loop);
	for (int i = 0; i < c->nwatched; i++) {
		if (c->watched[i].fut == fut) {
			*fd = c->watched[i].fd;
			*events = c->watched[i].events;
			return 1;
		}
	}
	return 0;
}

/* "read fd 7: TCP 127.0.0.1:40312 -> 127.0.0.1:8080 (ESTABLISHED), watched by the loop" */
static void pyh_io_detail(struct pyh_await_ctx *c, struct pyh_await *w, const char *op,
			  int64_t fd, uint64_t loop, int want)
{
	char desc[PYH_AWAIT_FD_TEXT];
	int ev;

	if (fd < 0) {
		pyh_detail(w, PYH_AWAIT_IO, "%s: the socket's fd is unreadable", op);
		return;
	}
	pyh_fd_describe(c->a->o->pid, 0, (long)fd, desc, sizeof(desc));
	pyh_detail(w, PYH_AWAIT_IO, "%s %s", op, desc);
	ev = pyh_selector_events(c, loop, fd);
	if (ev < 0)
		pyh_detail_add(w, "; the loop's selector is unreadable");
	else if (!(ev & want))
		pyh_detail_add(w, "; not watched by the loop's selector for %s",
			       want == PYH_SELECTOR_READ ? "reading" : "writing");
}

/* ------------------------------------------------------------ the rules */

typedef void (*pyh_await_fn)(struct pyh_await_ctx *c, const struct pyh_fut *task,
			     const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w);

static void pyh_on_event(struct pyh_await_ctx *c, const struct pyh_fut *task,
			 const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	char label[PYH_AWAIT_LABEL];
	int set = 0;

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	pyh_detail(w, PYH_AWAIT_EVENT, "%s", label);
	if (!pyh_aio_attr_bool(c->a, self, "_value", &set))
		pyh_detail_add(w, " (%s", set ? "set" : "not set");
	else
		pyh_detail_add(w, " (state unreadable");
	pyh_waiters(w, pyh_attr_len(c, self, "_waiters"), "waiter");
	pyh_detail_add(w, ")");
}

static void pyh_on_lock(struct pyh_await_ctx *c, const struct pyh_fut *task,
			const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	char label[PYH_AWAIT_LABEL];
	int locked = 0;

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	pyh_detail(w, PYH_AWAIT_LOCK, "%s (%s", label,
		   pyh_aio_attr_bool(c->a, self, "_locked", &locked) ? "state unreadable"
		   : locked ? "locked" : "unlocked");
	pyh_waiters(w, pyh_attr_len(c, self, "_waiters"), "waiter");
	pyh_detail_add(w, ")");
}

static void pyh_on_condition(struct pyh_await_ctx *c, const struct pyh_fut *task,
			     const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	char label[PYH_AWAIT_LABEL];

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	pyh_detail(w, PYH_AWAIT_CONDITION, "%s", label);
	pyh_list_waiters(w, pyh_attr_len(c, self, "_waiters"), "waiter");
}

static void pyh_on_semaphore(struct pyh_await_ctx *c, const struct pyh_fut *task,
			     const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	char label[PYH_AWAIT_LABEL];
	int64_t value = 0;

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	if (pyh_aio_attr_int(c->a, self, "_value", &value))
		pyh_detail(w, PYH_AWAIT_SEMAPHORE, "%s (value unreadable", label);
	else
		pyh_detail(w, PYH_AWAIT_SEMAPHORE, "%s (value %lld", label, (long long)value);
	pyh_waiters(w, pyh_attr_len(c, self, "_waiters"), "waiter");
	pyh_detail_add(w, ")");
}

static void pyh_on_barrier(struct pyh_await_ctx *c, const struct pyh_fut *task,
			   const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	char label[PYH_AWAIT_LABEL];
	int64_t parties = -1, count = -1;

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	if (pyh_aio_attr_int(c->a, self, "_parties", &parties) ||
	    pyh_aio_attr_int(c->a, self, "_count", &count))
		pyh_detail(w, PYH_AWAIT_BARRIER, "%s", label);
	else
		pyh_detail(w, PYH_AWAIT_BARRIER, "%s (%lld of %lld parties waiting)", label,
			   (long long)count, (long long)parties);
}

static void pyh_on_queue(struct pyh_await_ctx *c, const struct pyh_fut *task,
			 const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	char label[PYH_AWAIT_LABEL];
	int64_t maxsize = -1, size = pyh_attr_len(c, self, "_queue");

	(void)task;
	pyh_obj_label(c, self, label, sizeof(label));
	pyh_aio_attr_int(c->a, self, "_maxsize", &maxsize);
	/* Queue.put(self, item) has the item; Queue.get(self) has none */
	if (pyh_local_of(c, &ch->frames[k], "item")) {
		pyh_detail(w, PYH_AWAIT_QUEUE, "put: %s is full (%lld of maxsize %lld", label,
			   (long long)size, (long long)maxsize);
		pyh_waiters(w, pyh_attr_len(c, self, "_putters"), "putter");
		pyh_detail_add(w, ")");
	} else {
		pyh_detail(w, PYH_AWAIT_QUEUE, "get: %s is empty", label);
		pyh_list_waiters(w, pyh_attr_len(c, self, "_getters"), "getter");
	}
}

static void pyh_on_sleep(struct pyh_await_ctx *c, const struct pyh_fut *task,
			 const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	const struct pyh_chain_frame *f = &ch->frames[k];
	uint64_t handle = pyh_local_of(c, f, "h");
	struct pyh_obj ob;
	double delay = -1, when = 0;
	uint64_t d = pyh_local_of(c, f, "delay");
	int64_t i;

	(void)task, (void)self;
	if (d && !pyh_obj_get(c->a->o, d, &ob)) {
		if (ob.ti.kind == PYH_OBJ_FLOAT)
			pyh_obj_float(c->a->o, &ob, &delay);
		else if (!pyh_aio_int(c->a, d, &i))
			delay = (double)i;
	}
	if (delay >= 0)
		pyh_detail(w, PYH_AWAIT_SLEEP, "asyncio.sleep(%g)", delay);
	else
		pyh_detail(w, PYH_AWAIT_SLEEP, "asyncio.sleep()");
	if (handle && !pyh_aio_attr_float(c->a, handle, "_when", &when))
		pyh_detail_add(w, ": %.3fs left", when - c->now > 0 ? when - c->now : 0.0);
	else
		pyh_detail_add(w, ": time left unreadable");
}

/* Every task among the items of a set, list or tuple: edges, and a count. */
static int pyh_edges_from(struct pyh_await_ctx *c, uint64_t container, struct pyh_await *w,
			  int64_t *n, int64_t *done, char *names, size_t namesz)
{
	uint64_t *items = malloc(PYH_AWAIT_MAX_EDGES * sizeof(*items));
	struct pyh_obj ob;
	size_t got = 0, length = 0;
	int shown = 0, rc = 0;

	*n = *done = 0;
	if (names && namesz)
		names[0] = '\0';
	if (!items)
		return -ENOMEM;
	if (pyh_obj_get(c->a->o, container, &ob)) {
		free(items);
		return -EFAULT;
	}
	if (ob.ti.kind == PYH_OBJ_SET || ob.ti.kind == PYH_OBJ_FROZENSET)
		rc = pyh_set_items(c->a->o, &ob, items, PYH_AWAIT_MAX_EDGES, &got, &length);
	else if (ob.ti.kind == PYH_OBJ_LIST || ob.ti.kind == PYH_OBJ_TUPLE)
		rc = pyh_obj_seq(c->a->o, &ob, items, PYH_AWAIT_MAX_EDGES, &length);
	else
		rc = -EINVAL;
	if (ob.ti.kind == PYH_OBJ_LIST || ob.ti.kind == PYH_OBJ_TUPLE)
		got = length < PYH_AWAIT_MAX_EDGES ? length : PYH_AWAIT_MAX_EDGES;
	if (rc) {
		free(items);
		return rc;
	}
	*n = (int64_t)length;
	w->awaits_cut |= length > got;
	for (size_t i = 0; i < got && !rc; i++) {
		struct pyh_fut f;

		if (pyh_aio_future(c->a, items[i], &f))
			continue;
		*done += f.state != PYH_FUT_PENDING;
		if (!pyh_fut_is_task(f.impl))
			continue;
		if (f.state == PYH_FUT_PENDING)
			rc = pyh_edge(w, f.addr);
		if (names && shown < PYH_AWAIT_NAMES_SHOWN && f.state == PYH_FUT_PENDING) {
			size_t len = strlen(names);

			snprintf(names + len, namesz - len, "%s%s", shown ? ", " : "",
				 f.name[0] ? f.name : "0x…");
			shown++;
		}
	}
	free(items);
	return rc;
}

static void pyh_on_wait(struct pyh_await_ctx *c, const struct pyh_fut *task,
			const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	const struct pyh_chain_frame *f = &ch->frames[k];
	uint64_t fs = pyh_local_of(c, f, "fs"), when = pyh_local_of(c, f, "return_when");
	char names[PYH_AWAIT_NAMES], how[32] = "";
	int64_t n = 0, done = 0;

	(void)task, (void)self;
	if (when)
		pyh_obj_str_utf8(c->a->o, when, how, sizeof(how));
	if (!fs || pyh_edges_from(c, fs, w, &n, &done, names, sizeof(names))) {
		pyh_detail(w, PYH_AWAIT_WAIT, "asyncio.wait(): its futures are unreadable");
		return;
	}
	pyh_detail(w, PYH_AWAIT_WAIT, "asyncio.wait(%lld futures%s%s): %lld done%s%s",
		   (long long)n, how[0] ? ", " : "", how, (long long)done, names[0] ? "; " : "",
		   names);
}

static void pyh_on_wait_for(struct pyh_await_ctx *c, const struct pyh_fut *task,
			    const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	const struct pyh_chain_frame *f = &ch->frames[k];
	uint64_t fut = pyh_local_of(c, f, "fut"), handle = pyh_local_of(c, f, "timeout_handle");
	struct pyh_fut inner;
	double when = 0;

	(void)task, (void)self;
	if (fut && !pyh_aio_future(c->a, fut, &inner) && pyh_fut_is_task(inner.impl)) {
		pyh_edge(w, inner.addr);
		pyh_detail(w, PYH_AWAIT_WAIT_FOR, "asyncio.wait_for(%s)",
			   inner.name[0] ? inner.name : "a task");
	} else {
		pyh_detail(w, PYH_AWAIT_WAIT_FOR, "asyncio.wait_for(future 0x%llx)",
			   (unsigned long long)fut);
	}
	if (handle && !pyh_aio_attr_float(c->a, handle, "_when", &when))
		pyh_detail_add(w, ": %.3fs to the timeout", when - c->now > 0 ? when - c->now : 0.0);
}

static void pyh_on_taskgroup(struct pyh_await_ctx *c, const struct pyh_fut *task,
			     const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	uint64_t tasks = 0;
	char label[PYH_AWAIT_LABEL], names[PYH_AWAIT_NAMES];
	int64_t n = 0, done = 0;

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	if (pyh_aio_attr(c->a, self, "_tasks", &tasks) ||
	    pyh_edges_from(c, tasks, w, &n, &done, names, sizeof(names))) {
		pyh_detail(w, PYH_AWAIT_TASKGROUP, "%s: its tasks are unreadable", label);
		return;
	}
	pyh_detail(w, PYH_AWAIT_TASKGROUP, "%s: %lld task%s left%s%s", label, (long long)n,
		   n == 1 ? "" : "s", names[0] ? ": " : "", names);
}

/* A transport's fd (selector transports keep _sock_fd). */
static int64_t pyh_transport_fd(struct pyh_await_ctx *c, uint64_t transport)
{
	int64_t fd = -1;

	if (!transport || pyh_aio_attr_int(c->a, transport, "_sock_fd", &fd))
		return -1;
	return fd;
}

static void pyh_on_stream_read(struct pyh_await_ctx *c, const struct pyh_fut *task,
			       const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	uint64_t transport = 0;

	(void)ch, (void)k;
	pyh_aio_attr(c->a, self, "_transport", &transport);
	pyh_io_detail(c, w, "read", pyh_transport_fd(c, transport), task->loop, PYH_SELECTOR_READ);
}

static void pyh_on_drain(struct pyh_await_ctx *c, const struct pyh_fut *task,
			 const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	uint64_t transport = 0;

	/* the protocol keeps its transport; else StreamWriter.drain, further out */
	if (pyh_aio_attr(c->a, self, "_transport", &transport))
		for (int i = k - 1; i >= 0 && !transport; i--) {
			uint64_t s = pyh_local_of(c, &ch->frames[i], "self");

			if (pyh_isinstance(c, s, PYH_CLS_STREAMWRITER))
				pyh_aio_attr(c->a, s, "_transport", &transport);
		}
	pyh_io_detail(c, w, "write (drain)", pyh_transport_fd(c, transport), task->loop,
		      PYH_SELECTOR_WRITE);
}

static void pyh_on_sock(struct pyh_await_ctx *c, const struct pyh_fut *task,
			const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w,
			const char *op, int want)
{
	(void)self;
	pyh_io_detail(c, w, op, pyh_socket_fd(c, pyh_local_of(c, &ch->frames[k], "sock")),
		      task->loop, want);
}

static void pyh_on_sock_read(struct pyh_await_ctx *c, const struct pyh_fut *task,
			     const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	pyh_on_sock(c, task, ch, k, self, w, "read", PYH_SELECTOR_READ);
}

static void pyh_on_sock_write(struct pyh_await_ctx *c, const struct pyh_fut *task,
			      const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	pyh_on_sock(c, task, ch, k, self, w, "write", PYH_SELECTOR_WRITE);
}

static void pyh_on_sock_connect(struct pyh_await_ctx *c, const struct pyh_fut *task,
				const struct pyh_chain *ch, int k, uint64_t self,
				struct pyh_await *w)
{
	pyh_on_sock(c, task, ch, k, self, w, "connect", PYH_SELECTOR_WRITE);
}

static void pyh_on_sock_accept(struct pyh_await_ctx *c, const struct pyh_fut *task,
			       const struct pyh_chain *ch, int k, uint64_t self,
			       struct pyh_await *w)
{
	pyh_on_sock(c, task, ch, k, self, w, "accept", PYH_SELECTOR_READ);
}

static void pyh_on_serve(struct pyh_await_ctx *c, const struct pyh_fut *task,
			 const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	uint64_t socks = 0, items[PYH_AWAIT_NAMES_SHOWN];
	struct pyh_obj ob;
	char label[PYH_AWAIT_LABEL], desc[PYH_AWAIT_FD_TEXT];
	size_t n = 0;

	(void)task, (void)ch, (void)k;
	pyh_obj_label(c, self, label, sizeof(label));
	pyh_detail(w, PYH_AWAIT_SERVER, "%s serving forever", label);
	if (pyh_aio_attr(c->a, self, "_sockets", &socks) || pyh_obj_get(c->a->o, socks, &ob) ||
	    pyh_obj_seq(c->a->o, &ob, items, PYH_AWAIT_NAMES_SHOWN, &n))
		return;
	for (size_t i = 0; i < n && i < PYH_AWAIT_NAMES_SHOWN; i++) {
		int64_t fd = pyh_socket_fd(c, items[i]);

		if (fd < 0)
			continue;
		pyh_fd_describe(c->a->o->pid, 0, (long)fd, desc, sizeof(desc));
		pyh_detail_add(w, "%s %s", i ? "," : " on", desc);
	}
}

static void pyh_on_thread(struct pyh_await_ctx *c, const struct pyh_fut *task,
			  const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	struct pyh_repr_limits lim = PYH_REPR_SHORT;
	struct pyh_repr_info info;
	char text[128];
	uint64_t fn = pyh_local_of(c, &ch->frames[k], "func");

	(void)task, (void)self;
	if (!fn) {
		pyh_detail(w, PYH_AWAIT_THREAD, "asyncio.to_thread()");
		return;
	}
	lim.max_bytes = sizeof(text);
	pyh_repr(c->a->o, fn, &lim, text, sizeof(text), &info);
	pyh_detail(w, PYH_AWAIT_THREAD, "asyncio.to_thread(%s)", text);
}

static void pyh_on_subprocess(struct pyh_await_ctx *c, const struct pyh_fut *task,
			      const struct pyh_chain *ch, int k, uint64_t self, struct pyh_await *w)
{
	int64_t pid = -1;

	(void)task, (void)ch, (void)k;
	if (pyh_aio_attr_int(c->a, self, "_pid", &pid))
		pyh_detail(w, PYH_AWAIT_SUBPROCESS, "a subprocess to exit");
	else
		pyh_detail(w, PYH_AWAIT_SUBPROCESS, "subprocess %lld to exit", (long long)pid);
}

struct pyh_await_rule {
	const char *file;	/* the frame's file ends with it */
	const char *name;	/* its function (co_name) */
	int cls;		/* its `self` must be an instance of this; -1: no check */
	pyh_await_fn fn;
};

static const struct pyh_await_rule pyh_await_rules[] = {
	{ "/asyncio/locks.py", "wait", PYH_CLS_EVENT, pyh_on_event },
	{ "/asyncio/locks.py", "wait", PYH_CLS_CONDITION, pyh_on_condition },
	{ "/asyncio/locks.py", "acquire", PYH_CLS_LOCK, pyh_on_lock },
	{ "/asyncio/locks.py", "acquire", PYH_CLS_SEMAPHORE, pyh_on_semaphore },
	{ "/asyncio/locks.py", "wait", PYH_CLS_BARRIER, pyh_on_barrier },
	{ "/asyncio/locks.py", "_block", PYH_CLS_BARRIER, pyh_on_barrier },
	{ "/asyncio/queues.py", "get", PYH_CLS_QUEUE, pyh_on_queue },
	{ "/asyncio/queues.py", "put", PYH_CLS_QUEUE, pyh_on_queue },
	{ "/asyncio/tasks.py", "sleep", -1, pyh_on_sleep },
	{ "/asyncio/tasks.py", "_wait", -1, pyh_on_wait },
	{ "/asyncio/tasks.py", "wait_for", -1, pyh_on_wait_for },
	{ "/asyncio/taskgroups.py", "__aexit__", PYH_CLS_TASKGROUP, pyh_on_taskgroup },
	{ "/asyncio/taskgroups.py", "_aexit", PYH_CLS_TASKGROUP, pyh_on_taskgroup },
	{ "/asyncio/streams.py", "_wait_for_data", PYH_CLS_STREAMREADER, pyh_on_stream_read },
	{ "/asyncio/streams.py", "_drain_helper", PYH_CLS_FLOWCONTROL, pyh_on_drain },
	{ "/asyncio/selector_events.py", "sock_recv", PYH_CLS_SELECTORLOOP, pyh_on_sock_read },
	{ "/asyncio/selector_events.py", "sock_recv_into", PYH_CLS_SELECTORLOOP, pyh_on_sock_read },
	{ "/asyncio/selector_events.py", "sock_recvfrom", PYH_CLS_SELECTORLOOP, pyh_on_sock_read },
	{ "/asyncio/selector_events.py", "sock_recvfrom_into", PYH_CLS_SELECTORLOOP,
	  pyh_on_sock_read },
	{ "/asyncio/selector_events.py", "sock_sendall", PYH_CLS_SELECTORLOOP, pyh_on_sock_write },
	{ "/asyncio/selector_events.py", "sock_sendto", PYH_CLS_SELECTORLOOP, pyh_on_sock_write },
	{ "/asyncio/selector_events.py", "sock_connect", PYH_CLS_SELECTORLOOP,
	  pyh_on_sock_connect },
	{ "/asyncio/selector_events.py", "sock_accept", PYH_CLS_SELECTORLOOP, pyh_on_sock_accept },
	{ "/asyncio/base_events.py", "serve_forever", PYH_CLS_SERVER, pyh_on_serve },
	{ "/asyncio/threads.py", "to_thread", -1, pyh_on_thread },
	{ "/asyncio/base_subprocess.py", "_wait", PYH_CLS_SUBPROCESS, pyh_on_subprocess },
};

static int pyh_ends_with(const char *s, const char *suffix)
{
	size_t n, m;

	if (!s)
		return 0;
	n = strlen(s);
	m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* The first rule (innermost frame first) that matches; 1 when one did. */
static int pyh_apply_rules(struct pyh_await_ctx *c, const struct pyh_fut *task,
			   const struct pyh_chain *ch, const struct pyh_frame *named,
			   struct pyh_await *w)
{
	for (int i = 0; i < ch->n; i++) {
		const struct pyh_frame *fr = &named[i];
		int k = ch->n - 1 - i;	/* the chain keeps the outermost first */
		uint64_t self = 0;
		int self_read = 0;

		if (!fr->ci)
			continue;
		for (size_t r = 0; r < sizeof(pyh_await_rules) / sizeof(pyh_await_rules[0]); r++) {
			const struct pyh_await_rule *rule = &pyh_await_rules[r];

			if (strcmp(fr->ci->name, rule->name) || !pyh_ends_with(fr->ci->file, rule->file))
				continue;
			if (rule->cls >= 0) {
				if (!self_read) {
					self = pyh_local_of(c, &ch->frames[k], "self");
					self_read = 1;
				}
				if (!pyh_isinstance(c, self, rule->cls))
					continue;
			}
			rule->fn(c, task, ch, k, self, w);
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ classify */

/* A future awaited in a method of a protocol (or of an object holding its
 * protocol) whose transport is a socket: what comes is data on that socket
 * (aiohttp's client and server, and any asyncio.Protocol), so it is io on
 * the transport's fd. 1 when it is so. */
static int pyh_on_protocol(struct pyh_await_ctx *c, const struct pyh_fut *task,
			   const struct pyh_chain *ch, const struct pyh_frame *named,
			   struct pyh_await *w)
{
	static const char *const holders[] = { "transport", "_transport" };
	char label[PYH_AWAIT_LABEL];
	uint64_t self, transport = 0;
	int64_t fd = -1;
	int ev;

	if (ch->n == 0 || !named[0].ci)
		return 0;
	self = pyh_local_of(c, &ch->frames[ch->n - 1], "self");
	for (size_t i = 0; self && fd < 0 && i < sizeof(holders) / sizeof(holders[0]); i++)
		if (!pyh_aio_attr(c->a, self, holders[i], &transport))
			fd = pyh_transport_fd(c, transport);
	if (fd < 0)
		return 0;
	ev = pyh_selector_events(c, task->loop, fd);
	pyh_io_detail(c, w, ev > 0 && !(ev & PYH_SELECTOR_READ) ? "write" : "read", fd, task->loop,
		      ev > 0 && !(ev & PYH_SELECTOR_READ) ? PYH_SELECTOR_WRITE : PYH_SELECTOR_READ);
	pyh_obj_label(c, self, label, sizeof(label));
	pyh_detail_add(w, " (Future 0x%llx awaited in %s of %s)",
		       (unsigned long long)task->fut_waiter, pyh_frame_qualname(&named[0]), label);
	return 1;
}

/* A future of no known owner: by the innermost frame that awaits it. */
static void pyh_on_future(struct pyh_await_ctx *c, const struct pyh_fut *task,
			  const struct pyh_chain *ch, const struct pyh_frame *named,
			  struct pyh_await *w)
{
	static const char *const states[] = { "pending", "cancelled", "done" };
	struct pyh_fut f;
	char label[PYH_AWAIT_LABEL];
	uint64_t self;

	if (!pyh_aio_future(c->a, task->fut_waiter, &f))
		pyh_detail(w, PYH_AWAIT_FUTURE, "Future 0x%llx (%s)",
			   (unsigned long long)task->fut_waiter, states[f.state]);
	else
		pyh_detail(w, PYH_AWAIT_FUTURE, "awaitable 0x%llx (not an asyncio future)",
			   (unsigned long long)task->fut_waiter);
	if (ch->n == 0 || !named[0].ci)
		return;
	pyh_detail_add(w, " awaited in %s", pyh_frame_qualname(&named[0]));
	self = pyh_local_of(c, &ch->frames[ch->n - 1], "self");
	if (self) {
		pyh_obj_label(c, self, label, sizeof(label));
		pyh_detail_add(w, " of %s", label);
	}
}

int pyh_await_classify(struct pyh_await_ctx *c, const struct pyh_fut *task,
		       const struct pyh_chain *ch, const struct pyh_frame *named,
		       struct pyh_await *out)
{
	struct pyh_await w = { 0 };
	struct pyh_fut f;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (task->state != PYH_FUT_PENDING)
		return 0;
	if (!task->fut_waiter) {
		if (ch->end == PYH_CHAIN_BROKEN || ch->end == PYH_CHAIN_CYCLE)
			pyh_detail(&w, PYH_AWAIT_UNKNOWN, "the await chain is unreadable: %s", ch->error);
		*out = w;	/* ready to run, or running */
		return 0;
	}
	if (!pyh_aio_future(c->a, task->fut_waiter, &f) && pyh_fut_is_task(f.impl)) {
		rc = pyh_edge(&w, f.addr);
		pyh_detail(&w, PYH_AWAIT_TASK, "%s (0x%llx, %s)", f.name[0] ? f.name : "a task",
			   (unsigned long long)f.addr,
			   f.state == PYH_FUT_PENDING ? "pending" : f.state == PYH_FUT_DONE ? "done"
			   : "cancelled");
	} else if (!pyh_aio_future(c->a, task->fut_waiter, &f) && c->a->gathering &&
		   pyh_type_is_subclass(c->a->o, f.type, c->a->gathering) == 1) {
		uint64_t children = 0;
		char names[PYH_AWAIT_NAMES];
		int64_t n = 0, done = 0;

		if (pyh_aio_attr(c->a, f.addr, "_children", &children) ||
		    (rc = pyh_edges_from(c, children, &w, &n, &done, names, sizeof(names))))
			pyh_detail(&w, PYH_AWAIT_GATHER, "asyncio.gather(): its children are unreadable");
		else
			pyh_detail(&w, PYH_AWAIT_GATHER, "asyncio.gather(%lld): %lld done%s%s",
				   (long long)n, (long long)done, names[0] ? "; pending: " : "",
				   names);
		if (rc == -EFAULT || rc == -EINVAL)
			rc = 0;
	} else if (!pyh_apply_rules(c, task, ch, named, &w)) {
		int64_t fd;
		int ev;

		if (pyh_watched_fd(c, task->loop, task->fut_waiter, &fd, &ev))
			pyh_io_detail(c, &w, ev == PYH_SELECTOR_READ ? "read" : "write", fd,
				      task->loop, ev);
		else if (!pyh_on_protocol(c, task, ch, named, &w))
			pyh_on_future(c, task, ch, named, &w);
	}
	if (ch->end == PYH_CHAIN_BROKEN || ch->end == PYH_CHAIN_CYCLE)
		pyh_detail_add(&w, " (the await chain is unreadable: %s)", ch->error);
	if (rc == -ENOMEM) {
		pyh_await_free(&w);
		return rc;
	}
	*out = w;
	return 0;
}
