#!/usr/bin/python3
"""End-to-end tests of `pyhang dump --native` on every interpreter present.

  tutorial        examples/stuck.py (time.sleep(10) inside next(i) in a while loop): kernel
                  sleep frames first, then libc's sleep call, then (where the interpreter has
                  symbols) its sleep function, then next, then <module>, in that order; the
                  target never seen stopped (/proc state sampled during the dump). Run twice:
                  with the separate debug files (libc6-dbg) visible and with /usr/lib/debug
                  hidden in the target's own mount namespace: libc's local
                  __libc_start_call_main is named only with them, its exported functions always.
  corpus          every program of programs/ (run_e2e.py's markers): the Python frames of
                  --native are exactly those of a plain dump and meet every marker; each blocked
                  thread starts with kernel frames, then native ones; a thread that was running
                  says so instead.
  deleted-library a C function in a library deleted after it was loaded (ctypes): named, marked
                  deleted, unwound through it to the Python frames.
  no-cfi          the same library built without call-frame information: the unwind stops at it
                  and says where and why; the Python frames follow, after the gap.
  no-bpf          pyhang without CAP_BPF / CAP_PERFMON (only CAP_SYS_PTRACE): one line on stderr
                  naming what is missing, Python frames as without --native, exit 0.
  record          `record --native` of a loop calling zlib.compress on every interpreter, and
                  of one calling numpy (Debian's python3-numpy, /usr/bin/python3.11): most
                  samples show the C function (deflate in libz, numpy's _multiarray_umath)
                  below the Python line that called it, with only native frames between; no
                  eval frame is left; svg, speedscope and pprof carry the native frames too.

Output is TAP-like, ending with "N passed, N failed, N skipped".

  run_native.py PYHANG [--interp LABEL]... [-j N]
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_e2e as e2e  # noqa: E402  (Target, the corpus and its markers, the report)

STUCK = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples", "stuck.py")
SLEEP_SYSCALLS = {23: "select", 35: "nanosleep", 230: "clock_nanosleep", 270: "pselect6"}
KERNEL_SLEEP = re.compile(r"nanosleep|nsleep|select|poll_schedule|hrtimer")
LIBC_SLEEP = {"clock_nanosleep", "__clock_nanosleep", "nanosleep", "__nanosleep", "select",
              "__select", "pselect", "__pselect"}
INTERP_SLEEP = {"pysleep", "time_sleep", "floatsleep"}
DEBUG_ONLY_LIBC = "__libc_start_call_main"     # local in libc: only its debug file names it
LIBC_DEBUG = "/usr/lib/debug/.build-id"
SETTLE_TIMEOUT = 30.0
DUMP_TIMEOUT = 20.0
ATTEMPTS = 3        # stuck.py wakes every 10 s: a dump that meets the wake-up is taken again


def libc_has_debug_file():
    """True when libc6-dbg's file for this libc is installed."""
    try:
        out = subprocess.run(["readelf", "-n", "/lib/x86_64-linux-gnu/libc.so.6"],
                             capture_output=True, timeout=30).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return False
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    return bool(m) and os.path.exists(
        os.path.join(LIBC_DEBUG, m.group(1)[:2], m.group(1)[2:] + ".debug"))


class StateSampler(object):
    """Reads the state of every thread of pid until stopped; remembers any T/t seen."""

    def __init__(self, pid):
        self.pid = pid
        self.stopped = []
        self.samples = 0
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run)
        self.t.daemon = True
        self.t.start()

    def _run(self):
        while not self.done.is_set():
            states = e2e.proc_states(self.pid)
            self.samples += 1
            self.stopped.extend((tid, s) for tid, s in states.items() if s in "tT")
            time.sleep(0.0005)

    def stop(self):
        self.done.set()
        self.t.join()


