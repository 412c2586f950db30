// Package checks turns probed hardware facts into the installer's BIOS, RAID
// and network checks (SPEC I2, I3, I4): each check is a Result with a status
// and, unless it passed, one line telling the operator what to change in the
// BIOS setup or the RAID utility. The checks are pure functions of Facts, so
// the TUI, the unattended installer and the tests all see the same verdicts.
package checks

import (
	"errors"
	"fmt"

	"github.com/lockstep-ft/lockstep/installer/probe"
)

// Status is a check's verdict.
type Status int

const (
	Pass Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Warn:
		return "warn"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText writes the status by name in JSON logs and answer-file reports.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is one check's outcome.
type Result struct {
	ID     string // stable: "virt", "disk:sdb", "md:md0"…
	Title  string
	Status Status
	Detail string // what we saw
	Fix    string // one line: what to change; empty when the check passed
}

// Facts is everything the checks look at.
type Facts struct {
	CPU         probe.CPUInfo
	MemoryBytes int64
	Firmware    probe.FirmwareInfo
	Power       probe.Power
	Disks       []probe.Disk
	MD          []probe.MDArray
	NICs        []probe.NIC
	BootMedium  string // disk the installer medium is on ("sr0", "sdb"); never a system disk
}

// Options changes how strict the checks are.
type Options struct {
	// Lab (lockstep.lab=1 or the answer file) is for QEMU test labs without
	// KVM: missing VT-x/AMD-V becomes a warning and the node is installed
	// in lab mode; memory and vCPUs under the minimum warn down to a floor.
	Lab bool
}

// Gather runs the probes. It returns what it could read together with the
// errors of the probes that failed, so one unreadable area does not hide
// the others.
func Gather(procRoot, sysRoot string) (Facts, error) {
	var f Facts
	var errs []error
	var err error
	if f.CPU, err = probe.CPU(procRoot, sysRoot); err != nil {
		errs = append(errs, err)
	}
	if f.MemoryBytes, err = probe.Memory(procRoot); err != nil {
		errs = append(errs, err)
	}
	f.Firmware = probe.Firmware(sysRoot)
	f.Power = probe.PowerProfile(sysRoot)
	if f.Disks, err = probe.Disks(sysRoot); err != nil {
		errs = append(errs, err)
	}
	if f.MD, err = probe.MD(sysRoot); err != nil {
		errs = append(errs, err)
	}
	if f.NICs, err = probe.NICs(sysRoot); err != nil {
		errs = append(errs, err)
	}
	f.BootMedium = probe.BootMedium(procRoot)
	return f, errors.Join(errs...)
}

// All runs the BIOS, RAID and network checks in display order.
func All(f Facts, o Options) []Result {
	rs := BIOS(f, o)
	rs = append(rs, RAID(f, o)...)
	return append(rs, Network(f)...)
}

// Blocking reports whether any result failed: the install cannot go on.
func Blocking(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Warnings returns the results that warned.
func Warnings(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Status == Warn {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the result with id.
func Find(rs []Result, id string) (Result, bool) {
	for _, r := range rs {
		if r.ID == id {
			return r, true
		}
	}
	return Result{}, false
}
