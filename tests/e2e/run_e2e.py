#!/usr/bin/python3
"""End-to-end tests of `pyhang dump`: real stuck Python programs under every interpreter.

Each program in programs/*.py (files starting with "_" are helpers) prints READY once its
threads are in place; the expected stacks are marker comments in its source:

  @stack TAG N         thread TAG's frame N (0 = innermost) is this line, in the enclosing
                       def (`<module>` at top level, `<lambda>` inside a lambda)
  @stack TAG A..B      frames A to B are all this line (recursion)
  @stack TAG N fn=NAME the same with the function name given explicitly
  @ext TAG N FUNC F1|F2  frame N is FUNC in a file whose base name is F1 or F2 (stdlib)
  @syscall TAG n1|n2   thread TAG is blocked in one of these system calls ("-": none)
  @state TAG s1|s2     thread TAG's state is one of these
  @gil TAG             thread TAG holds the GIL and no other thread does
  @gil none            no thread holds the GIL
  # min-python: X.Y    header: skip the program on older interpreters
  # run-from: non-ascii  header: run a copy from a directory/file with non-ASCII names

Frames between 0 and the highest N that no marker names match any frame. Each TAG must match
a distinct thread of the dump. Output is TAP-like, ending with "N passed, N failed, N skipped".

  run_e2e.py --pyhang build/pyhang      run everything
  run_e2e.py --list                     print the parsed expectations, run nothing
  run_e2e.py --selfcheck                check the markers against the programs' own view of
                                        their stacks (sys._current_frames), no pyhang needed
"""
import argparse
import ast
import collections
import concurrent.futures
import io
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
import tokenize

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS_DIR = os.path.join(HERE, "programs")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)
INTERPRETERS = interpreters.present()
NON_ASCII_PREFIX = "pyhang-e2e-ñé中-"
READY_TIMEOUT = 30.0
DUMP_TIMEOUT = 10.0
BAD_INPUT_TIMEOUT = 5.0
SETTLE = 0.2          # after READY, for programs whose main thread blocks right after it

# ---------------------------------------------------------------- markers

Expect = collections.namedtuple("Expect", "kind function files line qualname")  # py | ext


class Program(object):
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.min_version = (0, 0)
        self.run_from = None
        self.frames = collections.OrderedDict()   # tag -> {n: Expect}
        self.syscalls = {}                        # tag -> set of names ("-" = none)
        self.states = {}                          # tag -> set of states
        self.gil = None                           # None (unchecked), "none", or a tag
        self.errors = []

    def depth(self, tag):
        return max(self.frames[tag]) + 1

    def expected(self, tag):
        """The expected list for TAG, None where any frame is accepted."""
        got = self.frames[tag]
        return [got.get(i) for i in range(self.depth(tag))]


