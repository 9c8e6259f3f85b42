/* SPDX-License-Identifier: MIT */
/*
 * aio.c - finding a target's asyncio (types, registries, _asyncio's layout)
 * and reading one Future or Task. See aio.h.
 */
#include "asyncio/aio.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf/elfsym.h"
#include "native/modules.h"
#include "native/targetfile.h"
#include "proc/mem.h"
#include "python/pydict.h"

#define PYH_AIO_SECTION ".AsyncioDebug"
#define PYH_AIO_TASK_READ 256		/* bytes of a task read at once: TaskObj is 104 - 184 */
#define PYH_AIO_ATTRS_MAX 64		/* instance attributes looked at on a pure-Python task */

/* ------------------------------------------------------------ modules */

static uint64_t pyh_aio_global(struct pyh_aio *a, uint64_t module, const char *name)
{
	uint64_t v = 0;

	if (!module || pyh_module_getattr(a->o, module, name, &v))
		return 0;
	return v;
}

/* A class attribute (in the class's own dict). */
static uint64_t pyh_aio_class_attr(struct pyh_aio *a, uint64_t cls, const char *name)
{
	struct pyh_typeinfo ti;
	uint64_t v = 0;

	if (!cls || pyh_type_info(a->o, cls, &ti) || !ti.dict ||
	    pyh_dict_get_str(a->o, ti.dict, name, &v))
		return 0;
	return v;
}

/* A type object named by a module global, 0 when it is not one. */
static uint64_t pyh_aio_type(struct pyh_aio *a, uint64_t module, const char *name)
{
	struct pyh_typeinfo ti;
	uint64_t v = pyh_aio_global(a, module, name);

	return v && !pyh_type_info(a->o, v, &ti) ? v : 0;
}

/* The ELF file _asyncio was loaded from (or the interpreter itself when it is
 * built in), with the bias from its link-time addresses to the target's. */
static int pyh_aio_module_elf(struct pyh_aio *a, uint64_t module, struct pyh_elf **elf,
			      uint64_t *bias)
{
	struct pyh_nmodule *mods = NULL;
	char file[PATH_MAX];
	const struct pyh_nmodule *m = NULL;
	const char *base;
	int n = 0, rc, fd;

	file[0] = '\0';
	if (pyh_obj_str_utf8(a->o, pyh_aio_global(a, module, "__file__"), file, sizeof(file)) < 0 ||
	    file[0] != '/') {
		/* built into the interpreter */
		fd = pyh_pybinary_open(a->t->pid, &a->t->bin);
		rc = fd < 0 ? fd : pyh_elf_open_fd(fd, elf);
		*bias = a->t->bin.load_bias;
		return rc;
	}
	rc = pyh_nmodules_read(a->t->pid, &mods, &n);
	if (rc)
		return rc;
	base = strrchr(file, '/') + 1;
	for (int i = 0; i < n && !m; i++)
		if (!strcmp(mods[i].path, file))
			m = &mods[i];
	for (int i = 0; i < n && !m; i++) {
		const char *b = strrchr(mods[i].path, '/');

		if (b && !strcmp(b + 1, base))
			m = &mods[i];
	}
	if (!m) {
		free(mods);
		return -ENOENT;
	}
	fd = pyh_targetfile_open(a->t->pid, &(struct pyh_targetfile){ .map_start = m->map_start,
								      .map_end = m->map_end });
	rc = fd < 0 ? fd : pyh_elf_open_fd(fd, elf);
	if (!rc)
		*bias = pyh_elf_is_dyn(*elf) ? m->base - pyh_elf_first_load_vaddr(*elf) : 0;
	free(mods);
	return rc;
}

/* A static PyObject * of _asyncio (3.6's registries), by its .symtab name. */
static uint64_t pyh_aio_static(struct pyh_aio *a, const struct pyh_elf *elf, uint64_t bias,
			       const char *name)
{
	uint64_t value = 0, size = 0, v = 0;

	if (pyh_elf_symbol(elf, name, &value, &size) || size != 8 ||
	    pyh_mem_read_u64(a->o->pid, bias + value, &v))
		return 0;
	return v;
}

