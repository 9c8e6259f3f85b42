#!/usr/bin/env python3
"""End-to-end tests of asyncio tasks (`dump`'s "tasks", `record --tasks`) on every
interpreter from 3.6 on (3.14t included), and the issue's own case: an aiohttp server
from Debian's packages whose handler awaits a dependency that never answers.

Programs in tests/e2e/tasks/ print READY when their loop runs (and HANG_START when
their hung phase begins); lines marked `# @task NAME K` are where frame K (0 is the
innermost of the program's own frames) of the tasks called NAME must be.

usage: tests/e2e/run_tasks.py [PYHANG] [-j JOBS] [-k FILTER]
Prints `ok - ...` / `not ok - ...` and `N passed, N failed`.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "tasks")
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)

DEBIAN_PY = "/usr/bin/python3.11"
MANY = 100000
MANY_RSS_MB = 100          # pyhang's peak memory dumping MANY tasks at the default cap
RECORD_TRIES = 3           # a statistical check is measured again before it fails
RATIO_POINTS = 8           # big:small within 75 % +- this many points


def version_of(py):
    out = subprocess.run([py, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    return int(out[0]), int(out[1])


def markers(prog, tag):
    """{K: line} of the `# @task TAG K` markers of prog."""
    out = {}
    with open(os.path.join(PROGS, prog)) as f:
        for i, line in enumerate(f, 1):
            m = re.search(r"# @task (\S+) (\d+)", line)
            if m and m.group(1) == tag:
                out[int(m.group(2))] = i
    return out


class Prog:
    """A program of tests/e2e/tasks/, started and waited for (READY, HANG_START)."""

    def __init__(self, py, prog, *args):
        self.p = subprocess.Popen([py, os.path.join(PROGS, prog)] + [str(a) for a in args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROGS,
                                  universal_newlines=True)
        self.pid = self.p.pid
        self.hang_start = None
        line = self.p.stdout.readline()
        if line.strip() != "READY":
            self.stop()
            raise RuntimeError("program did not start: %r %s" % (line, self.p.stderr.read()[-400:]))

    def wait_hang(self):
        for line in self.p.stdout:
            m = re.match(r"HANG_START ([0-9.]+)", line)
            if m:
                self.hang_start = float(m.group(1))
                return self.hang_start
        raise RuntimeError("program ended before its hang")

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def dump(pyhang, pid, *extra):
    r = subprocess.run([pyhang, "dump", "--pid", str(pid)] + list(extra), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("dump exit %d: %s" % (r.returncode, r.stderr[-300:]))
    return r.stdout


def dump_json(pyhang, pid, *extra):
    return json.loads(dump(pyhang, pid, "--json", *extra))


def by_name(d):
    return {t["name"]: t for t in d.get("tasks", []) if t["name"]}


def own_frames(t, prog):
    return [f for f in t["frames"] if f["file"] and f["file"].endswith("/" + prog)]


def frames_text(t):
    return ["%s:%s" % (f["function"], f["line"]) for f in t["frames"]]


# ---------------------------------------------------------------- dump

def t_dump_requests(pyhang, py):
    """three requests awaiting an Event: exactly Event.wait, lookup, fetch; names; the loop's thread"""
    major, minor = version_of(py)
    want = markers("requests.py", "fetch")
    prog = Prog(py, "requests.py", 1.0)
    try:
        prog.wait_hang()
        time.sleep(0.3)
        d = dump_json(pyhang, prog.pid)
        text = dump(pyhang, prog.pid)
    finally:
        prog.stop()
    if "tasks" not in d:
        return False, "no \"tasks\" key: %s" % d.get("tasks_error")
    hung = [t for t in d["tasks"] if t["state"] == "pending" and
            [f["function"] for f in own_frames(t, "requests.py")] == ["lookup", "fetch"] and
            (t["awaiting"] or {}).get("kind") == "event"]
    if len(hung) != 3:
        return False, "%d tasks awaiting the event in lookup/fetch, want 3: %s" % (
            len(hung), [(t["name"], frames_text(t), t["awaiting"]) for t in d["tasks"]][:8])
    for t in hung:
        f = t["frames"]
        if len(f) != 3 or f[0]["function"] != "wait" or not f[0]["file"].endswith("asyncio/locks.py") \
                or f[1]["line"] != want[0] or f[2]["line"] != want[1]:
            return False, "frames %s, want wait (locks.py), lookup:%d, fetch:%d" % (
                frames_text(t), want[0], want[1])
        if t["thread"] != prog.pid or t["stack_error"] or not t["id"].startswith("0x"):
            return False, "task %s: thread %s, stack_error %s" % (t["name"], t["thread"], t["stack_error"])
    if (major, minor) >= (3, 8):
        names = sorted(t["name"] for t in hung)
        if names != ["request-1", "request-2", "request-3"]:
            return False, "names %s" % names
        k = by_name(d)
        checks = [("ticker", "sleep"), ("listener", "server"), ("long-sleep", "sleep")]
        for name, kind in checks:
            if name not in k or (k[name]["awaiting"] or {}).get("kind") != kind:
                return False, "%s awaits %s, want %s" % (name, k.get(name, {}).get("awaiting"), kind)
        for i in (1, 2, 3):
            if not re.search(r"request-%d \(0x[0-9a-f]+\) pending, awaiting event: Event 0x[0-9a-f]+ "
                             r"\(not set, 3 waiters\)" % i, text):
                return False, "text has no line for request-%d:\n%s" % (i, text[-1500:])
    if "Event loop 0x" not in text or "on thread %d" % prog.pid not in text:
        return False, "text names no loop on the main thread"
    return True, "3 requests in Event.wait <- lookup:%d <- fetch:%d on thread %d" % (
        want[0], want[1], prog.pid)


