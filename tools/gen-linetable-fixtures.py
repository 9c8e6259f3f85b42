# -*- coding: utf-8 -*-
"""Generate line-table test vectors from a real CPython interpreter.

Usage: PYTHON tools/gen-linetable-fixtures.py OUTDIR

Compiles a set of source snippets with the running interpreter, and for every
code object found (recursively through co_consts) writes the raw line table
(co_lnotab <= 3.9, co_linetable 3.10+), co_firstlineno and, for every byte
offset of the code, the line the interpreter itself gives for it: the value of
its own C function PyCode_Addr2Line (what frame.f_lineno uses), called through
ctypes. Before writing, that ground truth is cross-checked against the
interpreter's Python-level view: dis.findlinestarts (<= 3.9, line of an offset
= the last line start <= offset) or co.co_lines() (3.10+; code offsets over
co_code, which has the length of co_code_adaptive on 3.11+).

The result is OUTDIR/linetable_<major><minor>.h, a C header of arrays that
tests/unit/test_linetable.c includes. Runs unchanged under 2.7 through 3.13.
"""
from __future__ import print_function

import ctypes
import dis
import os
import sys
import types

VER = sys.version_info
TAG = "%d%d" % (VER[0], VER[1])

if VER < (3, 0):
    KIND = "PYH_LNOTAB_27"
elif VER < (3, 10):
    KIND = "PYH_LNOTAB_36"
elif VER < (3, 11):
    KIND = "PYH_LINETABLE_310"
else:
    KIND = "PYH_LOCATIONS_311"


def big_function():
    # A 300+ line function with line jumps > 255 (lnotab needs split pairs),
    # and back again through a loop (negative deltas on 3.6+).
    lines = ["def big(n):", "    total = 0", "    for i in range(n):"]
    lines.append("        total += i")
    lines.extend([""] * 290)
    lines.append("        if total > 1000:")
    lines.append("            break")
    lines.extend(["    # filler"] * 20)
    lines.append("    total = (total +")
    lines.extend([""] * 300)
    lines.append("             1)")
    lines.append("    return total")
    return "\n".join(lines) + "\n"


def long_line_function():
    # More than 255 bytes of code on one line (lnotab addr-incr split), and
    # columns > 127 (3.11 long / no-column forms).
    names = ["v%d" % i for i in range(150)]
    args = ", ".join(names)
    body = " + ".join(names)
    pad = " " * 200
    return ("def long_line(%s):\n"
            "    r = %s\n"
            "    if r:%sr = (r *\n"
            "            2)\n"
            "    return r\n") % (args, body, pad)


SNIPPETS = [
    ("loops", """
def loops(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        total += i
    while total > 10:
        total -= 7
    else:
        total += 1
    return total
"""),
    ("multiline", """
def multiline(a, b,
              c=3):
    x = (a +
         b +
         c)
    y = [a,
         b,
         c]
    d = {
        'k': a,
        'j': b,
    }
    return x, y, d
"""),
    ("negative", """
def callee(*args):
    return args

def negative(a, b):
    r = callee(
        a,
        b,
        a + b,
    )
    s = (a
         if b else
         a + b)
    return r, s
"""),
    ("decorated", """
def deco(f):
    return f

class K(object):
    @deco
    @deco
    def method(self, x):
        return x

    @staticmethod
    def static(y):
        return y * 2
"""),
    ("nested", """
def outer(n):
    def inner(m):
        def innermost(k):
            return k + m + n
        return innermost(m)
    f = lambda q: (q +
                   n)
    g = [x * 2 for x in range(n)
         if x]
    return inner(n) + f(1) + sum(g)
"""),
    ("tryfinally", """
def tryfinally(f):
    try:
        v = f()
    except ValueError:
        v = None
    except (KeyError, IndexError) as e:
        v = e
    else:
        v = 1
    finally:
        f = None
    try:
        pass
    finally:
        v = 2
    return v
"""),
    ("generator", """
def gen(n):
    for i in range(n):
        yield i
    x = yield
    return
"""),
    ("farfirstline", "\n" * 70000 + """
def farfirstline(a):
    b = a
    return b
"""),
    ("bigfunc", big_function()),
    ("longline", long_line_function()),
    # Snippets that need newer syntax; skipped where they do not compile.
    ("py3_async", """
async def agen(x):
    async with x as y:
        await y
    async for z in x:
        await z
"""),
    ("py36_fstring", """
def fmt(a, b):
    return f'{a!r:>10} and {b}'
"""),
    ("py38_walrus", """
def walrus(xs):
    if (n := len(xs)) > 3:
        return n
    return [y for x in xs if (y := x * 2)]
"""),
    ("py310_match", """
def matcher(v):
    match v:
        case [a, b]:
            return a
        case {'k': c}:
            return c
        case _:
            return None
"""),
]


