#!/bin/sh
# Overhead of `pyhang record` (needs root):
#  - the target's slowdown: the same CPU-bound job timed by itself, alternately
#    without and with `pyhang record` at 99 Hz and at 999 Hz; median of PAIRS
#    per-pair ratios (with / without);
#  - the collector's CPU use: user+system time of the pyhang process over the run
#    (getrusage of the child), as a share of the run's wall time;
#  - the BPF program's mean run time per sample: kernel.bpf_stats_enabled=1,
#    then run_time_ns / run_cnt of pyh_on_cpu from `bpftool prog show`.
#  - when Debian's `austin` is installed (or installable: this installs it),
#    the same slowdown for austin at the same rates, on AUSTIN_PY (a version
#    austin 1.0 supports), beside pyhang on that same interpreter.
# Usage: tools/bench-record.sh [PYHANG]   env: PY, AUSTIN_PY, PAIRS (default 5), WORK_S (default 2)
set -e
PYHANG=${1:-build/pyhang}
PY=${PY:-/root/.pyenv/versions/3.12.1/bin/python}
AUSTIN_PY=${AUSTIN_PY:-/root/.pyenv/versions/3.8.18/bin/python}
PAIRS=${PAIRS:-5}
WORK_S=${WORK_S:-2}
[ "$(id -u)" = 0 ] || { echo "bench-record: needs root" >&2; exit 1; }
[ -x "$PYHANG" ] || { echo "bench-record: $PYHANG not built" >&2; exit 1; }
if ! command -v austin >/dev/null 2>&1 && apt-cache policy austin 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq austin >/dev/null 2>&1 || true
fi
old_stats=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats 2>/dev/null || true' EXIT
sysctl -qw kernel.bpf_stats_enabled=1

exec python3 - "$PYHANG" "$PY" "$AUSTIN_PY" "$PAIRS" "$WORK_S" <<'EOF'
import json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

pyhang, py, austin_py, pairs, work_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
tmp = tempfile.mkdtemp(prefix="pyhang-bench-")
job = os.path.join(tmp, "job.py")
with open(job, "w") as f:
    f.write("""import sys, time
def leaf(n):
    return sum(i * i for i in range(n))
def mid(n):
    return leaf(n) + leaf(n // 2)
def top(iters):
    return [mid(2000) for _ in range(iters)]
t0 = time.time()
top(int(sys.argv[1]))
sys.stdout.write("%.6f\\n" % (time.time() - t0))
""")

def job_time(python, iters, wrap=None):
    """Job's own wall time (s); with wrap, also the wrapper's CPU (s) and wall (s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    cmd = (wrap or []) + [python, job, str(iters)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True).stdout
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(out.strip().splitlines()[-1]), cpu, wall

def calibrate(python):
    iters = 10
    while True:
        t, _, _ = job_time(python, iters)
        if t >= 0.2:
            return max(1, int(iters * work_s / t))
        iters *= 4

def bench(label, python, iters, wrap_for_rate, rates):
    for rate in rates:
        ratios, job_cpu_shares = [], []
        for _ in range(pairs):
            base, base_cpu, _ = job_time(python, iters)
            t, cpu, wall = job_time(python, iters, wrap_for_rate(rate))
            ratios.append(t / base)
            # wrapper CPU = total children CPU minus the job's own CPU (~ its base run)
            job_cpu_shares.append(max(0.0, cpu - base_cpu) / wall)
        print("%-8s %4d Hz: slowdown x%.3f (median of %d pairs; min %.3f max %.3f); "
              "profiler CPU %.1f%% of one CPU over the run" %
              (label, rate, statistics.median(ratios), pairs, min(ratios), max(ratios),
               100 * statistics.median(job_cpu_shares)))
        sys.stdout.flush()

def pyhang_wrap(rate):
    return [pyhang, "record", "-r", str(rate), "-f", "folded", "-o", os.path.join(tmp, "p.folded"), "--"]

def austin_wrap(rate):
    return ["austin", "-i", str(int(1e6 / rate)), "-o", os.path.join(tmp, "austin.out")]

def bpf_runtime(python, iters, rate):
    p = subprocess.Popen(pyhang_wrap(rate) + [python, job, str(iters)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
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
        print("bpf      %4d Hz: pyh_on_cpu mean run time %.2f us per sample (%d runs, all CPUs)" %
              (rate, best[0] / best[1] / 1000.0, best[1]))
    else:
        print("bpf      %4d Hz: no run statistics (kernel.bpf_stats_enabled not honoured?)" % rate)

iters = calibrate(py)
print("job: %s, %d iterations (~%.1f s alone), %d pairs per rate" % (py, iters, work_s, pairs))
bench("pyhang", py, iters, pyhang_wrap, (99, 999))
for rate in (99, 999):
    bpf_runtime(py, iters, rate)
if shutil.which("austin") and os.access(austin_py, os.X_OK):
    aiters = calibrate(austin_py)
    print("side by side on %s (%d iterations):" % (austin_py, aiters))
    bench("pyhang", austin_py, aiters, pyhang_wrap, (99, 999))
    bench("austin", austin_py, aiters, austin_wrap, (99, 999))
else:
    print("austin: not installed and not installable; skipped")
shutil.rmtree(tmp, ignore_errors=True)
EOF