/* 3.14+: the AsyncioDebug section, from the target's memory. */
static int pyh_aio_debug_section(struct pyh_aio *a, const struct pyh_elf *elf, uint64_t bias,
				 char *err, size_t errsz)
{
	uint8_t buf[PYH_ASYNCIO_DEBUG_SIZE];
	uint64_t vaddr = 0, size = 0;
	int rc = pyh_elf_section(elf, PYH_AIO_SECTION, &vaddr, &size);

	if (rc) {
		snprintf(err, errsz, "_asyncio has no %s section", PYH_AIO_SECTION);
		return rc;
	}
	if (size < sizeof(buf)) {
		snprintf(err, errsz, "%s section of %llu bytes", PYH_AIO_SECTION,
			 (unsigned long long)size);
		return -EINVAL;
	}
	rc = pyh_mem_read(a->o->pid, bias + vaddr, buf, sizeof(buf));
	if (rc) {
		snprintf(err, errsz, "cannot read the %s section: %s", PYH_AIO_SECTION, strerror(-rc));
		return rc;
	}
	return pyh_aiolayout_from_debug(buf, sizeof(buf), &a->l, &a->layout_mismatch, err, errsz);
}

/* Append what and detail (NULL: none) to a->note, "; " between notes, cut to fit. */
static void pyh_aio_note(struct pyh_aio *a, const char *what, const char *detail)
{
	const char *parts[3] = { a->note[0] ? "; " : "", what, detail ? detail : "" };
	size_t w = strlen(a->note), room = sizeof(a->note) - 1;

	for (int i = 0; i < 3; i++)
		for (const char *p = parts[i]; *p && w < room; p++)
			a->note[w++] = *p;
	a->note[w] = '\0';
}

/* _asyncio's types and, where they live in its ELF file, its registries. */
static int pyh_aio_open_c(struct pyh_aio *a, char *err, size_t errsz)
{
	const struct pyh_pyversion *v = &a->t->ver;
	const struct pyh_aiolayout *table;
	struct pyh_elf *elf = NULL;
	uint64_t module = 0, bias = 0;
	char why[160];
	int rc;

	if (pyh_sys_module(a->o, "_asyncio", &module))
		return 0;	/* pure-Python asyncio only */
	a->c_future = pyh_aio_type(a, module, "Future");
	a->c_task = pyh_aio_type(a, module, "Task");
	if (!a->c_future || !a->c_task) {
		pyh_aio_note(a, "_asyncio has no readable Future and Task types", NULL);
		return 0;
	}
	table = pyh_aiolayout_table(v->major, v->minor, a->o->l.free_threaded);
	if (!table) {
		snprintf(err, errsz, "Python %d.%d.%d%s: pyhang does not know the layout of its "
			 "_asyncio tasks (it knows 3.6 - 3.14, 3.14t)", v->major, v->minor, v->micro,
			 a->o->l.free_threaded ? " (free-threaded)" : "");
		return -ENOTSUP;
	}
	a->l = *table;
	a->have_c = 1;
	if (v->minor != 6 && v->minor < 14)
		return 0;
	rc = pyh_aio_module_elf(a, module, &elf, &bias);
	if (rc) {
		pyh_aio_note(a, v->minor == 6 ? "3.6: _asyncio's file cannot be read, so neither "
			     "can its task registry" : "3.14: _asyncio's file cannot be read, so "
			     "neither can its AsyncioDebug section and task lists", NULL);
		return 0;
	}
	if (v->minor == 6) {
		a->c36_all = pyh_aio_static(a, elf, bias, "all_tasks");
		a->c36_current = pyh_aio_static(a, elf, bias, "current_tasks");
		if (!a->c36_all)
			pyh_aio_note(a, "3.6: _asyncio keeps its tasks in a static variable, and its "
				     "symbol table (.symtab) does not name it: C tasks are not found", NULL);
	} else if (pyh_aio_debug_section(a, elf, bias, why, sizeof(why)) == 0) {
		a->layout_from_target = 1;
		a->lists = 1;
	} else {
		pyh_aio_note(a, "C tasks are not found: ", why);
	}
	pyh_elf_close(elf);
	return 0;
}