def t_dump_tree(pyhang, py):
    """awaited_by of gather, TaskGroup (3.11+) and wait children; a cycle of two tasks"""
    major, minor = version_of(py)
    prog = Prog(py, "tree.py")
    try:
        d = dump_json(pyhang, prog.pid)
        text = dump(pyhang, prog.pid)
    finally:
        prog.stop()
    tasks = {t["id"]: t for t in d["tasks"]}

    def parent_of(kind, frame):
        ps = [t for t in d["tasks"] if (t["awaiting"] or {}).get("kind") == kind and
              any(f["function"] == frame for f in t["frames"])]
        return ps[0] if len(ps) == 1 else None

    wanted = [("gather", "gather_parent", 2), ("wait", "wait_parent", 2)]
    if (major, minor) >= (3, 11):
        wanted.append(("taskgroup", "group_parent", 2))
    for kind, frame, n in wanted:
        p = parent_of(kind, frame)
        if not p:
            return False, "no single task in %s awaiting %s" % (frame, kind)
        kids = [tasks[i] for i in p["awaits"] if i in tasks]
        if len(kids) != n or any(p["id"] not in k["awaited_by"] for k in kids) or \
                any([f["function"] for f in own_frames(k, "tree.py")] != ["child"] for k in kids):
            return False, "%s: awaits %s" % (kind, [(k["name"], frames_text(k), k["awaited_by"])
                                                     for k in kids])
    cyc = [t for t in d["tasks"] if [f["function"] for f in own_frames(t, "tree.py")] == ["await_other"]]
    if len(cyc) != 2 or len(d["task_cycles"]) != 1 or sorted(d["task_cycles"][0]) != sorted(t["id"] for t in cyc):
        return False, "cycle: %s, task_cycles %s" % ([t["id"] for t in cyc], d["task_cycles"])
    a, b = cyc
    if a["awaits"] != [b["id"]] or b["awaits"] != [a["id"]] or a["cycle"] is None or \
            (a["awaiting"] or {}).get("kind") != "task":
        return False, "cycle tasks: %s %s" % (a, b)
    if not re.search(r"cycle 1: \S+ \(0x[0-9a-f]+\) awaits \S+ \(0x[0-9a-f]+\) awaits", text):
        return False, "text reports no cycle"
    return True, "%s awaited by their parents; one cycle of 2" % ", ".join(k for k, _, _ in wanted)


