package answers

import (
	"fmt"
	"strings"
	"testing"
)

const labHash = "$6$LockstepLab2026$ubb91XXX4I9TSdrSucD9mDlNnDpnJLLocY2MsXj6dQlHDVAYLCKWlIh605vMdsTMYYs87fmbEfR6RnISBO/C70"

// labVM is the QEMU lab VM the recipes/answers examples are written for.
func labVM() Hardware {
	return Hardware{
		NICs: []NIC{
			{Name: "eth0", MAC: "52:54:00:00:00:01"},
			{Name: "eth1", MAC: "52:54:00:00:00:02"},
			{Name: "eth2", MAC: "52:54:00:00:00:03"},
			{Name: "eth3", MAC: "52:54:00:00:00:04"},
		},
		Disks: []DiskInfo{
			{ID: "serial:lockstep-sys", Name: "vda", SizeBytes: 32 << 30},
			{ID: "ata-QEMU_DVD-ROM_QM00001", Name: "sr0", SizeBytes: 700 << 20, BootMedium: true},
		},
	}
}

// richHW is labVM with more disks for the storage-group rules.
func richHW() Hardware {
	hw := labVM()
	hw.Disks = append(hw.Disks,
		DiskInfo{ID: "serial:lockstep-data", Name: "vdb", SizeBytes: 100 << 30},
		DiskInfo{ID: "wwn-0x5000c500a1b2c3d4", Aliases: []string{"pci-0000:00:08.0-scsi-0:0:0:0"}, Name: "sdb", SizeBytes: 200 << 30},
		DiskInfo{ID: "virtio-small", Name: "vdd", SizeBytes: 8 << 30},
	)
	return hw
}

// manyNICs is labVM with eight NICs, eth0 to eth7, for the A-Link limit.
func manyNICs() Hardware {
	hw := labVM()
	for i := len(hw.NICs); i < 8; i++ {
		hw.NICs = append(hw.NICs, NIC{Name: fmt.Sprintf("eth%d", i), MAC: fmt.Sprintf("52:54:00:00:00:%02x", i+1)})
	}
	return hw
}

// validCreate is a valid "create" for labVM/richHW.
func validCreate() *Answers {
	return &Answers{
		Action:   Create,
		Lab:      true,
		Hostname: "node0",
		System:   System{Name: "lockstep-lab", IP: "192.0.2.10"},
		Network: Network{
			Priv0: "52:54:00:00:00:01",
			Ibiz0: "52:54:00:00:00:02",
			Node:  Address{IP: "192.0.2.11", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
			DNS:   []string{"192.0.2.1"},
			NTP:   []string{"192.0.2.1"},
		},
		Disk:  Disk{System: "serial:lockstep-sys", ConfirmErase: true},
		Admin: Admin{Password: "correct horse battery"},
	}
}

// validReplace is a valid "replace" for labVM/richHW.
func validReplace() *Answers {
	a := validCreate()
	a.Action = Replace
	a.Hostname = "node1"
	a.System = System{}
	a.Admin = Admin{}
	a.Network.Node.IP = "192.0.2.12"
	return a
}

func mustValid(t *testing.T, a *Answers, hw Hardware) {
	t.Helper()
	if errs := Validate(a, hw); errs != nil {
		t.Fatalf("want valid, got:\n%v", errs)
	}
}

func hasError(errs []FieldError, field, phrase string) bool {
	for _, e := range errs {
		if e.Field == field && strings.Contains(e.Message, phrase) {
			return true
		}
	}
	return false
}