def syscall_nr(pid):
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_sleeping(pid, timeout=SETTLE_TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if syscall_nr(pid) in SLEEP_SYSCALLS:
            return True
        time.sleep(0.01)
    return False


def native_dump(pyhang, pid, extra=(), prefix=()):
    """(doc, stderr, seconds) or (None, why, seconds)."""
    rc, out, err, secs = e2e.run_pyhang(pyhang, ["dump", "--native", "--json"] + list(extra) +
                                        ["--pid", str(pid)], timeout=DUMP_TIMEOUT, prefix=prefix)
    if rc is None:
        return None, "timed out after %gs" % DUMP_TIMEOUT, secs
    if rc != 0:
        return None, "exit %d: %s" % (rc, err.strip()[:300]), secs
    try:
        return json.loads(out), err, secs
    except ValueError as e:
        return None, "not JSON (%s): %r" % (e, out[:200]), secs


def thread_of(doc, tid):
    for t in doc.get("threads", []):
        if t.get("tid") == tid:
            return t
    return None


def show(frames, upto=12):
    out = []
    for f in frames[:upto]:
        if f.get("kind") == "python":
            out.append("%s:%s" % (f.get("function"), f.get("line")))
        else:
            out.append("%s[%s]" % (f.get("function"), f.get("kind")[0]))
    return " ".join(out)

# ---------------------------------------------------------------- the tutorial program


def check_tutorial(frames, label, debug_visible, libc_debug):
    """Errors for the main thread's frames of stuck.py."""
    errs = []
    kinds = [f.get("kind") for f in frames]
    if not frames or kinds[0] != "kernel":
        return ["frame 0 is not a kernel frame: %s" % show(frames)]
    k = 0
    while k < len(frames) and kinds[k] == "kernel":
        k += 1
    if not any(KERNEL_SLEEP.search(f.get("function") or "") for f in frames[:k]):
        errs.append("no kernel sleep frame among %s" % show(frames[:k]))
    if any(x == "kernel" for x in kinds[k:]):
        errs.append("kernel frames after user frames: %s" % show(frames))
    if k >= len(frames) or kinds[k] != "native":
        return errs + ["no native frame after the kernel ones: %s" % show(frames)]
    libc = frames[k]
    if os.path.basename(str(libc.get("library"))) != "libc.so.6" or \
            libc.get("function") not in LIBC_SLEEP:
        errs.append("first user frame is %s in %s, want libc's sleep" % (
            libc.get("function"), libc.get("library")))
    py = [i for i, f in enumerate(frames) if f.get("kind") == "python"]
    if len(py) < 2:
        return errs + ["fewer than 2 Python frames: %s" % show(frames)]
    first, second = frames[py[0]], frames[py[1]]
    if (first.get("function"), first.get("line")) != ("next", 7):
        errs.append("first Python frame %s:%s, want next:7" % (first.get("function"),
                                                                 first.get("line")))
    if (second.get("function"), second.get("line")) != ("<module>", 13):
        errs.append("second Python frame %s:%s, want <module>:13" % (second.get("function"),
                                                                       second.get("line")))
    between = frames[k + 1:py[0]]
    if any(f.get("kind") != "native" for f in between):
        errs.append("non-native frames between libc and next: %s" % show(between))
    if label != "debian-3.11":      # pyenv builds keep .symtab; Debian's is stripped
        names = [f.get("function") for f in between]
        if not any(n in INTERP_SLEEP for n in names):
            errs.append("no interpreter sleep function (%s) between libc and next: %s" % (
                "/".join(sorted(INTERP_SLEEP)), names))
    if libc_debug:
        named = any(f.get("function") == DEBUG_ONLY_LIBC for f in frames)
        if debug_visible and not named:
            errs.append("%s not named although libc6-dbg is installed" % DEBUG_ONLY_LIBC)
        if not debug_visible and named:
            errs.append("%s named although the debug files are hidden" % DEBUG_ONLY_LIBC)
    if not any(f.get("function") == "__libc_start_main" for f in frames):
        errs.append("__libc_start_main (exported by libc) not named")
    return errs


def run_tutorial(pyhang, label, interp, version, debug_visible, libc_debug):
    tmp = tempfile.mkdtemp(prefix="pyhang-native-")
    target = None
    try:
        argv = [interp, STUCK]
        if not debug_visible:       # its own mount namespace, without the debug files
            argv = ["unshare", "-m", "sh", "-c",
                    'mount -t tmpfs pyhang-nodebug /usr/lib/debug && exec "$0" "$@"'] + argv
        target = e2e.Target(argv, tmp)
        last = None
        for _ in range(ATTEMPTS):
            if not wait_sleeping(target.pid):
                return "fail", "never slept (exit %s): %s" % (target.proc.poll(),
                                                             target.stderr_tail())
            sampler = StateSampler(target.pid)
            doc, err, secs = native_dump(pyhang, target.pid)
            sampler.stop()
            if sampler.stopped:
                return "fail", "target seen stopped during the dump: %s" % sampler.stopped[:5]
            if doc is None:
                return "fail", err
            if doc.get("native_missing"):
                return "fail", "native frames missing: %s" % doc["native_missing"]
            th = thread_of(doc, target.pid)
            if th is None:
                return "fail", "no main thread in the dump"
            if th.get("native_error") and "ran while" in th["native_error"]:
                last = th["native_error"]
                continue        # it woke up just then: once more
            if th.get("native_error"):
                return "fail", "native_error: %s" % th["native_error"]
            errs = check_tutorial(th.get("frames", []), label, debug_visible, libc_debug)
            if errs:
                return "fail", "; ".join(errs)
            return "pass", "%.0f ms, %d state samples" % (secs * 1000, sampler.samples)
        return "fail", "no consistent read in %d attempts: %s" % (ATTEMPTS, last)
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)