# Runs a command and prints its peak RSS (KiB) after its output: a child of its own,
# so that no other test's processes count.
PEAK_RSS = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "sys.stdout.flush(); print('\\n@@peak-kb %d' % "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def t_dump_many(pyhang, py):
    """100,000 pending tasks: the default cap (10,000) shown, the rest counted, memory bounded"""
    prog = Prog(py, "many.py", MANY)
    try:
        r = subprocess.run([sys.executable, "-c", PEAK_RSS, pyhang, "dump", "--pid", str(prog.pid),
                            "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        small = dump_json(pyhang, prog.pid, "--max-tasks", "50")
    finally:
        prog.stop()
    if r.returncode:
        return False, "dump exit %d %s" % (r.returncode, r.stderr[-300:])
    out, _, peak = r.stdout.rpartition(b"\n@@peak-kb ")
    rss_mb = int(peak) / 1024.0
    d = json.loads(out)
    if len(d["tasks"]) != 10000 or not d["tasks_truncated"] or d["tasks_total"] < MANY:
        return False, "%d tasks, truncated %s, total %s" % (len(d["tasks"]), d["tasks_truncated"],
                                                            d["tasks_total"])
    if len(small["tasks"]) != 50 or not small["tasks_truncated"]:
        return False, "--max-tasks 50 gave %d" % len(small["tasks"])
    bad = [t for t in d["tasks"] if t["state"] == "pending" and
           (t["awaiting"] or {}).get("kind") != "event" and t["frames"][-1]["function"] != "main"]
    if bad:
        return False, "%d tasks not awaiting the event: %s" % (len(bad), bad[0])
    if rss_mb > MANY_RSS_MB:
        return False, "pyhang peaked at %.0f MB (bound %d)" % (rss_mb, MANY_RSS_MB)
    return True, "10000 of %d shown, truncated; peak RSS %.0f MB" % (d["tasks_total"], rss_mb)


def t_dump_churn(pyhang, py):
    """tasks made and freed as fast as the loop can: 15 dumps, each whole JSON, never a crash"""
    prog = Prog(py, "churn.py")
    errors = 0
    try:
        for _ in range(15):
            d = dump_json(pyhang, prog.pid)
            if "tasks" not in d:
                return False, "no tasks key: %s" % d.get("tasks_error")
            errors += d["tasks_error"] is not None
            for t in d["tasks"]:
                if t["state"] == "pending" and not t["frames"] and not t["stack_error"] and \
                        not t["running"]:
                    return False, "a pending task without frames or a reason: %s" % t
    finally:
        prog.stop()
    return True, "15 dumps (%d said their registry changed while read)" % errors


def t_dump_no_asyncio(pyhang, py):
    """a process that never imported asyncio has no "tasks" key"""
    p = subprocess.Popen([py, "-c", "import sys, time; print('READY'); sys.stdout.flush(); "
                          "time.sleep(60)"], stdout=subprocess.PIPE, universal_newlines=True)
    try:
        p.stdout.readline()
        d = dump_json(pyhang, p.pid)
    finally:
        p.kill()
        p.wait()
    keys = [k for k in d if k.startswith("task")]
    return not keys, "keys %s" % (keys or "none")


# name (3.8+), own function, marker, kind, detail, the innermost (stdlib) frame's file
KINDS = [
    ("locker", "take_lock", "lock", "lock", r"Lock 0x[0-9a-f]+ \(locked, 1 waiter\)", "asyncio/locks.py"),
    ("consumer", "consume", "queue", "queue", r"get: Queue 0x[0-9a-f]+ is empty \(1 getter\)",
     "asyncio/queues.py"),
    ("conditioned", "wait_condition", "condition", "condition", r"Condition 0x[0-9a-f]+ \(1 waiter\)",
     "asyncio/locks.py"),
    ("semaphored", "take_semaphore", "semaphore", "semaphore",
     r"Semaphore 0x[0-9a-f]+ \(value 0, 1 waiter\)", "asyncio/locks.py"),
    ("sleeper", "nap", "sleep", "sleep", r"asyncio\.sleep\(5000\): [0-9.]+s left", "asyncio/tasks.py"),
    ("stream-reader", "read_stream", "stream", "io",
     r"read fd \d+ TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:(\d+) \(ESTABLISHED\)", "asyncio/streams.py"),
    ("sock-reader", "recv_socket", "sock", "io",
     r"read fd \d+ TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:(\d+) \(ESTABLISHED\)", "asyncio/selector_events.py"),
    ("joiner", "join", "join", "task", None, None),
]


def t_dump_kinds(pyhang, py):
    """a task per await kind (lock, queue, condition, semaphore, sleep, stream and socket reads, a task): frames, lines, what each awaits, text and JSON"""
    major, minor = version_of(py)
    prog = Prog(py, "kinds.py")
    try:
        d = dump_json(pyhang, prog.pid)
        text = dump(pyhang, prog.pid)
    finally:
        prog.stop()
    if d.get("tasks_error"):
        return False, "tasks_error: %s" % d["tasks_error"]
    found, peers = {}, set()
    for name, fn, tag, kind, detail, stdlib in KINDS:
        ts = [t for t in d["tasks"] if [f["function"] for f in own_frames(t, "kinds.py")] == [fn]]
        if len(ts) != 1:
            return False, "%d tasks with kinds.py frames [%s], want 1: %s" % (
                len(ts), fn, [(t["name"], frames_text(t)) for t in d["tasks"]])
        t = ts[0]
        found[name] = t
        line = markers("kinds.py", tag)[0]
        own = own_frames(t, "kinds.py")
        if own[0]["line"] != line or t["frames"][-1] is not own[0]:
            return False, "%s: frames %s, want %s:%d outermost" % (name, frames_text(t), fn, line)
        if stdlib and not (name == "sock-reader" and (major, minor) < (3, 7)):
            # 3.6's sock_recv is a plain function returning a future: no frame of its own
            if len(t["frames"]) < 2 or not t["frames"][0]["file"].endswith(stdlib):
                return False, "%s: innermost frame %s, want one in %s" % (name, frames_text(t), stdlib)
        w = t["awaiting"] or {}
        if w.get("kind") != kind or (detail and not re.match(detail, w.get("detail", ""))):
            return False, "%s awaits %s, want %s %s" % (name, w, kind, detail)
        if kind == "io":
            peers.add(re.match(detail, w["detail"]).group(1))
        if (major, minor) >= (3, 8) and t["name"] != name:
            return False, "task in %s is named %r, want %r" % (fn, t["name"], name)
        if t["state"] != "pending" or t["thread"] != prog.pid or t["stack_error"]:
            return False, "%s: state %s thread %s stack_error %s" % (name, t["state"], t["thread"],
                                                                     t["stack_error"])
    if len(peers) != 1:
        return False, "the two readers name different peers: %s" % peers
    j, l = found["joiner"], found["locker"]
    if j["awaits"] != [l["id"]] or l["awaited_by"] != [j["id"]]:
        return False, "joiner awaits %s, locker awaited by %s" % (j["awaits"], l["awaited_by"])
    want_detail = r"%s \(%s, pending\)" % ("locker" if (major, minor) >= (3, 8) else "a task", l["id"])
    if not re.match(want_detail, j["awaiting"]["detail"]):
        return False, "joiner's detail %r, want %s" % (j["awaiting"]["detail"], want_detail)
    # text: one line per task with what it awaits, the locker under the joiner
    for name, fn, tag, kind, detail, stdlib in KINDS:
        label = re.escape(name) if (major, minor) >= (3, 8) else "task"
        pat = r"^ *(└─ )?%s \(%s\) pending, awaiting %s: " % (label, found[name]["id"], kind)
        if not re.search(pat, text, re.M):
            return False, "text has no line %r:\n%s" % (pat, text[-2000:])
    if not re.search(r"^ +└─ %s \(%s\) pending, awaiting lock" % (
            "locker" if (major, minor) >= (3, 8) else "task", l["id"]), text, re.M):
        return False, "the locker is not under the joiner in the text"
    return True, "%d kinds, each in its own frames and lines; joiner -> locker" % len(KINDS)


# ---------------------------------------------------------------- watch

class Watch:
    """pyhang watch --json on one process, its events read by a thread."""

    def __init__(self, pyhang, pid, *extra):
        self.p = subprocess.Popen([pyhang, "watch", "--pid", str(pid), "--json"] + list(extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True)
        self.events, self.err = [], []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.events.append(json.loads(line))
                self.cv.notify_all()
        with self.cv:
            self.events.append(None)
            self.cv.notify_all()

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)

    def wait_for(self, pred, guard=120):
        """The events once pred(events) holds; None if watch ended first (guard: a hang guard
        only, never a measure)."""
        end = time.time() + guard
        with self.cv:
            while True:
                evs = [e for e in self.events if e is not None]
                if pred(evs):
                    return evs
                if None in self.events or time.time() > end:
                    return None
                self.cv.wait(1)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        with self.cv:
            return [e for e in self.events if e is not None]


def task_events(evs, kind, name=None, tid=None):
    return [e for e in evs if e["event"] == kind and e.get("task") and
            (name is None or e["task"]["name"] == name) and (tid is None or e["task"]["id"] == tid)]


def metric(url, name, pid):
    try:
        body = urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception:
        return None
    m = re.search(r'^%s\{pid="%d"\} (\d+)$' % (name, pid), body, re.M)
    return int(m.group(1)) if m else None


def t_watch_requests(pyhang, py):
    """watch --threshold 1: the three hung requests reported once each (Event.wait <- lookup <- fetch), nothing for the ticker, listener, long sleep or the healthy phase; pyhang_hung_tasks 3"""
    major, minor = version_of(py)
    want = markers("requests.py", "fetch")
    port = free_port()
    prog = Prog(py, "requests.py", 3.0)
    w = Watch(pyhang, prog.pid, "--threshold", "1", "--metrics", "127.0.0.1:%d" % port)
    try:
        hang = prog.wait_hang()
        evs = w.wait_for(lambda evs: len(task_events(evs, "awaiting")) >= 3)
        gauge = None
        for _ in range(100):   # published after the scan that reported them
            gauge = metric("http://127.0.0.1:%d/metrics" % port, "pyhang_hung_tasks", prog.pid)
            if gauge == 3:
                break
            time.sleep(0.2)
    finally:
        evs_all = w.stop()
        prog.stop()
    if evs is None:
        return False, "watch ended or saw fewer than 3 awaiting tasks: %s %s" % (
            [(e["event"], (e.get("task") or {}).get("name")) for e in evs_all], "".join(w.err)[-300:])
    aw = task_events(evs_all, "awaiting")
    if len(aw) != 3 or any(e["event"] not in ("awaiting",) for e in evs_all):
        return False, "events %s, want exactly 3 awaiting" % [
            (e["event"], (e.get("task") or {}).get("name"), [f["function"] for f in e["frames"]])
            for e in evs_all]
    ids = set()
    for e in aw:
        fr = e["frames"]
        if [f["function"] for f in fr][1:] != ["lookup", "fetch"] or fr[0]["function"] != "wait" or \
                [f["line"] for f in fr][1:] != [want[0], want[1]]:
            return False, "awaiting frames %s" % ["%s:%s" % (f["function"], f["line"]) for f in fr]
        t = e["task"]
        if t["awaiting"]["kind"] != "event" or t["state"] != "pending" or e["tid"] != prog.pid:
            return False, "awaiting %s on %s" % (t, e["tid"])
        if e["time"] < hang:
            return False, "reported at %.3f, before the hang began at %.3f" % (e["time"], hang)
        ids.add(t["id"])
    if len(ids) != 3:
        return False, "the same task reported twice: %s" % ids
    if (major, minor) >= (3, 8) and sorted(e["task"]["name"] for e in aw) != ["request-1", "request-2",
                                                                               "request-3"]:
        return False, "names %s" % [e["task"]["name"] for e in aw]
    if gauge != 3:
        return False, "pyhang_hung_tasks{pid=%d} = %s, want 3" % (prog.pid, gauge)
    late = max(e["time"] for e in aw) - hang
    return True, "3 requests reported %.2f s after the hang began (threshold 1); ticker, listener, " \
                 "long sleep not; pyhang_hung_tasks 3" % late


def t_watch_resume(pyhang, py):
    """a stalled task reported with who awaits it, resumed when it moves on, reported again at its new await point; --ignore spares a task"""
    major, minor = version_of(py)
    first = markers("resume.py", "stalled-first")[0]
    second = markers("resume.py", "stalled-second")[0]
    prog = Prog(py, "resume.py")
    w = Watch(pyhang, prog.pid, "--threshold", "1", "--ignore", "*resume.py:ignored_wait")
    try:
        prog.wait_hang()

        def stalled(evs, kind):
            return [e for e in task_events(evs, kind) if e["frames"] and
                    [f["function"] for f in own_frames(e, "resume.py")][:1] == ["stall"]]

        evs = w.wait_for(lambda evs: stalled(evs, "awaiting"))
        if evs is None:
            return False, "no awaiting event for the stalled task: %s" % "".join(w.err)[-300:]
        a1 = stalled(evs, "awaiting")[0]
        tid = a1["task"]["id"]
        os.kill(prog.pid, 10)  # SIGUSR1: the first Event is set
        evs = w.wait_for(lambda evs: len(task_events(evs, "awaiting", tid=tid)) >= 2)
        d = dump_json(pyhang, prog.pid)
    finally:
        evs_all = w.stop()
        prog.stop()
    if evs is None:
        return False, "no second awaiting: %s" % [(e["event"], e["task"] and e["task"]["name"])
                                                 for e in evs_all]
    seq = [e["event"] for e in evs_all if e.get("task") and e["task"]["id"] == tid]
    if seq[:3] != ["awaiting", "resumed", "awaiting"]:
        return False, "the stalled task's events %s" % seq
    a2 = task_events(evs_all, "awaiting", tid=tid)[1]
    r = task_events(evs_all, "resumed", tid=tid)[0]
    l1 = [f["line"] for f in own_frames(a1, "resume.py")]
    l2 = [f["line"] for f in own_frames(a2, "resume.py")]
    if l1 != [first] or l2 != [second] or r["task"]["finished"]:
        return False, "lines %s then %s (want %d then %d), resumed %s" % (l1, l2, first, second, r["task"])
    by = a1["task"]["awaited_by"]
    parents = [e for e in task_events(evs_all, "awaiting") if
               [f["function"] for f in own_frames(e, "resume.py")] == ["parent"]]
    if len(by) != 1 or len(parents) != 1 or parents[0]["task"]["id"] != by[0]["id"] or \
            parents[0]["task"]["awaiting"]["kind"] != "gather":
        return False, "awaited by %s; parents reported %s" % (by, [p["task"] for p in parents])
    if (major, minor) >= (3, 8) and (a1["task"]["name"] != "stalled" or by[0]["name"] != "parent"):
        return False, "names %s awaited by %s" % (a1["task"]["name"], by)
    quiet = [t for t in d["tasks"] if [f["function"] for f in own_frames(t, "resume.py")] ==
             ["ignored_wait"] and (t["awaiting"] or {}).get("kind") == "event"]
    if len(quiet) != 1:
        return False, "the task --ignore names is not there to be ignored: %s" % [
            frames_text(t) for t in d["tasks"]]
    others = [e for e in evs_all if e["event"] in ("awaiting", "resumed") and e["task"]["id"] not in
              (tid, by[0]["id"])]
    if others:
        return False, "reported besides the stalled task and its parent: %s" % [
            (e["event"], e["task"]["name"], [f["function"] for f in e["frames"]]) for e in others]
    return True, "awaiting (line %d, awaited by the gathering parent), resumed, awaiting (line %d); " \
                 "the --ignore'd task and the idle ones never" % (first, second)


def t_watch_loop_blocked(pyhang, py):
    """the loop's thread blocked in time.sleep inside a task's step: the blocked event names that task"""
    major, minor = version_of(py)
    line = markers("blocker.py", "blocker")[0]
    prog = Prog(py, "blocker.py")
    w = Watch(pyhang, prog.pid, "--threshold", "1")
    try:
        prog.wait_hang()
        evs = w.wait_for(lambda evs: [e for e in evs if e["event"] == "blocked"])
        d = dump_json(pyhang, prog.pid)
    finally:
        evs_all = w.stop()
        prog.stop()
    if evs is None:
        return False, "no blocked event: %s %s" % ([e["event"] for e in evs_all], "".join(w.err)[-300:])
    running = [k for k in d["tasks"] if k["running"]]
    e = [e for e in evs if e["event"] == "blocked"][0]
    own = own_frames(e, "blocker.py")
    if e["tid"] != prog.pid or not own or own[0]["function"] != "block_loop" or own[0]["line"] != line:
        return False, "blocked %s frames %s" % (e["tid"], frames_text(e))
    t = e.get("task")
    if not t or not t["id"].startswith("0x") or ((major, minor) >= (3, 8) and t["name"] != "blocker"):
        return False, "the event names task %s, want the blocker" % t
    if len(running) != 1 or running[0]["id"] != t["id"] or \
            [f["function"] for f in own_frames(running[0], "blocker.py")] != ["block_loop"]:
        return False, "the event names %s; dump's running tasks %s" % (t, [(k["id"], frames_text(k))
                                                                          for k in running])
    if [x for x in evs_all if x["event"] == "awaiting"]:
        return False, "a task reported awaiting while the loop cannot run: %s" % [
            x["task"]["name"] for x in evs_all if x["event"] == "awaiting"]
    return True, "blocked in %s (block_loop:%d) in the step of task %s" % (
        (e["syscall"] or {}).get("name"), line, t["name"] or t["id"])


# ---------------------------------------------------------------- record --tasks

def folded_roots(path):
    roots = {}
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            roots[stack.split(";")[0]] = roots.get(stack.split(";")[0], 0) + int(count)
    return roots


def t_record_tasks(pyhang, py):
    """record --tasks splits a 3:1 CPU split between the two tasks' root frames, in every format"""
    tmp = tempfile.mkdtemp(prefix="pyhang-tasks-")
    try:
        for attempt in range(RECORD_TRIES):
            # busy.py's tasks end after SECONDS: long enough to outlive a loaded machine's start of
            # a 3 s recording (the program is stopped after it)
            prog = Prog(py, "busy.py", 30)
            out = os.path.join(tmp, "t.folded")
            r = subprocess.run([pyhang, "record", "--pid", str(prog.pid), "--tasks", "-r", "499",
                                "-d", "3", "-o", out], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
            prog.stop()
            if r.returncode:
                return False, "record exit %d %s" % (r.returncode, r.stderr[-300:])
            roots = folded_roots(out)
            big = sum(v for k, v in roots.items() if k.startswith("task ") and k.endswith("(big)"))
            small = sum(v for k, v in roots.items() if k.startswith("task ") and k.endswith("(small)"))
            if big + small and abs(100.0 * big / (big + small) - 75) <= RATIO_POINTS:
                break
        else:
            return False, "roots %s" % roots
        names = [k for k in roots if k.endswith("(big)")]
        if version_of(py) >= (3, 8) and names != ["task big (big)"]:
            return False, "root names %s" % names
        # the other formats from three more recordings of one program, which must outlive them
        # (with 4 s, a loaded machine's third recording found the tasks gone: no task label)
        prog = Prog(py, "busy.py", 30)
        try:
            for ext in ("svg", "speedscope.json", "pb.gz"):
                path = os.path.join(tmp, "t." + ext)
                r = subprocess.run([pyhang, "record", "--pid", str(prog.pid), "--tasks", "-d", "1",
                                    "-o", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=60)
                if r.returncode:
                    return False, "%s: exit %d" % (ext, r.returncode)
        finally:
            prog.stop()
        with open(os.path.join(tmp, "t.svg"), errors="replace") as f:
            if "(big)" not in f.read():
                return False, "svg without the task frame"
        with open(os.path.join(tmp, "t.speedscope.json")) as f:
            if not any(fr["name"].startswith("task ") for fr in json.load(f)["shared"]["frames"]):
                return False, "speedscope without the task frame"
        if shutil.which("go"):
            tags = subprocess.run(["go", "tool", "pprof", "-tags", os.path.join(tmp, "t.pb.gz")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=120).stdout
            if not re.search(r"^ *task: Total", tags, re.M) or "(big)" not in tags:
                return False, "pprof has no task label: %s" % tags[:400]
        return True, "big %.0f %% of the tasks' samples (%d, %d); svg, speedscope, pprof" % (
            100.0 * big / (big + small), big, small)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- the case

AIOHTTP_APP = os.path.join(PROGS, "aiohttp_app.py")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(url, timeout):
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


def t_aiohttp_dump(pyhang, py):
    """aiohttp (Debian's python3-aiohttp): two hung requests with the handler's frames and what they await"""
    port = free_port()
    app = subprocess.Popen([py, AIOHTTP_APP, str(port)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
    threads = []
    try:
        deadline = time.time() + 20
        while True:
            try:
                if http_get("http://127.0.0.1:%d/health" % port, 1) == "ok\n":
                    break
            except Exception:
                if time.time() > deadline:
                    return False, "the server did not answer: %s" % app.stderr.read()[-300:]
                time.sleep(0.2)
        for item in ("apple", "pear"):
            t = threading.Thread(target=lambda i=item: _swallow(http_get, "http://127.0.0.1:%d/quote?item=%s"
                                                               % (port, i), 60))
            t.daemon = True
            t.start()
            threads.append(t)
        time.sleep(1.0)
        health = http_get("http://127.0.0.1:%d/health" % port, 5)
        d = dump_json(pyhang, app.pid)
        text = dump(pyhang, app.pid)
    finally:
        app.kill()
        app.wait()
    want = markers("aiohttp_app.py", "handler")
    hung = [t for t in d["tasks"] if t["state"] == "pending" and
            [f["function"] for f in own_frames(t, "aiohttp_app.py")] == ["fetch_price", "quote"]]
    if len(hung) != 2 or health != "ok\n":
        return False, "%d hung handlers, health %r: %s" % (len(hung), health,
                                                            [frames_text(t) for t in d["tasks"]])
    for t in hung:
        own = own_frames(t, "aiohttp_app.py")
        if [f["line"] for f in own] != [want[0], want[1]]:
            return False, "handler frames %s, want lines %s" % (frames_text(t), want)
        w = t["awaiting"] or {}
        if w.get("kind") != "io" or not re.match(r"read fd \d+ TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ "
                                                  r"\(ESTABLISHED\)", w.get("detail", "")):
            return False, "awaits %s" % w
        if not t["awaited_by"]:
            return False, "nobody awaits the handler task %s" % t["name"]
    return True, "2 handlers in fetch_price <- quote, each awaiting %s" % hung[0]["awaiting"]["detail"][:60]


def t_aiohttp_watch(pyhang, py):
    """aiohttp: watch --threshold 1 reports the two hung handlers (fetch_price <- quote, awaiting the socket), not the health checks nor an idle keep-alive connection"""
    import http.client
    port = free_port()
    app = subprocess.Popen([py, AIOHTTP_APP, str(port)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
    w = None
    try:
        deadline = time.time() + 30
        while True:
            try:
                if http_get("http://127.0.0.1:%d/health" % port, 1) == "ok\n":
                    break
            except Exception:
                if time.time() > deadline:
                    return False, "the server did not answer: %s" % app.stderr.read()[-300:]
                time.sleep(0.2)
        w = Watch(pyhang, app.pid, "--threshold", "1")
        keep = http.client.HTTPConnection("127.0.0.1", port, timeout=10)   # stays open, idle
        keep.request("GET", "/health")
        if keep.getresponse().read() != b"ok\n":
            return False, "keep-alive health check failed"
        for item in ("apple", "pear"):
            t = threading.Thread(target=lambda i=item: _swallow(
                http_get, "http://127.0.0.1:%d/quote?item=%s" % (port, i), 120))
            t.daemon = True
            t.start()
        handlers = lambda evs: [e for e in task_events(evs, "awaiting") if
                                [f["function"] for f in own_frames(e, "aiohttp_app.py")] ==
                                ["fetch_price", "quote"]]
        evs = w.wait_for(lambda evs: len(handlers(evs)) >= 2)
        health = http_get("http://127.0.0.1:%d/health" % port, 5)
    finally:
        evs_all = w.stop() if w else []
        app.kill()
        app.wait()
    if evs is None:
        return False, "fewer than 2 hung handlers reported: %s" % [
            (e["event"], [f["function"] for f in e["frames"]]) for e in evs_all]
    hs = handlers(evs_all)
    want = markers("aiohttp_app.py", "handler")
    for e in hs:
        own = own_frames(e, "aiohttp_app.py")
        aw = e["task"]["awaiting"] or {}
        if [f["line"] for f in own] != [want[0], want[1]] or aw.get("kind") != "io" or \
                not aw.get("detail", "").startswith("read fd "):
            return False, "handler %s awaiting %s" % (frames_text(e), aw)
    idle = [e for e in evs_all if e["event"] == "awaiting" and e not in hs and not
            any(f["function"] in ("fetch_price", "quote") for f in e["frames"])]
    if len(hs) != 2 or health != "ok\n" or idle:
        return False, "%d handlers, health %r, others reported: %s" % (
            len(hs), health, [[f["function"] for f in e["frames"]] for e in idle])
    return True, "2 hung handlers reported awaiting %s; keep-alive and health not" % \
        hs[0]["task"]["awaiting"]["detail"][:40]


def _swallow(fn, *args):
    try:
        fn(*args)
    except Exception:
        pass


# ---------------------------------------------------------------- driver

PER_INTERPRETER = [t_dump_requests, t_dump_kinds, t_dump_tree, t_dump_many, t_dump_churn,
                   t_dump_no_asyncio, t_record_tasks, t_watch_requests, t_watch_resume, t_watch_loop_blocked]


def aiohttp_present():
    """Debian's python3-aiohttp for Debian's python3.11, installed when missing (as root)."""
    def importable():
        return os.path.exists(DEBIAN_PY) and subprocess.run(
            [DEBIAN_PY, "-c", "import aiohttp"], stderr=subprocess.DEVNULL).returncode == 0
    if importable() or not os.path.exists(DEBIAN_PY) or os.geteuid() != 0:
        return importable()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "python3-aiohttp"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return importable()


def run_case(case):
    name, fn, pyhang, py = case
    try:
        ok, msg = fn(pyhang, py)
    except Exception as e:  # a test that could not run is a failure, said as such
        ok, msg = False, "%s: %s" % (type(e).__name__, e)
    return name, ok, msg


def main():
    args = sys.argv[1:]
    jobs, filt = 2, None
    pyhang = os.path.join(ROOT, "build", "pyhang")
    while args:
        a = args.pop(0)
        if a == "-j":
            jobs = int(args.pop(0))
        elif a == "-k":
            filt = args.pop(0)
        else:
            pyhang = a
    cases = []
    for label, py in interpreters.present():
        if label.startswith("2."):
            continue
        for fn in PER_INTERPRETER:
            cases.append(("%s %s" % (label, fn.__name__[2:]), fn, pyhang, py))
    extra = [("debian-3.11 aiohttp_dump", t_aiohttp_dump),
             ("debian-3.11 aiohttp_watch", t_aiohttp_watch)] + EXTRA_CASES
    extra = [(n, fn) for n, fn in extra if not filt or filt in n]
    have_aiohttp = aiohttp_present() if extra else False
    skipped = []
    for name, fn in extra:
        if have_aiohttp:
            cases.append((name, fn, pyhang, DEBIAN_PY))
        else:
            skipped.append(name)
    if filt:
        cases = [c for c in cases if filt in c[0]]
    passed = failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        for name, ok, msg in ex.map(run_case, cases):
            print("%s - %s: %s" % ("ok" if ok else "not ok", name, msg))
            sys.stdout.flush()
            passed += ok
            failed += not ok
    for name in skipped:
        print("ok - %s # SKIP python3-aiohttp is not installed (apt-get install python3-aiohttp)" % name)
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % len(skipped) if skipped else ""))
    return 1 if failed else 0


EXTRA_CASES = []

if __name__ == "__main__":
    sys.exit(main())
