#!/bin/bash
# make demo: pyhang on the classic stuck program, then a flamegraph of a busy one.
set -u
PYHANG=${1:-build/pyhang}
cd "$(dirname "$0")/.."
PY=$(command -v python3)
for v in 3.12.1 3.11.7 3.13.0; do
	[ -x /root/.pyenv/versions/$v/bin/python ] && PY=/root/.pyenv/versions/$v/bin/python && break
done
"$PY" "$PWD/examples/stuck.py" &
target=$!
trap 'kill $target 2>/dev/null' EXIT
sleep 1
echo "\$ pyhang --pid $target      # $PY examples/stuck.py, stuck in time.sleep"
"$PYHANG" --pid "$target"
echo
echo "\$ pyhang dump --json --pid $target"
"$PYHANG" dump --json --pid "$target"
kill "$target" 2>/dev/null
wait "$target" 2>/dev/null
echo
if "$PYHANG" record --help >/dev/null 2>&1; then
	echo "\$ pyhang record -r 199 -o build/demo.svg -- $PY examples/busy.py 4"
	"$PYHANG" record -r 199 -o build/demo.svg -- "$PY" "$PWD/examples/busy.py" 4 &&
		echo "flamegraph written to build/demo.svg (open it in a browser)"
	"$PYHANG" record -r 199 -f folded -o build/demo.folded -- "$PY" "$PWD/examples/busy.py" 2 &&
		{ echo "the three hottest stacks (count, stack):"; awk '{ n = $NF; $NF = ""; print n "\t" $0 }' build/demo.folded | sort -rn | head -n 3; }
fi
