/* SPDX-License-Identifier: MIT */
/*
 * test_objects.c - the object readers (python/objects.h, python/pydict.h)
 * on real objects inside every installed interpreter (id() is the address),
 * including 3.14 and the free-threaded 3.14t, and the layout tables against
 * each 3.13+ interpreter's own _Py_DebugOffsets.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/elfsym.h"
#include "proc/maps.h"
#include "python/objects.h"
#include "python/pydict.h"
#include "python/target.h"
#include "python/version.h"

static const char *const pythons[] = {
	"/root/.pyenv/versions/2.7.18/bin/python",
	"/root/.pyenv/versions/3.6.15/bin/python",
	"/root/.pyenv/versions/3.7.16/bin/python",
	"/root/.pyenv/versions/3.8.18/bin/python",
	"/root/.pyenv/versions/3.9.18/bin/python",
	"/root/.pyenv/versions/3.10.13/bin/python",
	"/root/.pyenv/versions/3.11.7/bin/python",
	"/usr/bin/python3.11",
	"/root/.pyenv/versions/3.12.1/bin/python",
	"/root/.pyenv/versions/3.13.0/bin/python",
	"/root/.pyenv/versions/3.14.7/bin/python3.14",
	"/root/.pyenv/versions/3.14.7t/bin/python3.14t",
};

/* Runs on 2.7 and 3.x: builds the objects, prints "id ..." of each, waits. */
static const char script[] =
	"import sys, weakref\n"
	"class P(object):\n"
	"    def __init__(self):\n"
	"        self.x = 1\n"
	"        self.name = 'pt'\n"
	"class C:\n"
	"    def __init__(self):\n"
	"        self.a = 2\n"
	"def mk():\n"
	"    v = 42\n"
	"    def inner():\n"
	"        return v\n"
	"    return inner\n"
	"s = set(range(20))\n"
	"for i in range(10):\n"
	"    s.discard(i)\n"
	"d = {'a': 1, 'b': 2}\n"
	"d['c'] = 3\n"
	"del d['b']\n"
	"di = {1: 'one', 2: 'two'}\n"
	"p = P()\n"
	"q = P()\n"
	"q.__dict__['extra'] = 5\n"
	"c = C()\n"
	"fn = mk()\n"
	"big = {}\n"
	"for i in range(1000):\n"
	"    big['k%d' % i] = i\n"
	"objs = [None, True, False, 7, 2**100, -(2**70), 0.1, 'hello', u'caf\\xe9 \\u4e2d',\n"
	"        b'\\x00\\xff', (1, 2), [3, 4, 5], d, di, s, frozenset([7]),\n"
	"        fn.__closure__[0], weakref.ref(p), p, q, c, big, 0]\n"
	"sys.stdout.write(' '.join(str(id(o)) for o in objs) + '\\n')\n"
	"sys.stdout.flush()\n"
	"sys.stdin.read()\n";

enum {
	I_NONE, I_TRUE, I_FALSE, I_SEVEN, I_BIG, I_NEG, I_FLOAT, I_STR, I_USTR, I_BYTES, I_TUPLE,
	I_LIST, I_DICT, I_DICTI, I_SET, I_FSET, I_CELL, I_WEAK, I_P, I_Q, I_C, I_BIGDICT, I_ZERO,
	I_COUNT
};

struct child {
	pid_t pid;
	FILE *out;
	int in;
};

