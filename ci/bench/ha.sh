#!/usr/bin/env bash
# HA benchmark (issue 6, acceptance 4): in the two-node lab, the test guest
# (ci/lab/guest) as an HA VM on a mirrored 64 MiB volume. Measured: its
# write latency (4 KiB + fdatasync) and sequential throughput (16 MiB
# O_DIRECT) mirrored and with the replication link alink0 cut (ratio); the
# resync after the link is back against the link's bandwidth from `lockstep
# node linktest` (ratio; goal >= 0.8); and RUNS (default 5) restarts of the
# VM on the survivor after a power cut of its node: detection, the agent's
# restart to the guest kernel's start (goal <= 15 s), the guest's boot and
# the total, with median and max. Uses a lab that is up, or brings one up
# (and down again) itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
iso=${1:-$(ls out/lockstep-*.iso | head -1)}
runs=${RUNS:-5}
own=
if ! ip netns list | awk '$1 == "lockstep-lab" { found = 1 } END { exit !found }'; then
  go run ./cmd/lockstep-lab up -iso "$iso" >&2
  own=1
fi
[ -n "$own" ] && trap 'go run ./cmd/lockstep-lab down >&2' EXIT
go run ./cmd/lockstep-lab bench-ha -runs "$runs"
