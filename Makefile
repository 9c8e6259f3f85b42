# pyhang - see README.md. `make` builds build/pyhang; `make check` runs every test;
# `make demo` shows pyhang on a stuck program; `make deps` installs what is missing.
.DELETE_ON_ERROR:
.SUFFIXES:

BUILD ?= build
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := x86

# SAN=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-san/.
ifeq ($(SAN),1)
BUILD := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# RUN_HIST=1 builds into build-hist/ a sampler that also counts how long each of its runs took
# (PYH_RUN_HIST in bpf/sampler.bpf.c), for tools/bench-pair.py.
ifeq ($(RUN_HIST),1)
BUILD := build-hist
BPF_DEFS := -DPYH_RUN_HIST
endif

Q := @
ifeq ($(V),1)
Q :=
endif

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	-D_GNU_SOURCE -Isrc -Iinclude -I$(BUILD) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
# libbpf is linked statically (Debian's libbpf-dev ships libbpf.a): it is dual-licensed
# LGPL-2.1 OR BSD-2-Clause, and pyhang (MIT) takes it under BSD-2-Clause, so the binary
# carries it; that saves its run-time linking (~230 of 350 relocations) at every start.
# protobuf-c (BSD-2-Clause) is linked statically too: one library fewer to load at each
# start (~50 us of a dump's CPU); zlib stays shared, libelf needs it anyway.
# elfutils (libelf; libdw) is LGPL-3 / GPL-2: it stays a shared library of the system's.
# libdw is not linked at all: src/native/dwlib.c loads it when native stacks are asked for.
# PIE and lazy binding are kept (-z now measured slower at start; PIE keeps ASLR).
LDLIBS := -l:libbpf.a -l:libprotobuf-c.a -lelf -lz -lm
# The sanitizer build links libdw too (dwlib.c's dlopen then finds it loaded): LeakSanitizer
# (gcc 12's) crashes at exit reading the dynamic TLS of a dlopen'd library with TLS, which libdw is.
ifeq ($(SAN),1)
LDLIBS += -ldw
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
COREBTFS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.corebtf.h,$(BPF_SRCS))
.SECONDARY: $(BPF_OBJS)
SHARED_HDRS := $(wildcard include/pyhang/*.h)
BPF_HDRS := $(wildcard bpf/*.h)

# pprof's protobuf messages: C generated from proto/*.proto by protoc-c at build time.
PROTO_SRCS := $(wildcard proto/*.proto)
PROTO_HDRS := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.h,$(PROTO_SRCS))
PROTO_OBJS := $(patsubst proto/%.proto,$(BUILD)/obj/proto/%.pb-c.o,$(PROTO_SRCS))

SRCS := $(shell find src -name '*.c' | sort)
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS)) $(PROTO_OBJS)
LIB_OBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

DEPS_STAMP := build/.deps-ok

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= /etc/systemd/system

.PHONY: all deps demo check unit e2e bench soak fuzz clean san install install-service
all: $(BUILD)/pyhang

# Installs the Debian packages pyhang needs (only those missing) and mounts tracefs.
deps:
	$(Q)tools/deps.sh
$(DEPS_STAMP): tools/deps.sh
	$(Q)tools/deps.sh
	$(Q)mkdir -p $(@D) && touch $@

$(BUILD)/vmlinux.h: | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

# -fdebug-prefix-map: the object's BTF names its sources relative to the tree, so the same
# sources give the same object (and the same pinned program, src/kernel/bpfpin.h) in any
# checkout; with absolute paths two trees of one commit replaced each other's pins.
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h $(SHARED_HDRS) $(BPF_HDRS) | $(DEPS_STAMP)
	@echo "  BPF     $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__BPF__ -Wall -Wextra -Werror \
		-fdebug-prefix-map=$(CURDIR)=. \
		-Wno-unused-parameter -Iinclude -I$(BUILD) $(BPF_DEFS) -c $< -o $@

# The skeleton embeds the object: without DWARF (BTF stays) it is a tenth the size.
# PYH_BPF_OBJ_ID_<name>: the object's identity (64 bits of its SHA-256), which
# names what this build pins (src/kernel/bpfpin.h).
$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o Makefile
	@echo "  SKEL    $@"
	$(Q)llvm-strip -g -o $(BUILD)/bpf/$*.stripped.o $<
	$(Q)$(BPFTOOL) gen skeleton $(BUILD)/bpf/$*.stripped.o name $*_bpf > $@.tmp
	$(Q)printf '#define PYH_BPF_OBJ_ID_%s 0x%sull\n' $* \
		"$$(sha256sum $(BUILD)/bpf/$*.stripped.o | cut -c1-16)" >> $@.tmp
	$(Q)mv $@.tmp $@

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto | $(DEPS_STAMP)
	@echo "  PROTOC  $@"
	$(Q)mkdir -p $(@D)
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/obj/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	@echo "  CC      $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The types each object's CO-RE relocations need, cut out of this kernel's BTF
# (src/kernel/corebtf.c uses them only on this kernel).
$(BUILD)/%.corebtf.h: $(BUILD)/bpf/%.bpf.o tools/gen-corebtf.sh
	@echo "  COREBTF $@"
	$(Q)tools/gen-corebtf.sh $< $* $@

$(BUILD)/obj/%.o: src/%.c $(SKELS) $(COREBTFS) $(PROTO_HDRS) | $(DEPS_STAMP)
	@echo "  CC      $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/pyhang: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(PROTO_HDRS)
	@echo "  TEST    $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) -lcmocka -o $@

unit: $(UNIT_BINS)
	$(Q)tools/run-tests.sh unit $(BUILD)

e2e: $(BUILD)/pyhang
	$(Q)tools/run-tests.sh e2e $(BUILD)

# The whole suite: C units (also built with ASan/UBSan), end-to-end on every interpreter,
# pyhang itself under valgrind and the sanitizers.
check: $(BUILD)/pyhang $(UNIT_BINS)
	$(Q)$(MAKE) --no-print-directory san
	$(Q)tools/run-tests.sh all $(BUILD)

san:
	$(Q)$(MAKE) --no-print-directory SAN=1 build-san/pyhang $(patsubst $(BUILD)/%,build-san/%,$(UNIT_BINS))

demo: $(BUILD)/pyhang
	$(Q)tools/demo.sh $(BUILD)/pyhang

# libFuzzer targets of the decoders that read target data (FUZZ_SECONDS each, default 10).
fuzz: | $(DEPS_STAMP)
	$(Q)tools/fuzz.sh

bench: $(BUILD)/pyhang
	$(Q)tools/bench.sh $(BUILD)/pyhang

# watch --all and record --all through 10 minutes of short-lived processes: RSS and
# descriptors over time, non-zero when either grew (SOAK_SECONDS to change the length).
SOAK_SECONDS ?= 600
soak: $(BUILD)/pyhang
	$(Q)python3 tools/soak.py --pyhang $(BUILD)/pyhang --seconds $(SOAK_SECONDS) --check

# build/pyhang into $(DESTDIR)$(BINDIR); the systemd unit only with install-service.
install: $(BUILD)/pyhang
	install -D -m 0755 $(BUILD)/pyhang $(DESTDIR)$(BINDIR)/pyhang

install-service: install
	sed 's|/usr/local/bin/pyhang|$(BINDIR)/pyhang|' dist/pyhang-watch.service > $(BUILD)/pyhang-watch.service
	install -D -m 0644 $(BUILD)/pyhang-watch.service $(DESTDIR)$(UNITDIR)/pyhang-watch.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "  start it with: systemctl enable --now pyhang-watch"

clean:
	rm -rf build build-san

-include $(OBJS:.o=.d)
