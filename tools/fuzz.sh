#!/bin/bash
# Builds the libFuzzer targets in tests/fuzz/ (clang, ASan+UBSan) and runs each for
# FUZZ_SECONDS (default 10). Prints "ok - fuzz NAME" / "not ok - fuzz NAME" and a closing
# "N passed, N failed"; a crash leaves its input in build/fuzz/NAME-crash-*.
set -u
cd "$(dirname "$0")/.." || exit 2
SECS=${FUZZ_SECONDS:-10}
out=build/fuzz
mkdir -p "$out"
passed=0
failed=0
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -Isrc -Iinclude"
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	case $name in
	fuzz_linetable) deps="src/python/linetable.c" ;;
	fuzz_debug_offsets) deps="src/python/layouts.c" ;;
	fuzz_maps) deps="src/proc/maps.c src/proc/rootfs.c src/elf/elfsym.c src/proc/mem.c" ;;
	fuzz_elf) deps="src/elf/elfsym.c" ;;
	fuzz_json) deps="src/output/json.c src/output/sanitize.c" ;;
	fuzz_nmodules) deps="src/native/modules.c src/proc/maps.c src/proc/rootfs.c src/elf/elfsym.c src/proc/mem.c" ;;
	fuzz_agraph) deps="src/asyncio/graph.c" ;;
	fuzz_aiodebug) deps="src/asyncio/aiolayout.c" ;;
	fuzz_repr) deps="src/python/objects.c src/python/pydict.c src/python/repr.c src/python/reprfmt.c src/python/pystr.c src/python/objlayout.c src/proc/mem.c src/proc/maps.c src/proc/rootfs.c src/elf/elfsym.c" ;;
	fuzz_sanitize) deps="src/output/sanitize.c" ;;
	*) echo "not ok - fuzz $name: no dependency list in tools/fuzz.sh"; failed=$((failed + 1)); continue ;;
	esac
	# shellcheck disable=SC2086
	if ! clang $flags "$src" $deps -lelf -lm -o "$out/$name" 2> "$out/$name.build.log"; then
		echo "not ok - fuzz $name: does not build"; sed 's/^/#   /' "$out/$name.build.log" | head -20
		failed=$((failed + 1)); continue
	fi
	mkdir -p "$out/$name.corpus"
	maxlen=8192
	if [ "$name" = fuzz_elf ]; then
		# Seed with a small real shared object so that mutations reach the symbol tables.
		maxlen=65536
		for seed in /usr/lib/x86_64-linux-gnu/libdl.so.2 /usr/lib/x86_64-linux-gnu/libutil.so.1; do
			[ -f "$seed" ] && cp "$seed" "$out/$name.corpus/seed-$(basename "$seed")"
		done
	fi
	if "$out/$name" -max_total_time="$SECS" -max_len="$maxlen" -artifact_prefix="$out/$name-crash-" \
		"$out/$name.corpus" > "$out/$name.log" 2>&1; then
		echo "ok - fuzz $name ($(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out/$name.log") runs in ${SECS}s)"
		passed=$((passed + 1))
	else
		echo "not ok - fuzz $name"; tail -n 30 "$out/$name.log" | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
