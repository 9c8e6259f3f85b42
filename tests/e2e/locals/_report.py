# Shared by the locals programs (not a test itself): what the interpreter itself says a
# frame's locals are, for run_locals.py to compare pyhang's output with. Runs on 2.7 and 3.x.
import json
import sys

# Types whose repr pyhang writes as the interpreter does; anything else is written as
# object.__repr__ writes it ("<module.Name object at 0x...>").
EXACT = (type(None), bool, int, float, str, bytes, tuple, list, dict, set, frozenset,
         type(lambda: 0))
if sys.version_info[0] == 2:
    EXACT += (long, unicode)  # noqa: F821 (2.7 only)


def _exact(v):
    if type(v) in EXACT:
        return True
    # an instance whose class keeps object.__repr__ (2.7 classic instances too)
    r = getattr(type(v), "__repr__", None)
    return r is object.__repr__ or type(v).__name__ == "instance"


def frame_locals(frame):
    """[(name, type name, repr, exact)] in code object order, as pyhang lists them:
    co_varnames + co_cellvars + co_freevars, each name once, unbound ones left out."""
    code = frame.f_code
    values = frame.f_locals
    out, seen = [], set()
    for name in code.co_varnames + code.co_cellvars + code.co_freevars:
        if name in seen or name not in values:
            continue
        seen.add(name)
        v = values[name]
        out.append([name, type(v).__name__, repr(v), _exact(v), id(v)])
    return out


def report(*frames):
    """Print one line: EXPECT [locals of frames[0], locals of frames[1], ...]."""
    doc = [frame_locals(f) for f in frames]
    sys.stdout.write("EXPECT " + json.dumps(doc) + "\n")
    sys.stdout.flush()


def ready():
    sys.stdout.write("READY\n")
    sys.stdout.flush()
