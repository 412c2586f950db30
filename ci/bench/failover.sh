#!/usr/bin/env bash
# Failover benchmark (SPEC A2, A3; issue 5): in the two-node lab, cut the
# primary's power 10 times and measure, from the power cut, the survivor's
# peer-loss detection (its console line) and the system IP answering from
# the survivor (a TLS handshake on 192.0.2.10:8443 presenting the
# survivor's node certificate), with median and max. The peer, measured in
# the same run: Corosync 3 with its default timeouts (ci/bench/corosync.sh).
# Uses a lab that is up, or brings one up (and down again) itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
iso=${1:-$(ls out/lockstep-*.iso | head -1)}
runs=${RUNS:-10}
peer=$(RUNS=$runs ci/bench/corosync.sh | tail -1)
read -r _ cmed cmax <<<"$peer"
cver=$(dpkg-query -W -f '${Version}' corosync | sed 's/-.*//')
own=
if ! ip netns list | awk '$1 == "lockstep-lab" { found = 1 } END { exit !found }'; then
  go run ./cmd/lockstep-lab up -iso "$iso" >&2
  own=1
fi
[ -n "$own" ] && trap 'go run ./cmd/lockstep-lab down >&2' EXIT
go run ./cmd/lockstep-lab bench-failover -runs "$runs" -peer "corosync $cver" -peer-times "$cmed,$cmax"
