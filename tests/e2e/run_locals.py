#!/usr/bin/env python3
"""End-to-end tests of `pyhang dump --locals`, `--source N` and `--thread TID --frame N`
on every interpreter on the machine (tests/lib/interpreters.py).

  values   tests/e2e/locals/values.py holds known values in two frames (small and big
           ints, 0.1 and other floats, ASCII and non-ASCII str, bytes with escapes, None,
           True, small list / tuple / dict / set, a cell and a free variable, instances
           of user classes, a list containing itself). The program prints, from the same
           interpreter, type(v).__name__ and repr(v) of each local in code object order;
           pyhang's JSON and text must give exactly those (values of other types: the
           "<Name object at 0xID>" form with the object's id). The same through
           --thread/--frame 1.
  source   --source 2 on programs/sleep_loop.py: each frame shows lines N-2..N+2 of its
           file, numbers right-aligned, the current one ">N" (text and JSON); a deleted
           file is said to be unavailable, once per frame.
  frames   --thread TID --frame N over every frame of locals/deep.py (26 frames): the
           function, line and the frame's own locals; out-of-range frames, bad TIDs and
           --frame without --thread give one error line and a non-zero exit.
  churn    locals/churn.py changes its locals in two running threads: 15 dumps with
           --locals each exit 0 with valid JSON, every value a repr or <unreadable>, every
           frame without locals says why, some frames of the running threads (whose stacks
           are read in the kernel, without frame addresses) had theirs read, and the
           target is alive and not stopped afterwards.

usage: tests/e2e/run_locals.py PYHANG [-j JOBS] [-k FILTER]
Prints `ok - ...` / `not ok - ...` and `N passed, N failed, N skipped`.
"""
import argparse
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
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "locals")
SLEEP_LOOP = os.path.join(HERE, "programs", "sleep_loop.py")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)

READY_TIMEOUT = 30.0
RUN_TIMEOUT = 20.0
CUT = "\u2026"
DEEP_FRAMES = 26            # level(24) .. level(0), and <module>
CHURN_DUMPS = 15


