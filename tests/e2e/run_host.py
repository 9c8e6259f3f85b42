#!/usr/bin/env python3
"""End-to-end tests of the whole-host mode: `pyhang record --all` and `pyhang dump --all`.

Usage: tests/e2e/run_host.py [PYHANG]   (default: build/pyhang; needs root)

Starts 12 Python processes over every interpreter on the machine, each spinning in a
function whose name is unique to it (the program text is generated per process), one
more in its own PID namespace, then checks that every one shows up under its own
process label with its own function: in `record --all -f folded` (plus one process
started after recording began and one that lives only ~1 s), in `record --all -f pprof`
as `go tool pprof -raw` reads it (counts agree with a folded recording of the same
processes over the same seconds, and each sample's "pid" label agrees with both), and in
`dump --all` (text and JSON). Then the faults: a storm of 300 short-lived processes over
every interpreter (started in 2 s) under `record --all` and `watch --all` — no stack under a
wrong process, the lost count reported, the storm not reported as hung, a blocked process
reported; two programs linking libpython (one never calls Py_Initialize: one line from
`dump --pid`, nothing attributed; one runs a function through PyRun_SimpleString: profiled
and dumped under its own label); and a process whose threads keep compiling, running deep
and freeing code and unmapping memory, dumped 50 times while `record --pid -r 999` samples
it (no crash, no signal, the target alive). Helpers are in tests/e2e/host/.
Other Python processes on the host are ignored. Prints
`ok - ...` / `not ok - ...` per check and a final `N passed, N failed`; exits non-zero
when any check failed.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYHANG = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "pyhang")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)
PYTHONS = [p for _, p in interpreters.present()]
NPROCS = max(12, len(PYTHONS))

results = {"pass": 0, "fail": 0}


def check(cond, what, detail=""):
    if cond:
        results["pass"] += 1
        print("ok - %s" % what)
    else:
        results["fail"] += 1
        print("not ok - %s%s" % (what, (": " + detail) if detail else ""))
    sys.stdout.flush()
    return cond


def skip(what, why):
    results["pass"] += 1
    print("ok - %s # skip %s" % (what, why))


PROGRAM = """\
import sys, time
def %(func)s():
    x = 0
    end = time.time() + %(life)s
    while %(forever)s or time.time() < end:
        x += 1