# ---------------------------------------------------------------- the corpus


def python_only(doc):
    """A copy of doc with only the Python frames (what run_e2e checks)."""
    out = dict(doc)
    out["threads"] = []
    for t in doc.get("threads", []):
        t = dict(t)
        t["frames"] = [f for f in t.get("frames", []) if f.get("kind") == "python"]
        out["threads"].append(t)
    return out


def key(f):
    return (f.get("function"), f.get("file"), f.get("line"))


def run_corpus(pyhang, label, interp, version, prog):
    if prog.errors:
        return "fail", "; ".join(prog.errors)
    if e2e._version_tuple(version) < prog.min_version:
        return "skip", "needs Python %d.%d" % prog.min_version
    tmp = tempfile.mkdtemp(prefix="pyhang-native-")
    target = None
    try:
        path = e2e._prepare(prog, tmp)
        target = e2e.Target([interp, path], tmp)
        if target.wait_line("READY", e2e.READY_TIMEOUT) is None:
            return "fail", "no READY (exit %s): %s" % (target.proc.poll(), target.stderr_tail())
        time.sleep(e2e.SETTLE)
        plain, err = e2e._dump_json(pyhang, target.pid)
        if err:
            return "fail", "plain dump: " + err
        sampler = StateSampler(target.pid)
        doc, err, secs = native_dump(pyhang, target.pid)
        sampler.stop()
        if doc is None:
            return "fail", err
        if sampler.stopped:
            return "fail", "target seen stopped: %s" % sampler.stopped[:5]
        errs, _ = e2e.check_dump(prog, path, python_only(doc), target.pid, version, full=True)
        if errs:
            return "fail", "markers on --native's Python frames: " + "; ".join(errs)
        unwound = 0
        for t in plain["threads"]:
            n = thread_of(doc, t.get("tid"))
            if n is None:
                continue
            want = [key(f) for f in t.get("frames", [])]
            got = [key(f) for f in n.get("frames", []) if f.get("kind") == "python"]
            moved = n.get("native_error") and "ran while" in n["native_error"]
            if want != got and not moved and t.get("state") == "sleeping":
                return "fail", "thread %s: Python frames %s, plain dump %s" % (
                    t.get("tid"), got[:6], want[:6])
            if n.get("state") == "sleeping" and not n.get("native_error"):
                kinds = [f.get("kind") for f in n.get("frames", [])]
                if not kinds or kinds[0] != "kernel" or "native" not in kinds:
                    return "fail", "thread %s: blocked, but frames %s" % (
                        t.get("tid"), show(n.get("frames", [])))
                unwound += 1
            elif n.get("state") == "running" and n.get("snapshot") == "kernel" and \
                    not n.get("native_error"):
                # read at an interrupt: native frames from that moment's registers and
                # stack copy, around the Python frames, down to the outermost
                kinds = [f.get("kind") for f in n.get("frames", [])]
                if "native" not in kinds or "python" not in kinds or "kernel" in kinds:
                    return "fail", "thread %s: running, read at an interrupt, but frames %s" % (
                        t.get("tid"), show(n.get("frames", [])))
                unwound += 1
            elif n.get("state") == "running" and not (n.get("native_error") or "").startswith(
                    ("running", "native unwind stopped")):
                # a running thread says it ran while read, or, read at an interrupt,
                # where its unwind stopped (a C stack deeper than the copy taken then)
                return "fail", "thread %s running without saying so: %s" % (
                    t.get("tid"), n.get("native_error"))
        if not unwound:
            return "fail", "no thread was unwound to its outermost frame: %s" % [
                (t.get("tid"), t.get("native_error")) for t in doc["threads"]]
        return "pass", "%d threads unwound, %.0f ms" % (unwound, secs * 1000)
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)