def walk_code(co, prefix):
    name = getattr(co, "co_qualname", co.co_name)
    yield prefix + ":" + name, co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            for item in walk_code(c, prefix):
                yield item


addr2line = ctypes.pythonapi.PyCode_Addr2Line
addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
addr2line.restype = ctypes.c_int


def table_of(co):
    if VER >= (3, 10):
        return bytearray(co.co_linetable)
    return bytearray(co.co_lnotab)


def truth_from_python(co, n):
    """The line of every byte offset as Python-level tools give it."""
    lines = [None] * n
    if VER >= (3, 10):
        for start, end, line in co.co_lines():
            for off in range(max(start, 0), min(end, n)):
                lines[off] = -1 if line is None else line
        return [(-1 if l is None else l) for l in lines]
    starts = list(dis.findlinestarts(co))
    cur = co.co_firstlineno
    it = 0
    for off in range(n):
        while it < len(starts) and starts[it][0] <= off:
            cur = starts[it][1]
            it += 1
        lines[off] = cur
    return lines


def instruction_offsets(co):
    if hasattr(dis, "get_instructions"):
        return set(i.offset for i in dis.get_instructions(co))
    # 2.7: walk opcodes by hand.
    code = bytearray(co.co_code)
    offs = set()
    i = 0
    while i < len(code):
        offs.add(i)
        i += 3 if code[i] >= dis.HAVE_ARGUMENT else 1
    return offs


def c_bytes(data):
    if not data:
        return "0"
    out = []
    for i in range(0, len(data), 16):
        out.append(", ".join("0x%02x" % b for b in data[i:i + 16]))
    return ",\n\t".join(out)


def c_ints(vals):
    if not vals:
        return "0"
    out = []
    for i in range(0, len(vals), 16):
        out.append(", ".join("%d" % v for v in vals[i:i + 16]))
    return ",\n\t".join(out)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/unit/fixtures"
    vectors = []
    skipped = []
    for sname, src in SNIPPETS:
        try:
            mod = compile(src, "<fixture:%s>" % sname, "exec")
        except SyntaxError:
            skipped.append(sname)
            continue
        for qual, co in walk_code(mod, sname):
            n = len(co.co_code)
            truth = [addr2line(co, off) for off in range(n)]
            pyview = truth_from_python(co, n)
            for off in sorted(instruction_offsets(co)):
                if truth[off] != pyview[off]:
                    sys.exit("%s: offset %d: PyCode_Addr2Line says %d, python-level %d"
                             % (qual, off, truth[off], pyview[off]))
            vectors.append((qual, co.co_firstlineno, table_of(co), truth))

    tag = TAG
    path = os.path.join(outdir, "linetable_%s.h" % tag)
    with open(path, "w") as f:
        w = f.write
        w("/* Generated by tools/gen-linetable-fixtures.py under Python %s.\n"
          " * Do not edit: rerun the script with that interpreter. */\n"
          % sys.version.split()[0])
        w("#include \"linetable_vector.h\"\n\n")
        for i, (qual, first, table, truth) in enumerate(vectors):
            w("/* %s */\n" % qual)
            w("static const uint8_t lt%s_%d_table[] = {\n\t%s\n};\n" % (tag, i, c_bytes(table)))
            w("static const int lt%s_%d_lines[] = {\n\t%s\n};\n" % (tag, i, c_ints(truth)))
        w("\nstatic const struct pyh_lt_vector lt%s_vectors[] = {\n" % tag)
        for i, (qual, first, table, truth) in enumerate(vectors):
            w("\t{ \"%s\", %s, %d, lt%s_%d_table, %d, lt%s_%d_lines, %d },\n"
              % (qual, KIND, first, tag, i, len(table), tag, i, len(truth)))
        w("};\n")
        w("static const char lt%s_version[] = \"%s\";\n" % (tag, sys.version.split()[0]))
    print("%s: %d code objects, %d offsets, skipped snippets: %s"
          % (path, len(vectors), sum(len(v[3]) for v in vectors), ", ".join(skipped) or "none"))


if __name__ == "__main__":
    main()
