# Tether build: system packages, BPF objects and skeletons, then the Swift package.
#   make deps      install the Debian packages the build and tests need
#   make agent-deps  the agent tests' framework (mini-swe-agent, from PyPI, in build/agents/venv)
#   make run       build and run tetherd on the default policy (root)
#   make test      build and run every test tier (root: kernel tests load real BPF;
#                  system tests boot a real systemd in a container and run a real rsyslogd)
#   make install   install tetherd, tether, the systemd unit and the default policy
#   make deb       the Debian package build/tether_VERSION_ARCH.deb (lintian-checked)
#   make bench     benchmarks (see BENCHMARKS.md)
.DELETE_ON_ERROR:
.SECONDARY:
SHELL := /bin/bash
.PHONY: all deps deps-system deps-deb agent-deps build bpf run test test-unit test-kernel test-system bench install install-files uninstall clean mounts deb deb-package

BPF_CLANG ?= clang-14
BPFTOOL ?= bpftool
SWIFT ?= swift
# Release binaries carry the Swift runtime, so an installed tetherd needs no toolchain.
SWIFT_FLAGS ?= -c release --static-swift-stdlib
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
ABI_INC := Sources/CTetherProbe/include
GEN := Sources/CTetherProbe/generated
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I bpf -I $(ABI_INC) -Wall -Wno-unused-function
PREFIX ?= /usr/local
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
Q := $(if $(V),,@)

DEB_PACKAGES := clang-14 llvm libbpf-dev libelf-dev zlib1g-dev libssl-dev bpftool pkg-config make gcc libc6-dev git python3-venv
STAMP := build/.deps-installed
# The system tier: a real systemd (systemd-nspawn of a debootstrapped tree), a real rsyslogd;
# and a real browser (headless chromium) that renders `tether report --html`.
# rsyslog-gnutls: the TLS receiver (RFC 5425) the TLS syslog test talks to, with
# certificates the test makes with openssl. tmux: the evasion tier's deputy, a server
# running before the session that a member hands work to.
SYSTEM_PACKAGES := systemd-container debootstrap rsyslog rsyslog-gnutls openssl zstd util-linux chromium tmux
# named by the list, so adding a package installs it
SYSTEM_STAMP := build/.deps-system-$(shell echo $(SYSTEM_PACKAGES) | md5sum | cut -c1-8)
# Cached container tree (zstd tarball; unpacks in under a second). Needs the libraries tetherd links.
ROOTFS_INCLUDE := systemd,systemd-sysv,dbus,procps,libbpf1,libelf1,zlib1g,libssl3
# named by its package list, so changing the list builds a fresh tree
ROOTFS := build/system/bookworm-$(shell echo $(ROOTFS_INCLUDE) | md5sum | cut -c1-8).tar.zst

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