# ---------------------------------------------------------------- C libraries


C_LIB = "#include <unistd.h>\nvoid pyhang_block(void) { for (;;) pause(); }\n"
CTYPES_PROG = """import ctypes, os, sys
lib = ctypes.CDLL(sys.argv[1])
if sys.argv[2] == "delete":
    os.unlink(sys.argv[1])


def wait_in_c():
    lib.pyhang_block()


sys.stdout.write("READY\\n")
sys.stdout.flush()
wait_in_c()
"""


def build_lib(tmp, name, cfi):
    src = os.path.join(tmp, "block.c")
    out = os.path.join(tmp, name)
    with open(src, "w") as f:
        f.write(C_LIB)
    flags = [] if cfi else ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC"] + flags + ["-o", out, src], check=True,
                   capture_output=True, timeout=60)
    return out


def run_clib(pyhang, label, interp, version, case):
    tmp = tempfile.mkdtemp(prefix="pyhang-native-")
    target = None
    try:
        lib = build_lib(tmp, "libpyhangblock.so", cfi=(case == "deleted-library"))
        prog = os.path.join(tmp, "ctypes_block.py")
        with open(prog, "w") as f:
            f.write(CTYPES_PROG)
        target = e2e.Target([interp, prog, lib, "delete" if case == "deleted-library" else "keep"],
                            tmp)
        if target.wait_line("READY", e2e.READY_TIMEOUT) is None:
            return "fail", "no READY (exit %s): %s" % (target.proc.poll(), target.stderr_tail())
        if not wait_sleeping(target.pid) and syscall_nr(target.pid) != 34:     # pause
            time.sleep(0.3)
        doc, err, _ = native_dump(pyhang, target.pid)
        if doc is None:
            return "fail", err
        th = thread_of(doc, target.pid)
        frames = th.get("frames", []) if th else []
        mine = [i for i, f in enumerate(frames) if f.get("function") == "pyhang_block"]
        if not mine:
            return "fail", "no pyhang_block frame: %s" % show(frames, 20)
        f = frames[mine[0]]
        if os.path.basename(str(f.get("library"))) != "libpyhangblock.so":
            return "fail", "pyhang_block in %s" % f.get("library")
        py = [x for x in frames if x.get("kind") == "python"]
        if [(x.get("function"), x.get("line")) for x in py] != [("wait_in_c", 8), ("<module>", 13)]:
            return "fail", "Python frames %s" % show(py)
        if case == "deleted-library":
            if f.get("deleted") is not True:
                return "fail", "the deleted library's frame is not marked deleted: %s" % f
            if th.get("native_error"):
                return "fail", "native_error %s" % th["native_error"]
            return "pass", ""
        why = th.get("native_error") or ""
        gap = th.get("native_gap")
        if "no call-frame information for" not in why or "libpyhangblock.so+0x" not in why:
            return "fail", "native_error %r, want the library without CFI named" % why
        if gap != mine[0] + 1 or frames[gap].get("kind") != "python":
            return "fail", "gap at %r, want right after pyhang_block (%d)" % (gap, mine[0] + 1)
        return "pass", why
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def run_no_bpf(pyhang, label, interp, version):
    """Without CAP_BPF and CAP_PERFMON: one line naming it, Python frames only."""
    if not shutil.which("setpriv"):
        return "skip", "no setpriv"
    tmp = tempfile.mkdtemp(prefix="pyhang-native-")
    target = None
    try:
        target = e2e.Target([interp, STUCK], tmp)
        if not wait_sleeping(target.pid):
            return "fail", "never slept"
        caps = "+sys_ptrace,+dac_read_search"
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "--inh-caps=" + caps, "--ambient-caps=" + caps]
        doc, err, _ = native_dump(pyhang, target.pid, prefix=prefix)
        if doc is None:
            return "fail", err
        lines = err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("pyhang: no native frames") or \
                "CAP_BPF" not in lines[0]:
            return "fail", "stderr %r, want one line naming CAP_BPF" % err
        th = thread_of(doc, target.pid)
        kinds = set(f.get("kind") for f in th.get("frames", [])) if th else set()
        if kinds != {"python"} or not doc.get("native_missing"):
            return "fail", "frames of kinds %s, native_missing %r" % (kinds,
                                                                     doc.get("native_missing"))
        return "pass", ""
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)

