#!/bin/bash
# What `pyhang record --all` costs, with 1, 10 and 50 Python processes on the host.
#
#   tools/bench-host.sh [PYHANG] [PYTHON] [SECONDS_PER_WINDOW] [ROUNDS]
#   (defaults: build/pyhang, /usr/bin/python3.11, 4, 3; needs root)
#
# Each process is a CPU loop that counts its iterations. For each N, windows with and
# without `pyhang record --all -r 99` alternate (ROUNDS pairs); per pair:
#   - target slowdown: 1 - (iterations/s of all N with pyhang) / (iterations/s without),
#   - collector CPU: utime+stime of pyhang during the window, in % of one CPU.
# The medians are printed, and the collector CPU per process. The sampler is one perf
# event per CPU and one hash map of targets, so its cost follows CPUs x rate, not N:
# the total stays flat and the per-process share falls as N grows.
set -eu
cd "$(dirname "$0")/.."
PYHANG=${1:-build/pyhang}
PYTHON=${2:-/usr/bin/python3.11}
SECS=${3:-4}
ROUNDS=${4:-3}
if [ "$(id -u)" != 0 ]; then
	echo "bench-host: needs root (pyhang record --all)" >&2
	exit 1
fi
[ -x "$PYHANG" ] || { echo "bench-host: no $PYHANG (run make)" >&2; exit 1; }
exec python3 - "$PYHANG" "$PYTHON" "$SECS" "$ROUNDS" <<'EOF'
import os, shutil, statistics, subprocess, sys, tempfile, time

pyhang, python, secs, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
TCK = os.sysconf("SC_CLK_TCK")
WORKER = r'''
import os, sys, time
path = sys.argv[1]
n = 0
nxt = time.time() + 0.05
while True:
    for _ in range(20000):
        n += 1
    t = time.time()
    if t >= nxt:
        with open(path + ".tmp", "w") as f:
            f.write("%d" % n)
        os.replace(path + ".tmp", path)
        nxt = t + 0.05
'''


def counts(paths):
    total = 0
    for p in paths:
        try:
            with open(p) as f:
                total += int(f.read() or 0)
        except (OSError, ValueError):
            pass
    return total


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rpartition(")")[2].split()
    return int(rest[11]) + int(rest[12])


def window(paths, with_pyhang):
    rec = None
    if with_pyhang:
        rec = subprocess.Popen([pyhang, "record", "--all", "-r", "99", "-f", "folded",
                                "-o", os.devnull, "-d", str(secs + 30)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # loaded, attached
        c0 = cpu_ticks(rec.pid)
    w0, t0 = counts(paths), time.time()
    time.sleep(secs)
    w1, t1 = counts(paths), time.time()
    cpu = None
    if rec:
        cpu = (cpu_ticks(rec.pid) - c0) / float(TCK) / (t1 - t0)
        rec.terminate()
        rec.wait()
    return (w1 - w0) / (t1 - t0), cpu


print("pyhang record --all -r 99: %s, %s, %d CPUs, %.0f s windows, %d rounds"
      % (pyhang, python, os.cpu_count(), secs, rounds))
print("%5s  %14s  %14s  %9s  %12s  %16s" % ("procs", "work/s without", "work/s with",
                                            "slowdown", "pyhang CPU", "pyhang CPU/proc"))
for n in (1, 10, 50):
    tmp = tempfile.mkdtemp(prefix="pyhang-bench-host-")
    script = os.path.join(tmp, "worker.py")
    with open(script, "w") as f:
        f.write(WORKER)
    paths = [os.path.join(tmp, "c%d" % i) for i in range(n)]
    procs = [subprocess.Popen([python, script, p]) for p in paths]
    try:
        time.sleep(1.0)
        offs, ons, slow, cpus = [], [], [], []
        for r in range(rounds):
            off, _ = window(paths, False)
            on, cpu = window(paths, True)
            offs.append(off)
            ons.append(on)
            slow.append(1.0 - on / off if off else 0.0)
            cpus.append(cpu)
        cpu = statistics.median(cpus)
        print("%5d  %14.0f  %14.0f  %8.2f%%  %10.2f%%  %14.3f%%" % (
            n, statistics.median(offs), statistics.median(ons), 100 * statistics.median(slow),
            100 * cpu, 100 * cpu / n))
        sys.stdout.flush()
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
print("slowdown: median over rounds of 1 - (with / without), adjacent windows; "
      "pyhang CPU: utime+stime per second of wall time")
EOF
