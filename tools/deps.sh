#!/bin/sh
# Installs the Debian packages pyhang builds, tests and runs with, when any is missing,
# and mounts tracefs when it is not mounted, and the bpf filesystem at /sys/fs/bpf (systemd
# mounts it on a Debian host; machines without systemd, like CI's, get it here, so the tests
# run pyhang as it runs on a host: its store of pinned programs, src/kernel/bpfpin.h).
# Idempotent; quiet when all is there.
set -e
PKGS="clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libcmocka-dev pkg-config make gcc \
      libc6-dbg python3-numpy python3-aiohttp \
      gdb valgrind linux-perf libclang-rt-14-dev libprotobuf-c-dev protobuf-c-compiler python3 golang-go prometheus libcap2-bin"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "pyhang: missing packages:$missing (run 'make deps' as root)" >&2
		exit 1
	fi
	echo "  DEPS    installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ ! -e /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
if [ "$(stat -f -c %t /sys/fs/bpf 2>/dev/null)" != cafe4a11 ] && [ "$(id -u)" = 0 ]; then
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
fi
exit 0