def _scopes(tree):
    """(first line, last line, nesting depth, name, qualname) of every def, class body
    and lambda; qualname as co_qualname (3.11+) spells it."""
    out = []

    def visit(node, depth, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                name = "<lambda>" if isinstance(child, ast.Lambda) else child.name
                body = [child.body] if isinstance(child, ast.Lambda) else child.body
                qual = prefix + name
                out.append((body[0].lineno, child.end_lineno, depth + 1, name, qual))
                visit(child, depth + 1, qual + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                qual = prefix + child.name
                out.append((child.body[0].lineno, child.end_lineno, depth + 1, child.name, qual))
                visit(child, depth + 1, qual + ".")
            else:
                visit(child, depth, prefix)
    visit(tree, 0, "")
    return out


def _function_at(scopes, line):
    """(name, qualname) of the code object running LINE."""
    best = (0, "<module>", "<module>")
    for first, last, depth, name, qual in scopes:
        if first <= line <= last and depth > best[0]:
            best = (depth, name, qual)
    return best[1], best[2]


DIRECTIVE = re.compile(r"@(stack|ext|syscall|state|gil)\b")


def parse_program(path):
    prog = Program(path)
    with open(path, "rb") as f:
        source = f.read()
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        prog.errors.append("cannot parse: %s" % e)
        return prog
    scopes = _scopes(tree)
    comments = [(tok.start[0], tok.string)
                for tok in tokenize.tokenize(io.BytesIO(source).readline)
                if tok.type == tokenize.COMMENT]
    for line, text in comments:
        m = re.match(r"#\s*min-python:\s*(\d+)\.(\d+)\s*$", text)
        if m:
            prog.min_version = (int(m.group(1)), int(m.group(2)))
        m = re.match(r"#\s*run-from:\s*(\S+)\s*$", text)
        if m:
            prog.run_from = m.group(1)
        starts = [m.start() for m in DIRECTIVE.finditer(text)] + [len(text)]
        for a, b in zip(starts, starts[1:]):
            words = text[a:b].split()
            try:
                _directive(prog, scopes, line, words)
            except (ValueError, IndexError):
                prog.errors.append("line %d: bad marker %r" % (line, " ".join(words)))
    if not prog.frames:
        prog.errors.append("no @stack markers")
    for tag in list(prog.syscalls) + list(prog.states) + [prog.gil]:
        if tag not in (None, "none") and tag not in prog.frames:
            prog.errors.append("tag %s has checks but no frames" % tag)
    return prog


def _set_frame(prog, tag, n, expect, line):
    frames = prog.frames.setdefault(tag, {})
    if n in frames:
        prog.errors.append("line %d: frame %d of %s given twice" % (line, n, tag))
    frames[n] = expect


def _directive(prog, scopes, line, words):
    kind = words[0][1:]
    if kind == "stack":
        tag, spec = words[1], words[2]
        fn, qual = _function_at(scopes, line)
        for w in words[3:]:
            if w.startswith("fn="):
                fn = qual = w[3:]
        if ".." in spec:
            lo, hi = [int(x) for x in spec.split("..")]
        else:
            lo = hi = int(spec)
        if lo < 0 or hi < lo or hi > 5000:
            raise ValueError(spec)
        for n in range(lo, hi + 1):
            _set_frame(prog, tag, n, Expect("py", fn, None, line, qual), line)
    elif kind == "ext":
        tag, n, fn, files = words[1], int(words[2]), words[3], words[4]
        _set_frame(prog, tag, n, Expect("ext", fn, tuple(files.split("|")), None, None), line)
    elif kind == "syscall":
        prog.syscalls[words[1]] = set(words[2].split("|"))
    elif kind == "state":
        prog.states[words[1]] = set(words[2].split("|"))
    elif kind == "gil":
        prog.gil = words[1]


def load_programs(names=None):
    progs = []
    for fn in sorted(os.listdir(PROGRAMS_DIR)):
        if not fn.endswith(".py") or fn.startswith("_"):
            continue
        p = parse_program(os.path.join(PROGRAMS_DIR, fn))
        if names and p.name not in names:
            continue
        progs.append(p)
    return progs


def describe_expect(e, path=None):
    if e is None:
        return "*"
    if e.kind == "py":
        fn = e.function if e.qualname == e.function else "%s(%s)" % (e.function, e.qualname)
        return "%s@%s:%d" % (fn, os.path.basename(path) if path else "<prog>", e.line)
    return "%s@%s" % (e.function, "|".join(e.files))


def list_programs(progs):
    failed = False
    for p in progs:
        head = "%s  (%s" % (p.name, os.path.relpath(p.path, HERE))
        if p.min_version != (0, 0):
            head += ", min-python %d.%d" % p.min_version
        if p.run_from:
            head += ", run-from %s" % p.run_from
        print(head + ")")
        failed = failed or bool(p.errors)
        for err in p.errors:
            print("  ERROR: %s" % err)
        for tag in p.frames:
            exp = p.expected(tag)
            parts = []
            i = 0
            while i < len(exp):              # fold runs of identical frames
                j = i
                while j + 1 < len(exp) and exp[j + 1] == exp[i]:
                    j += 1
                d = describe_expect(exp[i])
                parts.append("%d: %s" % (i, d) if i == j else "%d..%d: %s" % (i, j, d))
                i = j + 1
            extra = []
            if tag in p.syscalls:
                extra.append("syscall " + "|".join(sorted(p.syscalls[tag])))
            if tag in p.states:
                extra.append("state " + "|".join(sorted(p.states[tag])))
            if p.gil == tag:
                extra.append("holds GIL")
            print("  %-8s %s%s" % (tag, ", ".join(parts),
                                   ("  [" + "; ".join(extra) + "]") if extra else ""))
        if p.gil == "none":
            print("  no thread holds the GIL")
    return 1 if failed else 0

# ---------------------------------------------------------------- checking a dump


def _frame_matches(e, got, path):
    if e is None:
        return True
    if not isinstance(got, dict) or got.get("function") != e.function:
        return False
    if e.kind == "py":
        return got.get("file") == path and got.get("line") == e.line
    return os.path.basename(str(got.get("file"))) in e.files


def _frames_of(thread):
    frames = thread.get("frames") if isinstance(thread, dict) else None
    return frames if isinstance(frames, list) else []


def _thread_matches(exp, thread, path):
    frames = _frames_of(thread)
    return len(frames) >= len(exp) and all(
        _frame_matches(e, g, path) for e, g in zip(exp, frames))


def _show_frame(g):
    if not isinstance(g, dict):
        return repr(g)
    return "%s@%s:%s" % (g.get("function"), os.path.basename(str(g.get("file"))), g.get("line"))


def _why_no_match(exp, threads, path):
    best = None    # (frames matched, thread)
    for t in threads:
        frames = _frames_of(t)
        k = 0
        while k < len(exp) and k < len(frames) and _frame_matches(exp[k], frames[k], path):
            k += 1
        if best is None or k > best[0]:
            best = (k, t)
    if best is None:
        return "dump has no threads"
    k, t = best
    frames = _frames_of(t)
    tid = t.get("tid") if isinstance(t, dict) else "?"
    if k >= len(frames):
        return "closest thread %s has only %d frames, want %d" % (tid, len(frames), len(exp))
    return "closest thread %s differs at frame %d: want %s, got %s" % (
        tid, k, describe_expect(exp[k], path), _show_frame(frames[k]))


def _assign(candidates):
    """Distinct thread per tag (bipartite matching). candidates: tag -> [thread index]."""
    owner = {}

    def try_tag(tag, seen):
        for i in candidates[tag]:
            if i in seen:
                continue
            seen.add(i)
            if i not in owner or try_tag(owner[i], seen):
                owner[i] = tag
                return True
        return False
    for tag in candidates:
        try_tag(tag, set())
    return dict((tag, i) for i, tag in owner.items())


def check_dump(prog, path, doc, pid, version, full):
    """Errors (strings) for a dump. Returns (errors, {tag: thread})."""
    errs = []
    if not isinstance(doc, dict) or not isinstance(doc.get("threads"), list):
        return ["dump is not an object with a threads list"], {}
    if doc.get("pid") != pid:
        errs.append("pid is %r, want %d" % (doc.get("pid"), pid))
    if full:
        got_v = str(doc.get("python"))
        want = version.split(".")
        if got_v.split(".")[:2] != want[:2] or (
                len(got_v.split(".")) > 2 and got_v.split(".")[:3] != want[:3]):
            errs.append("python is %r, want %s" % (doc.get("python"), version))
    threads = doc["threads"]
    candidates = collections.OrderedDict()
    for tag in prog.frames:
        exp = prog.expected(tag)
        candidates[tag] = [i for i, t in enumerate(threads) if _thread_matches(exp, t, path)]
        if not candidates[tag]:
            errs.append("%s: no thread matches (%s)" % (tag, _why_no_match(exp, threads, path)))
    assigned = _assign(candidates)
    for tag in candidates:
        if candidates[tag] and tag not in assigned:
            errs.append("%s: its matching threads are all taken by other tags" % tag)
    matched = dict((tag, threads[i]) for tag, i in assigned.items())
    if not full:
        return errs, matched
    try:
        tasks = set(int(t) for t in os.listdir("/proc/%d/task" % pid))
    except OSError:
        tasks = set()
    for tag, t in sorted(matched.items()):   # each Python thread is tied to its OS thread
        if t.get("tid") not in tasks:
            errs.append("%s: tid %r is not a thread of process %d" % (tag, t.get("tid"), pid))
    if _version_tuple(version) >= (3, 11):     # co_qualname exists: qualname is exact
        for tag, t in sorted(matched.items()):
            for n, (e, g) in enumerate(zip(prog.expected(tag), _frames_of(t))):
                if e is not None and e.kind == "py" and g.get("qualname") != e.qualname:
                    errs.append("%s: frame %d qualname %r, want %r" % (
                        tag, n, g.get("qualname"), e.qualname))
                    break
    for tag, want in sorted(prog.syscalls.items()):
        t = matched.get(tag)
        if t is None:
            continue
        sc = t.get("syscall")
        name = sc.get("name") if isinstance(sc, dict) else None
        if not ((sc is None and "-" in want) or (name is not None and name in want)):
            errs.append("%s: syscall %s, want %s" % (
                tag, json.dumps(sc), "|".join(sorted(want))))
    for tag, want in sorted(prog.states.items()):
        t = matched.get(tag)
        if t is not None and t.get("state") not in want:
            errs.append("%s: state %r, want %s" % (tag, t.get("state"), "|".join(sorted(want))))
    holders = [t.get("tid") for t in threads if isinstance(t, dict) and t.get("gil") is True]
    if doc.get("free_threaded"):
        # No GIL to hold: nobody may be said to hold it, and the holder is not "known".
        if holders or doc.get("gil_known") is not False:
            errs.append("free-threaded: GIL holders %s, gil_known %r; want none, false" % (
                holders, doc.get("gil_known")))
    elif doc.get("free_threaded") is not False:
        errs.append("free_threaded is %r, want true or false" % doc.get("free_threaded"))
    elif prog.gil is not None:
        if prog.gil == "none":
            if holders:
                errs.append("GIL reported held by %s, want nobody" % holders)
        elif prog.gil in matched:
            want_tid = matched[prog.gil].get("tid")
            if holders != [want_tid]:
                errs.append("GIL holders %s, want [%s] (%s)" % (holders, want_tid, prog.gil))
    return errs, matched

# ---------------------------------------------------------------- processes

_live = {}                      # pid -> Popen, program process groups to kill on exit
_live_lock = threading.Lock()
STOP = threading.Event()


def _register(proc):
    with _live_lock:
        _live[proc.pid] = proc


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for f in (proc.stdout, proc.stderr):
        if f:
            try:
                f.close()
            except OSError:
                pass
    with _live_lock:
        _live.pop(proc.pid, None)


def kill_all():
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass


def child_env(tmp, selfcheck):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": os.environ.get("HOME", "/root"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONIOENCODING": "utf-8", "PYHANG_E2E_TMP": tmp}
    if selfcheck:
        env["PYHANG_E2E_SELFCHECK"] = "1"
    return env


class Target(object):
    """A program started in its own session, its stdout lines read by a thread."""

    def __init__(self, argv, tmp, selfcheck=False):
        self.lines = collections.deque()
        self.cond = threading.Condition()
        self.stderr_path = os.path.join(tmp, "stderr.txt")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err, cwd=tmp, env=child_env(tmp, selfcheck),
                                         start_new_session=True)
        _register(self.proc)
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
            self.lines.append(None)           # EOF
            self.cond.notify_all()

    def wait_line(self, prefix, timeout):
        """The first line starting with prefix, or None on EOF / timeout."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                while self.lines:
                    line = self.lines.popleft()
                    if line is None:
                        self.lines.appendleft(None)
                        return None
                    if line.startswith(prefix):
                        return line
                left = deadline - time.time()
                if left <= 0 or STOP.is_set():
                    return None
                self.cond.wait(min(left, 0.5))

    def stderr_tail(self):
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return " | ".join(text.splitlines()[-3:])

    def kill(self):
        _kill_group(self.proc)


def proc_states(pid):
    """{tid: state letter} of every task, {} when the process is gone."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
            out[int(tid)] = stat[stat.rindex(")") + 2]
        except (OSError, ValueError, IndexError):
            pass
    return out


