#!/usr/bin/python3
"""What `pyhang record` costs on deep stacks: the collector's CPU, the BPF program's time
per sample and in all, beside Austin where an austin is installed.

  tools/bench-depth.py [--pyhang build/pyhang] [--warmup 2] [--seconds 8] [--repeat 3]
                       [--interp LABEL ...] [--shape recursive|distinct] [--depth N] [--rate HZ]

For each interpreter, stack shape, depth (60 and 200 frames) and rate (99 and 999 Hz) it
starts a CPU-bound program that calls down to that depth and works there (its innermost frames
change, the rest stay) -- by one function recursing ("recursive": every frame but three runs the
same code object) or by a chain of distinct functions ("distinct": a code object per frame, as
in real programs) -- records it with `pyhang record --pid -r RATE`, waits --warmup seconds, then
measures --seconds of steady state: pyhang's CPU time from /proc (user + system), and the BPF
program's run time and run count from `kernel.bpf_stats_enabled` (bpftool). Shares are of one
CPU core. Where `austin` is on PATH and supports the interpreter, `austin -s -i INTERVAL`
samples the same program at the same rate and its CPU is measured the same way. Each figure
is a CPU-time ratio over one window; with --repeat N (default 3) each is the median of N runs
(the machine is shared: one window can land on a busy moment).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)

DEFAULT = ("debian-3.11", "3.12.1", "3.8.18")
PROGRAM = """\
import sys
sys.setrecursionlimit(10000)
def leaf(i):
    return i * i + 1
def work():
    x = 0
    while True:
        for i in range(1000):
            x += leaf(i)
def down(n):
    if n <= 1:
        return work()
    return down(n - 1)
def distinct(k):
    # k functions, each its own code object, each calling the next: a stack without repeats
    src = ""
    for i in range(k):
        src += "def d%d():\\n    return %s\\n" % (i, "d%d()" % (i + 1) if i + 1 < k else "work()")
    exec(src, globals())
    return globals()["d0"]
sys.stdout.write("ready\\n")
sys.stdout.flush()
if sys.argv[2:] == ["distinct"]:
    distinct(int(sys.argv[1]) - 2)()   # <module>, d0 .. d(n-3), work: n frames, n code objects
else:
    down(int(sys.argv[1]) - 2)   # <module>, down x (n-2), work: n frames; leaf comes and goes
"""


def cpu_s(pid):
    """CPU time of every thread of pid so far, from schedstat (nanoseconds: the clock-tick
    figures of /proc/PID/stat are too coarse for a 0.1% share over a few seconds)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


def prog_ids(pid):
    """The ids of the BPF programs whose descriptors process pid holds (fdinfo)."""
    return fdinfo_ids(pid, "prog_id")