class Target(object):
    """A program in its own session; its stdout lines read by a thread."""

    def __init__(self, argv, cwd):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True,
                                     env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8",
                                          "PYTHONDONTWRITEBYTECODE": "1",
                                          "PYTHONIOENCODING": "utf-8"})
        self.pid = self.proc.pid
        t = threading.Thread(target=self._read)
        t.daemon = True
        t.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_line(self, prefix, timeout=READY_TIMEOUT):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line is None:
                        return None
                    if line.startswith(prefix):
                        return line
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def stderr_tail(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode("utf-8", "replace").strip()[-300:]

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def run(pyhang, args):
    """(exit status or None on timeout, stdout, stderr)."""
    try:
        r = subprocess.run([pyhang] + args, capture_output=True, timeout=RUN_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %gs" % RUN_TIMEOUT
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def run_json(pyhang, args):
    rc, out, err = run(pyhang, args)
    if rc != 0:
        raise Failure("pyhang %s exited %s: %s" % (" ".join(args), rc, err.strip()[:300]))
    try:
        return json.loads(out)
    except ValueError as e:
        raise Failure("pyhang %s: not JSON (%s): %r" % (" ".join(args), e, out[:200]))


class Failure(Exception):
    pass


# select (2.7's time.sleep), nanosleep, clock_nanosleep, pselect6 (x86_64)
SLEEP_SYSCALLS = (23, 35, 230, 270)


def wait_asleep(pid, timeout=READY_TIMEOUT):
    """True once the main thread is blocked in time.sleep (READY comes just before)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                nr = f.read().split()[0]
            if nr.isdigit() and int(nr) in SLEEP_SYSCALLS:
                return True
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    return False


def started(interp, prog, cwd=PROGS):
    t = Target([interp, prog], cwd)
    if t.wait_line("READY") is None or not wait_asleep(t.pid):
        why = t.stderr_tail()
        t.kill()
        raise Failure("%s never got READY and asleep: %s" % (prog, why))
    return t


def main_thread(doc, pid):
    for th in doc.get("threads", []):
        if th.get("tid") == pid and th.get("python"):
            return th
    raise Failure("no Python main thread %d in the dump" % pid)


def one_error_line(rc, err, want_rc=None):
    """'' when (rc, err) is a proper error, else why not."""
    if rc is None:
        return "hung"
    if rc == 0 or rc < 0 or (want_rc is not None and rc != want_rc):
        return "exit status %s" % rc
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("pyhang: "):
        return "stderr is not one 'pyhang: ' line: %r" % err[:300]
    return ""

# ---------------------------------------------------------------- values


GENERIC = re.compile(r"^<(\S+) object at 0x([0-9a-f]+)>$")


def compare_locals(got, want, where):
    """Errors for pyhang's locals (JSON list) against the program's own account."""
    if not isinstance(got, list):
        return ["%s: no locals (%r)" % (where, got)]
    errs = []
    names = [g.get("name") for g in got]
    if names != [w[0] for w in want]:
        return ["%s: names %s, want %s" % (where, names, [w[0] for w in want])]
    for g, (name, tname, rep, exact, ident) in zip(got, want):
        if g.get("type") != tname:
            errs.append("%s: %s type %r, want %r" % (where, name, g.get("type"), tname))
        if g.get("truncated"):
            errs.append("%s: %s truncated: %r" % (where, name, g.get("repr")))
        if exact:
            if g.get("repr") != rep:
                errs.append("%s: %s = %s, want %s" % (where, name, g.get("repr"), rep))
        else:
            m = GENERIC.match(g.get("repr") or "")
            if not m or int(m.group(2), 16) != ident:
                errs.append("%s: %s = %r, want <... object at 0x%x>" % (
                    where, name, g.get("repr"), ident))
    return errs


def check_values(pyhang, interp):
    t = started(interp, "values.py")
    try:
        line = t.wait_line("EXPECT ")
        want = json.loads(line[len("EXPECT "):])
        pid = str(t.pid)
        doc = run_json(pyhang, ["dump", "--json", "--locals", "--pid", pid])
        frames = main_thread(doc, t.pid).get("frames", [])
        if len(frames) < 2 or frames[0].get("function") != "inner" or \
                frames[1].get("function") != "outer":
            raise Failure("frames %s" % [f.get("function") for f in frames])
        errs = compare_locals(frames[0].get("locals"), want[0], "inner") + \
            compare_locals(frames[1].get("locals"), want[1], "outer")
        if doc.get("locals_error") is not None:
            errs.append("locals_error %r" % doc.get("locals_error"))
        # text: "name = repr" lines, indented under the frames
        rc, out, err = run(pyhang, ["dump", "--locals", "--pid", pid])
        if rc != 0:
            errs.append("text dump exited %s: %s" % (rc, err.strip()[:200]))
        for name, _, rep, exact, _ in want[0] + want[1]:
            if exact and ("        %s = %s\n" % (name, rep)) not in out:
                errs.append("text: no line '%s = %s'" % (name, rep))
        # the same values through --thread / --frame, in full
        one = run_json(pyhang, ["dump", "--json", "--pid", pid, "--thread", pid, "--frame", "1"])
        if one.get("frame") != 1 or one.get("function") != "outer" or \
                one.get("frames") != len(frames):
            errs.append("--frame 1: frame %r function %r frames %r" % (
                one.get("frame"), one.get("function"), one.get("frames")))
        errs += compare_locals(one.get("locals"), want[1], "--frame 1")
        if t.proc.poll() is not None:
            errs.append("target died")
        if errs:
            raise Failure("; ".join(errs[:6]) + (" (+%d more)" % (len(errs) - 6)
                                                 if len(errs) > 6 else ""))
        exact = sum(1 for w in want[0] + want[1] if w[3])
        return "%d + %d locals, %d exact reprs" % (len(want[0]), len(want[1]), exact)
    finally:
        t.kill()

# ---------------------------------------------------------------- source


def expected_context(path, line, context):
    """The lines pyhang must print: (number, text) for line-context .. line+context."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace").split("\n")
    out = []
    for n in range(max(1, line - context), line + context + 1):
        if n > len(text) or (n == len(text) and text[n - 1] == ""):
            break
        s = re.sub(r"[\x00-\x1f\x7f]", " ", text[n - 1].rstrip("\r ").rstrip(" "))
        out.append((n, s))
    return out


def text_block(lines, head_idx, path, line, context):
    """Errors comparing the lines after a frame's header with its source context."""
    want = expected_context(path, line, context)
    width = max(4, len(str(line + context)) + 1)
    errs = []
    for k, (n, s) in enumerate(want):
        label = (">" if n == line else "") + str(n)
        exp = "        %s    %s" % (label.rjust(width), s)
        got = lines[head_idx + 1 + k] if head_idx + 1 + k < len(lines) else None
        if got != exp:
            errs.append("line %d: got %r, want %r" % (n, got, exp))
            break
    return errs


def check_source(pyhang, interp):
    tmp = tempfile.mkdtemp(prefix="pyhang-e2e-src-")
    t = None
    try:
        shutil.copy(os.path.join(HERE, "programs", "_e2e.py"), tmp)
        path = os.path.join(tmp, "sleep_loop.py")
        with open(SLEEP_LOOP) as f:
            text = f.read()
        # the same lines, asleep for longer than the test takes (no dump between sleeps)
        with open(path, "w") as f:
            f.write(text.replace("time.sleep(1)", "time.sleep(100)", 1))
        t = started(interp, path, cwd=tmp)
        pid = str(t.pid)
        errs = []
        doc = run_json(pyhang, ["dump", "--json", "--source", "2", "--pid", pid])
        frames = [f for f in main_thread(doc, t.pid)["frames"] if f.get("file") == path]
        if len(frames) != 3:
            raise Failure("%d frames in sleep_loop.py, want 3" % len(frames))
        for fr in frames:
            want = [{"line": n, "text": s} for n, s in expected_context(path, fr["line"], 2)]
            if fr.get("source") != want or fr.get("source_error") is not None:
                errs.append("JSON %s:%d source %r" % (fr["function"], fr["line"],
                                                      fr.get("source")))
        rc, out, err = run(pyhang, ["dump", "--source", "2", "--pid", pid])
        lines = out.split("\n")
        for fr in frames:
            head = "    %s (%s:%d)" % (fr["qualname"], path, fr["line"])
            if head not in lines:
                errs.append("text: no frame line %r" % head)
                continue
            errs += text_block(lines, lines.index(head), path, fr["line"], 2)
        # the file gone: said once per frame
        os.unlink(path)
        rc, out, err = run(pyhang, ["dump", "--source", "2", "--pid", pid])
        gone = "        (source not available: %s: No such file or directory)" % path
        if rc != 0 or out.split("\n").count(gone) != 3:
            errs.append("deleted file: %d lines %r (exit %s)" % (
                out.split("\n").count(gone), gone, rc))
        doc = run_json(pyhang, ["dump", "--json", "--source", "2", "--pid", pid])
        for fr in main_thread(doc, t.pid)["frames"]:
            if fr.get("file") == path and (fr.get("source") is not None or
                                           fr.get("source_error") != "No such file or directory"):
                errs.append("JSON deleted file: %r %r" % (fr.get("source"),
                                                          fr.get("source_error")))
        if errs:
            raise Failure("; ".join(errs[:5]))
        return ""
    finally:
        if t:
            t.kill()
        shutil.rmtree(tmp, ignore_errors=True)

# ---------------------------------------------------------------- frames


def source_line_of(path, needle):
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i
    raise Failure("no %r in %s" % (needle, path))


def check_frames(pyhang, interp):
    t = started(interp, "deep.py")
    try:
        pid = str(t.pid)
        path = os.path.join(PROGS, "deep.py")
        sleep_line = source_line_of(path, "time.sleep(1000)")
        call_line = source_line_of(path, "level(n - 1,")
        root_line = source_line_of(path, "level(DEPTH,")
        errs = []
        for n in range(DEEP_FRAMES):
            one = run_json(pyhang, ["dump", "--json", "--pid", pid, "--thread", pid,
                                    "--frame", str(n)])
            level = n
            if n < DEEP_FRAMES - 1:
                want_fn, want_line = "level", sleep_line if n == 0 else call_line
                want = {"n": str(level), "label": repr("level %d" % level),
                        "here": str(level * 10)}
            else:
                want_fn, want_line, want = "<module>", root_line, {}
            got = dict((v["name"], v["repr"]) for v in one.get("locals") or [])
            if one.get("function") != want_fn or one.get("line") != want_line or \
                    one.get("frames") != DEEP_FRAMES or got != want or \
                    not one.get("source"):
                errs.append("frame %d: %s:%s %s frames=%s" % (n, one.get("function"),
                                                              one.get("line"), got,
                                                              one.get("frames")))
                break
        rc, out, err = run(pyhang, ["dump", "--pid", pid, "--thread", pid, "--frame", "3"])
        if rc != 0 or ("frame 3 of %d" % DEEP_FRAMES) not in out or "        n = 3\n" not in out \
                or (">%d" % call_line) not in out:
            errs.append("text --frame 3: exit %s %r" % (rc, out[:300]))
        bad = [
            (["--thread", pid, "--frame", str(DEEP_FRAMES)], 1,
             "has %d Python frames: --frame must be 0..%d" % (DEEP_FRAMES, DEEP_FRAMES - 1)),
            (["--thread", "1", "--frame", "0"], 1, "is not a thread of process %s" % pid),
            (["--frame", "0"], 2, "--frame needs --thread"),
            (["--thread", pid, "--frame", "-1"], 2, "invalid --frame"),
            (["--thread", "x"], 2, "invalid --thread"),
            (["--source", "many"], 2, "invalid --source"),
        ]
        for args, want_rc, text in bad:
            rc, out, err = run(pyhang, ["dump", "--pid", pid] + args)
            why = one_error_line(rc, err, want_rc)
            if why or text not in err:
                errs.append("%s: %s %r" % (" ".join(args), why or "message", err.strip()))
        if t.proc.poll() is not None:
            errs.append("target died")
        if errs:
            raise Failure("; ".join(errs[:5]))
        return "%d frames" % DEEP_FRAMES
    finally:
        t.kill()

# ---------------------------------------------------------------- churn


def proc_states(pid):
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
            out[int(tid)] = stat[stat.rindex(")") + 2]
    except (OSError, ValueError):
        pass
    return out


def check_churn(pyhang, interp):
    t = started(interp, "churn.py")
    try:
        values = unreadable = frames_read = 0
        for _ in range(CHURN_DUMPS):
            doc = run_json(pyhang, ["dump", "--json", "--locals", "--pid", str(t.pid)])
            for th in doc.get("threads", []):
                for fr in th.get("frames", []):
                    if "locals" not in fr:
                        raise Failure("a frame without locals: %r" % fr)
                    if fr["locals"] is None and not fr.get("locals_error"):
                        raise Failure("no locals and no reason: %r" % fr)
                    if th.get("state") == "running" and fr["locals"] is not None:
                        frames_read += 1
                    for v in fr["locals"] or []:
                        rep = v.get("repr")
                        if not isinstance(rep, str) or not rep:
                            raise Failure("local %r has no repr" % v)
                        # the type may be known when the contents are not
                        if v.get("type") is None and rep != "<unreadable>":
                            raise Failure("local %r: no type but a repr" % v)
                        values += 1
                        unreadable += rep == "<unreadable>"
        if t.proc.poll() is not None:
            raise Failure("target died")
        if any(s in "tT" for s in proc_states(t.pid).values()):
            raise Failure("target left stopped")
        if not frames_read:
            raise Failure("no frame of a running thread had its locals read")
        return "%d values, %d unreadable, %d running frames read" % (values, unreadable,
                                                                    frames_read)
    finally:
        t.kill()

# ---------------------------------------------------------------- main


CASES = [("values", check_values), ("source", check_source), ("frames", check_frames),
         ("churn", check_churn)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pyhang")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("-k", "--filter", help="only cases whose name contains this")
    args = ap.parse_args()
    pyhang = os.path.abspath(args.pyhang)
    jobs = []
    for label, interp in interpreters.present():
        for name, fn in CASES:
            full = "%s locals:%s" % (label, name)
            if args.filter and args.filter not in full:
                continue
            jobs.append((full, fn, interp))
    counts = {"pass": 0, "fail": 0}
    lock = threading.Lock()

    def one(job):
        name, fn, interp = job
        try:
            note = fn(pyhang, interp)
            status = "ok - %s%s" % (name, " (%s)" % note if note else "")
            key = "pass"
        except Failure as e:
            status, key = "not ok - %s: %s" % (name, e), "fail"
        except Exception as e:       # a driver bug is a failure, not a stop
            status, key = "not ok - %s: driver error %s: %s" % (name, type(e).__name__, e), "fail"
        with lock:
            counts[key] += 1
            print(status, flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, jobs))
    print("%d passed, %d failed, 0 skipped" % (counts["pass"], counts["fail"]), flush=True)
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
