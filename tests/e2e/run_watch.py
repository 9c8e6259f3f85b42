#!/usr/bin/env python3
"""End-to-end tests of `pyhang watch` on every interpreter on the machine.

Each program in tests/e2e/watch/ runs healthily for ~3 s (short sleeps, CPU
bursts, idle queue workers), prints HANG_START <time>, then hangs. With
--threshold 2 the hang must be reported with the right stack (lines marked
`# @hang` / `# @gilwait` in the program), nothing may be reported before
HANG_START, and the report must come while the hang lasts: before the driver
ends it (it kills the program HARNESS_END s after HANG_START, a give-up on a
machine that is not moving, not a latency bound). How long the report took is
printed, never judged: on a shared, loaded machine any wall-clock bound fails
some day for no fault of pyhang (3.14t gil.py once took 3.66 s).

usage: tests/e2e/run_watch.py [PYHANG] [-j JOBS] [-k FILTER]
Prints `ok - ...` / `not ok - ...` and `N passed, N failed`.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "watch")
ROOT = os.path.dirname(os.path.dirname(HERE))
THRESHOLD = 2.0
# The driver's own end of a hang (or of a wait for a program's line): the program is killed
# then, and a report must have come before. A give-up, far past any report, never a bound.
HARNESS_END = 120.0

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)
INTERPRETERS = [p for _, p in interpreters.present()]


def markers(prog, tag):
    lines = set()
    with open(os.path.join(PROGS, prog)) as f:
        for i, line in enumerate(f, 1):
            if "# " + tag in line:
                lines.add(i)
    return lines


def innermost_at(frames, prog, lines):
    return bool(frames) and frames[0]["file"].endswith(prog) and frames[0]["line"] in lines


def check_deadlock(ev, prog, holders_known=True):
    if ev["event"] != "deadlock":
        return None
    want = markers(prog, "@hang")
    ths = ev.get("threads", [])
    if len(ths) < 2:
        return "deadlock names %d threads" % len(ths)
    got = sorted(t["frames"][0]["line"] if t["frames"] else -1 for t in ths)
    if sorted(want) != got or not all(innermost_at(t["frames"], prog, want) for t in ths):
        return "deadlock stacks at lines %s, want %s" % (got, sorted(want))
    if not holders_known:
        return "ok (possible deadlock: holders unknown)" if ev.get("possible") else \
            "holders named on an interpreter whose lock calls no probe sees"
    # Lock holders are known on every other interpreter here (PyThread locks 3.2 - 3.13,
    # PyMutex probes on 3.14 and 3.14t): each thread waits for a lock the next one holds.
    if ev.get("possible"):
        return "possible deadlock only: holders unknown"
    tids = [t["tid"] for t in ths]
    for i, t in enumerate(ths):
        if not t.get("lock") or t.get("holder") != tids[(i + 1) % len(tids)]:
            return "thread %d waits for lock %s held by %s, want %d" % (
                t["tid"], t.get("lock"), t.get("holder"), tids[(i + 1) % len(tids)])
    return "ok (holders named)"


def check_deadlock_inlined(ev, prog):
    """Holders unknown, the deadlock inferred from the stacks (README): Debian's python3.11
    is built with LTO, so threading.Lock's acquire and release are inlined copies no uprobe
    on PyThread_acquire_lock_timed sees (RLock's are calls); 2.7's lock calls are not
    probed at all (its GIL is a PyThread lock: probes there slowed a busy loop 5 times)."""
    return check_deadlock(ev, prog, holders_known=False)


def check_blocked_recv(ev, prog):
    if ev["event"] != "blocked" or not ev.get("syscall") or \
            ev["syscall"]["name"] not in ("recvfrom", "recv", "read", "recvmsg"):
        return None
    want = markers(prog, "@hang")
    if not innermost_at(ev["frames"], prog, want):
        return "blocked in %s at %s, want line %s" % (
            ev["syscall"]["name"], ev["frames"][:1], sorted(want))
    return "ok"


def check_spin(ev, prog):
    if ev["event"] != "spinning":
        return None
    want = markers(prog, "@hang")
    if not innermost_at(ev["frames"], prog, want) or ev["frames"][0]["function"] != "spin_forever":
        return "spinning at %s, want spin_forever at %s" % (ev["frames"][:1], sorted(want))
    return "ok"


def check_spin_deep(ev, prog):
    """The whole true stack: spin_loop (or a helper it calls on top), 40 descend(), <module>."""
    if ev["event"] != "spinning":
        return None
    fr = ev["frames"]
    names = [f["function"] for f in fr]
    i = 1 if names[:1] in (["step_a"], ["step_b"]) else 0
    if i and fr[0]["line"] not in markers(prog, "@helper"):
        return "helper at line %s" % fr[0]["line"]
    if len(fr) < i + 42 or names[i] != "spin_loop" or fr[i]["line"] not in markers(prog, "@hang"):
        return "spinning in %s, want spin_loop at %s" % (fr[:i + 1], sorted(markers(prog, "@hang")))
    body = fr[i + 1:i + 41]
    if any(f["function"] != "descend" or f["line"] not in markers(prog, "@descend") for f in body) or \
            len(fr) != i + 42 or names[-1] != "<module>" or fr[-1]["line"] not in markers(prog, "@module"):
        return "stack below spin_loop: %s" % ["%s:%s" % (f["function"], f["line"]) for f in fr[i + 1:]]
    return "ok (%d frames)" % len(fr)


def check_gil(ev, prog):
    if ev["event"] != "gil":
        return None
    waiter_ok = innermost_at(ev["frames"], prog, markers(prog, "@gilwait"))
    holder = ev.get("holder") or {}
    holder_ok = innermost_at(holder.get("frames", []), prog, markers(prog, "@hang"))
    if not (waiter_ok and holder_ok):
        return "gil waiter at %s holder at %s" % (ev["frames"][:1], holder.get("frames", [])[:1])
    return "ok"


def check_gil_free_threaded(ev, prog):
    """3.14t has no GIL: the thread summing in C just runs (a "spinning" event at
    @hang is right); the ticker never waits for a GIL, so a "gil" event is wrong."""
    if ev["event"] == "gil":
        return "a gil event on a free-threaded build: %s" % ev["frames"][:1]
    if ev["event"] != "spinning":
        return None
    if not innermost_at(ev["frames"], prog, markers(prog, "@hang")):
        return "spinning at %s, want hold_gil at %s" % (ev["frames"][:1], sorted(markers(prog, "@hang")))
    return "ok (no GIL to wait for: the holder is reported spinning)"


def check_returned(ev, prog, slept):
    """The call lasted at least the 3.5 s asked (less only by the moment between entering it and
    leaving the CPU) and at most what the program measured around it (the call is inside)."""
    if ev["event"] != "returned":
        return None
    if not (3.5 - 0.01 <= ev["seconds"] <= slept) or \
            ev["syscall"]["name"] not in ("clock_nanosleep", "select", "pselect6", "nanosleep"):
        return "returned after %.3f s in %s, want 3.5 s .. %.3f s (the program's measure) in a sleep" % (
            ev["seconds"], ev["syscall"], slept)
    return "ok"


TESTS = [
    ("deadlock.py", check_deadlock),
    ("deadlock_rlock.py", check_deadlock),
    ("recv.py", check_blocked_recv),
    ("spin.py", check_spin),
    ("spin_deep.py", check_spin_deep),
    ("gil.py", check_gil),
]
# Checked on a subset only (they test the plumbing, not the interpreter).
EXTRA_PY = ("/root/.pyenv/versions/2.7.18/bin/python", "/usr/bin/python3.11")


def start_prog(py, prog):
    proc = subprocess.Popen([py, os.path.join(PROGS, prog)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=PROGS, universal_newlines=True)
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        proc.wait()
        raise RuntimeError("program did not start")
    return proc


def stop(*procs):
    for p in procs:
        if p and p.poll() is None:
            p.kill()
    for p in procs:
        if p:
            p.wait()


def harness_end(*procs):
    """A timer that kills procs HARNESS_END s from now (the driver's end of the case, so that
    a reader blocked on them returns); cancel() it when done."""
    t = threading.Timer(HARNESS_END, lambda: [p.kill() for p in procs if p and p.poll() is None])
    t.daemon = True
    t.start()
    return t


def watch_events(watch, until):
    """Events from watch's stdout (JSON lines) until until(event) holds or watch's output ends
    (it exited, or harness_end killed it). Returns (events, the event that matched or None)."""
    evs = []
    for line in watch.stdout:
        if not line.strip():
            continue
        e = json.loads(line)
        evs.append(e)
        if until(e):
            return evs, e
    return evs, None


def extra_returned(pyhang, py):
    """blocked at the threshold, then returned with the whole duration (as long as the program
    measured its call at most)"""
    proc = watch = timer = None
    try:
        proc = start_prog(py, "returned.py")
        watch = subprocess.Popen([pyhang, "watch", "--pid", str(proc.pid), "-t", "2", "--json"],
                                 stdout=subprocess.PIPE, universal_newlines=True)
        timer = harness_end(watch, proc)
        evs, r = watch_events(watch, lambda e: e["event"] == "returned")
        slept = None
        for line in proc.stdout:    # SLEPT comes right after the call (the returned event may be first)
            m = re.match(r"SLEPT ([0-9.]+)", line)
            if m:
                slept = float(m.group(1))
                break
        kinds = [e["event"] for e in evs]
        want = markers("returned.py", "@hang")
        b = [e for e in evs if e["event"] == "blocked" and innermost_at(e["frames"], "returned.py", want)]
        if not b or not r or slept is None:
            return False, "events %s, the program's measure %s" % (kinds, slept)
        if evs.index(b[0]) > evs.index(r):
            return False, "returned before blocked: %s" % kinds
        v = check_returned(r, "returned.py", slept)
        return v == "ok", ("blocked, then returned after %.6f s (the program measured %.6f s)" %
                           (r["seconds"], slept)) if v == "ok" else v
    finally:
        if timer:
            timer.cancel()
        stop(watch, proc)


def extra_once_exec(pyhang, py):
    """--once exits 3 at the first hang; --exec gets the event in its environment"""
    proc = watch = None
    out = "/tmp/pyhang-watch-exec-%d-%s.txt" % (os.getpid(), re.sub(r"\W", "_", py))
    try:
        if os.path.exists(out):
            os.unlink(out)
        proc = start_prog(py, "recv.py")
        watch = subprocess.Popen([pyhang, "watch", "--pid", str(proc.pid), "-t", "2", "--once",
                                  "--exec", 'echo "$PYHANG_EVENT $PYHANG_PID $PYHANG_TID" > ' + out +
                                  '; echo "$PYHANG_JSON" >> ' + out],
                                 stdout=subprocess.PIPE, universal_newlines=True)
        watch.communicate(timeout=20)
        for _ in range(100):  # the run is not waited for: give it time on a busy machine
            if os.path.exists(out) and os.path.getsize(out) > 0:
                break
            time.sleep(0.1)
        time.sleep(0.2)
        with open(out) as f:
            first, js = f.readline().split(), json.loads(f.readline())
        ok = watch.returncode == 3 and first == ["blocked", str(proc.pid), str(proc.pid)] and \
            js["event"] == "blocked"
        return ok, "exit %d, exec saw %s" % (watch.returncode, first)
    finally:
        stop(watch, proc)
        if os.path.exists(out):
            os.unlink(out)


def extra_all(pyhang, py):
    """--all picks up a Python process started after watch"""
    proc = watch = timer = None
    try:
        watch = subprocess.Popen([pyhang, "watch", "--all", "-t", "2", "--json", "-v"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True)
        timer = harness_end(watch)
        for line in watch.stderr:   # loaded (-v says how it records waits): what starts now is seen
            if "waits recorded with" in line:
                break
        proc = start_prog(py, "recv.py")
        threading.Thread(target=watch.stderr.read, daemon=True).start()   # never fills its pipe
        want = markers("recv.py", "@hang")
        _, e = watch_events(watch, lambda e: e["pid"] == proc.pid and e["event"] == "blocked" and
                            innermost_at(e["frames"], "recv.py", want))
        if e:
            return True, "blocked in %s seen" % e["syscall"]["name"]
        return False, "no event for process %d" % proc.pid
    finally:
        if timer:
            timer.cancel()
        stop(watch, proc)


def extra_exit(pyhang, py):
    """the watched process exiting: one pyhang: line, exit status 1"""
    proc = subprocess.Popen([py, "-c", "import sys; sys.stdout.write('READY\\n'); sys.stdout.flush(); "
                             "sys.stdin.readline()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            universal_newlines=True)
    watch = timer = None
    try:
        proc.stdout.readline()  # past interpreter start-up
        watch = subprocess.Popen([pyhang, "watch", "--pid", str(proc.pid), "-t", "5"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        timer = harness_end(watch, proc)
        lines = []
        for line in watch.stderr:   # attached: now the process exits
            lines.append(line.rstrip("\n"))
            if line.startswith("pyhang: watching"):
                break
        proc.stdin.write("exit\n")
        proc.stdin.flush()
        out, err = watch.communicate()
        lines += err.strip().splitlines()
        last = lines[-1:]
        ok = watch.returncode == 1 and last == ["pyhang: process %d exited" % proc.pid]
        return ok, "exit %d, %s" % (watch.returncode, last)
    finally:
        if timer:
            timer.cancel()
        stop(watch, proc)


def every_busy(pyhang, py):
    """busy in changing work (ast.NodeVisitor over the stdlib) for 8 s past the threshold: no event"""
    proc = watch = None
    try:
        proc = start_prog(py, "busy_ast.py")
        watch = subprocess.Popen([pyhang, "watch", "--pid", str(proc.pid), "-t", str(THRESHOLD),
                                  "--json", "--duration", "12"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True)
        out, err = watch.communicate(timeout=40)
        evs = [json.loads(l) for l in out.splitlines() if l.strip()]
        m = re.search(r"(\d+) stacks read", err)
        read = int(m.group(1)) if m else 0
        if evs:
            return False, "reported %s" % json.dumps(evs[0])[:400]
        if proc.poll() is not None:
            return False, "the program died: %s" % proc.stderr.read()[-300:]
        # the busy thread stayed on the CPU: its stack was read at looks (5 a second when the
        # machine keeps up); two are the least for the spinning check to have compared stacks
        return read >= 2, "no event; %d stacks read in 12 s" % read
    finally:
        stop(watch, proc)


def extra_ignore_spin(pyhang, py):
    """--ignore spin_forever: the spinning thread of spin.py is not reported (said at -v -v)"""
    proc = watch = None
    try:
        proc = start_prog(py, "spin.py")
        watch = subprocess.Popen([pyhang, "watch", "--pid", str(proc.pid), "-t", str(THRESHOLD), "--json",
                                  "--duration", "10", "--ignore", "spin_forever", "-v", "-v"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        out, err = watch.communicate(timeout=40)
        evs = [json.loads(l) for l in out.splitlines() if l.strip()]
        said = "spinning, ignored (spin_forever)" in err
        return not evs and said, "events %s; ignoring said: %s" % ([e["event"] for e in evs], said)
    finally:
        stop(watch, proc)


EXTRAS = [extra_returned, extra_once_exec, extra_all, extra_exit, extra_ignore_spin]
EVERY = [every_busy]    # extras run on every interpreter


def run_one(pyhang, py, prog, check):
    """Returns (ok, message)."""
    proc = subprocess.Popen([py, os.path.join(PROGS, prog)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=PROGS, universal_newlines=True)
    watch = None
    events = []          # (receive time, event)
    hang_start = [None]
    try:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            return False, "program did not start: %r %s" % (line, proc.stderr.read()[-500:])
        watch = subprocess.Popen([pyhang, "watch", "--pid", str(proc.pid), "--threshold",
                                  str(THRESHOLD), "--json"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True)

        def read_events():
            for l in watch.stdout:
                try:
                    events.append((time.time(), json.loads(l)))
                except ValueError:
                    events.append((time.time(), {"event": "bad json", "text": l}))

        def read_prog():
            for l in proc.stdout:
                m = re.match(r"HANG_START ([0-9.]+)", l)
                if m and hang_start[0] is None:
                    hang_start[0] = float(m.group(1))

        rt = threading.Thread(target=read_events)
        rt.daemon = True
        rt.start()
        pt = threading.Thread(target=read_prog)
        pt.daemon = True
        pt.start()
        # the driver's end of the case: HARNESS_END s after HANG_START (or after the start,
        # when the program never says it): the program still hangs until then
        end = time.time() + HARNESS_END
        verdict = None
        while time.time() < end:
            if watch.poll() is not None:
                break
            hs = hang_start[0]
            if hs is not None:
                end = min(end, hs + HARNESS_END)
                for (t, ev) in list(events):
                    v = check(ev, prog)
                    if v is not None and t >= hs:
                        verdict = (t, ev, v)
                        if v == "ok" or v.startswith("ok "):
                            break
                if verdict and verdict[2].startswith("ok"):
                    break
            time.sleep(0.05)
        still_hung = proc.poll() is None    # the report came before the hang's end
        hs = hang_start[0]
        early = [ev for (t, ev) in events if hs is None or t < hs]
        if early:
            return False, "reported during the healthy phase: %s" % json.dumps(early[0])[:400]
        if hs is None:
            return False, "program never hung (no HANG_START)"
        if not verdict:
            err = watch.stderr.read() if watch.poll() is not None else ""
            kinds = [ev["event"] for (_, ev) in events]
            return False, "no matching event before the driver ended the hang, %.0f s after it " \
                "began (got %s) %s" % (HARNESS_END, kinds, err[-300:])
        t, ev, v = verdict
        if v != "ok" and not v.startswith("ok "):
            return False, v
        if not still_hung:
            return False, "reported after the program ended: %s" % json.dumps(ev)[:300]
        # order: after HANG_START (t >= hs above), before the end of the hang; the delay is
        # information only
        return True, "%s after %.2f s%s" % (ev["event"], t - hs, "" if v == "ok" else " " + v[3:])
    finally:
        for p in (watch, proc):
            if p and p.poll() is None:
                p.kill()
        for p in (watch, proc):
            if p:
                p.wait()


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
    for py in INTERPRETERS:
        if not os.path.exists(py):
            continue
        for prog, check in TESTS:
            if check is check_gil and py.endswith("t"):  # free-threaded: no GIL
                check = check_gil_free_threaded
            if prog == "deadlock_rlock.py" and "2.7" in py:
                continue    # 2.7's RLock is threading.py's: its stack ends in threading.py
            if prog == "deadlock.py" and (py == "/usr/bin/python3.11" or "2.7" in py):
                check = check_deadlock_inlined
            name = "%s %s" % (py, prog)
            if filt and filt not in name:
                continue
            cases.append((name, py, prog, check))
        for fn in EXTRAS + EVERY:
            name = "%s %s" % (py, fn.__name__.split("_", 1)[1])
            if (fn in EVERY or py in EXTRA_PY) and (not filt or filt in name):
                cases.append((name, py, None, fn))
    passed = failed = 0
    lock = threading.Lock()

    def task(c):
        name, py, prog, check = c
        try:
            if prog is None:
                ok, msg = check(pyhang, py)
            else:
                ok, msg = run_one(pyhang, py, prog, check)
        except Exception as e:  # a broken case must not stop the suite
            ok, msg = False, "driver error: %r" % (e,)
        with lock:
            print("%s - watch %s: %s" % ("ok" if ok else "not ok", name, msg))
            sys.stdout.flush()
        return ok

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        for ok in ex.map(task, cases):
            if ok:
                passed += 1
            else:
                failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
