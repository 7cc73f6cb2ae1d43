# hardenctl: `make demo` and `make test` work on a fresh Debian 12 machine as root.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$(PATH)
export GOFLAGS ?= -mod=mod

# Where the local OpenStack test bed keeps its state (scripts/devcloud).
export OSDEV ?= /tmp/hardenctl-devcloud
# Where the namespace test hosts keep their root, content and state (scripts/testhosts).
export TESTHOSTS ?= /tmp/hardenctl-testhosts

BIN := bin/hardenctl

# `hardenctl version`: stamped here; a plain `go build` falls back to the VCS information Go
# records (vcs.revision, vcs.modified). VERSION: the nearest v* tag (git describe), else "dev".
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED ?= $(shell test -z "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo false || echo true)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.modified=$(MODIFIED)

.PHONY: all build tools deps devcloud-up devcloud-down devcloud-proof testhosts-up testhosts-down platform-up test unit demo bench fuzz fault-soak kill-soak upgrade-soak clean

all: build

deps:
	go mod download

build: deps
	go build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hardenctl

devcloud-up:
	bash scripts/devcloud/up.sh

devcloud-down:
	bash scripts/devcloud/down.sh

# up.sh starts the services in a mount namespace where /etc/nova, /var/lib/nova etc. are empty
# (every start is the proof); this is the stronger one: a second bed, in namespaces of its own,
# on a machine whose /etc and /var/lib hold another OpenStack's files (scripts/devcloud/proof.sh).
devcloud-proof: devcloud-up
	bash scripts/devcloud/proof.sh isolated
	bash scripts/devcloud/proof.sh control

testhosts-up:
	bash scripts/testhosts/prepare.sh

testhosts-down:
	bash scripts/testhosts/down.sh

# The test bed's platform network, package mirror and debian-12-base image (needs both above).
platform-up: devcloud-up testhosts-up
	bash scripts/devcloud/platform.sh

# What the suite runs besides the test bed: systemd-analyze checks the schedule's units.
tools:
	command -v systemd-analyze >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends systemd

# The whole suite, integration included: it brings up what it needs first.
test: build tools devcloud-up testhosts-up platform-up
	go vet ./...
	HARDENCTL_INTEGRATION=1 OS_CLIENT_CONFIG_FILE=$(OSDEV)/clouds.yaml \
	  go test -count=1 -p 1 -timeout 75m ./...

# Unit tests only: no test bed.
unit:
	go test -count=1 ./...

demo: build devcloud-up testhosts-up platform-up
	bash scripts/demo.sh

bench: build devcloud-up
	bash scripts/bench-zones.sh

# The long soaks whose short versions make test runs: every HTTP fault at every API step of
# apply and destroy (~30 min), and N random kill points (KILL_SOAK_POINTS, default 20, ~4 min).
fault-soak: build platform-up
	bash scripts/fault-soak.sh

kill-soak: build platform-up
	bash scripts/kill-soak.sh

# A rolling upgrade of six real servers SIGKILLed at UPGRADE_SOAK_KILLS random points (default
# 20, ~15 min): every rerun converges within the budget (scripts/upgrade-soak.sh).
upgrade-soak: build platform-up
	bash scripts/upgrade-soak.sh

fuzz:
	go test ./config -run '^$$' -fuzz FuzzLoad -fuzztime 3m

clean:
	rm -rf bin
