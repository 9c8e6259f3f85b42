#!/bin/bash
# The cost of `pyhang watch` to the process it watches: a system-call-heavy
# Python job (1 000 000 64-byte reads from /dev/zero and short sleeps) timed with and
# without watch attached, alternating, PAIRS pairs; prints each pair's CPU time
# (user + system of the job) and the median ratio (target: at most 1.02).
#   [WATCH_ARGS=--no-gil] tools/bench-watch.sh [PYHANG] [PYTHON] [PAIRS]
set -euo pipefail
PYHANG=${1:-build/pyhang}
PY=${2:-/usr/bin/python3.11}
PAIRS=${3:-7}
WATCH_ARGS=${WATCH_ARGS:-}
JOB=$(mktemp /tmp/pyhang-bench-XXXXXX.py)
trap 'rm -f "$JOB"' EXIT
cat > "$JOB" <<'PYEOF'
import os, resource, sys, time
# wait for the go signal (stdin closes) so that watch is attached before timing
sys.stdin.read()
fd = os.open("/dev/zero", os.O_RDONLY)
t0 = time.time()
r0 = resource.getrusage(resource.RUSAGE_SELF)
for i in range(1000000):
    os.read(fd, 64)
    if i % 1000 == 0:
        time.sleep(0.0005)
r1 = resource.getrusage(resource.RUSAGE_SELF)
# CPU seconds (user + system) of the job: what watch adds to it, without the
# noise of waiting for a CPU on a shared machine. Wall time goes to stderr.
print("%.4f" % (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
sys.stderr.write("wall %.4f\n" % (time.time() - t0))
PYEOF

run_one() { # $1: 1 to attach watch
	local fifo out wpid=
	fifo=$(mktemp -u /tmp/pyhang-bench-fifo-XXXXXX); mkfifo "$fifo"
	out=$(mktemp /tmp/pyhang-bench-out-XXXXXX)
	"$PY" "$JOB" < "$fifo" > "$out" &
	local pid=$!
	exec 9> "$fifo"
	if [ "$1" = 1 ]; then
		"$PYHANG" watch --pid "$pid" --threshold 5 $WATCH_ARGS > /dev/null 2>&1 9>&- &
		wpid=$!
		sleep 1.5   # loaded and attached
	else
		sleep 1.5
	fi
	exec 9>&-
	wait "$pid"
	[ -n "$wpid" ] && { kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true; }
	cat "$out"; rm -f "$fifo" "$out"
}

ratios=()
for i in $(seq 1 "$PAIRS"); do
	a=$(run_one 0); b=$(run_one 1)
	r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", b / a }')
	echo "pair $i: without ${a}s  with ${b}s  ratio $r"
	ratios+=("$r")
done
med=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "median ratio (with / without watch): $med  ($(awk -v m="$med" 'BEGIN { printf "%+.1f%%", (m - 1) * 100 }'))"