# ---------------------------------------------------------------- record --native

ZLIB_PROG = """import time, zlib
data = bytes(bytearray((i * 7919) % 251 for i in range(1 << 16)))


def work():
    end = time.time() + 2.5
    while time.time() < end:
        zlib.compress(data, 9)


work()
"""
ZLIB_LINE = 8
NUMPY_PROG = """import time
import numpy as np
a = np.random.randint(1, 1 << 40, size=200000)
b = np.random.randint(1, 1 << 40, size=200000)


def work():
    end = time.time() + 2.5
    while time.time() < end:
        np.gcd(a, b)


work()
"""
NUMPY_LINE = 10


def eval_function(version):
    """The function each Python frame's eval call runs in (what record --native
    replaces by the Python frames). On 3.6+ PyEval_EvalFrameEx is only a wrapper
    that jumps to it: a sample taken inside the wrapper truly shows it."""
    return "PyEval_EvalFrameEx" if e2e._version_tuple(version) < (3, 0) else "_PyEval_EvalFrameDefault"


def parse_folded(text):
    """[(frames root first, count)]."""
    out = []
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out.append((stack.split(";"), int(n)))
    return out


def frame_file(frame):
    m = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    return (m.group(1), m.group(2)) if m else (frame, None)


def record(pyhang, interp, prog_text, tmp, fmt, rate=499):
    prog = os.path.join(tmp, "prog.py")
    with open(prog, "w") as f:
        f.write(prog_text)
    out = os.path.join(tmp, "out." + fmt)
    rc, _, err, _ = e2e.run_pyhang(pyhang, ["record", "--native", "-r", str(rate), "-f", fmt,
                                            "-o", out, "--", interp, prog], timeout=60)
    if rc != 0:
        return None, prog, "record exited %s: %s" % (rc, err.strip()[-300:])
    with open(out, "rb") as f:
        return f.read(), prog, err


def native_under(stacks, prog, line, want):
    """(samples, samples whose innermost Python frame is prog:line and that have,
    deeper than it, only native frames, one of them matching want(function, file))."""
    total = hits = 0
    caller = "work (%s:%d)" % (prog, line)
    for frames, n in stacks:
        total += n
        if caller not in frames:
            continue
        below = frames[len(frames) - frames[::-1].index(caller):]
        if any(f.endswith(")") and re.search(r"\.py:\d+\)$", f) for f in below):
            continue        # a Python frame deeper than work: not a native call of it
        if any(want(*frame_file(f)) for f in below):
            hits += n
    return total, hits


