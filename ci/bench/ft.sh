#!/usr/bin/env bash
# FT benchmark (the FT VMs' COLO engine, agent/ft): TestCOLOBench in
# ci/colo, on the COLO tests' rig (QEMU 11.1 under TCG from
# internal/qemuroot, the test guest ci/lab/guest booted simplex, then
# protected). Measured, with the table printed at the end:
#   1. the service gap a client (one echo round trip every 20 ms, on a
#      connection opened before the kill) sees when the primary QEMU is
#      SIGKILLed and the survivor fails over (ft.FailoverSecondaryOn),
#      median and max of 5 fresh pairs (goal <= 1 s under TCG), and that
#      no acknowledged write is lost (the guest's records on the survivor,
#      and a plain QEMU booted on its disk afterwards);
#   2. checkpoints per minute and their pauses at checkpoint delays 1 s and
#      5 s (the primary's STOP/RESUME events);
#   3. the guest's CPU throughput under FT against the same guest
#      unprotected (the peer of the ratio).
# Needs root (network namespaces, taps); about 7 minutes on two cores.
# The output goes to out/bench-ft.log as well, the QEMU and console logs to
# out/bench-ft-logs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
mkdir -p out
export LOCKSTEP_COLO_BENCH=1
if [ -z "${LOCKSTEP_TEST_LOGS:-}" ]; then
  export LOCKSTEP_TEST_LOGS=$PWD/out/bench-ft-logs
  rm -rf "$LOCKSTEP_TEST_LOGS" # this run's only
fi
${GO:-go} test -timeout 60m -count=1 -run '^TestCOLOBench$' -v ./ci/colo/ 2>&1 | tee out/bench-ft.log
