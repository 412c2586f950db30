# Lockstep: two commands set everything up on a fresh Debian machine:
#   make iso    build the installer ISO from recipes/lockstep.yaml
#   make test   run every test (unit tests, then QEMU boot tests of the ISO)

SHELL    := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO       ?= go
RECIPE   ?= recipes/lockstep.yaml
VERSION  := $(shell sed -n 's/^version: *//p' $(RECIPE))
NAME     := $(shell sed -n 's/^name: *//p' $(RECIPE))
ISO      ?= out/$(NAME)-$(VERSION).iso
TESTLOGS ?= out/test-logs

.PHONY: all iso disk test unit boot-test bench bench-iso bench-install bench-failover bench-ha bench-ft deps clean

all: iso

deps:
	@ci/deps.sh

iso: deps
	@$(GO) run ./cmd/lockstep-build iso -recipe $(RECIPE) -o $(ISO)

unit: deps
	$(GO) vet ./...
	$(GO) test ./...

# The boot tests need the ISO; `iso` rebuilds it (downloads are cached in ~/.cache/lockstep).
test: iso
	$(GO) vet ./...
	LOCKSTEP_ISO=$(abspath $(ISO)) LOCKSTEP_TEST_LOGS=$(abspath $(TESTLOGS)) LOCKSTEP_NETWORK_TESTS=1 \
	  $(GO) test -timeout 50m -parallel 2 ./...
	@# QEMU COLO (FT VMs' engine, agent/ft) with a test guest under QEMU 11.1,
	@# alone too: two TCG guests run in lock-step.
	LOCKSTEP_TEST_LOGS=$(abspath $(TESTLOGS)) LOCKSTEP_COLO_TESTS=1 \
	  $(GO) test -timeout 30m -count=1 -run '^TestCOLO' -v ./ci/colo/
	@# The two-node lab's fault tests, alone: its heartbeats must not compete
	@# with the boot tests' VMs for the two CPUs. TestLabFT (an FT VM through
	@# its node's power cut) and TestLabUpFaultsDown each run a lab of their own.
	LOCKSTEP_ISO=$(abspath $(ISO)) LOCKSTEP_TEST_LOGS=$(abspath $(TESTLOGS)) LOCKSTEP_LAB_TESTS=1 \
	  $(GO) test -timeout 80m -count=1 -run '^(TestLabFT|TestLabUpFaultsDown)$$' -v ./ci/lab/

bench: bench-iso bench-install bench-failover bench-ha bench-ft

bench-iso: iso
	ci/bench/iso.sh $(ISO)

bench-install: iso
	ci/bench/install.sh $(ISO)

bench-failover: iso
	ci/bench/failover.sh $(ISO)

bench-ha: iso
	ci/bench/ha.sh $(ISO)

# FT VMs (QEMU COLO, agent/ft) on the COLO tests' rig: failover gap, checkpoints, CPU throughput.
bench-ft: deps
	ci/bench/ft.sh

# The disk image of an installed node, through the install engine (for labs):
#   make disk ANSWERS=recipes/answers/create-node0.yaml
ANSWERS ?= recipes/answers/create-node0.yaml
disk: deps
	@$(GO) run ./cmd/lockstep-build disk -recipe $(RECIPE) -answers $(ANSWERS)

clean:
	rm -rf out

# The two-node lab (ci/lab, cmd/lockstep-lab): node0 and node1 installed from the ISO under QEMU 11.1,
# wired inside network namespace lockstep-lab; reach them with `ip netns exec lockstep-lab ...`.
.PHONY: lab lab-down
lab: iso
	$(GO) run ./cmd/lockstep-lab up -iso $(ISO)

lab-down:
	$(GO) run ./cmd/lockstep-lab down