def run_record_case(pyhang, label, interp, version, case):
    tmp = tempfile.mkdtemp(prefix="pyhang-native-rec-")
    try:
        if case == "numpy":
            if subprocess.run([interp, "-c", "import numpy"], capture_output=True).returncode:
                return "skip", "no numpy for this interpreter"
            text, prog, err = record(pyhang, interp, NUMPY_PROG, tmp, "folded")
            line = NUMPY_LINE

            def want(fn, fl):
                return bool(fl) and os.path.basename(fl).startswith("_multiarray_umath")
        else:
            text, prog, err = record(pyhang, interp, ZLIB_PROG, tmp, "folded")
            line = ZLIB_LINE

            def want(fn, fl):
                return fn == "deflate" and bool(fl) and "libz.so" in fl
        if text is None:
            return "fail", err
        if "no native frames" in err:
            return "fail", err.strip()
        stacks = parse_folded(text.decode("utf-8", "replace"))
        total, hits = native_under(stacks, prog, line, want)
        if not total or hits < 0.3 * total:
            top = sorted(stacks, key=lambda x: -x[1])[:2]
            return "fail", "%d of %d samples show the native call under work:%d; top: %s" % (
                hits, total, line, [";".join(f[-8:]) for f, _ in top])
        evalf = eval_function(version)
        left = [(f, n) for f, n in stacks if any(frame_file(x)[0] == evalf for x in f)]
        if left:
            return "fail", "%d samples still show an eval frame, e.g. %s" % (
                sum(n for _, n in left), ";".join(left[0][0][-8:]))
        return "pass", "%d of %d samples" % (hits, total)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_record_formats(pyhang, label, interp, version):
    """svg, speedscope and pprof carry the native frames too."""
    tmp = tempfile.mkdtemp(prefix="pyhang-native-rec-")
    try:
        for fmt in ("svg", "speedscope", "pprof"):
            data, _, err = record(pyhang, interp, ZLIB_PROG, tmp, fmt, rate=199)
            if data is None:
                return "fail", "%s: %s" % (fmt, err)
            if fmt == "pprof":
                import gzip
                data = gzip.decompress(data)
            if fmt == "speedscope":
                names = [f.get("name") for f in json.loads(data)["shared"]["frames"]]
                ok = "deflate" in names and "work" in names
            else:
                ok = b"deflate" in data and b"work" in data
            if not ok:
                return "fail", "%s output has no deflate (native) or work (Python) frame" % fmt
        return "pass", ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pyhang")
    ap.add_argument("--interp", action="append", help="only this interpreter label (repeatable)")
    ap.add_argument("--program", action="append", help="only this corpus program (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    pyhang = os.path.abspath(args.pyhang)
    report = e2e.Report()
    interps = e2e.available_interpreters(args.interp)
    if not interps:
        report.add("native", "fail", "no interpreter found")
    libc_debug = libc_has_debug_file()
    jobs = []
    for label, path, version in interps:
        for visible in (True, False):
            name = "%s native tutorial (%s)" % (
                label, "debug files" if visible else "/usr/lib/debug hidden")
            jobs.append((name, run_tutorial, (pyhang, label, path, version, visible, libc_debug)))
        for prog in e2e.load_programs(args.program):
            jobs.append(("%s native %s" % (label, prog.name), run_corpus,
                         (pyhang, label, path, version, prog)))
        if label in ("2.7.18", "3.12.1", "debian-3.11"):
            for case in ("deleted-library", "no-cfi"):
                jobs.append(("%s native %s" % (label, case), run_clib,
                             (pyhang, label, path, version, case)))
        if label == "3.12.1":
            jobs.append(("%s native no-bpf" % label, run_no_bpf, (pyhang, label, path, version)))
            jobs.append(("%s record --native formats" % label, run_record_formats,
                         (pyhang, label, path, version)))
        jobs.append(("%s record --native zlib" % label, run_record_case,
                     (pyhang, label, path, version, "zlib")))
        if label == "debian-3.11":
            jobs.append(("%s record --native numpy" % label, run_record_case,
                         (pyhang, label, path, version, "numpy")))

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        futures = [(name, pool.submit(e2e._guard, fn, *fargs)) for name, fn, fargs in jobs]
        for name, fut in futures:
            status, why = fut.result()
            report.add(name, status, why)
    except KeyboardInterrupt:
        e2e.STOP.set()
        pool.shutdown(wait=False, cancel_futures=True)
        e2e.kill_all()
        print("Bail out! interrupted", flush=True)
        return 130
    finally:
        e2e.STOP.set()
        e2e.kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
    print("%d passed, %d failed, %d skipped" % (report.n["pass"], report.n["fail"],
                                                 report.n["skip"]), flush=True)
    return 1 if report.n["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
