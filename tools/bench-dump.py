#!/usr/bin/python3
"""Latency of `pyhang dump --pid` beside Austin's where mode and gdb's py-bt.

  tools/bench-dump.py [--pyhang build/pyhang] [--against OTHER] [--runs 30] [--gdb-runs 5]
                      [--interp LABEL ...]

For each interpreter and each of two targets — tests/e2e/programs/many_threads.py (32
sleeping workers and the main thread) and tests/e2e/running/deep_cpu.py (one thread running
20-60 frames deep, read in the kernel at an interrupt) — it times `pyhang dump --pid PID`
RUNS times (wall clock around the whole process, after one untimed warm-up run),
`austin -w PID` (where an austin with the where mode is in AUSTIN_DIR or on PATH; an
interpreter it cannot read gets "-") as many times, and
`gdb -p PID -batch -ex 'thread apply all py-bt'` GDB_RUNS times. Where gdb has no py-bt for
that interpreter (no pythonX.Y-gdb.py or no debug info: Debian's stripped python3.11) it
times `thread apply all bt` instead and says so. gdb stops the target while it works;
pyhang and Austin do not. Prints a table: the median CPU time (user + system) of pyhang and
Austin side by side (and pyhang's "cold": PYHANG_BPF_PIN=0, each dump loading its own BPF
snapshot program and reading five /proc files per thread instead of the task iterator, as the
first dump after boot does or one on a host without /sys/fs/bpf; the other runs use the
programs the store keeps, src/kernel/bpfpin.h; the two alternate), then
their wall-clock medians (and pyhang's p90): on a loaded machine
the wall clock measures the wait for a CPU more than the tool, so CPU time comes first;
exit 1 if any pyhang run failed. --against OTHER times a second build in the same rounds (the
two alternate which goes first), for a change's before and after on one target: builds of
different sources pin different programs, so OTHER's first dump of a running thread loads its
own (the warm-up takes it).
"""
import argparse
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = [("32 asleep", os.path.join(ROOT, "tests", "e2e", "programs", "many_threads.py")),
            ("1 running", os.path.join(ROOT, "tests", "e2e", "running", "deep_cpu.py"))]
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)
INTERPRETERS = interpreters.present()
DEFAULT = ("2.7.18", "3.8.18", "3.12.1", "debian-3.11")