static int child_start(struct child *c, const char *python)
{
	int pin[2], pout[2];

	if (access(python, X_OK) != 0)
		return -1;
	assert_int_equal(pipe(pin), 0);
	assert_int_equal(pipe(pout), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		close(pin[1]);
		close(pout[0]);
		execl(python, python, "-c", script, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	c->in = pin[1];
	c->out = fdopen(pout[0], "r");
	assert_non_null(c->out);
	return 0;
}

static void child_stop(struct child *c)
{
	int st;

	close(c->in);
	fclose(c->out);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
}

static void open_objects(const char *python, pid_t pid, struct pyh_objects *o)
{
	struct pyh_pybinary bin;
	struct pyh_pyversion ver;
	struct pyh_target t;
	struct pyh_elf *elf = NULL;
	char err[256];
	int rc;

	/* Through an attached target where pyhang can attach (it gives the
	 * interpreter list head); else (3.14t) alone: 3.13+ find it themselves. */
	if (pyh_target_open(pid, &t, err, sizeof(err)) == 0) {
		struct pyh_objects own;

		rc = pyh_objects_from_target(o, &t, err, sizeof(err));
		if (rc)
			fail_msg("%s: pyh_objects_from_target: %s", python, err);
		/* the symbols the target resolved are those the file gives itself */
		assert_true(t.objsyms.resolved);
		rc = pyh_objects_open(&own, pid, &t.bin, &t.ver, t.interp_head_ptr, err, sizeof(err));
		if (rc)
			fail_msg("%s: pyh_objects_open: %s", python, err);
		assert_memory_equal(own.type_addr, o->type_addr, sizeof(own.type_addr));
		assert_true(o->type_addr[PYH_OBJ_DICT] != 0);
		assert_true(own.none == o->none && own.none != 0);
		assert_true(own.true_obj == o->true_obj && own.false_obj == o->false_obj);
		assert_true(own.set_dummy == o->set_dummy);
		assert_memory_equal(&own.l, &o->l, sizeof(own.l));
		pyh_objects_close(&own);
		return;
	}
	assert_int_equal(pyh_maps_find_python(pid, &bin), 0);
	assert_int_equal(pyh_elf_open(bin.host_path, &elf), 0);
	assert_int_equal(pyh_version_detect(pid, &bin, elf, &ver), 0);
	pyh_elf_close(elf);
	rc = pyh_objects_open(o, pid, &bin, &ver, 0, err, sizeof(err));
	if (rc)
		fail_msg("%s: pyh_objects_open: %s", python, err);
}

/* The object at a, read (it must be readable); a few at once stay valid. */
static const struct pyh_obj *G(struct pyh_objects *o, uint64_t a)
{
	static struct pyh_obj ring[4];
	static unsigned next;
	struct pyh_obj *ob = &ring[next++ % 4];
	int rc = pyh_obj_get(o, a, ob);

	if (rc)
		fail_msg("object at 0x%llx unreadable: %s", (unsigned long long)a, strerror(-rc));
	return ob;
}

static void expect_kind(struct pyh_objects *o, uint64_t addr, enum pyh_obj_kind kind,
			const char *type_name, const char *python)
{
	struct pyh_typeinfo ti;
	char name[PYH_TYPE_NAME_MAX];
	int rc = pyh_obj_type(o, addr, &ti);

	if (rc)
		fail_msg("%s: type of %s at 0x%llx: %s", python, type_name,
			 (unsigned long long)addr, strerror(-rc));
	assert_int_equal(pyh_obj_type_name(o, &ti, name, sizeof(name)), 0);
	if (ti.kind != kind || strcmp(name, type_name))
		fail_msg("%s: kind %d name %s, want %d %s", python, ti.kind, name, kind, type_name);
}

static int64_t small_int(struct pyh_objects *o, uint64_t addr)
{
	struct pyh_long v;
	int64_t i27;

	if (o->ver.major == 2 && pyh_obj_int27(o, G(o, addr), &i27) == 0)
		return i27;
	assert_int_equal(pyh_obj_long(o, G(o, addr), &v), 0);
	assert_true(v.ndigits <= 2);
	int64_t x = v.ndigits ? v.digits[0] : 0;
	if (v.ndigits == 2)
		x |= (int64_t)v.digits[1] << v.shift;
	return v.sign * x;
}

static void check_str(struct pyh_objects *o, uint64_t addr, const char *want)
{
	char buf[256];

	assert_true(pyh_obj_str_utf8(o, addr, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, want);
	assert_int_equal(pyh_obj_str_equals(o, addr, want), 1);
}

static int check_interpreter(const char *python)
{
	unsigned long long ids[I_COUNT];
	struct pyh_objects o;
	struct pyh_long v;
	struct pyh_kv kv[8];
	uint64_t items[8], value;
	uint32_t cps[16];
	uint8_t bytes[8];
	size_t n, len;
	double f;
	int b, py2;
	struct child c;

	if (child_start(&c, python) < 0)
		return 0;
	for (int i = 0; i < I_COUNT; i++)
		assert_int_equal(fscanf(c.out, "%llu", &ids[i]), 1);
	open_objects(python, c.pid, &o);
	py2 = o.ver.major == 2;
	/* 3.13+: the committed table agrees with the target's _Py_DebugOffsets */
	assert_int_equal(o.layout_from_target, o.ver.major == 3 && o.ver.minor >= 13);
	if (o.table_mismatch)
		fail_msg("%s: %d fields differ between _Py_DebugOffsets and the table", python,
			 o.table_mismatch);

	assert_int_equal(ids[I_NONE], o.none);
	expect_kind(&o, ids[I_NONE], PYH_OBJ_NONE, "NoneType", python);
	expect_kind(&o, ids[I_TRUE], PYH_OBJ_BOOL, "bool", python);
	assert_int_equal(pyh_obj_bool(&o, G(&o, ids[I_TRUE]), &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(pyh_obj_bool(&o, G(&o, ids[I_FALSE]), &b), 0);
	assert_int_equal(b, 0);
	expect_kind(&o, ids[I_SEVEN], py2 ? PYH_OBJ_INT27 : PYH_OBJ_LONG, "int", python);
	assert_int_equal(small_int(&o, ids[I_SEVEN]), 7);
	assert_int_equal(small_int(&o, ids[I_ZERO]), 0);
	expect_kind(&o, ids[I_BIG], PYH_OBJ_LONG, py2 ? "long" : "int", python);
	assert_int_equal(pyh_obj_long(&o, G(&o, ids[I_BIG]), &v), 0);
	/* 2**100 = digit 3 (bits 90..119) = 1 << 10 with 30-bit digits */
	assert_int_equal(v.sign, 1);
	assert_int_equal(v.ndigits, 4);
	assert_int_equal(v.digits[3], 1u << (100 - 3 * v.shift));
	assert_int_equal(pyh_obj_long(&o, G(&o, ids[I_NEG]), &v), 0);
	assert_int_equal(v.sign, -1);
	assert_int_equal(v.ndigits, 3);
	assert_int_equal(pyh_obj_float(&o, G(&o, ids[I_FLOAT]), &f), 0);
	assert_true(f == 0.1);
	expect_kind(&o, ids[I_STR], py2 ? PYH_OBJ_BYTES : PYH_OBJ_STR, "str", python);
	check_str(&o, ids[I_STR], "hello");
	expect_kind(&o, ids[I_USTR], py2 ? PYH_OBJ_UNICODE27 : PYH_OBJ_STR,
		    py2 ? "unicode" : "str", python);
	assert_int_equal(pyh_obj_str(&o, G(&o, ids[I_USTR]), cps, 16, &len), 0);
	assert_int_equal(len, 6);
	assert_int_equal(cps[3], 0xe9);
	assert_int_equal(cps[5], 0x4e2d);
	assert_int_equal(pyh_obj_str(&o, G(&o, ids[I_USTR]), cps, 2, &len), 0);
	assert_int_equal(len, 6);
	if (!py2) {
		expect_kind(&o, ids[I_BYTES], PYH_OBJ_BYTES, "bytes", python);
		assert_int_equal(pyh_obj_bytes(&o, G(&o, ids[I_BYTES]), bytes, sizeof(bytes), &len), 0);
		assert_int_equal(len, 2);
		assert_memory_equal(bytes, "\x00\xff", 2);
	}
	assert_int_equal(pyh_obj_seq(&o, G(&o, ids[I_TUPLE]), items, 8, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(small_int(&o, items[1]), 2);
	assert_int_equal(pyh_obj_seq(&o, G(&o, ids[I_LIST]), items, 2, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(small_int(&o, items[1]), 4);

	/* {'a': 1, 'c': 3} with a deleted entry between */
	assert_int_equal(pyh_dict_items(&o, G(&o, ids[I_DICT]), kv, 8, &n, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(n, 2);
	if (!py2) {	/* 2.7 iterates in slot order */
		check_str(&o, kv[0].key, "a");
		check_str(&o, kv[1].key, "c");
	}
	assert_int_equal(pyh_dict_get_str(&o, ids[I_DICT], "c", &value), 0);
	assert_int_equal(small_int(&o, value), 3);
	assert_int_equal(pyh_dict_get_str(&o, ids[I_DICT], "b", &value), -ENOENT);
	assert_int_equal(pyh_dict_items(&o, G(&o, ids[I_DICTI]), kv, 8, &n, &len), 0);
	assert_int_equal(n, 2);
	assert_int_equal(small_int(&o, kv[0].key), 1);
	check_str(&o, kv[1].value, "two");
	assert_int_equal(pyh_dict_items(&o, G(&o, ids[I_BIGDICT]), kv, 3, &n, &len), 0);
	assert_int_equal(len, 1000);
	assert_int_equal(n, 3);
	assert_int_equal(pyh_dict_get_str(&o, ids[I_BIGDICT], "k999", &value), 0);
	assert_int_equal(small_int(&o, value), 999);

	/* set(range(10, 20)) with ten deleted slots */
	assert_int_equal(pyh_set_items(&o, G(&o, ids[I_SET]), items, 8, &n, &len), 0);
	assert_int_equal(len, 10);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		int64_t x = small_int(&o, items[i]);

		assert_true(x >= 10 && x < 20);
	}
	expect_kind(&o, ids[I_FSET], PYH_OBJ_FROZENSET, "frozenset", python);
	assert_int_equal(pyh_set_items(&o, G(&o, ids[I_FSET]), items, 8, &n, &len), 0);
	assert_int_equal(n, 1);
	assert_int_equal(small_int(&o, items[0]), 7);

	assert_int_equal(pyh_obj_cell(&o, G(&o, ids[I_CELL]), &value), 0);
	assert_int_equal(small_int(&o, value), 42);
	assert_int_equal(pyh_obj_weakref(&o, G(&o, ids[I_WEAK]), &value), 0);
	assert_int_equal(value, ids[I_P]);

	/* instance attributes, without (p) and with (q) a materialised __dict__ */
	assert_int_equal(pyh_obj_attrs(&o, G(&o, ids[I_P]), kv, 8, &n, &len), 0);
	assert_int_equal(n, 2);
	check_str(&o, kv[0].key, "x");
	check_str(&o, kv[1].key, "name");
	check_str(&o, kv[1].value, "pt");
	assert_int_equal(pyh_obj_getattr(&o, ids[I_P], "x", &value), 0);
	assert_int_equal(small_int(&o, value), 1);
	assert_int_equal(pyh_obj_getattr(&o, ids[I_P], "nope", &value), -ENOENT);
	assert_int_equal(pyh_obj_attrs(&o, G(&o, ids[I_Q]), kv, 8, &n, &len), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pyh_obj_getattr(&o, ids[I_Q], "extra", &value), 0);
	assert_int_equal(small_int(&o, value), 5);
	assert_int_equal(pyh_obj_getattr(&o, ids[I_C], "a", &value), 0);
	assert_int_equal(small_int(&o, value), 2);
	{
		struct pyh_typeinfo ti;
		char rn[PYH_TYPE_NAME_MAX];

		assert_int_equal(pyh_obj_type(&o, ids[I_P], &ti), 0);
		assert_int_equal(pyh_obj_repr_name(&o, &ti, rn, sizeof(rn)), 0);
		assert_string_equal(rn, "__main__.P");
		expect_kind(&o, ids[I_C], py2 ? PYH_OBJ_INSTANCE27 : PYH_OBJ_OBJECT,
			    py2 ? "instance" : "C", python);
	}
	/* modules */
	{
		uint64_t mod, sep;

		assert_int_equal(pyh_sys_module(&o, "sys", &mod), 0);
		expect_kind(&o, mod, PYH_OBJ_MODULE, "module", python);
		assert_int_equal(pyh_module_getattr(&o, mod, "maxsize", &sep), 0);
		assert_int_equal(pyh_sys_module(&o, "__main__", &mod), 0);
		assert_int_equal(pyh_module_getattr(&o, mod, "d", &value), 0);
		assert_int_equal(value, ids[I_DICT]);
		assert_int_equal(pyh_sys_module(&o, "no_such_module_here", &mod), -ENOENT);
	}
	/* not an object / wrong type */
	assert_int_equal(pyh_obj_float(&o, G(&o, ids[I_STR]), &f), -EINVAL);
	assert_true(pyh_obj_long(&o, G(&o, ids[I_DICT]), &v) < 0);
	{
		struct pyh_obj ob;

		assert_true(pyh_obj_get(&o, 8, &ob) < 0);	/* not an object */
		assert_true(pyh_obj_get(&o, ids[I_STR] + 4, &ob) < 0);	/* misaligned */
	}
	assert_true(pyh_dict_items(&o, G(&o, ids[I_LIST]), kv, 8, &n, &len) < 0);
	pyh_objects_close(&o);
	child_stop(&c);
	return 1;
}

static void test_real_interpreters(void **state)
{
	int ran = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(pythons) / sizeof(pythons[0]); i++) {
		if (check_interpreter(pythons[i])) {
			printf("  %s: ok\n", pythons[i]);
			ran++;
		}
	}
	assert_true(ran > 0);
}

/* The committed generated tables are what the installed interpreters give. */
static void test_tables_current(void **state)
{
	static const char *const checks[] = {
		"tools/gen-objlayouts.sh --check",
		"tools/gen-unicode-printable.py --check",
		"tools/gen-repr-fixtures.py --check",
	};

	(void)state;
	if (access("tools/gen-objlayouts.sh", X_OK) ||
	    access("/root/.pyenv/versions/3.14.7/include/python3.14/Python.h", R_OK)) {
		skip();	/* not run from the source tree, or the interpreters are not all here */
		return;
	}
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "%s > /dev/null", checks[i]);
		if (system(cmd) != 0)
			fail_msg("%s: the committed table is out of date", checks[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_interpreters),
		cmocka_unit_test(test_tables_current),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
