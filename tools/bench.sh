#!/bin/bash
# make bench: every performance claim pyhang makes, measured here.
#   dump latency (32 threads) beside gdb, and with --locals; record's target slowdown, collector CPU and
#   BPF time per sample at 99 and 999 Hz; the collector with 1, 10 and 50 processes;
#   watch's slowdown of a syscall-heavy job; dump --native and record --native; record on
#   60- and 200-frame stacks; the collector's memory while the target keeps making code.
# Austin is timed beside pyhang where an austin is on PATH (Debian's austin 1.0 has no
# where mode; Austin 3.x, built from its source, has). AUSTIN_DIR= puts one first on PATH.
set -u
PYHANG=${1:-build/pyhang}
cd "$(dirname "$0")/.." || exit 2
[ -n "${AUSTIN_DIR:-}" ] && PATH=$AUSTIN_DIR:$PATH
echo "== dump latency: 32 sleeping threads, one deep running thread (tools/bench-dump.py)"
python3 tools/bench-dump.py --pyhang "$PYHANG" --interp debian-3.11 --interp 3.12.1 --interp 3.8.18 --interp 2.7.18
echo
echo "== record on deep stacks, 99 and 999 Hz (tools/bench-depth.py)"
python3 tools/bench-depth.py --pyhang "$PYHANG"
echo
echo "== record's memory while the target keeps making new code (tools/bench-codechurn.py)"
python3 tools/bench-codechurn.py --pyhang "$PYHANG" --seconds "${CODECHURN_S:-120}" --every 20
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
