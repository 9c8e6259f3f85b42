# Shared by the e2e programs (not a test itself): thread start-up, the READY handshake
# and, when PYHANG_E2E_SELFCHECK is set, a dump of the program's own stacks taken with
# sys._current_frames() so the driver can check its markers without pyhang.
# Runs unchanged on Python 2.7 and 3.x.
import json
import os
import sys
import tempfile
import threading
import time


def start(target, *args):
    """Start target(*args) in a daemon thread (so Ctrl-C on a manual run exits)."""
    t = threading.Thread(target=target, args=args)
    t.daemon = True
    t.start()
    return t


def settle(events, timeout=30.0):
    """Wait until every event is set (each thread sets its own just before the
    blocking call), then give the threads 0.3 s to get into that call."""
    deadline = time.time() + timeout
    for ev in events:
        ev.wait(max(0.0, deadline - time.time()))
        if not ev.is_set():
            sys.stderr.write("e2e: a thread never got into position\n")
            sys.stderr.flush()
            os._exit(3)
    time.sleep(0.3)


def scratch_dir():
    """A directory for the program's files: the driver's per-run one, else a new one."""
    return os.environ.get("PYHANG_E2E_TMP") or tempfile.mkdtemp(prefix="pyhang-e2e-")


def ready():
    """Print READY (flushed). The caller then blocks at once or is already settled."""
    if os.environ.get("PYHANG_E2E_SELFCHECK"):
        start(_selfcheck)
    sys.stdout.write("READY\n")
    sys.stdout.flush()


def _text(s):
    if isinstance(s, bytes):
        return s.decode("utf-8", "replace")
    return s


def _selfcheck():
    time.sleep(0.3)
    me = threading.current_thread().ident
    threads = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        frames = []
        f = frame
        while f is not None and len(frames) < 5000:
            code = f.f_code
            frames.append({"function": _text(code.co_name),
                           "file": _text(code.co_filename),
                           "line": f.f_lineno})
            f = f.f_back
        threads.append({"tid": ident, "frames": frames})
    doc = {"pid": os.getpid(), "threads": threads}
    sys.stdout.write("SELFCHECK " + json.dumps(doc) + "\n")
    sys.stdout.flush()
