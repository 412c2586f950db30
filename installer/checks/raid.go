package checks

import (
	"fmt"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/probe"
)

// RAID runs SPEC I3's checks: one "disk:<name>" per disk the system could
// be installed on, one "md:<name>" per software RAID array, and
// "system-disk" for the size of the largest candidate.
func RAID(f Facts, o Options) []Result {
	var rs []Result
	for _, d := range candidates(f) {
		if d.Transport == "md" {
			continue // reported with its members below
		}
		rs = append(rs, checkDisk(d))
	}
	for _, a := range f.MD {
		rs = append(rs, checkMD(a))
	}
	return append(rs, checkSystemDisk(f, o))
}

// candidates are the disks the system could go on: not the boot medium, no
// CD drives, removable sticks or read-only devices, and not members of an
// md array (the array itself is a candidate).
func candidates(f Facts) []probe.Disk {
	var out []probe.Disk
	for _, d := range f.Disks {
		if d.CDROM || d.Removable || d.ReadOnly || d.SizeBytes <= 0 || d.Name == f.BootMedium || mdMember(d) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func mdMember(d probe.Disk) bool {
	for _, h := range d.Holders {
		if strings.HasPrefix(h, "md") {
			return true
		}
	}
	return false
}

func largestCandidate(f Facts) (probe.Disk, bool) {
	var best probe.Disk
	found := false
	for _, d := range candidates(f) {
		if !found || d.SizeBytes > best.SizeBytes {
			best, found = d, true
		}
	}
	return best, found
}

// raidControllers are drivers of controllers that can build RAID volumes:
// a raw disk on one of them is a pass-through (JBOD) disk.
var raidControllers = map[string]bool{"megaraid_sas": true, "hpsa": true, "smartpqi": true, "mpt3sas": true, "aacraid": true, "mpi3mr": true}

const raidUtility = "the controller's setup utility (Dell PERC: F2 System Setup → Device Settings or Ctrl-R; HPE: Smart Storage Administrator; Broadcom: Ctrl-R or the UEFI HII menu)"

func describeDisk(d probe.Disk) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", d.Name, probe.HumanSize(d.SizeBytes))
	if m := strings.TrimSpace(d.Vendor + " " + d.Model); m != "" && d.Vendor != "ATA" {
		fmt.Fprintf(&b, " %s", m)
	} else if d.Model != "" {
		fmt.Fprintf(&b, " %s", d.Model)
	}
	ctrl := d.Controller
	if ctrl == "" {
		ctrl = "unknown controller"
	}
	fmt.Fprintf(&b, " on %s", ctrl)
	if d.Transport != "" {
		fmt.Fprintf(&b, " (%s)", d.Transport)
	}
	if d.Logical {
		if d.RAIDLevel != "" {
			fmt.Fprintf(&b, ", RAID %s", d.RAIDLevel)
		} else {
			b.WriteString(", RAID level not reported")
		}
	}
	if d.State != "" {
		fmt.Fprintf(&b, ", state %s", d.State)
	}
	fmt.Fprintf(&b, ", id %s", d.Stable())
	return b.String()
}

func checkDisk(d probe.Disk) Result {
	r := Result{ID: "disk:" + d.Name, Title: "Disk " + d.Name, Detail: describeDisk(d)}
	switch {
	case d.State == "offline" || d.State == "failed":
		r.Status = Warn
		r.Detail = "offline: " + r.Detail
		r.Fix = "Check the disk or volume in " + raidUtility + "; do not install onto it until it is online."
	case d.Logical && d.Degraded:
		r.Status = Warn
		r.Detail = "degraded RAID volume: " + r.Detail
		r.Fix = "Replace the failed drive and let the controller finish the rebuild (see " + raidUtility + ") before installing."
	case d.Logical && nonRedundantLevels[d.RAIDLevel]:
		r.Status = Warn
		r.Detail = "RAID volume without redundancy: " + r.Detail
		r.Fix = "Recreate the volume as RAID 1 (or 10, 5, 6) in " + raidUtility + "."
	case d.Logical && d.RAIDLevel == "":
		r.Detail += fmt.Sprintf("; %s does not tell the OS the level: confirm it is RAID 1, 10, 5 or 6 in the controller's utility", d.Controller)
	case d.Logical:
	case raidControllers[d.Controller]:
		r.Status = Warn
		r.Detail = "non-RAID system disk (pass-through/JBOD on a RAID controller): " + r.Detail
		r.Fix = "Create a RAID 1 (or 10, 5, 6) virtual disk in " + raidUtility + " and install onto it."
	default:
		r.Status = Warn
		r.Detail = "non-RAID system disk: a single drive failure takes this node down (the peer keeps the VMs running): " + r.Detail
		r.Fix = "Put the system on a RAID 1 (or 10, 5, 6) volume: attach the disks to a RAID controller and create a virtual disk in its utility."
	}
	return r
}

func checkMD(a probe.MDArray) Result {
	r := Result{ID: "md:" + a.Name, Title: "Software RAID " + a.Name}
	var members []string
	for _, m := range a.Members {
		slot := "spare"
		if m.Slot >= 0 {
			slot = fmt.Sprintf("slot %d", m.Slot)
		}
		members = append(members, fmt.Sprintf("%s (%s, %s)", m.Name, slot, m.State))
	}
	r.Detail = fmt.Sprintf("%s %s, %d member%s: %s; state %s", a.Level, probe.HumanSize(a.SizeBytes), a.RaidDisks, plural(a.RaidDisks), strings.Join(members, ", "), a.ArrayState)
	level := probe.NormalizeRAIDLevel(a.Level)
	switch {
	case a.ArrayState == "inactive" || a.ArrayState == "broken" || a.ArrayState == "clear":
		r.Status = Warn
		r.Detail = a.Name + " is not running: " + r.Detail
		r.Fix = fmt.Sprintf("Assemble %s from the previous OS or a rescue system (mdadm --assemble), or choose other disks: the installer does not repair arrays.", a.Name)
	case a.Degraded > 0:
		r.Status = Warn
		var missing []string
		for _, s := range a.MissingSlots {
			missing = append(missing, fmt.Sprintf("slot %d", s))
		}
		for _, m := range a.Members {
			if m.Faulty() {
				missing = append(missing, m.Name+" faulty")
			}
		}
		r.Detail = fmt.Sprintf("%s is degraded, %d of %d members missing (%s): %s", a.Name, a.Degraded, a.RaidDisks, strings.Join(missing, ", "), r.Detail)
		if a.SyncAction == "recover" {
			r.Detail += fmt.Sprintf("; rebuilding (%s)", a.SyncCompleted)
		}
		r.Fix = fmt.Sprintf("Replace the failed disk and add it back to %s (mdadm /dev/%s --add /dev/<new partition>) and let it resync, or choose other disks.", a.Name, a.Name)
	case a.SyncAction == "resync" || a.SyncAction == "recover" || a.SyncAction == "reshape":
		r.Status = Warn
		r.Detail = fmt.Sprintf("%s is rebuilding (%s %s): %s", a.Name, a.SyncAction, a.SyncCompleted, r.Detail)
		r.Fix = "Let the rebuild finish before installing."
	case nonRedundantLevels[level]:
		r.Status = Warn
		r.Detail = "no redundancy: " + r.Detail
		r.Fix = "Use RAID 1 (or 10, 5, 6) for the system: " + a.Level + " loses everything with one disk."
	}
	return r
}

func checkSystemDisk(f Facts, o Options) Result {
	r := Result{ID: "system-disk", Title: "System disk size"}
	min := int64(MinSystemDiskBytes)
	if o.Lab {
		min = LabMinSystemDiskBytes
	}
	d, ok := largestCandidate(f)
	if !ok {
		r.Status = Fail
		r.Detail = "no disk to install on (CD drives, USB sticks and the boot medium do not count)"
		r.Fix = fmt.Sprintf("Attach a disk or create a RAID volume of at least %s; if disks are fitted, check that the RAID controller is enabled in the BIOS and a virtual disk exists.", probe.HumanSize(MinSystemDiskBytes))
		return r
	}
	r.Detail = fmt.Sprintf("largest disk %s is %s; the system needs about 50–100 GB", d.Name, probe.HumanSize(d.SizeBytes))
	switch {
	case d.SizeBytes < min:
		r.Status = Fail
		r.Detail += fmt.Sprintf(", at least %s", probe.HumanSize(min))
		r.Fix = fmt.Sprintf("Use a disk or RAID volume of at least %s (%s or more recommended).", probe.HumanSize(MinSystemDiskBytes), probe.HumanSize(WarnSystemDiskBytes))
	case d.SizeBytes < MinSystemDiskBytes:
		r.Status = Warn
		r.Detail += fmt.Sprintf(", under %s: accepted in lab mode", probe.HumanSize(MinSystemDiskBytes))
		r.Fix = fmt.Sprintf("Use a disk or RAID volume of at least %s on a real node.", probe.HumanSize(MinSystemDiskBytes))
	case d.SizeBytes < WarnSystemDiskBytes:
		r.Status = Warn
		r.Detail += fmt.Sprintf(", %s or more recommended", probe.HumanSize(WarnSystemDiskBytes))
		r.Fix = fmt.Sprintf("Use a disk or RAID volume of %s or more: two system slots, state and logs need about 50–100 GB.", probe.HumanSize(WarnSystemDiskBytes))
	}
	return r
}