deps-system: $(SYSTEM_STAMP)
$(SYSTEM_STAMP):
	$(Q)missing=""; for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps-system: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || { echo "deps-system: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi
	$(Q)mkdir -p build && touch $@

# The mirror is the host's own (deb822 sources first, then sources.list). What an interrupted
# debootstrap left mounted in the tree (its /proc) is unmounted before the tree is removed.
$(ROOTFS): | $(SYSTEM_STAMP)
	$(Q)mkdir -p build/system
	$(Q)mirror=$$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1); \
	[ -n "$$mirror" ] || mirror=$$(awk '$$1=="deb" && $$2 !~ /security/ {print $$2; exit}' /etc/apt/sources.list 2>/dev/null); \
	[ -n "$$mirror" ] || { echo "rootfs: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2; exit 1; }; \
	echo "  ROOTFS debootstrap bookworm from $$mirror (about a minute, once)"; \
	awk -v t="$(CURDIR)/build/system/rootfs.tmp" 'index($$2, t) == 1 {print $$2}' /proc/mounts | sort -r | xargs -r -n1 umount -l; \
	rm -rf build/system/rootfs.tmp; \
	debootstrap --variant=minbase --include=$(ROOTFS_INCLUDE) bookworm build/system/rootfs.tmp "$$mirror" > build/system/debootstrap.log 2>&1 \
	  || { echo "rootfs: debootstrap failed; see build/system/debootstrap.log" >&2; tail -5 build/system/debootstrap.log >&2; exit 1; }; \
	tar -C build/system/rootfs.tmp --zstd -cf $@.tmp . && mv $@.tmp $@ && rm -rf build/system/rootfs.tmp

# vmlinux.h from the running kernel's BTF (CO-RE makes the objects portable).
bpf/vmlinux.h: | $(STAMP)
	$(Q)test -r /sys/kernel/btf/vmlinux || { echo "error: /sys/kernel/btf/vmlinux missing: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

# every object includes the concern headers of bpf/ (one object, one program array)
BPF_HEADERS := $(filter-out bpf/vmlinux.h,$(wildcard bpf/*.h))
build/%.bpf.o: bpf/%.bpf.c $(BPF_HEADERS) bpf/vmlinux.h $(ABI_INC)/tether_abi.h $(ABI_INC)/tether_events.def $(ABI_INC)/tether_entered.def | $(STAMP)
	$(Q)mkdir -p build
	$(if $(V),,@echo "  BPF   $<")
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(GEN)/%.skel.h: build/%.bpf.o
	$(Q)mkdir -p $(GEN)
	$(if $(V),,@echo "  SKEL  $@")
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

# The Swift side of the event schema (tether_events.def), generated like the skeletons.
SCHEMA_SWIFT := Sources/TetherCore/Generated/EventSchema.swift
build/tether-schemagen: tools/schemagen.c $(ABI_INC)/tether_events.def $(ABI_INC)/tether_syscalls.h | $(STAMP)
	$(Q)mkdir -p build
	$(Q)$(CC) -O1 -Wall -I $(ABI_INC) -o $@ $<
$(SCHEMA_SWIFT): build/tether-schemagen
	$(Q)mkdir -p $(dir $@)
	$(if $(V),,@echo "  GEN   $@")
	$(Q)$< > $@.tmp && mv $@.tmp $@

bpf: $(GEN)/tether.skel.h $(GEN)/floor.skel.h $(SCHEMA_SWIFT)

# The tests' Python: mini-swe-agent (the agent framework the agent tests drive) and
# ocsf-pydantic (the OCSF validator; it imports pydantic-extra-types and email-validator
# without declaring them), from PyPI, in a venv of its own on Debian's python3
# (python3-venv is in DEB_PACKAGES). Named by the pins, so a new pin reinstalls.
AGENT_PIP := mini-swe-agent==2.4.6 ocsf-pydantic==0.0.6 pydantic-extra-types==2.11.1 email-validator==2.4.0
AGENT_PYTHON ?= /usr/bin/python3
AGENT_VENV := build/agents/venv
AGENT_STAMP := build/agents/.installed-$(shell echo $(AGENT_PIP) | md5sum | cut -c1-8)
agent-deps: $(AGENT_STAMP)
$(AGENT_STAMP): | $(STAMP)
	$(Q)mkdir -p build/agents
	$(if $(V),,@echo "  VENV  $(AGENT_VENV): $(AGENT_PIP) from PyPI")
	$(Q)rm -rf $(AGENT_VENV) build/agents/.installed-*; \
	$(AGENT_PYTHON) -m venv $(AGENT_VENV) && $(AGENT_VENV)/bin/pip install --disable-pip-version-check -q $(AGENT_PIP) > build/agents/pip.log 2>&1 \
	  || { echo "agent-deps: installing $(AGENT_PIP) from PyPI failed; see build/agents/pip.log" >&2; tail -5 build/agents/pip.log >&2; exit 1; }
	$(Q)touch $@

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
	$(Q)$(SWIFT) test --skip-build --disable-swift-testing --skip KernelTests --skip SystemTests

test-kernel: bpf build/tether-testops mounts deps-system $(AGENT_STAMP)
	$(Q)$(SWIFT) build --build-tests
	$(Q)TETHER_TESTOPS=$(CURDIR)/build/tether-testops TETHER_AGENT_PYTHON=$(CURDIR)/$(AGENT_VENV)/bin/python $(SWIFT) test --skip-build --disable-swift-testing --filter KernelTests

# The system tier installs the release binaries `make install` would (Swift runtime linked in).
SYSTEM_ENV = TETHER_TESTOPS=$(CURDIR)/build/tether-testops TETHER_AGENT_PYTHON=$(CURDIR)/$(AGENT_VENV)/bin/python TETHER_ROOTFS=$(CURDIR)/$(ROOTFS) \
	TETHER_INSTALL_BIN=$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path) TETHER_DEB=$(CURDIR)/$(DEB)

test-system: build mounts deps-system $(ROOTFS) deb
	$(Q)$(SWIFT) build --build-tests
	$(Q)$(SYSTEM_ENV) $(SWIFT) test --skip-build --disable-swift-testing --filter SystemTests

# Every tier; ends with one "N passed, N failed" line (XCTest's own count).
test: build mounts deps-system $(ROOTFS) $(AGENT_STAMP) deb
	$(Q)$(SWIFT) build --build-tests
	$(Q)set -o pipefail; $(SYSTEM_ENV) $(SWIFT) test --skip-build --disable-swift-testing 2>&1 | tee build/test.log; \
	rc=$$?; summary=$$(grep -E "^[[:space:]]+Executed [0-9]+ tests?, with [0-9]+ failures?" build/test.log | tail -1); \
	total=$$(echo "$$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/'); failed=$$(echo "$$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/'); \
	if [ -z "$$summary" ]; then echo "test: no XCTest summary found" >&2; exit 1; fi; \
	echo "$$((total - failed)) passed, $$failed failed"; exit $$rc

# `make install`: release binaries, the unit, the default policy and options (an existing
# policy or options file is kept). DESTDIR stages into a tree; BIN picks other binaries.
install: build
	$(Q)$(MAKE) --no-print-directory install-files BIN="$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)"
	$(Q)if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	$(Q)echo "installed; start with: systemctl enable --now tetherd"

install-files:
	$(Q)test -n "$(BIN)" && test -x "$(BIN)/tetherd" && test -x "$(BIN)/tether" || { echo "install: no tetherd/tether in BIN=$(BIN)" >&2; exit 1; }
	$(Q)install -D -m 0755 "$(BIN)/tetherd" "$(DESTDIR)$(PREFIX)/bin/tetherd"
	$(Q)install -D -m 0755 "$(BIN)/tether" "$(DESTDIR)$(PREFIX)/bin/tether"
	$(Q)install -d -m 0755 "$(DESTDIR)$(UNITDIR)"
	$(Q)sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/share/|$(PREFIX)/share/|g' -e 's|/etc/|$(SYSCONFDIR)/|g' \
	  systemd/tetherd.service > "$(DESTDIR)$(UNITDIR)/tetherd.service" && chmod 0644 "$(DESTDIR)$(UNITDIR)/tetherd.service"
	$(Q)install -d -m 0755 "$(DESTDIR)$(SYSCONFDIR)/tether" "$(DESTDIR)$(SYSCONFDIR)/default"
	$(Q)test -e "$(DESTDIR)$(SYSCONFDIR)/tether/policy.yaml" || install -m 0644 systemd/policy.yaml "$(DESTDIR)$(SYSCONFDIR)/tether/policy.yaml"
	$(Q)test -e "$(DESTDIR)$(SYSCONFDIR)/default/tetherd" || install -m 0644 systemd/tetherd.default "$(DESTDIR)$(SYSCONFDIR)/default/tetherd"
	$(Q)install -D -m 0644 README.md "$(DESTDIR)$(PREFIX)/share/doc/tether/README.md"

# Keeps the policy and options in $(SYSCONFDIR) (remove them by hand); drops the pinned map.
uninstall:
	$(Q)if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now tetherd 2>/dev/null || true; fi
	$(Q)rm -f "$(DESTDIR)$(PREFIX)/bin/tetherd" "$(DESTDIR)$(PREFIX)/bin/tether" "$(DESTDIR)$(UNITDIR)/tetherd.service"
	$(Q)rm -rf "$(DESTDIR)$(PREFIX)/share/doc/tether"
	$(Q)if [ -z "$(DESTDIR)" ]; then rm -rf /sys/fs/bpf/tether; [ -d /run/systemd/system ] && systemctl daemon-reload || true; fi
	$(Q)echo "uninstalled; kept $(SYSCONFDIR)/tether/policy.yaml and $(SYSCONFDIR)/default/tetherd"

# ==== the Debian package ==================================================================
# `make deb`: the release binaries (stripped), the unit in /lib/systemd/system, the default
# policy and /etc/default/tetherd as conffiles, man pages from --help (help2man), the
# maintainer scripts of debian/. Depends comes from the binaries' libraries
# (dpkg-shlibdeps), the control file from debian/control (dpkg-gencontrol). lintian must
# report no error or warning beyond the explained overrides in debian/lintian-overrides.
# DEB_VERSION overrides debian/changelog's (the system tier builds a "rebuilt" package).
DEB_TOOLS := dpkg-dev lintian help2man binutils
DEB_STAMP := build/.deps-deb-$(shell echo $(DEB_TOOLS) | md5sum | cut -c1-8)
DEB_VERSION ?= ${shell sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog}
DEB_ARCH := $(shell dpkg --print-architecture)
DEB := build/tether_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_WORK := build/deb-$(DEB_VERSION)
DEB_ROOT := $(DEB_WORK)/root
# xz at level 1: within 15% of level 6's size in a sixth of the time; a release may set -z9
DEB_COMPRESS ?= -Zxz -z1

deps-deb: $(DEB_STAMP)
$(DEB_STAMP): | $(STAMP)
	$(Q)missing=""; for p in $(DEB_TOOLS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps-deb: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || { echo "deps-deb: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi
	$(Q)mkdir -p build && touch $@

deb: build $(DEB_STAMP)
	$(Q)$(MAKE) --no-print-directory deb-package DEB_BIN="$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)"

# Packages the binaries in DEB_BIN as they are (no swift build: the system tier calls it
# while `swift test` holds the build directory's lock).
deb-package: $(DEB_STAMP)
	$(Q)test -n "$(DEB_VERSION)" || { echo "deb: no version: debian/changelog unreadable and DEB_VERSION unset" >&2; exit 1; }
	$(Q)test -n "$(DEB_BIN)" && test -x "$(DEB_BIN)/tetherd" && test -x "$(DEB_BIN)/tether" || { echo "deb: no tetherd/tether in DEB_BIN=$(DEB_BIN)" >&2; exit 1; }
	$(if $(V),,@echo "  DEB   $(DEB)")
	$(Q)rm -rf $(DEB_WORK) && mkdir -p $(DEB_ROOT)/DEBIAN
	$(Q)$(MAKE) --no-print-directory install-files DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr UNITDIR=/lib/systemd/system SYSCONFDIR=/etc BIN="$(DEB_BIN)"
	$(Q)strip --strip-unneeded --remove-section=.comment --remove-section=.note $(DEB_ROOT)/usr/bin/tetherd $(DEB_ROOT)/usr/bin/tether
	$(Q)install -d $(DEB_ROOT)/usr/share/man/man1 $(DEB_ROOT)/usr/share/man/man8 $(DEB_ROOT)/usr/share/lintian/overrides
	$(Q)help2man -N --no-discard-stderr -s 8 --version-string=$(DEB_VERSION) -n "follow every process of every watched AI agent and report what it does" \
	  $(DEB_ROOT)/usr/bin/tetherd | gzip -9n > $(DEB_ROOT)/usr/share/man/man8/tetherd.8.gz
	$(Q)help2man -N --no-discard-stderr -s 1 --version-string=$(DEB_VERSION) -n "run and watch AI agents under Tether" \
	  $(DEB_ROOT)/usr/bin/tether | gzip -9n > $(DEB_ROOT)/usr/share/man/man1/tether.1.gz
	$(Q)gzip -9n < debian/changelog > $(DEB_ROOT)/usr/share/doc/tether/changelog.gz
	$(Q)install -m 0644 debian/copyright $(DEB_ROOT)/usr/share/doc/tether/copyright
	$(Q)install -m 0644 debian/lintian-overrides $(DEB_ROOT)/usr/share/lintian/overrides/tether
	$(Q)install -m 0755 debian/postinst debian/prerm debian/postrm $(DEB_ROOT)/DEBIAN/
	$(Q)install -m 0644 debian/conffiles $(DEB_ROOT)/DEBIAN/conffiles
	$(Q)cd $(DEB_ROOT) && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums
	$(Q)dpkg-shlibdeps -T$(DEB_WORK)/substvars -e$(DEB_ROOT)/usr/bin/tetherd -e$(DEB_ROOT)/usr/bin/tether
	$(Q)dpkg-gencontrol -ptether -v$(DEB_VERSION) -T$(DEB_WORK)/substvars -f$(DEB_WORK)/files -P$(DEB_ROOT)
	$(Q)dpkg-deb --root-owner-group $(DEB_COMPRESS) --build $(DEB_ROOT) $(DEB).tmp >/dev/null && mv $(DEB).tmp $(DEB)
	$(Q)lintian --fail-on error,warning --color never $(DEB) > $(DEB_WORK)/lintian.log 2>&1 \
	  || { echo "deb: lintian found errors or warnings in $(DEB):" >&2; cat $(DEB_WORK)/lintian.log >&2; exit 1; }
	$(Q)echo "  built $(DEB) ($$(du -h $(DEB) | cut -f1)); lintian: no error or warning beyond debian/lintian-overrides"

clean:
	rm -rf build $(GEN) $(dir $(SCHEMA_SWIFT)) bpf/vmlinux.h .build

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
