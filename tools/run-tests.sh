#!/bin/bash
# Runs pyhang's tests and prints one closing line "N passed, N failed[, N skipped]".
#
#   tools/run-tests.sh unit BUILD_DIR   every BUILD_DIR/tests/test_* (cmocka, TAP output)
#   tools/run-tests.sh e2e  BUILD_DIR   tests/e2e/run_e2e.py --pyhang BUILD_DIR/pyhang
#   tools/run-tests.sh all  BUILD_DIR   units (also the ASan/UBSan build-san/ ones when built),
#                                       dump (its locals and asyncio tasks too), dump --native,
#                                       record, watch, metrics and hostile-target end-to-end,
#                                       and the valgrind
#                                       and sanitizer runs of pyhang itself, the fuzzers
#
# Exit status is non-zero iff a test failed, a test binary crashed or timed out, or a runner
# exited non-zero without reporting a failure. Extra arguments after BUILD_DIR go to run_e2e.py.
set -u

usage() {
	echo "usage: $0 unit|e2e|all BUILD_DIR [run_e2e.py options]" >&2
	exit 2
}
[ $# -ge 2 ] || usage
mode=$1
build=$2
shift 2
case $mode in unit|e2e|all) ;; *) usage ;; esac

cd "$(dirname "$0")/.." || exit 2
# Under sudo, record -- CMD runs CMD as the invoking user; the suites start root's interpreters.
unset SUDO_UID SUDO_GID SUDO_USER
passed=0
failed=0
skipped=0
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
E2E_TIMEOUT=${E2E_TIMEOUT:-900}

# Count the TAP lines of one runner's output (read on stdin) and echo them through.
# cmocka 1.1.x prints a skipped test as "not ok N # SKIP name"; that counts as skipped.
# Lines starting with "#" (diagnostics, cmocka's group line "# not ok - group") are shown only.
count_tap() {
	local line n=0
	runner_rc=
	while IFS= read -r line; do
		case $line in
		"@@run-tests-rc="*)
			runner_rc=${line#@@run-tests-rc=} ;;
		"not ok "*"# SKIP"* | "not ok "*"# skip"* | "ok "*"# SKIP"* | "ok "*"# skip"*)
			skipped=$((skipped + 1)); n=$((n + 1)); echo "$line" ;;
		"not ok "*)
			failed=$((failed + 1)); n=$((n + 1)); echo "$line" ;;
		"ok "*)
			passed=$((passed + 1)); n=$((n + 1)); echo "$line" ;;
		[0-9]*" passed, "*" failed"*)
			echo "# runner: $line" ;;   # the runner's own total; ours comes last
		*)
			echo "$line" ;;
		esac
	done
	tap_lines=$n
}

# Run one binary/command, count its TAP lines, and turn a crash or an unexplained
# non-zero exit into a failure of its own.
run_counted() {
	local name=$1 rc before=$failed
	shift
	# Streamed (so long runs show progress); the exit status comes as the last line.
	count_tap < <("$@" 2>&1; echo "@@run-tests-rc=$?")
	rc=${runner_rc:-1}
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "not ok - $name: timed out"
		failed=$((failed + 1))
	elif [ "$rc" -gt 128 ]; then
		echo "not ok - $name: killed by signal $((rc - 128))"
		failed=$((failed + 1))
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
		echo "not ok - $name: exited $rc without reporting a failure"
		failed=$((failed + 1))
	elif [ "$tap_lines" -eq 0 ]; then
		echo "not ok - $name: ran no test"
		failed=$((failed + 1))
	fi
}

run_unit() {
	local dir=$1 t found=0
	for t in "$dir"/tests/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		case $t in *.d | *.o) continue ;; esac
		found=1
		echo "# $t"
		CMOCKA_MESSAGE_OUTPUT=TAP run_counted "$t" timeout -k 5 "$UNIT_TIMEOUT" "$t"
	done
	if [ $found -eq 0 ]; then
		echo "not ok - unit: no test binaries in $dir/tests"
		failed=$((failed + 1))
	fi
}

run_e2e() {
	local exe="$build/pyhang"
	echo "# e2e: tests/e2e/run_e2e.py --pyhang $exe"
	run_counted e2e timeout -k 10 "$E2E_TIMEOUT" \
		python3 tests/e2e/run_e2e.py --pyhang "$exe" "$@"
}

run_script() {
	local name=$1
	shift
	[ -e "$1" ] || [ -e "${2:-}" ] || return 0
	echo "# $name: $*"
	run_counted "$name" timeout -k 10 "$E2E_TIMEOUT" "$@"
}

case $mode in
unit) run_unit "$build" ;;
e2e) run_e2e "$@" ;;
all)
	run_unit "$build"
	if [ "$build" != build-san ] && ls build-san/tests/test_* >/dev/null 2>&1; then
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} run_unit build-san
	fi
	run_e2e "$@"
	run_script running python3 tests/e2e/run_running.py "$build/pyhang"
	run_script native python3 tests/e2e/run_native.py "$build/pyhang"
	run_script locals python3 tests/e2e/run_locals.py "$build/pyhang"
	run_script tasks python3 tests/e2e/run_tasks.py "$build/pyhang"
	run_script record python3 tests/e2e/run_record.py "$build/pyhang"
	run_script watch python3 tests/e2e/run_watch.py "$build/pyhang"
	run_script metrics python3 tests/e2e/run_metrics.py "$build/pyhang"
	run_script host python3 tests/e2e/run_host.py "$build/pyhang"
	run_script hostile python3 tests/e2e/run_hostile.py "$build/pyhang"
	run_script memcheck tests/e2e/run_memcheck.sh "$build/pyhang" build-san/pyhang
	run_script fuzz tools/fuzz.sh
	;;
esac

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
