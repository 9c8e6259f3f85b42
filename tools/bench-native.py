#!/usr/bin/python3
"""What --native costs: dump latency and pause beside gdb's, record's per-sample cost.

  tools/bench-native.py --pyhang build/pyhang [--runs N] [--seconds S]

dump: examples/stuck.py and a 33-thread program (tests/e2e/programs/many_threads.py) under
3.12 and Debian's python3.11: `dump` and `dump --native` wall time (median and p90 of N runs),
and how long the target was seen stopped (state t/T, /proc sampled every 0.2 ms) during them
and during gdb's `thread apply all bt` on the same program.
record: a CPU-bound job calling zlib (C) from Python at 99 and 999 Hz, with and without
--native: the BPF program's mean run time per sample (kernel.bpf_stats_enabled) and the
collector's CPU time per sample (pyhang's CPU from /proc/PID/stat over the samples it wrote).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUCK = os.path.join(ROOT, "examples", "stuck.py")
MANY = os.path.join(ROOT, "tests", "e2e", "programs", "many_threads.py")
PYTHONS = [("3.12.1", "/root/.pyenv/versions/3.12.1/bin/python"), ("debian-3.11", "/usr/bin/python3.11")]
JOB = """import sys, time, zlib
data = bytes(bytearray((i * 7919) % 251 for i in range(1 << 16)))
def work(seconds):
    end = time.time() + seconds
    while time.time() < end:
        zlib.compress(data, 6)
work(float(sys.argv[1]))
"""
HZ = os.sysconf("SC_CLK_TCK")


class Stopped(object):
    """Time pid spent stopped (t/T) while watched."""

    def __init__(self, pid):
        self.pid, self.stopped_s, self.done = pid, 0.0, threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _state(self):
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return "?"

    def _run(self):
        last = time.perf_counter()
        while not self.done.is_set():
            s = self._state()
            now = time.perf_counter()
            if s in "tT":
                self.stopped_s += now - last
            last = now
            time.sleep(0.0002)

    def stop(self):
        self.done.set()
        self.t.join()
        return self.stopped_s


def start(python, prog):
    env = dict(os.environ, PYHANG_E2E_TMP=tempfile.mkdtemp(prefix="pyhang-bench-native-"))
    p = subprocess.Popen([python, prog], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True, env=env, cwd=os.path.dirname(prog))
    if prog == MANY:
        while "READY" not in p.stdout.readline():
            pass
    time.sleep(0.5)
    return p


def timed(argv, pid):
    w = Stopped(pid)
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    return secs, w.stop(), r.returncode


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_dump(pyhang, runs):
    for label, python in PYTHONS:
        if not os.access(python, os.X_OK):
            continue
        for prog in (STUCK, MANY):
            p = start(python, prog)
            try:
                out = []
                for name, argv in (("dump", [pyhang, "dump", "--json", "--pid", str(p.pid)]),
                                   ("dump --native", [pyhang, "dump", "--native", "--json", "--pid",
                                                      str(p.pid)])):
                    res = [timed(argv, p.pid) for _ in range(runs)]
                    ms = [r[0] * 1000 for r in res]
                    out.append("%s %.0f ms (p90 %.0f), stopped %.0f us" % (
                        name, statistics.median(ms), pct(ms, 0.9), max(r[1] for r in res) * 1e6))
                if shutil.which("gdb"):
                    res = [timed(["gdb", "-q", "-batch", "-p", str(p.pid), "-ex",
                                  "thread apply all bt"], p.pid) for _ in range(max(1, runs // 10))]
                    out.append("gdb bt %.0f ms, stopped %.0f ms" % (
                        statistics.median(r[0] * 1000 for r in res),
                        statistics.median(r[1] * 1000 for r in res)))
                print("%-12s %-16s %s" % (label, os.path.basename(prog), "; ".join(out)), flush=True)
            finally:
                p.kill()
                p.wait()


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(HZ)


def bpf_stats(name):
    try:
        progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                          universal_newlines=True).stdout)
    except ValueError:
        return None
    best = None
    for prog in progs:
        if prog.get("name") == name and prog.get("run_cnt"):
            best = (prog["run_time_ns"], prog["run_cnt"])
    return best


def bench_record(pyhang, seconds, python):
    tmp = tempfile.mkdtemp(prefix="pyhang-bench-native-")
    job = os.path.join(tmp, "job.py")
    with open(job, "w") as f:
        f.write(JOB)
    for rate in (99, 999):
        cpus = {}
        for native in (False, True):
            argv = [pyhang, "record", "-r", str(rate), "-f", "folded", "-o",
                    os.path.join(tmp, "out.folded")] + (["--native"] if native else []) + \
                   ["--", python, job, str(seconds)]
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            prog = "pyh_on_cpu_native" if native else "pyh_on_cpu"
            stats = cpu = None
            while p.poll() is None:
                time.sleep(0.2)
                stats = bpf_stats(prog) or stats
                try:
                    cpu = proc_cpu(p.pid)
                except (OSError, IndexError, ValueError):
                    pass
            err = p.stderr.read()
            m = re.search(r"(\d+) samples", err)
            samples = int(m.group(1)) if m else 0
            line = "%4d Hz %-9s %5d samples" % (rate, "--native" if native else "", samples)
            if stats:
                line += ", BPF %.2f us/sample" % (stats[0] / stats[1] / 1000.0)
            if cpu is not None and samples:
                cpus[native] = (cpu, samples)
                line += ", pyhang %.0f ms CPU in all (start-up included)" % (cpu * 1000)
                if native and False in cpus:
                    extra = cpu / samples - cpus[False][0] / cpus[False][1]
                    line += ": --native adds %.1f us of collector CPU per sample" % (extra * 1e6)
            print(line, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyhang", default=os.path.join(ROOT, "build", "pyhang"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    pyhang = os.path.abspath(args.pyhang)
    old = subprocess.run(["sysctl", "-n", "kernel.bpf_stats_enabled"], capture_output=True,
                         universal_newlines=True).stdout.strip() or "0"
    subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"])
    try:
        print("dump (median of %d runs; target stopped time sampled every 0.2 ms):" % args.runs)
        bench_dump(pyhang, args.runs)
        print("record, a job in zlib.compress from a Python loop (%s, %.0f s):" % (
            PYTHONS[0][1], args.seconds))
        bench_record(pyhang, args.seconds, PYTHONS[0][1])
    finally:
        subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=" + old])
    return 0


if __name__ == "__main__":
    sys.exit(main())
