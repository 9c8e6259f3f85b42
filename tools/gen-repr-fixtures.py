#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""gen-repr-fixtures.py - regenerate tests/unit/fixtures/repr_cases.h: what real interpreters
print for repr() of floats, ints and str / bytes / unicode literals, for the pure formatters
of src/python/reprfmt.c to be checked against (tests/unit/test_reprfmt.c).

  tools/gen-repr-fixtures.py           rewrite the fixture
  tools/gen-repr-fixtures.py --check   regenerate to memory and compare

Floats and ints are asked of Debian's /usr/bin/python3 (repr(float) and repr(int) are the same
on every 3.x; 2.7 longs add "L", which the test adds itself); texts of each pyenv interpreter
below, since str.__repr__ depends on the version's Unicode database.
"""
import os
import random
import struct
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(TOP, "tests", "unit", "fixtures", "repr_cases.h")
PYENV = os.environ.get("PYENV_ROOT", "/root/.pyenv") + "/versions"
TEXT_VERSIONS = [("2.7.18", "python2.7"), ("3.6.15", "python3.6"), ("3.7.16", "python3.7"),
                 ("3.8.18", "python3.8"), ("3.11.7", "python3.11"), ("3.12.1", "python3.12"),
                 ("3.14.7", "python3.14")]

FLOATS = [0.1, 0.2, 0.3, 1.0, -1.0, 1.5, 100.0, 1e16, 1e15, 9999999999999998.0, 1e17, 1e-4,
          1e-5, 0.00012345, 1.2345e-5, 123456789.123, 1e22, 1e23, 5e-324, 2.2250738585072014e-308,
          1.7976931348623157e308, 2.0 ** 60, 2.0 ** 63, 2.0 ** 64, 2.0 ** -1074, 3.141592653589793,
          2.718281828459045, 1 / 3.0, 2 / 3.0, 0.1 + 0.2, 1e300 * 1e10, -1e300 * 1e10, 123.456,
          1234567890123456.0, 12345678901234567.0, 4.35, 0.5, 0.25, 0.125, 1e-7, 1.25e-7,
          9007199254740993.0, 295147905179352825856.0, 0.000123, 1e100, 1e-100, 7.0e-10]
INTS = [0, 1, -1, 7, 2 ** 30 - 1, 2 ** 30, 2 ** 60, 2 ** 63, -(2 ** 63), 2 ** 64, 2 ** 100,
        -(2 ** 100), -(2 ** 70), 10 ** 18, 10 ** 19, 10 ** 27, 10 ** 100 + 1, 3 ** 200,
        -(7 ** 150), 999999999, 1000000000, 10 ** 9 * 2 ** 30]

# Texts as code point lists; each version prints str (3.x), bytes (of the code points < 256).
TEXTS = [
    [], [ord(c) for c in "hello"], [ord(c) for c in "it's"], [ord(c) for c in 'say "hi"'],
    [ord(c) for c in "both ' and \""], [ord(c) for c in "tab\there\nnl\r\x00\x7f\\"],
    [0xe9, 0xf6, 0x4e2d, 0x6587, 0x1f600], [0xd800, ord("x"), 0xdfff], [0x85, 0xa0, 0xad, 0x200b],
    [0x2028, 0xfeff, 0xffff, 0x10ffff, 0xe000], [0x378, 0x37f, 0x1f97a, 0x1f6d5, 0x870, 0x1fae8,
                                                   0x1fa89, 0x31350, 0x2ebf0, 0x1cc00],
    [ord("'")], [ord('"')], [0x7e, 0x7f, 0x80, 0x9f, 0xff], list(range(0, 32)),
]


def run(py, code):
    return subprocess.run([py, "-c", code], check=True, capture_output=True).stdout.decode("ascii")


def floats():
    random.seed(12)
    vals = list(FLOATS) + [-x for x in FLOATS[:10]]
    for _ in range(400):
        vals.append(struct.unpack("<d", struct.pack("<Q", random.getrandbits(64)))[0])
    for _ in range(100):
        vals.append(random.uniform(-1e6, 1e6))
    vals = [v for v in vals if v == v]     # nan is checked by the test itself
    out = []
    for v in vals:
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        out.append("\t{ 0x%016xull, \"%s\" }," % (bits, repr(v)))
    return out


def ints():
    out = []
    for v in INTS:
        a, digits = abs(v), []
        while a:
            digits.append(a & (2 ** 30 - 1))
            a >>= 30
        sign = -1 if v < 0 else (1 if v else 0)
        out.append("\t{ %d, %d, { %s }, \"%s\" }," % (
            sign, len(digits), ", ".join("0x%x" % d for d in digits) or "0", repr(v)))
    return out


def texts():
    out = []
    code = ("import sys\n"
            "texts = %r\n"
            "esc = repr if sys.version_info[0] == 2 else ascii\n"
            "def u(cps):\n"
            "    try:\n"
            "        return u''.join(unichr(c) for c in cps)\n"
            "    except NameError:\n"
            "        return u''.join(chr(c) for c in cps)\n"
            "for cps in texts:\n"
            "    s = u(cps)\n"
            "    b = bytes(bytearray(c for c in cps if c < 256))\n"
            "    sys.stdout.write(esc(repr(s)) + '\\t' + esc(repr(b)) + '\\n')\n" % TEXTS)
    for version, exe in TEXT_VERSIONS:
        py = os.path.join(PYENV, version, "bin", exe)
        lines = run(py, code).splitlines()
        minor = int(version.split(".")[1])
        major = int(version.split(".")[0])
        for i, line in enumerate(lines):
            s_repr, b_repr = [eval(x) for x in line.split("\t")]
            if major == 2:      # 2.7's repr of its own str: bytes, as latin-1 text here
                s_repr, b_repr = [x.encode("latin-1") for x in (s_repr, b_repr)]
            out.append("\t{ %d, %d, %d, \"%s\", \"%s\" }," % (
                major, minor, i, c_escape(s_repr), c_escape(b_repr)))
    return out


def c_escape(s):
    data = s.encode("utf-8") if isinstance(s, str) else s
    return "".join(chr(b) if 0x20 <= b < 0x7f and chr(b) not in '"\\?' else "\\%03o" % b
                   for b in data)


def generate():
    lines = [
        "/* SPDX-License-Identifier: MIT */",
        "/* GENERATED by tools/gen-repr-fixtures.py: do not edit. What real CPythons print. */",
        "#ifndef PYH_TEST_REPR_CASES_H",
        "#define PYH_TEST_REPR_CASES_H",
        "#include <stdint.h>",
        "",
        "struct float_case { uint64_t bits; const char *repr; };",
        "static const struct float_case float_cases[] = {",
    ] + floats() + [
        "};",
        "",
        "struct long_case { int sign; unsigned ndigits; uint32_t digits[32]; const char *repr; };",
        "static const struct long_case long_cases[] = {",
    ] + ints() + [
        "};",
        "",
        "/* The texts, as code points (the bytes case takes those below 256). */",
    ]
    for i, t in enumerate(TEXTS):
        lines.append("static const uint32_t text_%d[] = { %s };" % (
            i, ", ".join("0x%x" % c for c in t) or "0"))
    lines += ["struct text_def { const uint32_t *cps; unsigned n; };",
              "static const struct text_def texts[] = {"]
    for i, t in enumerate(TEXTS):
        lines.append("\t{ text_%d, %d }," % (i, len(t)))
    lines += ["};", "",
              "/* repr(str) (2.7: unicode) and repr(bytes) (2.7: str) of texts[index]. */",
              "struct text_case { int major, minor, index; const char *str, *bytes; };",
              "static const struct text_case text_cases[] = {"] + texts() + [
              "};", "", "#endif", ""]
    return "\n".join(lines)


def main():
    check = sys.argv[1:] == ["--check"]
    text = generate()
    if check:
        with open(OUT) as f:
            if f.read() != text:
                sys.exit("gen-repr-fixtures: %s is out of date" % OUT)
        print("gen-repr-fixtures: %s is up to date" % OUT)
        return
    with open(OUT, "w") as f:
        f.write(text)
    print("gen-repr-fixtures: wrote %s" % OUT)


if __name__ == "__main__":
    main()