def tracer_pid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_pyhang(pyhang, args, timeout=DUMP_TIMEOUT, prefix=()):
    """(returncode or None on timeout, stdout text, stderr text, seconds)."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(list(prefix) + [pyhang] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode("utf-8", "replace"), \
            (e.stderr or b"").decode("utf-8", "replace"), time.perf_counter() - t0
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace"), time.perf_counter() - t0


def _dump_json(pyhang, pid):
    rc, out, err, secs = run_pyhang(pyhang, ["dump", "--json", "--pid", str(pid)])
    if rc is None:
        return None, "pyhang dump timed out after %gs" % DUMP_TIMEOUT
    if rc != 0:
        return None, "pyhang dump exited %d: %s" % (rc, err.strip()[:300])
    try:
        return json.loads(out), None
    except ValueError as e:
        return None, "stdout is not one JSON object (%s): %r" % (e, out[:200])

# ---------------------------------------------------------------- one program run


def _prepare(prog, tmp):
    """The absolute path to run: the program itself, or a copy under a non-ASCII name."""
    if prog.run_from != "non-ascii":
        return prog.path
    d = tempfile.mkdtemp(prefix=NON_ASCII_PREFIX, dir=tmp)
    shutil.copy(os.path.join(PROGRAMS_DIR, "_e2e.py"), d)
    dst = os.path.join(d, "прог-ñé中-" + os.path.basename(prog.path))
    shutil.copy(prog.path, dst)
    return dst


def run_program(args, label, version, interp, prog):
    if prog.errors:
        return "fail", "; ".join(prog.errors)
    if _version_tuple(version) < prog.min_version:
        return "skip", "needs Python %d.%d" % prog.min_version
    tmp = tempfile.mkdtemp(prefix="pyhang-e2e-")
    target = None
    try:
        path = _prepare(prog, tmp)
        target = Target([interp, path], tmp, selfcheck=args.selfcheck)
        if target.wait_line("READY", READY_TIMEOUT) is None:
            return "fail", "no READY (exit %s): %s" % (target.proc.poll(), target.stderr_tail())
        time.sleep(SETTLE)
        if args.selfcheck:
            line = target.wait_line("SELFCHECK ", 10)
            if line is None:
                return "fail", "no SELFCHECK line: %s" % target.stderr_tail()
            errs, _ = check_dump(prog, path, json.loads(line[len("SELFCHECK "):]),
                                 target.pid, version, full=False)
            if target.proc.poll() is not None:
                errs.append("program exited %s" % target.proc.poll())
            return ("fail", "; ".join(errs)) if errs else ("pass", "")
        return _check_with_pyhang(args.pyhang, prog, path, target, version)
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)


PIDNS_PROGRAMS = ("many_threads", "deadlock", "sleep_loop")


def _only_child(pid):
    """The single child of pid (unshare --fork's), or None."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if len(kids) == 1 else None


def run_program_pidns(args, label, version, interp, prog):
    """The program in a PID namespace of its own, as in a container: its threads'
    native_thread_id and pids are the namespace's, /proc shows host ones."""
    if _version_tuple(version) < prog.min_version:
        return "skip", "needs Python %d.%d" % prog.min_version
    tmp = tempfile.mkdtemp(prefix="pyhang-e2e-ns-")
    target = None
    try:
        path = _prepare(prog, tmp)
        target = Target(["unshare", "--pid", "--fork", "--mount-proc", interp, path], tmp)
        if target.wait_line("READY", READY_TIMEOUT) is None:
            return "fail", "no READY (exit %s): %s" % (target.proc.poll(), target.stderr_tail())
        time.sleep(SETTLE)
        child = _only_child(target.pid)
        if child is None:
            return "fail", "cannot find the Python process under unshare %d" % target.pid
        target.pid = child
        return _check_with_pyhang(args.pyhang, prog, path, target, version)
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _check_with_pyhang(pyhang, prog, path, target, version):
    pid = target.pid
    before = proc_states(pid)
    doc, err = _dump_json(pyhang, pid)
    if err:
        return "fail", err
    errs, first = check_dump(prog, path, doc, pid, version, full=True)
    if errs:
        return "fail", "; ".join(errs)
    # The target must be left as it was: alive, not stopped, not traced.
    after = proc_states(pid)
    if target.proc.poll() is not None or not after:
        return "fail", "target died during the dump: %s" % target.stderr_tail()
    stopped = sorted(t for t, s in after.items() if s in "tT")
    if stopped:
        return "fail", "threads %s left stopped (were %s)" % (
            stopped, [before.get(t) for t in stopped])
    if tracer_pid(pid):
        return "fail", "target left traced by pid %d" % tracer_pid(pid)
    doc2, err = _dump_json(pyhang, pid)
    if err:
        return "fail", "second dump: " + err
    errs, second = check_dump(prog, path, doc2, pid, version, full=True)
    if errs:
        return "fail", "second dump: " + "; ".join(errs)
    for tag in prog.frames:
        k = prog.depth(tag)
        a, b = first[tag], second[tag]
        if a.get("tid") != b.get("tid") or _frames_of(a)[:k] != _frames_of(b)[:k]:
            return "fail", "second dump differs for %s (tid %s vs %s)" % (
                tag, a.get("tid"), b.get("tid"))
    # Text mode: succeeds and names each tag's innermost program function.
    rc, out, err, _ = run_pyhang(pyhang, ["dump", "--pid", str(pid)])
    if rc != 0:
        return "fail", "text dump exited %s: %s" % (rc, err.strip()[:300])
    for tag in prog.frames:
        for e in prog.expected(tag):
            if e is not None and e.kind == "py":
                if e.function not in out:
                    return "fail", "text dump does not mention %s (%s)" % (e.function, tag)
                break
    if target.proc.poll() is not None:
        return "fail", "target died after the dumps"
    return "pass", ""


def _version_tuple(v):
    nums = re.findall(r"\d+", v)
    return (int(nums[0]), int(nums[1]))

# ---------------------------------------------------------------- bad input


def _one_error_line(rc, out, err):
    """'' when (rc, stderr) is a proper error, else why not."""
    if rc is None:
        return "hung (killed after %gs)" % BAD_INPUT_TIMEOUT
    if rc < 0:
        return "killed by signal %d" % -rc
    if rc == 0:
        return "exit 0, want non-zero (stdout %r)" % out[:100]
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("pyhang: "):
        return "stderr is not one 'pyhang: ' line: %r" % err[:300]
    return ""


def _python_sleeper(interp, tmp):
    code = "import sys,time\nsys.stdout.write('READY\\n'); sys.stdout.flush()\ntime.sleep(1000)\n"
    t = Target([interp, "-c", code], tmp)
    if t.wait_line("READY", READY_TIMEOUT) is None:
        t.kill()
        return None
    return t


def bad_input_cases(pyhang, interps):
    """(label, function returning (status, why)) for each bad-input test."""
    cases = []

    def simple(args):
        def run():
            rc, out, err, secs = run_pyhang(pyhang, args, timeout=BAD_INPUT_TIMEOUT)
            why = _one_error_line(rc, out, err)
            return ("fail", why + " [%.2fs]" % secs) if why else ("pass", "")
        return run
    for value in ("0", "-1", "abc", "99999999", "12abc", ""):
        cases.append(("pyhang bad-input:pid=%s" % (value or "''"),
                      simple(["dump", "--json", "--pid", value])))
    cases.append(("pyhang bad-input:text-mode-pid=0", simple(["dump", "--pid", "0"])))
    cases.append(("pyhang bad-input:missing-pid", simple(["dump", "--json"])))
    cases.append(("pyhang bad-input:unknown-option", simple(["dump", "--pid", "1", "--bogus"])))

    def against(make_target, expect_alive=True):
        def run():
            tmp = tempfile.mkdtemp(prefix="pyhang-e2e-")
            target = None
            try:
                target, pid = make_target(tmp)
                if pid is None:
                    return "fail", "could not start the target"
                rc, out, err, secs = run_pyhang(pyhang, ["dump", "--json", "--pid", str(pid)],
                                                timeout=BAD_INPUT_TIMEOUT)
                why = _one_error_line(rc, out, err)
                if why:
                    return "fail", why + " [%.2fs]" % secs
                if expect_alive and not os.path.exists("/proc/%d" % pid):
                    return "fail", "target gone afterwards"
                states = proc_states(pid)
                if any(s in "tT" for s in states.values()):
                    return "fail", "target left stopped"
                return "pass", ""
            finally:
                if target is not None:
                    target.kill()
                shutil.rmtree(tmp, ignore_errors=True)
        return run

    cases.append(("pyhang bad-input:kernel-thread", against(lambda tmp: (None, 2))))

    def non_python(tmp):
        t = Target(["sleep", "100"], tmp)
        time.sleep(0.1)
        return t, t.pid
    cases.append(("pyhang bad-input:non-python", against(non_python)))

    for label, interp in interps:
        if label not in ("3.12.1", "2.7.18", "debian-3.11"):
            continue

        def zombie(tmp, interp=interp):
            # A Python that exited and that we do not reap yet: a zombie.
            t = Target([interp, "-c", "pass"], tmp)
            for _ in range(200):
                if proc_states(t.pid).get(t.pid) == "Z":
                    return t, t.pid
                time.sleep(0.02)
            return t, None
        cases.append(("%s bad-input:zombie" % label, against(zombie)))

        def as_nobody(tmp, interp=interp):
            t = _python_sleeper(interp, tmp)
            return t, (t.pid if t else None)
        if shutil.which("setpriv"):
            cases.append(("%s bad-input:non-root" % label,
                          _non_root_case(pyhang, as_nobody)))
        cases.append(("%s bad-input:exits-mid-dump" % label,
                      _exit_mid_dump_case(pyhang, interp)))
    return cases


def _non_root_case(pyhang, make_target):
    def run():
        # A copy nobody can execute whatever the permissions on the way to the build dir.
        d = tempfile.mkdtemp(prefix="pyhang-e2e-bin-")
        try:
            os.chmod(d, 0o755)
            exe = os.path.join(d, "pyhang")
            shutil.copy(pyhang, exe)
            os.chmod(exe, 0o755)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            return _against_exe(exe, prefix, make_target)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return run


def _against_exe(exe, prefix, make_target):
    tmp = tempfile.mkdtemp(prefix="pyhang-e2e-")
    target = None
    try:
        target, pid = make_target(tmp)
        if pid is None:
            return "fail", "could not start the target"
        rc, out, err, secs = run_pyhang(exe, ["dump", "--json", "--pid", str(pid)],
                                        timeout=BAD_INPUT_TIMEOUT, prefix=prefix)
        if err.startswith("setpriv:"):
            return "fail", "setpriv could not run pyhang: %s" % err.strip()
        why = _one_error_line(rc, out, err)
        if why:
            return "fail", why + " [%.2fs]" % secs
        if target.proc.poll() is not None:
            return "fail", "target gone afterwards"
        if any(s in "tT" for s in proc_states(pid).values()):
            return "fail", "target left stopped"
        return "pass", ""
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _exit_mid_dump_case(pyhang, interp):
    code = ("import threading,time\n"
            "for i in range(4):\n"
            "    t = threading.Thread(target=time.sleep, args=(0.03,)); t.daemon = True; t.start()\n"
            "time.sleep(0.05)\n")

    def run():
        tmp = tempfile.mkdtemp(prefix="pyhang-e2e-")
        counts = collections.Counter()
        try:
            for _ in range(3):
                target = Target([interp, "-c", code], tmp)
                reaper = threading.Thread(target=target.proc.wait)
                reaper.daemon = True
                reaper.start()
                try:
                    after_exit = 0
                    for _ in range(400):
                        if target.proc.poll() is not None:
                            after_exit += 1
                            if after_exit > 3:
                                break
                        rc, out, err, secs = run_pyhang(
                            pyhang, ["dump", "--json", "--pid", str(target.pid)],
                            timeout=BAD_INPUT_TIMEOUT)
                        if rc == 0:
                            try:
                                json.loads(out)
                            except ValueError:
                                return "fail", "exit 0 with bad JSON: %r" % out[:200]
                            counts["ok"] += 1
                        elif rc == 1:
                            why = _one_error_line(rc, out, err)
                            if why:
                                return "fail", why
                            counts["error"] += 1
                        elif rc is None:
                            return "fail", "hung (killed after %gs)" % BAD_INPUT_TIMEOUT
                        else:
                            return "fail", "exit %d (want 0 or 1): %r" % (rc, err[:200])
                finally:
                    target.kill()
            return "pass", "%d dumps ok, %d errors" % (counts["ok"], counts["error"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return run

# ---------------------------------------------------------------- main


def available_interpreters(only):
    out = []
    for label, path in INTERPRETERS:
        if only and label not in only:
            continue
        if not os.access(path, os.X_OK):
            continue
        try:
            v = subprocess.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                               capture_output=True, timeout=30, env=child_env("/tmp", False))
            version = v.stdout.decode().strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if re.match(r"^\d+\.\d+\.\d+$", version):
            out.append((label, path, version))
    return out


class Report(object):
    def __init__(self):
        self.n = collections.Counter()
        self.lock = threading.Lock()

    def add(self, name, status, why):
        with self.lock:
            if status == "pass":
                line = "ok - %s" % name
                if why:
                    line += " (%s)" % why
            elif status == "skip":
                line = "ok - %s # skip %s" % (name, why)
            else:
                line = "not ok - %s: %s" % (name, why)
            self.n[status] += 1
            print(line, flush=True)


def _guard(fn, *a):
    try:
        return fn(*a)
    except Exception as e:      # a driver bug must show as a failure, not stop the run
        return "fail", "driver error: %s: %s" % (type(e).__name__, e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyhang", help="path to the pyhang binary")
    ap.add_argument("--list", action="store_true", help="print the parsed expectations")
    ap.add_argument("--selfcheck", action="store_true",
                    help="check markers against the programs' own sys._current_frames()")
    ap.add_argument("--interp", action="append", help="only this interpreter label (repeatable)")
    ap.add_argument("--program", action="append", help="only this program (repeatable)")
    ap.add_argument("--no-bad-input", action="store_true", help="skip the bad-input tests")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--programs-dir", help="another programs directory (to test the driver)")
    args = ap.parse_args()
    if args.programs_dir:
        global PROGRAMS_DIR
        PROGRAMS_DIR = os.path.abspath(args.programs_dir)

    progs = load_programs(args.program)
    if args.list:
        return list_programs(progs)
    if not args.selfcheck:
        if not args.pyhang:
            ap.error("--pyhang PATH is required (or --list / --selfcheck)")
        args.pyhang = os.path.abspath(args.pyhang)
    interps = available_interpreters(args.interp)
    report = Report()
    if not interps:
        report.add("e2e", "fail", "no interpreter found")

    jobs = []
    for label, path, version in interps:
        for p in progs:
            jobs.append(("%s %s" % (label, p.name), run_program, (args, label, version, path, p)))
            if p.name in PIDNS_PROGRAMS and not args.selfcheck and shutil.which("unshare"):
                jobs.append(("%s %s (own PID namespace)" % (label, p.name), run_program_pidns,
                             (args, label, version, path, p)))
    if not args.selfcheck:
        if not os.access(args.pyhang, os.X_OK):
            report.add("pyhang", "fail", "%s is not an executable" % args.pyhang)
            print("0 passed, 1 failed, 0 skipped", flush=True)
            return 1
        if not args.no_bad_input:
            for name, fn in bad_input_cases(args.pyhang, [(l, p) for l, p, _ in interps]):
                jobs.append((name, fn, ()))

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        futures = [(name, pool.submit(_guard, fn, *fargs)) for name, fn, fargs in jobs]
        for name, fut in futures:
            status, why = fut.result()
            report.add(name, status, why)
    except KeyboardInterrupt:
        STOP.set()
        pool.shutdown(wait=False, cancel_futures=True)
        kill_all()
        print("Bail out! interrupted", flush=True)
        return 130
    finally:
        STOP.set()
        kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
    print("%d passed, %d failed, %d skipped" % (report.n["pass"], report.n["fail"],
                                                 report.n["skip"]), flush=True)
    return 1 if report.n["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