def start_target(interp, program):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": os.environ.get("HOME", "/root")}
    proc = subprocess.Popen([interp, program], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    line = proc.stdout.readline()      # the program prints READY once all threads are in place
    if not line.startswith(b"READY"):
        stop_target(proc)
        return None
    time.sleep(0.2)
    return proc


def stop_target(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
    proc.stdout.close()


def timed(argv, timeout=60, env=None):
    """(wall milliseconds, returncode or None on timeout, stdout+stderr text, CPU
    milliseconds: user + system, from the children's rusage; on a loaded machine the wall
    clock measures the queue for a CPU more than the tool)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           env=dict(os.environ, **env) if env else None)
        rc, out = r.returncode, r.stdout
    except subprocess.TimeoutExpired as e:
        rc, out = None, e.stdout or b""
    ms = (time.perf_counter() - t0) * 1000.0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000.0
    return ms, rc, out.decode("utf-8", "replace"), cpu


def p90(values):
    s = sorted(values)
    return s[max(0, int(math.ceil(0.9 * len(s))) - 1)]


def gdb_argv(pid, cmd):
    # safe-path / lets gdb auto-load the pyenv builds' pythonX.Y-gdb.py beside the binary.
    return ["gdb", "-p", str(pid), "-batch", "-nx", "-iex", "set auto-load safe-path /",
            "-ex", "thread apply all " + cmd]


def bench_gdb(pid, runs):
    """(command used, median ms or None, note)."""
    if runs <= 0:
        return "-", None, ""
    if not any(os.access(os.path.join(d, "gdb"), os.X_OK)
               for d in os.environ.get("PATH", "/usr/bin").split(":")):
        return "-", None, "gdb not installed"
    _, rc, out, _ = timed(gdb_argv(pid, "py-bt"))
    cmd, note = "py-bt", ""
    if rc != 0 or "Undefined command" in out or "Unable to locate python frame" in out \
            or "Traceback (most recent call first)" not in out:
        cmd, note = "bt", "no py-bt here: timed plain bt"
    times = []
    for _ in range(runs):
        ms, rc, out, _ = timed(gdb_argv(pid, cmd))
        if rc != 0:
            return cmd, None, "gdb failed (exit %s)" % rc
        times.append(ms)
    return cmd, statistics.median(times), note


def austin_where():
    """The austin to time, or None: one whose --help lists the where mode, looked for in
    AUSTIN_DIR first (e.g. an Austin 3.x built from source), then on PATH."""
    dirs = [os.environ["AUSTIN_DIR"]] if os.environ.get("AUSTIN_DIR") else []
    for d in dirs + os.environ.get("PATH", "/usr/bin").split(":"):
        exe = os.path.join(d, "austin")
        if os.access(exe, os.X_OK):
            _, rc, out, _ = timed([exe, "--help"], timeout=10)
            if "--where" in out or "-w, " in out:
                return exe
    return None


def bench_austin(exe, pid, runs):
    """(median wall ms, median CPU ms) or (None, None)."""
    if not exe:
        return None, None
    times, cpus = [], []
    for _ in range(runs):
        ms, rc, _, cpu = timed([exe, "-w", str(pid)], timeout=30)
        if rc != 0:
            return None, None
        times.append(ms)
        cpus.append(cpu)
    return statistics.median(times), statistics.median(cpus)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyhang", default=os.path.join(ROOT, "build", "pyhang"))
    ap.add_argument("--against", help="another pyhang build, timed in the same rounds")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--gdb-runs", type=int, default=5)
    ap.add_argument("--interp", action="append", help="interpreter label (repeatable); "
                    "default %s; 'all' for every one present" % ", ".join(DEFAULT))
    ap.add_argument("--json", action="store_true", help="time `dump --json` instead of text")
    args = ap.parse_args()
    wanted = args.interp or list(DEFAULT)
    interps = [(l, p) for l, p in INTERPRETERS
               if ("all" in wanted or l in wanted) and os.access(p, os.X_OK)]
    if not interps:
        print("bench-dump: no interpreter found for %s" % ", ".join(wanted), file=sys.stderr)
        return 2
    have_pyhang = os.access(args.pyhang, os.X_OK)
    if not have_pyhang:
        print("bench-dump: %s is not built; timing gdb only" % args.pyhang, file=sys.stderr)
    mode = ["--json"] if args.json else []

    austin = austin_where()
    rows = []
    any_failed = False
    for label, interp in interps:
        for what, program in PROGRAMS:
            proc = start_target(interp, program)
            if proc is None:
                rows.append((label, what, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                             "target did not start"))
                any_failed = True
                continue
            try:
                threads = len(os.listdir("/proc/%d/task" % proc.pid))
                med = hi = cpu = cold = other = "-"
                okcount = "-"
                notes = []
                if have_pyhang:
                    argv = [args.pyhang, "dump"] + mode + ["--pid", str(proc.pid)]
                    oargv = [args.against] + argv[1:] if args.against else None
                    timed(argv)                       # warm-up (page cache, BTF parse)
                    if oargv:
                        timed(oargv)
                    times, cpus, colds, others, fails, last_err = [], [], [], [], 0, ""
                    for i in range(args.runs):
                        _, crc, _, ccpu = timed(argv, timeout=30, env={"PYHANG_BPF_PIN": "0"})
                        if crc == 0:
                            colds.append(ccpu)
                        if oargv and i % 2 == 0:
                            _, orc, _, ocpu = timed(oargv, timeout=30)
                            if orc == 0:
                                others.append(ocpu)
                        ms, rc, out, cpu = timed(argv, timeout=30)
                        if oargv and i % 2 == 1:
                            _, orc, _, ocpu = timed(oargv, timeout=30)
                            if orc == 0:
                                others.append(ocpu)
                        if rc == 0:
                            times.append(ms)
                            cpus.append(cpu)
                        else:
                            fails += 1
                            last_err = out.strip().splitlines()[-1:] or ["exit %s" % rc]
                            last_err = last_err[0]
                    okcount = "%d/%d" % (len(times), args.runs)
                    if times:
                        med, hi = "%.1f" % statistics.median(times), "%.1f" % p90(times)
                        cpu = "%.1f" % statistics.median(cpus)
                    if colds:
                        cold = "%.1f" % statistics.median(colds)
                    if others:
                        other = "%.2f" % statistics.median(others)
                        cpu = "%.2f" % statistics.median(cpus) if cpus else cpu
                    if fails:
                        any_failed = True
                        notes.append("pyhang: " + last_err[:80])
                amed, acpu = bench_austin(austin, proc.pid, args.runs)
                cmd, gmed, gnote = bench_gdb(proc.pid, args.gdb_runs)
                if gnote:
                    notes.append(gnote)
                rows.append((label, what, str(threads), cpu, cold, other,
                             "%.1f" % acpu if acpu is not None else "-", med,
                             "%.1f" % amed if amed is not None else "-", hi, okcount, cmd,
                             "%.1f" % gmed if gmed is not None else "-", "; ".join(notes)))
            finally:
                stop_target(proc)

    head = ("python", "target", "threads", "pyhang cpu ms", "cold cpu ms", "against cpu ms",
            "austin cpu ms",
            "pyhang wall ms",
            "austin wall ms", "pyhang p90 wall", "ok", "gdb cmd", "gdb wall ms", "notes")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("pyhang dump%s --pid (%d runs) vs austin -w (%s) and gdb -batch (%d runs); targets: %s" % (
        " --json" if args.json else "", args.runs, austin or "no austin with -w on PATH",
        args.gdb_runs, ", ".join("%s = %s" % (w, os.path.relpath(p, ROOT)) for w, p in PROGRAMS)))
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