int pyh_aio_open(struct pyh_aio *a, struct pyh_objects *o, const struct pyh_target *t,
		 char *err, size_t errsz)
{
	uint64_t tasks = 0, futures = 0, base = 0, coll = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	a->o = o;
	a->t = t;
	if (t->ver.major != 3 || t->ver.minor < 6)
		return -ENOENT;
	rc = pyh_sys_module(o, "asyncio.tasks", &tasks);
	if (rc) {
		if (rc != -ENOENT)
			snprintf(err, errsz, "cannot read the module table: %s", strerror(-rc));
		return rc;
	}
	pyh_sys_module(o, "asyncio.futures", &futures);
	if (pyh_sys_module(o, "asyncio.base_futures", &base))
		base = futures;		/* 3.6 keeps the state names in futures */
	a->py_future = pyh_aio_type(a, futures, "_PyFuture");
	a->py_task = pyh_aio_type(a, tasks, "_PyTask");
	a->gathering = pyh_aio_type(a, tasks, "_GatheringFuture");
	a->str_pending = pyh_aio_global(a, base, "_PENDING");
	a->str_cancelled = pyh_aio_global(a, base, "_CANCELLED");
	a->str_finished = pyh_aio_global(a, base, "_FINISHED");
	if (!pyh_sys_module(o, "collections", &coll))
		a->deque = pyh_aio_type(a, coll, "deque");
	rc = pyh_aio_open_c(a, err, errsz);
	if (rc)
		return rc;
	if (t->ver.minor == 6) {
		a->py36_all = pyh_aio_class_attr(a, a->py_task, "_all_tasks");
		a->py36_current = pyh_aio_class_attr(a, a->py_task, "_current_tasks");
	} else {
		a->scheduled = pyh_aio_global(a, tasks, t->ver.minor >= 12 ? "_scheduled_tasks"
									   : "_all_tasks");
		a->eager = t->ver.minor >= 12 ? pyh_aio_global(a, tasks, "_eager_tasks") : 0;
		a->current = pyh_aio_global(a, tasks, "_current_tasks");
		if (!a->scheduled)
			pyh_aio_note(a, "asyncio.tasks has no readable task registry", NULL);
	}
	return 0;
}

/* ------------------------------------------------------------ futures */

int pyh_aio_impl(struct pyh_aio *a, uint64_t type)
{
	if (a->c_task && pyh_type_is_subclass(a->o, type, a->c_task) == 1)
		return PYH_FUT_C_TASK;
	if (a->c_future && pyh_type_is_subclass(a->o, type, a->c_future) == 1)
		return PYH_FUT_C;
	if (a->py_task && pyh_type_is_subclass(a->o, type, a->py_task) == 1)
		return PYH_FUT_PY_TASK;
	if (a->py_future && pyh_type_is_subclass(a->o, type, a->py_future) == 1)
		return PYH_FUT_PY;
	return PYH_FUT_NOT;
}

static uint64_t pyh_aio_word(const uint8_t *buf, size_t len, uint32_t off)
{
	uint64_t v = 0;

	if (off != PYH_NO_FIELD && (size_t)off + 8 <= len)
		memcpy(&v, buf + off, 8);
	return v;
}

/* A task's name object as text: a str, or an int N for "Task-N". */
static void pyh_aio_name(struct pyh_aio *a, uint64_t name, struct pyh_fut *out)
{
	int64_t n;

	if (!name)
		return;
	if (pyh_obj_str_utf8(a->o, name, out->name, sizeof(out->name)) >= 0) {
		out->name_known = 1;
		return;
	}
	if (pyh_aio_int(a, name, &n) == 0) {
		snprintf(out->name, sizeof(out->name), "Task-%lld", (long long)n);
		out->name_known = 1;
		return;
	}
	out->name[0] = '\0';
}

