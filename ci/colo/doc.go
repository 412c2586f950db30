// Package colo holds the COLO proof tests (colo_test.go): a tiny guest
// boots unprotected on QEMU 11.1, agent/ft protects it while it runs (disk
// copy included), and it survives a SIGKILL of its primary QEMU
// (FailoverSecondaryOn) or of its secondary (FailoverPrimaryOn) with its
// boot, its disk records and an open TCP connection intact; and it is
// protected again, by new secondaries on either node (TestCOLOReprotect).
// They run as root with LOCKSTEP_COLO_TESTS=1, inside a network namespace
// of their own; under CI=true a missing piece fails them instead of
// skipping.
//
// The FT benchmark (bench_test.go: TestCOLOBench, run by make bench-ft
// with LOCKSTEP_COLO_BENCH=1) uses the same rig: the service gap a client
// sees at a failover and the acknowledged writes kept, checkpoints and
// their pauses at two checkpoint delays, and the guest's CPU throughput
// protected against unprotected.
package colo
