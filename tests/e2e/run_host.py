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
`dump --all` (text and JSON). Other Python processes on the host are ignored. Prints
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
VERSIONS = ["2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7",
            "3.12.1", "3.13.0"]
PYTHONS = [("/root/.pyenv/versions/%s/bin/python" % v) for v in VERSIONS]
PYTHONS.append("/usr/bin/python3.11")
PYTHONS = [p for p in PYTHONS if os.access(p, os.X_OK)]
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
    with open(path) as f:
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
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