static int pyh_aio_c_future(struct pyh_aio *a, const struct pyh_obj *ob, struct pyh_fut *out)
{
	const struct pyh_aiolayout *l = &a->l;
	uint8_t buf[PYH_AIO_TASK_READ];
	size_t len = ob->ti.basicsize < (int64_t)sizeof(buf) ? (size_t)ob->ti.basicsize : sizeof(buf);
	int32_t state;
	int rc = pyh_obj_read(a->o, ob, 0, buf, len);

	if (rc)
		return rc;
	if (l->fut_state == PYH_NO_FIELD || (size_t)l->fut_state + 4 > len)
		return -EINVAL;
	memcpy(&state, buf + l->fut_state, sizeof(state));
	if ((uint32_t)state == l->state_pending)
		out->state = PYH_FUT_PENDING;
	else if ((uint32_t)state == l->state_cancelled)
		out->state = PYH_FUT_CANCELLED;
	else if ((uint32_t)state == l->state_finished)
		out->state = PYH_FUT_DONE;
	else
		return -EINVAL;
	out->loop = pyh_aio_word(buf, len, l->fut_loop);
	if (l->fut_awaited_by != PYH_NO_FIELD) {
		out->awaited_by = pyh_aio_word(buf, len, l->fut_awaited_by);
		out->awaited_by_is_set = l->fut_awaited_by_is_set < len &&
					 buf[l->fut_awaited_by_is_set] == 1;
	}
	if (out->impl != PYH_FUT_C_TASK)
		return 0;
	out->coro = pyh_aio_word(buf, len, l->task_coro);
	out->fut_waiter = pyh_aio_word(buf, len, l->task_fut_waiter);
	pyh_aio_name(a, pyh_aio_word(buf, len, l->task_name), out);
	return 0;
}

static int pyh_aio_py_future(struct pyh_aio *a, const struct pyh_obj *ob, struct pyh_fut *out)
{
	struct pyh_kv kv[PYH_AIO_ATTRS_MAX];
	size_t n = 0, length = 0;
	uint64_t state = 0, name = 0;
	int rc = pyh_obj_attrs(a->o, ob, kv, PYH_AIO_ATTRS_MAX, &n, &length);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = kv[i].key, v = kv[i].value;

		if (pyh_obj_str_equals(a->o, k, "_state") == 1)
			state = v;
		else if (pyh_obj_str_equals(a->o, k, "_loop") == 1)
			out->loop = v;
		else if (pyh_obj_str_equals(a->o, k, "_coro") == 1)
			out->coro = v == a->o->none ? 0 : v;
		else if (pyh_obj_str_equals(a->o, k, "_fut_waiter") == 1)
			out->fut_waiter = v == a->o->none ? 0 : v;
		else if (pyh_obj_str_equals(a->o, k, "_name") == 1)
			name = v;
	}
	/* the state names are module constants: compare the objects, else the text */
	if (state && (state == a->str_pending || pyh_obj_str_equals(a->o, state, "PENDING") == 1))
		out->state = PYH_FUT_PENDING;
	else if (state && (state == a->str_cancelled ||
			   pyh_obj_str_equals(a->o, state, "CANCELLED") == 1))
		out->state = PYH_FUT_CANCELLED;
	else if (state && (state == a->str_finished ||
			   pyh_obj_str_equals(a->o, state, "FINISHED") == 1))
		out->state = PYH_FUT_DONE;
	else
		return -EINVAL;
	if (out->impl == PYH_FUT_PY_TASK)
		pyh_aio_name(a, name, out);
	return 0;
}

int pyh_aio_future(struct pyh_aio *a, uint64_t addr, struct pyh_fut *out)
{
	struct pyh_fut f;
	struct pyh_obj ob;
	int rc = pyh_obj_get(a->o, addr, &ob);

	if (rc)
		return rc;
	memset(&f, 0, sizeof(f));
	f.addr = addr;
	f.type = ob.ti.addr;
	f.impl = pyh_aio_impl(a, ob.ti.addr);
	switch (f.impl) {
	case PYH_FUT_C:
	case PYH_FUT_C_TASK:
		rc = a->have_c ? pyh_aio_c_future(a, &ob, &f) : -EINVAL;
		break;
	case PYH_FUT_PY:
	case PYH_FUT_PY_TASK:
		rc = pyh_aio_py_future(a, &ob, &f);
		break;
	default:
		rc = -EINVAL;
	}
	if (!rc)
		*out = f;
	return rc;
}