def fdinfo_ids(pid, key):
    """The values of `key:` (prog_id, map_id) in the fdinfo of process pid's descriptors."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return ids
    for fd in names:
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            pass
    return ids


def bpf_stats(owner_pid):
    """(run_time_ns, run_cnt) summed over the perf_event programs pyhang's process owns."""
    mine = prog_ids(owner_pid)
    try:
        out = subprocess.run(["bpftool", "prog", "show", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout
        progs = json.loads(out or b"[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    t = n = 0
    for p in progs:
        if p.get("type") == "perf_event" and p.get("id") in mine:
            t += p.get("run_time_ns", 0)
            n += p.get("run_cnt", 0)
    return t, n


def austin_for(python):
    exe = shutil.which("austin")
    if not exe:
        return None
    # a program that lives longer than austin's attach: "-c pass" can end first (exit 1);
    # and Austin 3.7 exits 1 now and then on one that does (seen here: 1 run in 2), so
    # three tries before the interpreter counts as one it cannot read
    for _ in range(3):
        r = subprocess.run([exe, "-i", "1000", "-x", "1", python, "-c", "import time; time.sleep(1.5)"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if r.returncode == 0:
            return exe
    return None


def measure(argv_profiler, python, prog, depth, warmup, seconds, is_pyhang, rate, shape):
    target = subprocess.Popen([python, prog, str(depth)] + ([shape] if shape == "distinct" else []), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True,
                              start_new_session=True)
    if target.stdout.readline().strip() != "ready":
        target.kill()
        return None
    prof = subprocess.Popen(argv_profiler(target.pid), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(warmup)
        c0, b0, t0 = cpu_s(prof.pid), bpf_stats(prof.pid) if is_pyhang else None, time.time()
        time.sleep(seconds)
        c1, b1, t1 = cpu_s(prof.pid), bpf_stats(prof.pid) if is_pyhang else None, time.time()
    finally:
        for p in (prof, target):
            try:
                os.killpg(p.pid, signal.SIGTERM if p is prof else signal.SIGKILL)
            except OSError:
                pass
        prof.wait()
        target.wait()
    if c0 is None or c1 is None:
        return None
    wall = t1 - t0
    res = {"cpu_share": (c1 - c0) / wall}
    if b0 and b1 and b1[1] > b0[1]:
        # The program runs at every tick of every CPU that is not idle (cheaply where the target is not):
        # its time is charged to the target's samples, rate x wall of them (it always runs).
        res["bpf_ns"] = (b1[0] - b0[0]) / (rate * wall)
        res["bpf_share"] = (b1[0] - b0[0]) / 1e9 / wall
        res["runs_s"] = (b1[1] - b0[1]) / wall
    return res


def median_of(runs):
    """One result whose every figure is the median of that figure over runs (None: none ran)."""
    runs = [r for r in runs if r]
    if not runs:
        return None
    out = {}
    for k in runs[0]:
        v = sorted(r[k] for r in runs if k in r)
        out[k] = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2.0
    return out


def pct(x):
    return "-" if x is None else "%.2f%%" % (100.0 * x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyhang", default=os.path.join(ROOT, "build", "pyhang"))
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is shown)")
    ap.add_argument("--interp", action="append")
    ap.add_argument("--depth", type=int, action="append", help="frames (default 60 and 200)")
    ap.add_argument("--rate", type=int, action="append", help="Hz (default 99 and 999)")
    ap.add_argument("--shape", action="append", choices=("recursive", "distinct"),
                    help="the stack: one function recursing (one code object for all but 3 "
                         "frames), or a chain of distinct functions (a code object per frame); "
                         "default both")
    args = ap.parse_args()
    wanted = args.interp or list(DEFAULT)
    interps = [(l, p) for l, p in interpreters.present() if "all" in wanted or l in wanted]
    if os.geteuid() != 0 or not interps:
        print("bench-depth: needs root and an interpreter (%s)" % ", ".join(wanted), file=sys.stderr)
        return 2
    old = subprocess.run(["sysctl", "-n", "kernel.bpf_stats_enabled"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip() or "0"
    subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"])
    tmp = tempfile.mkdtemp(prefix="pyhang-depth-")
    prog = os.path.join(tmp, "deep.py")
    with open(prog, "w") as f:
        f.write(PROGRAM)
    rows = []
    try:
        for label, python in interps:
            austin = austin_for(python)
            for shape, depth, rate in [(s, d, r) for s in args.shape or ("recursive", "distinct")
                                       for d in args.depth or (60, 200)
                                       for r in args.rate or (99, 999)]:
                if True:
                    out = os.path.join(tmp, "p.folded")
                    r = median_of([measure(lambda pid: [args.pyhang, "record", "-r", str(rate), "-f",
                                                        "folded", "-o", out, "--pid", str(pid)],
                                           python, prog, depth, args.warmup, args.seconds, True,
                                           rate, shape) for _ in range(max(1, args.repeat))])
                    a = None
                    if austin:
                        a = median_of([measure(lambda pid: [austin, "-s", "-i", str(1000000 // rate),
                                                            "-o", os.devnull, "-p", str(pid)],
                                               python, prog, depth, args.warmup, args.seconds,
                                               False, rate, shape) for _ in range(max(1, args.repeat))])
                    if r is None:
                        rows.append((label, shape, depth, rate, "failed", "", "", "", "", ""))
                        continue
                    total = r["cpu_share"] + r.get("bpf_share", 0.0)
                    rows.append((label, shape, str(depth), str(rate), pct(r["cpu_share"]),
                                 "%.2f" % (r["bpf_ns"] / 1000.0) if "bpf_ns" in r else "-",
                                 pct(r.get("bpf_share")), pct(total),
                                 "%.0f" % r.get("runs_s", 0),
                                 pct(a["cpu_share"]) if a else "-"))
    finally:
        subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=%s" % old])
        shutil.rmtree(tmp, ignore_errors=True)
    head = ("python", "stack", "frames", "Hz", "collector", "BPF us/sample", "BPF", "pyhang in all",
            "BPF runs/s", "austin -s")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("pyhang record on a CPU-bound program N frames deep: share of one core over %.0f s "
          "after %.0f s warm-up, median of %d runs" % (args.seconds, args.warmup, max(1, args.repeat)))
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
