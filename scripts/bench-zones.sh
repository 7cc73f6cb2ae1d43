#!/usr/bin/env bash
# Figures for issue 2: first apply and no-change plan of 20 zones with ~200 and ~1,000 rules
# on the local test bed, with the Neutron requests each sends. Needs the test bed
# (make devcloud-up); make bench runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export OS_CLIENT_CONFIG_FILE=${OSDEV:-/tmp/hardenctl-devcloud}/clouds.yaml HARDENCTL_INTEGRATION=1
go test ./cmd/hardenctl -run '^$' -bench "${BENCH:-BenchmarkZones}" -benchtime 1x -count "${COUNT:-1}" -timeout 30m
