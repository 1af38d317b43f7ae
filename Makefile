# Tether build: system packages, BPF objects and skeletons, then the Swift package.
#   make deps      install the Debian packages the build and tests need
#   make run       build and run tetherd on the default policy (root)
#   make test      build and run every test tier (root: kernel tests load real BPF)
#   make bench     benchmarks (see BENCHMARKS.md)
.DELETE_ON_ERROR:
.SECONDARY:
SHELL := /bin/bash
.PHONY: all deps build bpf run test test-unit test-kernel bench install uninstall clean mounts

BPF_CLANG ?= clang-14
BPFTOOL ?= bpftool
SWIFT ?= swift
SWIFT_FLAGS ?= -c release
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
ABI_INC := Sources/CTetherProbe/include
GEN := Sources/CTetherProbe/generated
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I bpf -I $(ABI_INC) -Wall -Wno-unused-function
PREFIX ?= /usr/local
Q := $(if $(V),,@)

DEB_PACKAGES := clang-14 llvm libbpf-dev libelf-dev zlib1g-dev bpftool pkg-config make gcc libc6-dev
STAMP := build/.deps-installed

all: build

# Installs only what is missing, so repeated runs cost nothing.
deps: $(STAMP)
$(STAMP):
	$(Q)missing=""; for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || { echo "deps: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi
	$(Q)mkdir -p build && touch $@

# vmlinux.h from the running kernel's BTF (CO-RE makes the objects portable).
bpf/vmlinux.h: | $(STAMP)
	$(Q)test -r /sys/kernel/btf/vmlinux || { echo "error: /sys/kernel/btf/vmlinux missing: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

build/%.bpf.o: bpf/%.bpf.c bpf/vmlinux.h $(ABI_INC)/tether_abi.h | $(STAMP)
	$(Q)mkdir -p build
	$(if $(V),,@echo "  BPF   $<")
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(GEN)/%.skel.h: build/%.bpf.o
	$(Q)mkdir -p $(GEN)
	$(if $(V),,@echo "  SKEL  $@")
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

bpf: $(GEN)/tether.skel.h $(GEN)/floor.skel.h

build/tether-testops: Tests/Helpers/testops.c | $(STAMP)
	$(Q)mkdir -p build
	$(Q)$(CC) -O2 -Wall -o $@ $<

build: bpf build/tether-testops
	$(Q)$(SWIFT) build $(SWIFT_FLAGS)

mounts:
	$(Q)mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
	$(Q)mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

run: build mounts
	$(Q)$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/tetherd --policy systemd/policy.yaml

test-unit: bpf build/tether-testops
	$(Q)$(SWIFT) build --build-tests
	$(Q)$(SWIFT) test --skip-build --disable-swift-testing --skip KernelTests

test-kernel: bpf build/tether-testops mounts
	$(Q)$(SWIFT) build --build-tests
	$(Q)TETHER_TESTOPS=$(CURDIR)/build/tether-testops $(SWIFT) test --skip-build --disable-swift-testing --filter KernelTests

# Every tier; ends with one "N passed, N failed" line (XCTest's own count).
test: bpf build/tether-testops mounts
	$(Q)$(SWIFT) build --build-tests
	$(Q)set -o pipefail; TETHER_TESTOPS=$(CURDIR)/build/tether-testops $(SWIFT) test --skip-build --disable-swift-testing 2>&1 | tee build/test.log; \
	rc=$$?; summary=$$(grep -E "^[[:space:]]+Executed [0-9]+ tests?, with [0-9]+ failures?" build/test.log | tail -1); \
	total=$$(echo "$$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/'); failed=$$(echo "$$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/'); \
	if [ -z "$$summary" ]; then echo "test: no XCTest summary found" >&2; exit 1; fi; \
	echo "$$((total - failed)) passed, $$failed failed"; exit $$rc

clean:
	rm -rf build $(GEN) bpf/vmlinux.h .build

# ==== benchmarks (owned by the benchmark harness; see BENCHMARKS.md) ====================
#   make bench-deps    install the peers (auditd, bpftrace) and the workloads' tools
#   make bench         full run (~15-25 min, root): every configuration, throughput, memory;
#                      prints the tables and rewrites the results block of BENCHMARKS.md
#   make bench-smoke   tiny counts, Tether configurations only (< 60 s); non-zero if the
#                      harness is broken (e.g. the tracked configuration recorded nothing)
.PHONY: bench bench-smoke bench-deps bench-build
BENCH_OUT := build/bench
BENCH_DEB := auditd bpftrace git gcc make passwd util-linux
BENCH_SWIFT_FLAGS ?= $(SWIFT_FLAGS)
BENCH_ARGS ?=

bench-deps: $(STAMP)
	$(Q)missing=""; for p in $(BENCH_DEB); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "bench-deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || { echo "bench-deps: apt-get install failed for:$$missing" >&2; exit 1; }; \
	  case "$$missing" in *auditd*) if pidof auditd >/dev/null; then \
	    echo "bench-deps: stopping the auditd the package started (the benchmark runs its own)"; \
	    service auditd stop >/dev/null 2>&1 || kill $$(pidof auditd) || true; fi;; esac; \
	fi

$(BENCH_OUT)/tether-workload: bench/workload.c | $(STAMP)
	$(Q)mkdir -p $(BENCH_OUT)
	$(Q)$(CC) -O2 -Wall -o $@ $<

$(BENCH_OUT)/tether-cconsumer: bench/cconsumer.c Sources/CTetherProbe/probe.c $(GEN)/tether.skel.h $(GEN)/floor.skel.h $(ABI_INC)/tether_probe.h | $(STAMP)
	$(Q)mkdir -p $(BENCH_OUT)
	$(Q)$(CC) -O2 -Wall -I $(ABI_INC) -I Sources/CTetherProbe -o $@ bench/cconsumer.c Sources/CTetherProbe/probe.c -lbpf -lelf -lz

bench-build: bpf $(BENCH_OUT)/tether-workload $(BENCH_OUT)/tether-cconsumer
	$(Q)$(SWIFT) build $(BENCH_SWIFT_FLAGS) --product tether-bench

bench: bench-build mounts
	$(Q)$$($(SWIFT) build $(BENCH_SWIFT_FLAGS) --show-bin-path)/tether-bench run --update-doc BENCHMARKS.md $(BENCH_ARGS)

bench-smoke: bench-build mounts
	$(Q)$$($(SWIFT) build $(BENCH_SWIFT_FLAGS) --show-bin-path)/tether-bench run --smoke $(BENCH_ARGS)
# ==== end of benchmarks ==================================================================