sys.stdout.write("ready\\n")
sys.stdout.flush()
%(func)s()
"""


class Worker:
    """One Python process spinning in its own function."""

    def __init__(self, tmp, python, tag, life=None, prefix=()):
        self.python = python
        self.func = "spin_%s_%06d" % (tag, random.randrange(10 ** 6))
        self.path = os.path.join(tmp, "w_%s.py" % self.func)
        with open(self.path, "w") as f:
            f.write(PROGRAM % {"func": self.func, "life": life or 0,
                               "forever": "False" if life else "True"})
        self.proc = subprocess.Popen(list(prefix) + [python, self.path], stdout=subprocess.PIPE,
                                     universal_newlines=True)
        self.pid = self.proc.pid  # replaced by the Python pid when a prefix runs it

    def wait_ready(self):
        return self.proc.stdout.readline().strip() == "ready"

    def find_python_pid(self):
        """The pid (host namespace) whose command line runs self.path."""
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if self.path.encode() in argv and os.path.basename(argv[0]).startswith(b"python"):
                return int(d)
        return None

    def stop(self):
        if self.pid and self.pid != self.proc.pid and self.pid > 0:
            try:
                os.kill(self.pid, 9)  # PID 1 of its namespace ignores SIGTERM
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def label_pid(frame):
    m = re.search(r"\[pid (\d+)[ ,\]]", frame)
    return int(m.group(1)) if m else None


def parse_folded(path):
    """{pid: {function: count}} from the process root frames, plus the labels."""
    per, labels = {}, {}
    with open(path, errors="replace") as f:  # invalid UTF-8 is checked where it matters
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            pid = label_pid(frames[0])
            if pid is None:
                continue
            labels[pid] = frames[0]
            d = per.setdefault(pid, {})
            for fr in frames[1:]:
                fn = re.sub(r" \(.*\)$", "", fr)
                d[fn] = d.get(fn, 0) + int(count)
            d["__total__"] = d.get("__total__", 0) + int(count)
    return per, labels


def parse_pprof_raw(text):
    """{pid: {function: count}} from `go tool pprof -raw` (root location last)."""
    locs, samples, section = {}, [], None
    for line in text.splitlines():
        if line.startswith("Samples:"):
            section = "s"
            continue
        if line.startswith("Locations"):
            section = "l"
            continue
        if line.startswith("Mappings"):
            section = None
            continue
        if section == "s":
            m = re.match(r"^\s*(\d+)\s+\d+: ([\d ]+)$", line.rstrip())
            if m:
                samples.append((int(m.group(1)), [int(x) for x in m.group(2).split()]))
        elif section == "l":
            m = re.match(r"^\s*(\d+): 0x[0-9a-f]+ (?:M=\d+ )?(.*) (\S*):(\d+) s=\d+", line)
            if m:
                locs[int(m.group(1))] = m.group(2)
    per = {}
    for count, ids in samples:
        if not ids or ids[-1] not in locs:
            continue
        pid = label_pid(locs[ids[-1]])
        if pid is None:
            continue
        d = per.setdefault(pid, {})
        for i in ids[:-1]:
            fn = locs.get(i, "?")
            d[fn] = d.get(fn, 0) + count
        d["__total__"] = d.get("__total__", 0) + count
    return per


def parse_pprof_raw_labels(text):
    """From `go tool pprof -raw`: {pid: count} by each sample's "pid" label,
    {pid: count} by its root location's process label, and {pid: set of thread names}."""
    locs, section, cur = {}, None, None
    by_label, threads, roots = {}, {}, []
    for line in text.splitlines():
        if line.startswith("Samples:"):
            section = "s"
            continue
        if line.startswith("Locations"):
            section = "l"
            continue
        if line.startswith("Mappings"):
            section = None
            continue
        if section == "s":
            m = re.match(r"^\s*(\d+)\s+\d+: ([\d ]+)$", line.rstrip())
            if m:
                cur = {"count": int(m.group(1)), "root": int(m.group(2).split()[-1])}
                roots.append(cur)
                continue
            if cur is None:
                continue
            m = re.match(r"^\s+pid:\[(\d+)\](?: tid:\[\d+\])?\s*$", line)
            if m:
                cur["pid"] = int(m.group(1))
            m = re.search(r"thread:\[([^\]]*)\]\s*$", line)
            if m and line.lstrip().startswith("process:["):
                cur["thread"] = m.group(1)
        elif section == "l":
            m = re.match(r"^\s*(\d+): 0x[0-9a-f]+ (?:M=\d+ )?(.*) (\S*):(\d+) s=\d+", line)
            if m:
                locs[int(m.group(1))] = m.group(2)
    by_root = {}
    for smp in roots:
        if "pid" in smp:
            by_label[smp["pid"]] = by_label.get(smp["pid"], 0) + smp["count"]
            if "thread" in smp:
                threads.setdefault(smp["pid"], set()).add(smp["thread"])
        pid = label_pid(locs.get(smp["root"], ""))
        if pid is not None:
            by_root[pid] = by_root.get(pid, 0) + smp["count"]
    return by_label, by_root, threads


def run_pyhang(args, timeout=60):
    return subprocess.run([PYHANG] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def test_bad_input():
    r = run_pyhang(["record", "--all", "--pid", "1", "-d", "1"])
    check(r.returncode != 0 and "--all" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "record --all --pid: one-line error", r.stderr.strip())
    r = run_pyhang(["dump", "--all", "--pid", "1"])
    check(r.returncode != 0 and "--all" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "dump --all --pid: one-line error", r.stderr.strip())
    r = run_pyhang(["record", "--all", "--group", "host", "-d", "1"])
    check(r.returncode != 0 and "--group" in r.stderr, "record --group with a bad value: error",
          r.stderr.strip())
    setpriv = shutil.which("setpriv")
    if not setpriv:
        skip("non-root record --all / dump --all", "setpriv missing")
        return
    for sub in (["record", "--all", "-d", "1", "-o", "/tmp/pyhang-host-nonroot.folded"],
                ["dump", "--all"]):
        r = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", PYHANG]
                           + sub, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and "root" in lines[0],
              "non-root %s --all: one clear line" % sub[0], r.stderr.strip())


