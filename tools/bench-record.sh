#!/bin/bash
# What `pyhang record` costs the process it samples, and itself.
#
# Usage: tools/bench-record.sh [PYHANG]   env: PY, AUSTIN_PY, PAIRS (default 7), WORK_S (default 2)
#
# A CPU-bound Python job waits on stdin, `pyhang record --pid` attaches to it (-v says when it
# samples), then the job runs WORK_S seconds of work and reports its own wall and CPU time
# (the CPU time includes the sampling interrupts and the BPF program, which run on its
# account). Runs with and without pyhang alternate; the ratios are medians over PAIRS pairs.
# The collector's CPU is read from /proc/PID/stat while the job works (steady state, start-up
# excluded). The BPF program's mean run time comes from kernel.bpf_stats_enabled. Where
# Debian's austin is installed, it profiles the same job (launched by austin) beside pyhang.
set -u
PYHANG=${1:-build/pyhang}
PY=${PY:-/root/.pyenv/versions/3.12.1/bin/python}
AUSTIN_PY=${AUSTIN_PY:-/root/.pyenv/versions/3.8.18/bin/python}
PAIRS=${PAIRS:-7}
WORK_S=${WORK_S:-2}
cd "$(dirname "$0")/.." || exit 2
[ -x "$PYHANG" ] || { echo "bench-record: $PYHANG not built" >&2; exit 1; }
[ -x "$PY" ] || PY=/usr/bin/python3
if ! command -v austin >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq austin >/dev/null 2>&1 || true
fi
old_stats=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
sysctl -q -w kernel.bpf_stats_enabled=1 2>/dev/null || true
trap 'sysctl -q -w kernel.bpf_stats_enabled="$old_stats" 2>/dev/null || true' EXIT
python3 - "$PYHANG" "$PY" "$AUSTIN_PY" "$PAIRS" "$WORK_S" <<'EOF'
import json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

pyhang, py, austin_py, pairs, work_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
tmp = tempfile.mkdtemp(prefix="pyhang-bench-")
job = os.path.join(tmp, "job.py")
with open(job, "w") as f:
    f.write("""import os, sys, time
def leaf(n):
    return sum(i * i for i in range(n))
def mid(n):
    return leaf(n) + leaf(n // 2)
def top(iters):
    return [mid(2000) for _ in range(iters)]
if len(sys.argv) > 2:
    sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
t0, c0 = time.time(), os.times()
top(int(sys.argv[1]))
c1 = os.times()
sys.stdout.write("%.6f %.6f\\n" % (time.time() - t0, (c1[0] - c0[0]) + (c1[1] - c0[1])))
sys.stdout.flush()
""")
HZ = os.sysconf("SC_CLK_TCK")

def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(HZ)
    except (OSError, IndexError, ValueError):
        return None

def run_job(python, iters, rate=None):
    """(job wall s, job CPU s, profiler CPU share of one CPU while the job worked)."""
    p = subprocess.Popen([python, job, str(iters), "wait"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, universal_newlines=True)
    assert p.stdout.readline().strip() == "ready"
    rec = None
    if rate:
        rec = subprocess.Popen([pyhang, "record", "-v", "-r", str(rate), "-f", "folded", "-o",
                                os.path.join(tmp, "p.folded"), "--pid", str(p.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               universal_newlines=True)
        for line in rec.stderr:
            if "sampling process" in line:
                break
        threading.Thread(target=lambda: [None for _ in rec.stderr], daemon=True).start()
    c0, t0 = (proc_cpu(rec.pid) if rec else 0), time.time()
    p.stdin.write("go\n"); p.stdin.flush()
    wall, cpu = map(float, p.stdout.readline().split())
    c1, t1 = (proc_cpu(rec.pid) if rec else 0), time.time()
    p.wait()
    share = None
    if rec:
        rec.wait()
        if c0 is not None and c1 is not None:
            share = (c1 - c0) / (t1 - t0)
    return wall, cpu, share

def calibrate(python):
    iters = 10
    while True:
        t, _, _ = run_job(python, iters)
        if t >= 0.2:
            return max(1, int(iters * work_s / t))
        iters *= 4

def report(label, rate, pairs_):
    walls = [w / b for (b, _), (w, _, _) in pairs_]
    cpus = [c / bc for (_, bc), (_, c, _) in pairs_]
    shares = [s for _, (_, _, s) in pairs_ if s is not None]
    print("%-7s %4d Hz: target wall x%.4f (min %.3f, max %.3f), target CPU x%.4f (min %.3f, max %.3f), "
          "%s CPU while sampling %.2f%% of one CPU  [median of %d pairs]" %
          (label, rate, statistics.median(walls), min(walls), max(walls), statistics.median(cpus),
           min(cpus), max(cpus), label, 100 * statistics.median(shares) if shares else float("nan"),
           len(pairs_)))
    sys.stdout.flush()

def bench_pyhang(python, iters):
    for rate in (99, 999):
        res = []
        for _ in range(pairs):
            bw, bc, _ = run_job(python, iters)
            res.append(((bw, bc), run_job(python, iters, rate)))
        report("pyhang", rate, res)

def bpf_runtime(python, iters, rate):
    p = subprocess.Popen([pyhang, "record", "-r", str(rate), "-f", "folded", "-o",
                          os.path.join(tmp, "p.folded"), "--", python, job, str(iters)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    best = None
    while p.poll() is None:
        time.sleep(0.2)
        try:
            progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], stdout=subprocess.PIPE,
                                              universal_newlines=True).stdout)
        except ValueError:
            continue
        for prog in progs:
            if prog.get("name") == "pyh_on_cpu" and prog.get("run_cnt"):
                best = (prog["run_time_ns"], prog["run_cnt"])
    p.wait()
    if best:
        print("bpf     %4d Hz: pyh_on_cpu mean run time %.2f us per sample (%d runs, all CPUs): "
              "%.3f%% of one CPU at this rate" % (rate, best[0] / best[1] / 1000.0, best[1],
                                                   100.0 * rate * best[0] / best[1] / 1e9))
    else:
        print("bpf     %4d Hz: no run statistics (kernel.bpf_stats_enabled not honoured?)" % rate)

def austin_job(python, iters, rate):
    """austin launches the job itself (it cannot wait for our go): wall, CPU as the job reports."""
    out = subprocess.run(["austin", "-i", str(int(1e6 / rate)), "-o", os.path.join(tmp, "a.out"),
                          python, job, str(iters)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    wall, cpu = map(float, out.strip().splitlines()[-1].split())
    return wall, cpu, None

iters = calibrate(py)
print("job: %s, %d iterations (~%.1f s alone), %d pairs per rate" % (py, iters, work_s, pairs))
bench_pyhang(py, iters)
for rate in (99, 999):
    bpf_runtime(py, iters, rate)
if shutil.which("austin") and os.access(austin_py, os.X_OK):
    aiters = calibrate(austin_py)
    print("side by side on %s (%d iterations; austin supports Python up to 3.8 or so):" % (austin_py, aiters))
    bench_pyhang(austin_py, aiters)
    for rate in (99, 999):
        res = []
        for _ in range(pairs):
            bw, bc, _ = run_job(austin_py, aiters)
            res.append(((bw, bc), austin_job(austin_py, aiters, rate)))
        report("austin", rate, res)
else:
    print("austin: not installed and not installable; skipped")
shutil.rmtree(tmp, ignore_errors=True)
EOF
