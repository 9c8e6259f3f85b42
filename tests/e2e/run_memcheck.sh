#!/bin/bash
# pyhang itself under valgrind (memcheck) and, when built (make san), under ASan/UBSan:
# dump of a live multi-threaded program on several interpreters (with and without its
# locals and source context, one frame in full), and a short record.
# Prints "ok - ..." / "not ok - ..." lines and a closing "N passed, N failed".
set -u
PYHANG=${1:-build/pyhang}
SAN=${2:-build-san/pyhang}
cd "$(dirname "$0")/../.." || exit 2
passed=0
failed=0
result() { # name rc log
	if [ "$2" -eq 0 ]; then
		echo "ok - $1"; passed=$((passed + 1))
	else
		echo "not ok - $1 (exit $2)"; sed 's/^/#   /' "$3" | tail -n 20; failed=$((failed + 1))
	fi
}
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${target:-}" ] && kill "$target" 2>/dev/null' EXIT
for py in /root/.pyenv/versions/2.7.18/bin/python /root/.pyenv/versions/3.12.1/bin/python \
	/root/.pyenv/versions/3.13.0/bin/python /usr/bin/python3.11; do
	[ -x "$py" ] || continue
	"$py" tests/e2e/programs/many_threads.py > "$log" 2>&1 &
	target=$!
	for _ in $(seq 100); do grep -q READY "$log" && break; sleep 0.1; done
	if command -v valgrind >/dev/null; then
		valgrind -q --suppressions=tests/e2e/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$PYHANG" dump --pid "$target" > "$log" 2>&1
		result "valgrind dump $py" $? "$log"
		valgrind -q --suppressions=tests/e2e/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$PYHANG" dump --json --pid "$target" > "$log" 2>&1
		result "valgrind dump --json $py" $? "$log"
		valgrind -q --suppressions=tests/e2e/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$PYHANG" dump --native --json --pid "$target" > "$log" 2>&1
		result "valgrind dump --native $py" $? "$log"
		valgrind -q --suppressions=tests/e2e/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$PYHANG" dump --json --locals --source 2 --pid "$target" > "$log" 2>&1
		result "valgrind dump --locals --source 2 $py" $? "$log"
	fi
	if [ -x "$SAN" ]; then
		ASAN_OPTIONS=detect_leaks=1 "$SAN" dump --pid "$target" > "$log" 2>&1
		result "asan+ubsan dump $py" $? "$log"
		ASAN_OPTIONS=detect_leaks=1 "$SAN" dump --native --pid "$target" > "$log" 2>&1
		result "asan+ubsan dump --native $py" $? "$log"
		ASAN_OPTIONS=detect_leaks=1 "$SAN" dump --locals --source 2 --pid "$target" > "$log" 2>&1
		result "asan+ubsan dump --locals --source 2 $py" $? "$log"
		ASAN_OPTIONS=detect_leaks=1 "$SAN" dump --json --pid "$target" --thread "$target" \
			--frame 0 > "$log" 2>&1
		result "asan+ubsan dump --thread --frame $py" $? "$log"
		ASAN_OPTIONS=detect_leaks=1 "$SAN" record -d 1 -r 199 -f folded -o /dev/null --pid "$target" > "$log" 2>&1
		result "asan+ubsan record $py" $? "$log"
		# CPU in C called from Python: every sample is unwound and merged.
		ASAN_OPTIONS=detect_leaks=1 "$SAN" record --native -r 499 -f folded -o /dev/null -- "$py" -c \
			'import time, zlib
d = bytes(bytearray(range(256))) * 256
e = time.time() + 1
while time.time() < e: zlib.compress(d, 9)' > "$log" 2>&1
		result "asan+ubsan record --native $py" $? "$log"
	fi
	kill "$target" 2>/dev/null
	wait "$target" 2>/dev/null
	target=
done
# A running thread, read in the kernel: the snapshot program loaded (and pinned), then the
# pinned one used (src/kernel/bpfpin.h), each under valgrind and the sanitizers.
py=/usr/bin/python3.11
if [ -x "$py" ]; then
	"$py" tests/e2e/running/deep_cpu.py > "$log" 2>&1 &
	target=$!
	for _ in $(seq 100); do grep -q READY "$log" && break; sleep 0.1; done
	for how in own pinned; do
		if [ "$how" = own ]; then pin=0; else pin=1; fi
		if command -v valgrind >/dev/null; then
			PYHANG_BPF_PIN=$pin valgrind -q --suppressions=tests/e2e/valgrind.supp --error-exitcode=99 \
				--leak-check=full --errors-for-leak-kinds=definite \
				"$PYHANG" dump --pid "$target" > "$log" 2>&1
			result "valgrind dump of a running thread, $how snapshot program" $? "$log"
		fi
		if [ -x "$SAN" ]; then
			PYHANG_BPF_PIN=$pin ASAN_OPTIONS=detect_leaks=1 "$SAN" dump --pid "$target" > "$log" 2>&1
			result "asan+ubsan dump of a running thread, $how snapshot program" $? "$log"
		fi
	done
	kill "$target" 2>/dev/null
	wait "$target" 2>/dev/null
	target=
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
