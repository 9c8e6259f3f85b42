# Healthy for ~3 s, then the main thread does changing CPU-bound work in code
# nobody here wrote: the standard library's ast.NodeVisitor walks the parsed
# modules of the standard library, one after another, without a pause. Deep,
# never in the same few stacks for long: watch must report nothing.
import ast
import io
import os

import _healthy

STDLIB = os.path.dirname(ast.__file__)
TREES = []
for name in sorted(os.listdir(STDLIB)):
    if name.endswith(".py"):
        with io.open(os.path.join(STDLIB, name), "rb") as f:
            src = f.read()
        try:
            TREES.append(ast.parse(src, name))
        except (SyntaxError, ValueError):
            pass

_healthy.start_background()
_healthy.ready()
_healthy.healthy()
_healthy.hang_start()
visitor = ast.NodeVisitor()
while True:
    for tree in TREES:
        visitor.visit(tree)