def check_processes(per, labels, workers, what, version_of):
    for w in workers:
        d = per.get(w.pid, {})
        ok = d.get(w.func, 0) > 0
        others = [f for f in d if f.startswith("spin_") and f != w.func]
        check(ok and not others,
              "%s: pid %d (%s) under its own label with %s" % (what, w.pid, version_of(w), w.func),
              "functions %s, label %r" % (sorted(d)[:6], labels.get(w.pid)))


# ---- faults: a storm of short-lived processes, embedders, memory unmapped mid-walk ----

STORM_N = 300          # short-lived processes per storm
STORM_SPAN = 2.0       # seconds over which they are started
STORM_CODE = """\
def %(func)s():
    import time
    end = time.time() + 0.05
    while time.time() < end:
        pass
%(func)s()
"""
BLOCK_PROGRAM = """\
import sys, time
def %(func)s():
    time.sleep(3)
sys.stdout.write("ready\\n")
sys.stdout.flush()
%(func)s()
"""
EMBED_VERSION = "3.12.1"
CHURN_PYTHONS = [p for p in ("/root/.pyenv/versions/3.9.18/bin/python",
                             "/root/.pyenv/versions/3.12.1/bin/python",
                             "/root/.pyenv/versions/3.13.0/bin/python") if os.access(p, os.X_OK)]
CHURN_DUMPS = 50
# A frame name in a recording: a (qualified) Python name, <module>-like, or a marked gap.
NAME_OK = re.compile(r"^(?:[A-Za-z_<][\w<>.\-]*|\[truncated\]|\[unknown code 0x[0-9a-f]+\])$", re.A)

children = []  # every Popen of the fault tests, killed at the end


