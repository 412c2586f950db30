package probe

import (
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func diskByName(t *testing.T, disks []Disk, name string) Disk {
	t.Helper()
	for _, d := range disks {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no disk %s in %+v", name, disks)
	return Disk{}
}

// A machine with one of every attachment the installer meets.
func mixedTree(t *testing.T) *probetest.Tree {
	tr := probetest.New(t)
	tr.VirtioDisk("0000:00:04.0", 1, probetest.Disk{Name: "vda", SizeBytes: 64 << 30, Serial: "lab-node0-sys"})
	tr.VirtioDisk("0000:00:05.0", 2, probetest.Disk{Name: "vdb", SizeBytes: 64 << 30})
	tr.AHCIDisk("0000:00:1f.2", 1, 1, 0, probetest.Disk{Name: "sda", SizeBytes: 480 << 30, Vendor: "ATA", Model: "INTEL SSDSC2KB48", Serial: "PHYS7412001A480BGN", WWID: "naa.55cd2e414db5c7a1"})
	tr.AHCIDisk("0000:00:1f.2", 3, 3, 2, probetest.Disk{Name: "sr0", SizeBytes: 700 << 20, Vendor: "HL-DT-ST", Model: "DVD+-RW GU90N", Removable: true})
	// Second AHCI controller: ata7 is port 1 on it.
	tr.AHCIDisk("0000:00:11.4", 7, 1, 6, probetest.Disk{Name: "sdd", SizeBytes: 2000 << 30, Vendor: "ATA", Model: "ST2000NM0055", Rotational: true, WWID: "t10.ATA     ST2000NM0055-1V4104                      ZBS0ABCD"})
	tr.NVMeDisk("0000:00:1d.0/0000:3d:00.0", 0, 1, probetest.Disk{Name: "nvme0n1", SizeBytes: 960 << 30, Model: "Dell Ent NVMe AGN MU U.2 960GB", Serial: "S4YPNE0N123456", WWID: "eui.36344730524004300025384500000001"})
	tr.SCSIDisk("0000:00:02.0/0000:03:00.0", "megaraid_sas", 7, 2, 0, 0, probetest.Disk{Name: "sdb", SizeBytes: 558 << 30, Vendor: "DELL", Model: "PERC H730P Mini", WWID: "naa.6d0946606e1a2b002a1b3c4d5e6f7081", Rotational: true})
	tr.SCSIDisk("0000:00:02.0/0000:03:00.0", "megaraid_sas", 7, 0, 4, 0, probetest.Disk{Name: "sde", SizeBytes: 1800 << 30, Vendor: "SEAGATE", Model: "ST1800MM0129", WWID: "naa.5000c500a1b2c3d4", Rotational: true})
	tr.USBDisk("0000:00:14.0", "1", 9, probetest.Disk{Name: "sdc", SizeBytes: 16 << 30, Vendor: "SanDisk", Model: "Ultra Fit", Serial: "4C530001230101117215", Removable: true})
	tr.Loopback()
	tr.SysFile("devices/virtual/block/loop0/size", "0")
	tr.SysLink("block/loop0", "devices/virtual/block/loop0")
	return tr
}

func TestDisksStableIdentity(t *testing.T) {
	tr := mixedTree(t)
	disks, err := Disks(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range disks {
		names = append(names, d.Name)
	}
	if want := []string{"nvme0n1", "sda", "sdb", "sdc", "sdd", "sde", "sr0", "vda", "vdb"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("disks %v, want %v", names, want)
	}
	for _, tc := range []struct {
		name, byPath, transport, controller, stable string
	}{
		{"vda", "pci-0000:00:04.0", "virtio", "virtio_blk", "serial:lab-node0-sys"},
		{"vdb", "pci-0000:00:05.0", "virtio", "virtio_blk", "path:pci-0000:00:05.0"},
		{"sda", "pci-0000:00:1f.2-ata-1", "sata", "ahci", "wwn:naa.55cd2e414db5c7a1"},
		{"sr0", "pci-0000:00:1f.2-ata-3", "sata", "ahci", "path:pci-0000:00:1f.2-ata-3"},
		{"sdd", "pci-0000:00:11.4-ata-1", "sata", "ahci", "wwn:t10.ATA ST2000NM0055-1V4104 ZBS0ABCD"},
		{"nvme0n1", "pci-0000:3d:00.0-nvme-1", "nvme", "nvme", "wwn:eui.36344730524004300025384500000001"},
		// The megaraid host is host7 but the first on its HBA: by-path counts from 0.
		{"sdb", "pci-0000:03:00.0-scsi-0:2:0:0", "scsi", "megaraid_sas", "wwn:naa.6d0946606e1a2b002a1b3c4d5e6f7081"},
		{"sde", "pci-0000:03:00.0-scsi-0:0:4:0", "scsi", "megaraid_sas", "wwn:naa.5000c500a1b2c3d4"},
		{"sdc", "pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0", "usb", "usb-storage", "serial:4C530001230101117215"},
	} {
		d := diskByName(t, disks, tc.name)
		if d.ByPath != tc.byPath || d.Transport != tc.transport || d.Controller != tc.controller || d.Driver != tc.controller || d.Stable() != tc.stable {
			t.Errorf("%s: by-path %q transport %q controller %q stable %q; want %q %q %q %q",
				tc.name, d.ByPath, d.Transport, d.Controller, d.Stable(), tc.byPath, tc.transport, tc.controller, tc.stable)
		}
	}

	sda := diskByName(t, disks, "sda")
	if sda.Serial != "PHYS7412001A480BGN" || sda.Vendor != "ATA" || sda.Model != "INTEL SSDSC2KB48" || sda.Rotational || sda.SizeBytes != 480<<30 || sda.Logical {
		t.Errorf("sda = %+v", sda)
	}
	if sr := diskByName(t, disks, "sr0"); !sr.CDROM || !sr.Removable || sr.Controller != "ahci" {
		t.Errorf("sr0 = %+v", sr)
	}
	nv := diskByName(t, disks, "nvme0n1")
	if nv.Model != "Dell Ent NVMe AGN MU U.2 960GB" || nv.Serial != "S4YPNE0N123456" || nv.Logical {
		t.Errorf("nvme0n1 = %+v", nv)
	}
	ld := diskByName(t, disks, "sdb")
	if !ld.Logical || ld.RAIDLevel != "" || ld.Vendor != "DELL" || ld.Model != "PERC H730P Mini" || ld.State != "running" {
		t.Errorf("megaraid logical drive = %+v", ld)
	}
	if jbod := diskByName(t, disks, "sde"); jbod.Logical {
		t.Errorf("megaraid pass-through disk on channel 0 reported as logical: %+v", jbod)
	}
	if usb := diskByName(t, disks, "sdc"); !usb.Removable {
		t.Errorf("usb = %+v", usb)
	}
}

func TestDisksMatches(t *testing.T) {
	d := Disk{Name: "sdb", WWN: "naa.6d09", Serial: "S1", ByPath: "pci-0000:03:00.0-scsi-0:2:0:0"}
	for _, id := range []string{"wwn:naa.6d09", "naa.6d09", "serial:S1", "S1", "path:pci-0000:03:00.0-scsi-0:2:0:0", "pci-0000:03:00.0-scsi-0:2:0:0"} {
		if !d.Matches(id) {
			t.Errorf("%q does not match", id)
		}
	}
	for _, id := range []string{"", "sdb", "wwn:S1", "serial:naa.6d09", "path:x"} {
		if d.Matches(id) {
			t.Errorf("%q matches", id)
		}
	}
	if (Disk{Name: "md0"}).Stable() != "name:md0" {
		t.Error("fallback stable id")
	}
}

func TestDisksHPSA(t *testing.T) {
	tr := probetest.New(t)
	tr.SCSIDisk("0000:00:01.0/0000:02:00.0", "hpsa", 0, 1, 0, 0, probetest.Disk{Name: "sda", SizeBytes: 279 << 30, Vendor: "HP", Model: "LOGICAL VOLUME", WWID: "naa.600508b1001c4d6a1b2c3d4e5f607182",
		Attrs: map[string]string{"raid_level": "RAID 1(1+0)"}})
	tr.SCSIDisk("0000:00:01.0/0000:02:00.0", "hpsa", 0, 1, 1, 0, probetest.Disk{Name: "sdb", SizeBytes: 1117 << 30, Vendor: "HP", Model: "LOGICAL VOLUME",
		Attrs: map[string]string{"raid_level": "RAID 5"}})
	tr.SCSIDisk("0000:00:01.0/0000:02:00.0", "hpsa", 0, 0, 2, 0, probetest.Disk{Name: "sdc", SizeBytes: 558 << 30, Vendor: "HP", Model: "EG0600FBVFP",
		Attrs: map[string]string{"raid_level": "N/A"}})
	// The controller itself shows up as a RAID-class SCSI device without a disk.
	disks, err := Disks(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	sda := diskByName(t, disks, "sda")
	if !sda.Logical || sda.RAIDLevel != "1+0" || sda.Controller != "hpsa" || sda.ByPath != "pci-0000:02:00.0-scsi-0:1:0:0" {
		t.Errorf("sda = %+v", sda)
	}
	if sdb := diskByName(t, disks, "sdb"); !sdb.Logical || sdb.RAIDLevel != "5" {
		t.Errorf("sdb = %+v", sdb)
	}
	if sdc := diskByName(t, disks, "sdc"); sdc.Logical || sdc.RAIDLevel != "" {
		t.Errorf("physical drive in HBA mode = %+v", sdc)
	}
}

func TestDisksSASAndIntegratedRAID(t *testing.T) {
	tr := probetest.New(t)
	tr.SASDisk("0000:00:03.0/0000:02:00.0", 0, 4, "0x5000c500a1b2c3d5", probetest.Disk{Name: "sda", SizeBytes: 1200 << 30, Vendor: "SEAGATE", Model: "ST1200MM0099", WWID: "naa.5000c500a1b2c3d7"})
	tr.SCSIDisk("0000:00:03.0/0000:02:00.0", "mpt3sas", 0, 1, 0, 0, probetest.Disk{Name: "sdb", SizeBytes: 1117 << 30, Vendor: "LSI", Model: "Logical Volume"})
	tr.RAIDClass("0000:00:03.0/0000:02:00.0", 0, 1, 0, 0, "raid1", "degraded")
	disks, err := Disks(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	sda := diskByName(t, disks, "sda")
	if sda.ByPath != "pci-0000:02:00.0-sas-0x5000c500a1b2c3d5-lun-0" || sda.Transport != "sas" || sda.Controller != "mpt3sas" || sda.Logical {
		t.Errorf("sas disk = %+v", sda)
	}
	sdb := diskByName(t, disks, "sdb")
	if !sdb.Logical || sdb.RAIDLevel != "1" || sdb.State != "degraded" || !sdb.Degraded || sdb.ByPath != "pci-0000:02:00.0-scsi-0:1:0:0" {
		t.Errorf("IR volume = %+v", sdb)
	}
}

func TestDisksNVMeMultipath(t *testing.T) {
	tr := probetest.New(t)
	c := probetest.PCIDevicePath("0000:00:1d.0/0000:3d:00.0") + "/nvme/nvme0"
	tr.Bind(probetest.PCIDevicePath("0000:00:1d.0/0000:3d:00.0"), "pci", "nvme")
	tr.SysFile(c+"/model", "SAMSUNG MZQLB960HAJR-00007")
	tr.SysFile(c+"/serial", "S437NA0M700001")
	tr.SysLink("class/nvme/nvme0", c)
	head := "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1"
	tr.SysFile(head+"/size", "1875385008")
	tr.SysFile(head+"/nsid", "1")
	tr.SysFile(head+"/wwid", "eui.344337304d7000010025384100000001")
	tr.SysLink(head+"/device", "devices/virtual/nvme-subsystem/nvme-subsys0")
	tr.SysLink(head+"/multipath/nvme0c0n1", c+"/nvme0c0n1")
	tr.SysLink("block/nvme0n1", head)
	disks, err := Disks(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	d := diskByName(t, disks, "nvme0n1")
	if d.ByPath != "pci-0000:3d:00.0-nvme-1" || d.Controller != "nvme" || d.Transport != "nvme" || d.Serial != "S437NA0M700001" || d.Model != "SAMSUNG MZQLB960HAJR-00007" || d.WWN == "" {
		t.Errorf("multipath nvme = %+v", d)
	}
}

func TestNormalizeRAIDLevel(t *testing.T) {
	for in, want := range map[string]string{"RAID 1(1+0)": "1+0", "RAID 1(+0)": "1+0", "RAID 0": "0", "RAID 5": "5", "RAID 6": "6", "RAID ADG": "6",
		"RAID 1(+0)ADM": "1 ADM", "RAID 1(ADM)": "1 ADM", "RAID UNKNOWN": "", "raid10": "10", "raid1": "1", "linear": "linear", "raid1e": "1e", "": ""} {
		if got := NormalizeRAIDLevel(in); got != want {
			t.Errorf("NormalizeRAIDLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDisksVirtioHasNoVendor(t *testing.T) {
	tr := probetest.New(t)
	tr.VirtioDisk("0000:00:02.0", 1, probetest.Disk{Name: "vda", SizeBytes: 64 << 30})
	tr.SysFile(probetest.PCIDevicePath("0000:00:02.0")+"/virtio1/vendor", "0x1af4")
	disks, err := Disks(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	if disks[0].Vendor != "" {
		t.Errorf("virtio vendor %q", disks[0].Vendor)
	}
}
