#!/usr/bin/env bash
# Install-time benchmark (SPEC I7; the seed product documents about 30
# minutes per node): boots the ISO in QEMU under TCG on SeaBIOS and on OVMF,
# installs "Create new system" unattended onto an empty 32 GB virtio disk,
# boots the disk and waits for lockstepd's ready line on the serial console.
# Prints each phase per firmware and the ratio to the seed's 30 minutes.
# The VMs are the ci/boot install test's (TestInstallCreateBootsFromDisk).
set -euo pipefail
cd "$(dirname "$0")/../.."
iso=${1:-$(ls out/lockstep-*.iso | head -1)}
seed_min=${SEED_MINUTES:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/lockstep-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

LOCKSTEP_ISO=$(realpath "$iso") LOCKSTEP_BENCH_OUT=$work/times LOCKSTEP_TEST_LOGS=$work/logs \
  go test ./ci/boot -run '^TestInstallCreateBootsFromDisk$' -count=1 -timeout 40m >"$work/test.log" 2>&1 ||
  { tail -40 "$work/test.log"; echo "bench: the install test failed" >&2; exit 1; }

echo "Install time, ISO boot to agent ready from disk (QEMU TCG, 2 vCPU, 3 GiB; both VMs at once on this host)"
printf '%-9s %12s %12s %14s %10s %14s\n' firmware "to installer" "installed" "disk to ready" total "vs seed ${seed_min}m"
sort "$work/times" | while read -r fw to inst boot; do
  total=$(echo "$inst + $boot" | bc)
  printf '%-9s %11.0fs %11.0fs %13.0fs %9.0fs %13.3fx\n' "$fw" "$to" "$inst" "$boot" "$total" "$(echo "$total / ($seed_min * 60)" | bc -l)"
done