def spawn(argv, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(argv, **kw)
    children.append(p)
    return p


def kill_children():
    for p in children:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    del children[:]


def storm(tag, during=None):
    """Starts STORM_N short-lived processes over STORM_SPAN seconds, every Python
    in turn; half run `pass`, half a function named TAG_sNNN for ~50 ms. during()
    is called halfway. Returns {pid: (function or None, python, Popen)} once all
    have exited (or were killed after 60 s)."""
    procs = {}
    t0 = time.time()
    for i in range(STORM_N):
        py = PYTHONS[i % len(PYTHONS)]
        func = "%s_s%03d" % (tag, i) if i % 2 else None
        code = STORM_CODE % {"func": func} if func else "pass"
        p = spawn([py, "-c", code])
        procs[p.pid] = (func, py, p)
        if during and i == STORM_N // 2:
            during()
        if i % 16 == 0:
            for _, _, q in procs.values():
                q.poll()  # reap: the tracker sees exits, not zombies
        delay = t0 + STORM_SPAN * (i + 1) / STORM_N - time.time()
        if delay > 0:
            time.sleep(delay)
    end = time.time() + 60
    for _, _, p in procs.values():
        try:
            p.wait(timeout=max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return procs


def check_storm_exits(procs, what):
    bad = ["%d (%s): %s" % (pid, os.path.basename(os.path.dirname(os.path.dirname(py))) or py,
                            p.returncode)
           for pid, (_, py, p) in procs.items() if p.returncode != 0]
    check(not bad, "%s: all %d storm processes exit 0" % (what, len(procs)), ", ".join(bad[:8]))


def lost_count(stderr_text):
    m = re.search(r"^pyhang: [\d.]+s at \d+ Hz: \d+ samples.*?, (\d+) lost(.*)$", stderr_text,
                  re.M)
    return (int(m.group(1)), m.group(2)) if m else (None, "")


def test_storm_record(tmp, tag):
    out = os.path.join(tmp, "storm.folded")
    errf = os.path.join(tmp, "storm.err")
    worker = [None]
    with open(errf, "w") as ef:
        rec = spawn([PYHANG, "record", "--all", "-f", "folded", "-d", "6", "-o", out], stderr=ef)
        time.sleep(1.0)

        def start_worker():
            worker[0] = Worker(tmp, PYTHONS[len(PYTHONS) // 3], "storm")
            children.append(worker[0].proc)

        procs = storm(tag, during=start_worker)
        w = worker[0]
        w.wait_ready()
        try:
            rec.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()
    with open(errf) as f:
        err = f.read()
    check(rec.returncode == 0 and os.path.exists(out),
          "storm: record --all exits 0 and writes the profile", "status %s, %s" %
          (rec.returncode, err.strip()[-300:]))
    check_storm_exits(procs, "storm under record --all")
    if not os.path.exists(out):
        w.stop()
        return
    per, labels = parse_folded(out)
    d = per.get(w.pid, {})
    check(d.get(w.func, 0) > 0,
          "storm: long-lived worker pid %d (%s) under its own label with %s" %
          (w.pid, os.path.basename(os.path.dirname(os.path.dirname(w.python))), w.func),
          "functions %s, label %r" % (sorted(d)[:6], labels.get(w.pid)))
    # No stack under a wrong process: each unique name only under its own pid.
    own = dict((pid, v[0]) for pid, v in procs.items())
    own[w.pid] = w.func
    wrong, seen, bad_labels = [], 0, []
    for pid, fns in per.items():
        for fn in fns:
            if fn.startswith(tag + "_") or fn == w.func:
                if own.get(pid) != fn:
                    wrong.append("%s under pid %d (%r)" % (fn, pid, labels.get(pid, "")[:60]))
                elif pid in procs:
                    seen += 1
        if pid in procs:
            func = procs[pid][0]
            lab = labels.get(pid, "")
            # the label's command line is this pid's own program
            if "-c" not in lab or (func and func not in lab) or (not func and "pass" not in lab):
                bad_labels.append("%d: %r" % (pid, lab[:90]))
    check(not wrong, "storm: no stack attributed to a wrong process (%d storm processes "
          "profiled, %d with their function)" % (len([p for p in per if p in procs]), seen),
          "; ".join(wrong[:6]))
    check(not bad_labels, "storm: each storm process's label is its own command line",
          "; ".join(bad_labels[:6]))
    lost, why = lost_count(err)
    check(lost is not None and (lost == 0 or "ring buffer full" in why),
          "storm: the summary line reports lost records (%s lost%s)" %
          (lost, why.rstrip()), err.strip()[-400:])
    w.stop()


def test_storm_watch(tmp, tag):
    out = os.path.join(tmp, "watch.jsonl")
    errf = os.path.join(tmp, "watch.err")
    blocker = {}
    with open(out, "w") as of, open(errf, "w") as ef:
        wat = spawn([PYHANG, "watch", "--all", "--json", "--threshold", "1", "--duration", "6"],
                    stdout=of, stderr=ef)
        time.sleep(1.0)

        def start_blocker():
            func = "%s_block" % tag
            path = os.path.join(tmp, "b_%s.py" % func)
            with open(path, "w") as f:
                f.write(BLOCK_PROGRAM % {"func": func})
            blocker["func"] = func
            blocker["proc"] = spawn([PYTHONS[-1], path], stdout=subprocess.PIPE,
                                    universal_newlines=True)

        procs = storm(tag, during=start_blocker)
        b = blocker["proc"]
        b_ready = b.stdout.readline().strip() == "ready"
        try:
            wat.wait(timeout=60)
        except subprocess.TimeoutExpired:
            wat.kill()
            wat.wait()
        try:
            b.wait(timeout=10)
        except subprocess.TimeoutExpired:
            b.kill()
    with open(errf) as f:
        err = f.read()
    events, bad_lines = [], 0
    with open(out) as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except ValueError:
                bad_lines += 1
    check(wat.returncode == 0 and bad_lines == 0,
          "storm: watch --all --json exits 0, one JSON object per line",
          "status %s, %d bad lines, %s" % (wat.returncode, bad_lines, err.strip()[-300:]))
    check_storm_exits(procs, "storm under watch --all")
    storm_ev = [e for e in events if e.get("pid") in procs]
    check(not storm_ev, "storm: watch reports nothing for the %d healthy storm processes"
          % len(procs), "; ".join("%s pid %s %s" % (e.get("event"), e.get("pid"),
                                                     [fr.get("function") for fr in
                                                      e.get("frames", [])][:3])
                                  for e in storm_ev[:5]))
    mine = [e for e in events if e.get("pid") == b.pid]
    hit = [e for e in mine if e.get("event") == "blocked" and
           any(fr.get("function") == blocker["func"] for fr in e.get("frames", []))]
    call = (hit[0].get("syscall") or {}).get("name") if hit else None
    check(b_ready and hit, "storm: watch reports the blocked process %d in %s (%s)" %
          (b.pid, blocker["func"], call),
          "its events: %s" % json.dumps(mine)[:400])


EMBED_IDLE = os.path.join(HERE, "host", "embed_idle.c")
EMBED_SPIN = os.path.join(HERE, "host", "embed_spin.c")


def test_embedders(tmp, tag):
    cc = shutil.which("cc")
    prefix = "/root/.pyenv/versions/%s" % EMBED_VERSION
    short = EMBED_VERSION.rsplit(".", 1)[0]
    inc = os.path.join(prefix, "include", "python%s" % short)
    lib = os.path.join(prefix, "lib")
    if not cc or not os.path.exists(os.path.join(inc, "Python.h")):
        skip("embedders", "no cc or no %s headers" % EMBED_VERSION)
        return
    bins = {}
    for name, src in (("idle", EMBED_IDLE), ("spin", EMBED_SPIN)):
        exe = os.path.join(tmp, "embed_" + name)
        r = subprocess.run([cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", inc, src,
                            "-o", exe, "-L", lib, "-Wl,--no-as-needed", "-lpython%s" % short,
                            "-Wl,-rpath," + lib], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
        if not check(r.returncode == 0, "embedders: %s compiles against libpython%s" %
                     (os.path.basename(src), short), r.stdout.strip()[-300:]):
            return
        bins[name] = exe
    func = "%s_embedded" % tag
    idle = spawn([bins["idle"]], stdout=subprocess.PIPE, universal_newlines=True)
    spin = spawn([bins["spin"], func], stdout=subprocess.PIPE, universal_newlines=True)
    ready = idle.stdout.readline().strip() == "ready"
    ready = spin.stdout.readline().strip() == "ready" and ready
    with open("/proc/%d/maps" % idle.pid) as f:
        mapped = "libpython" in f.read()
    check(ready and mapped, "embedders: both running, libpython mapped in the idle one")

    r = run_pyhang(["dump", "--pid", str(idle.pid)], timeout=60)
    lines = r.stderr.strip().splitlines()
    check(r.returncode > 0 and len(lines) == 1 and lines[0].startswith("pyhang: ") and
          not r.stdout.strip(),
          "embedders: dump --pid of a libpython program without an interpreter: one line, "
          "status %d (%s)" % (r.returncode, lines[0] if lines else ""),
          "status %d, stderr %r, stdout %r" % (r.returncode, r.stderr[-300:], r.stdout[:200]))
    r = run_pyhang(["dump", "--pid", str(spin.pid), "--no-source"], timeout=60)
    check(r.returncode == 0 and func in r.stdout,
          "embedders: dump --pid of the Py_Initialize'd embedder shows %s" % func,
          "status %d, %s" % (r.returncode, (r.stderr + r.stdout)[-300:]))

    r = run_pyhang(["dump", "--all", "--json", "--no-source"], timeout=120)
    objs = {}
    for line in r.stdout.splitlines():
        try:
            o = json.loads(line)
            objs[o["pid"]] = o
        except (ValueError, KeyError, TypeError):
            pass
    o = objs.get(idle.pid)
    frames = [fr for th in (o or {}).get("threads", []) for fr in th.get("frames", [])]
    check(r.returncode == 0 and not frames,
          "embedders: dump --all exits 0, the idle embedder %s" %
          ("not listed" if o is None else "listed without Python frames"),
          "status %d, %s" % (r.returncode, (r.stderr or json.dumps(o))[-300:]))
    o = objs.get(spin.pid)
    check(o is not None and any(fr.get("function") == func for th in o.get("threads", [])
                                for fr in th.get("frames", [])),
          "embedders: dump --all lists the Py_Initialize'd embedder with %s" % func)

    out = os.path.join(tmp, "embed.folded")
    r = run_pyhang(["record", "--all", "-f", "folded", "-d", "3", "-o", out], timeout=60)
    check(r.returncode == 0, "embedders: record --all exits 0", r.stderr.strip()[-300:])
    per, labels = parse_folded(out) if os.path.exists(out) else ({}, {})
    d = per.get(idle.pid, {})
    check(not [fn for fn in d if fn != "__total__"],
          "embedders: record --all gives the idle embedder no Python frames",
          "%r: %s" % (labels.get(idle.pid), sorted(d)[:6]))
    d = per.get(spin.pid, {})
    others = [fn for fn in d if fn.startswith(tag) and fn != func]
    check(d.get(func, 0) > 0 and not others and "embed_spin" in labels.get(spin.pid, ""),
          "embedders: record --all profiles the embedder under its own label with %s" % func,
          "%r: %s" % (labels.get(spin.pid), sorted(d)[:6]))
    check(idle.poll() is None and spin.poll() is None, "embedders: both still alive")


CHURN = os.path.join(HERE, "host", "churn.py")


def test_churn(tmp):
    for py in CHURN_PYTHONS:
        ver = os.path.basename(os.path.dirname(os.path.dirname(py)))
        p = spawn([py, CHURN], stdout=subprocess.PIPE, universal_newlines=True)
        if not check(p.stdout.readline().strip() == "ready", "churn %s: started" % ver):
            continue
        out = os.path.join(tmp, "churn.folded")
        errf = os.path.join(tmp, "churn.err")
        with open(errf, "w") as ef:
            rec = spawn([PYHANG, "record", "--pid", str(p.pid), "-r", "999", "-d", "3", "-f",
                         "folded", "-o", out], stderr=ef)
            statuses, bad, with_frames = {}, [], 0
            t0 = time.time()
            for _ in range(CHURN_DUMPS):
                try:
                    r = run_pyhang(["dump", "--pid", str(p.pid), "--no-source"], timeout=30)
                except subprocess.TimeoutExpired:
                    bad.append("timed out")
                    continue
                statuses[r.returncode] = statuses.get(r.returncode, 0) + 1
                lines = r.stderr.strip().splitlines()
                if r.returncode == 0:
                    with_frames += "churn_" in r.stdout
                elif not (r.returncode == 1 and len(lines) == 1 and lines[0].startswith("pyhang:")):
                    bad.append("status %d: %r" % (r.returncode, r.stderr[-200:]))
            took = time.time() - t0
            try:
                rec.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.wait()
        with open(errf) as f:
            err = f.read()
        check(not bad, "churn %s: %d dumps in %.1fs while memory is unmapped, statuses %s "
              "(%d showing churn frames), none by a signal" %
              (ver, CHURN_DUMPS, took, statuses, with_frames), "; ".join(bad[:4]))
        lost, _ = lost_count(err)
        # Every frame name is one of the program's (or a marked gap): a name read
        # from memory that was freed under pyhang, or from freed memory of
        # pyhang's own, is garbage, usually not even UTF-8.
        garbage, nlines = [], 0
        if os.path.exists(out):
            with open(out, "rb") as f:
                for raw in f:
                    nlines += 1
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        garbage.append(repr(raw[:40]) + "... not UTF-8")
                        continue
                    for fr in line.rstrip("\n").rpartition(" ")[0].split(";"):
                        fn = re.sub(r" \(.*\)$", "", fr)
                        if not NAME_OK.match(fn):
                            garbage.append(repr(fr[:60]))
        check(nlines > 0 and not garbage,
              "churn %s: record output names only real functions (%d stacks)" % (ver, nlines),
              "%d bad: %s" % (len(garbage), "; ".join(garbage[:3])))
        check(rec.returncode == 0, "churn %s: record --pid -r 999 exits 0 (%s lost)" %
              (ver, lost), "status %s: %s" % (rec.returncode, err.strip()[-300:]))
        check(p.poll() is None, "churn %s: the target is alive" % ver)
        p.kill()
        p.wait()


def run_faults():
    tmp = tempfile.mkdtemp(prefix="pyhang-faults-")
    tag = "hs%06d" % random.randrange(10 ** 6)
    try:
        test_storm_record(tmp, tag + "r")
        test_storm_watch(tmp, tag + "w")
        test_embedders(tmp, tag + "e")
        test_churn(tmp)
    finally:
        kill_children()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        print("not ok - run_host.py needs root")
        print("0 passed, 1 failed")
        return 1
    random.seed(os.getpid() ^ int(time.time()))
    tmp = tempfile.mkdtemp(prefix="pyhang-host-")
    workers, extra = [], []
    versions = {}

    def version_of(w):
        return versions.get(w.python) or os.path.basename(os.path.dirname(os.path.dirname(w.python)))

    if os.environ.get("PYHANG_HOST_TESTS") == "faults":  # only the fault checks (development)
        run_faults()
        print("%d passed, %d failed" % (results["pass"], results["fail"]))
        return 1 if results["fail"] else 0
    try:
        test_bad_input()
        for i in range(NPROCS):
            py = PYTHONS[i % len(PYTHONS)]
            workers.append(Worker(tmp, py, "p%d" % i))
        ns_worker = None
        unshare = shutil.which("unshare")
        if unshare:
            ns_worker = Worker(tmp, PYTHONS[-1], "ns", prefix=[unshare, "--pid", "--fork",
                                                              "--mount-proc", "--kill-child"])
        ready = all(w.wait_ready() for w in workers)
        if ns_worker:
            ready = ns_worker.wait_ready() and ready
            ns_worker.pid = ns_worker.find_python_pid() or -1
        check(ready, "%d workers over %d interpreters started" % (len(workers), len(PYTHONS)))

        # record --all, folded, with one process that starts later and one that lives ~1 s.
        out = os.path.join(tmp, "all.folded")
        rec = subprocess.Popen([PYHANG, "record", "--all", "-d", "6", "-f", "folded", "-o", out],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               universal_newlines=True)
        time.sleep(1.5)
        late = Worker(tmp, PYTHONS[len(PYTHONS) // 2], "late")
        short = Worker(tmp, PYTHONS[-1], "short", life=1.0)
        extra = [late, short]
        late.wait_ready()
        short.wait_ready()
        _, err = rec.communicate(timeout=60)
        check(rec.returncode == 0, "record --all exits 0", err.strip()[-300:])
        short.proc.wait(timeout=10)
        per, labels = parse_folded(out)
        check_processes(per, labels, workers + extra, "record --all folded", version_of)
        if ns_worker:
            lab = labels.get(ns_worker.pid, "")
            check(per.get(ns_worker.pid, {}).get(ns_worker.func, 0) > 0 and
                  "in its namespace" in lab,
                  "record --all: process in its own PID namespace, labelled with both pids",
                  repr(lab))
        for w in workers[:len(PYTHONS)]:
            lab = labels.get(w.pid, "")
            check(os.path.basename(w.path) in lab and "[pid %d" % w.pid in lab,
                  "label of pid %d names its command line and pid" % w.pid, repr(lab))
            break
        late.stop()

        # --group cgroup: one root per cgroup.
        out_cg = os.path.join(tmp, "cg.folded")
        r = run_pyhang(["record", "--all", "--group", "cgroup", "-d", "1.5", "-f", "folded",
                        "-o", out_cg])
        with open(out_cg) as f:
            roots = set(line.split(";")[0] for line in f)
        check(r.returncode == 0 and roots and all(x.startswith("cgroup ") for x in roots),
              "record --all --group cgroup: every stack under a cgroup root", repr(sorted(roots)[:3]))

        # pprof read by go tool pprof, against a folded recording of the same seconds.
        go = shutil.which("go")
        if not go:
            skip("go tool pprof -raw agrees with folded", "go missing (apt-get install golang-go)")
        else:
            pb = os.path.join(tmp, "all.pb.gz")
            fo = os.path.join(tmp, "same.folded")
            a = subprocess.Popen([PYHANG, "record", "--all", "-d", "4", "-f", "pprof", "-o", pb],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            b = subprocess.Popen([PYHANG, "record", "--all", "-d", "4", "-f", "folded", "-o", fo],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            a.communicate(timeout=60)
            b.communicate(timeout=60)
            raw = subprocess.run([go, "tool", "pprof", "-raw", pb], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
            check(raw.returncode == 0 and "Samples:" in raw.stdout, "go tool pprof -raw reads it",
                  raw.stderr.strip()[-300:])
            pp = parse_pprof_raw(raw.stdout)
            ff, _ = parse_folded(fo)
            check_processes(pp, {}, workers, "record --all pprof", version_of)
            tp = sum(pp.get(w.pid, {}).get("__total__", 0) for w in workers)
            tf = sum(ff.get(w.pid, {}).get("__total__", 0) for w in workers)
            check(tf > 0 and abs(tp - tf) <= max(0.15 * tf, 10),
                  "pprof and folded agree on the workers' total (%d vs %d)" % (tp, tf))
            bad = []
            for w in workers:
                x = pp.get(w.pid, {}).get(w.func, 0) / float(tp or 1)
                y = ff.get(w.pid, {}).get(w.func, 0) / float(tf or 1)
                if abs(x - y) > 0.05:
                    bad.append("%d: %.1f%% vs %.1f%%" % (w.pid, 100 * x, 100 * y))
            check(not bad, "pprof and folded agree on each process's share (within 5 points)",
                  ", ".join(bad))
            # Per-sample labels: every worker's samples carry its pid (and a thread name);
            # the pid label's count is the count under that process's root frame in the
            # same file, and its share agrees with the folded recording's process label.
            by_label, by_root, threads = parse_pprof_raw_labels(raw.stdout)
            missing = [w.pid for w in workers if not by_label.get(w.pid)]
            check(not missing and all(threads.get(w.pid) for w in workers),
                  "pprof samples carry pid, tid, process and thread labels",
                  "no pid label for %r" % missing)
            bad = ["%d: %d vs %d" % (w.pid, by_label.get(w.pid, 0), by_root.get(w.pid, 0))
                   for w in workers if by_label.get(w.pid, 0) != by_root.get(w.pid, 0)]
            check(not bad, "pprof: each worker's pid label counts what its process root counts",
                  ", ".join(bad))
            tl = sum(by_label.get(w.pid, 0) for w in workers)
            bad = []
            for w in workers:
                x = by_label.get(w.pid, 0) / float(tl or 1)
                y = ff.get(w.pid, {}).get("__total__", 0) / float(tf or 1)
                if abs(x - y) > 0.05:
                    bad.append("%d: %.1f%% vs %.1f%%" % (w.pid, 100 * x, 100 * y))
            check(tl > 0 and abs(tl - tf) <= max(0.15 * tf, 10) and not bad,
                  "pprof pid labels agree with folded process labels (%d vs %d, shares within "
                  "5 points)" % (tl, tf), ", ".join(bad))
            focus = subprocess.run([go, "tool", "pprof", "-traces", "-tagfocus=pid=%d" % workers[0].pid,
                                    pb], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=120)
            check(focus.returncode == 0 and workers[0].func in focus.stdout and
                  "<module>" in focus.stdout and
                  not any(w.func in focus.stdout for w in workers[1:]),
                  "go tool pprof -tagfocus=pid=%d keeps that process alone (and <module> is named)"
                  % workers[0].pid,
                  focus.stderr.strip()[-300:])

        # dump --all, text and JSON.
        r = run_pyhang(["dump", "--all", "--no-source"], timeout=120)
        check(r.returncode == 0, "dump --all exits 0", r.stderr.strip()[-300:])
        blocks = {}
        for block in re.split(r"^== ", r.stdout, flags=re.M):
            pid = label_pid(block.split("\n", 1)[0])
            if pid:
                blocks[pid] = block
        for w in workers:
            b = blocks.get(w.pid, "")
            check(("Process %d:" % w.pid) in b and w.func in b,
                  "dump --all: pid %d shows %s" % (w.pid, w.func))
        r = run_pyhang(["dump", "--all", "--json"], timeout=120)
        objs, bad_lines = {}, 0
        for line in r.stdout.splitlines():
            try:
                o = json.loads(line)
                objs[o["pid"]] = o
            except (ValueError, KeyError):
                bad_lines += 1
        check(r.returncode == 0 and bad_lines == 0, "dump --all --json: one object per line",
              "%d bad lines" % bad_lines)
        missing = [w.pid for w in workers if w.pid not in objs or not any(
            fr.get("function") == w.func for th in objs[w.pid]["threads"]
            for fr in th.get("frames", []))]
        check(not missing, "dump --all --json: every worker with its function", repr(missing))
        if ns_worker and ns_worker.pid in objs:
            o = objs[ns_worker.pid]
            check(o.get("ns_pid") not in (None, ns_worker.pid) and "cgroup" in o,
                  "dump --all --json: ns_pid of the namespaced process", repr(o.get("ns_pid")))
    finally:
        for w in workers + extra:
            w.stop()
        if "ns_worker" in locals() and ns_worker:
            ns_worker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    run_faults()
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
