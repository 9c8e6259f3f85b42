"""The CPython interpreters every test and benchmark runs on: one list for all runners.

Each entry is (label, path). The list names what this project supports; only those present
on the machine (an executable file at the path) are returned by present(). Labels are the
pyenv version ("3.12.1"), "3.14.7t" for the free-threaded build, and "debian-3.11" for
Debian's stripped static /usr/bin/python3.11.

PYHANG_PYTHONS=3.12,2.7 (substrings of labels, comma-separated) narrows any runner to a subset.
"""
import os

PYENV = "/root/.pyenv/versions"
_PYENV_VERSIONS = ("2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7",
                   "3.12.1", "3.13.0")

ALL = [(v, os.path.join(PYENV, v, "bin", "python")) for v in _PYENV_VERSIONS]
# CPython 3.14.7 with the GIL and free-threaded, built by ../shared/cpython/build.sh (which
# installs bin/python3.14 and bin/python3.14t, no bin/python; .ci/run builds them).
ALL.append(("3.14.7", os.path.join(PYENV, "3.14.7", "bin", "python3.14")))
ALL.append(("3.14.7t", os.path.join(PYENV, "3.14.7t", "bin", "python3.14t")))
ALL.append(("debian-3.11", "/usr/bin/python3.11"))


def _exe(path):
    return path if os.access(path, os.X_OK) else None


def present(labels=None):
    """[(label, path)] of the interpreters on this machine, in version order.
    labels: only those whose label is in it (None: all). PYHANG_PYTHONS narrows further."""
    want = os.environ.get("PYHANG_PYTHONS")
    want = [w for w in want.split(",") if w] if want else None
    out = []
    for label, path in ALL:
        if labels is not None and label not in labels:
            continue
        if want and not any(w in label for w in want):
            continue
        exe = _exe(path)
        if exe:
            out.append((label, exe))
    return out


def free_threaded(label):
    return label.endswith("t")