int pyh_aio_task_coro(struct pyh_aio *a, uint64_t task, int impl, uint64_t *coro)
{
	uint64_t v = 0;
	int rc;

	if (impl == PYH_FUT_C_TASK) {
		if (!a->have_c || a->l.task_coro == PYH_NO_FIELD)
			return -EINVAL;
		rc = pyh_mem_read_u64(a->o->pid, task + a->l.task_coro, &v);
	} else if (impl == PYH_FUT_PY_TASK) {
		rc = pyh_obj_getattr(a->o, task, "_coro", &v);
		if (!rc && v == a->o->none)
			v = 0;
	} else {
		return -EINVAL;
	}
	if (!rc)
		*coro = v;
	return rc;
}

/* ------------------------------------------------------------ attributes */

int pyh_aio_attr(struct pyh_aio *a, uint64_t obj, const char *name, uint64_t *value)
{
	return pyh_obj_attr(a->o, obj, name, value);
}

int pyh_aio_int(struct pyh_aio *a, uint64_t obj, int64_t *value)
{
	struct pyh_long *v;
	struct pyh_obj ob;
	uint64_t u = 0;
	int rc = pyh_obj_get(a->o, obj, &ob);

	if (rc)
		return rc;
	if (ob.ti.kind != PYH_OBJ_LONG && ob.ti.kind != PYH_OBJ_BOOL)
		return -EINVAL;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	rc = pyh_obj_long(a->o, &ob, v);
	for (size_t i = v->ndigits; !rc && i-- > 0;) {
		if (u >> (64 - v->shift))
			rc = -ERANGE;	/* more than 64 bits */
		u = u << v->shift | v->digits[i];
	}
	if (!rc && (u >> 63) && v->sign >= 0)
		rc = -ERANGE;
	if (!rc)
		*value = v->sign < 0 ? -(int64_t)u : (int64_t)u;
	free(v);
	return rc;
}

int pyh_aio_attr_int(struct pyh_aio *a, uint64_t obj, const char *name, int64_t *value)
{
	uint64_t v;
	int rc = pyh_aio_attr(a, obj, name, &v);

	return rc ? rc : pyh_aio_int(a, v, value);
}

int pyh_aio_attr_float(struct pyh_aio *a, uint64_t obj, const char *name, double *value)
{
	struct pyh_obj ob;
	uint64_t v;
	int64_t i;
	int rc = pyh_aio_attr(a, obj, name, &v);

	if (!rc)
		rc = pyh_obj_get(a->o, v, &ob);
	if (rc)
		return rc;
	if (ob.ti.kind == PYH_OBJ_FLOAT)
		return pyh_obj_float(a->o, &ob, value);
	rc = pyh_aio_int(a, v, &i);
	if (!rc)
		*value = (double)i;
	return rc;
}

int pyh_aio_attr_bool(struct pyh_aio *a, uint64_t obj, const char *name, int *value)
{
	uint64_t v;
	int rc = pyh_aio_attr(a, obj, name, &v);

	if (rc)
		return rc;
	if (v != a->o->true_obj && v != a->o->false_obj)
		return -EINVAL;
	*value = v == a->o->true_obj;
	return 0;
}

int pyh_aio_len(struct pyh_aio *a, uint64_t obj, int64_t *len)
{
	struct pyh_obj ob;
	int64_t size;
	int rc = pyh_obj_get(a->o, obj, &ob);

	if (rc)
		return rc;
	if (ob.ti.kind != PYH_OBJ_LIST && ob.ti.kind != PYH_OBJ_TUPLE &&
	    ob.ti.kind != PYH_OBJ_DICT && ob.ti.kind != PYH_OBJ_SET &&
	    !(a->deque && pyh_type_is_subclass(a->o, ob.ti.addr, a->deque) == 1))
		return -EINVAL;
	if (ob.ti.kind == PYH_OBJ_DICT || ob.ti.kind == PYH_OBJ_SET) {
		uint32_t off = ob.ti.kind == PYH_OBJ_DICT ? a->o->l.dict_used : a->o->l.set_used;

		rc = pyh_obj_read(a->o, &ob, off, &size, sizeof(size));
	} else {
		rc = pyh_obj_read(a->o, &ob, a->o->l.ob_size, &size, sizeof(size));
	}
	if (rc)
		return rc;
	if (size < 0 || size >= PYH_SEQ_MAX_LENGTH)
		return -EINVAL;
	*len = size;
	return 0;
}
