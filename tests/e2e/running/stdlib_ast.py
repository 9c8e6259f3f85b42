# The standard library's own ast.NodeVisitor walking the parsed modules of the
# standard library: CPU-bound, deep, changing fast, in code nobody here wrote.
# CALLS: which callers each function (co_name) may have, in ast.py of every
# version from 2.7 to 3.14 (visit -> generic_visit -> visit ... recursion,
# iter_fields a generator, parse compiling in C).
import ast
import io
import json
import os
import sys

CALLS = {
    "main": ["<module>"],
    "one": ["main"],
    "parse": ["one"],
    "visit": ["one", "generic_visit"],
    "generic_visit": ["visit", "visit_Constant"],
    "iter_fields": ["generic_visit"],
    "visit_Constant": ["visit"],    # 3.8+: NodeVisitor.visit_Constant forwards old visitors
}

STDLIB = os.path.dirname(ast.__file__)
FILES = sorted(os.path.join(STDLIB, f) for f in os.listdir(STDLIB) if f.endswith(".py"))


def one(path):
    with io.open(path, "rb") as f:
        src = f.read()
    try:
        tree = ast.parse(src, path)
    except (SyntaxError, ValueError):
        return
    ast.NodeVisitor().visit(tree)


def main():
    while True:
        for path in FILES:
            one(path)


sys.stdout.write("READY " + json.dumps(CALLS) + "\n")
sys.stdout.flush()
main()
