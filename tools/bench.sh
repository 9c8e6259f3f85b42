#!/bin/bash
# make bench: every performance claim pyhang makes, measured here.
#   dump latency (32 threads) beside gdb, and with --locals; record's target slowdown, collector CPU and
#   BPF time per sample at 99 and 999 Hz; the collector with 1, 10 and 50 processes;
#   watch's slowdown of a syscall-heavy job; dump --native and record --native.
set -u
PYHANG=${1:-build/pyhang}
cd "$(dirname "$0")/.." || exit 2
echo "== dump latency (tools/bench-dump.py)"
python3 tools/bench-dump.py --pyhang "$PYHANG"
echo
echo "== dump --locals (tools/bench-locals.py)"
python3 tools/bench-locals.py --pyhang "$PYHANG"
echo
echo "== record overhead (tools/bench-record.sh)"
tools/bench-record.sh "$PYHANG"
echo
echo "== --native: dump latency and pause beside gdb, record per-sample cost (tools/bench-native.py)"
python3 tools/bench-native.py --pyhang "$PYHANG"
echo
echo "== whole host: 1, 10, 50 processes (tools/bench-host.sh)"
tools/bench-host.sh "$PYHANG"
if [ -x tools/bench-watch.sh ]; then
	echo
	echo "== watch overhead (tools/bench-watch.sh)"
	tools/bench-watch.sh "$PYHANG"
fi
