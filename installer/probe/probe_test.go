package probe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

// fixture builds a /sys tree the way the kernel lays it out: class entries are
// symlinks into /sys/devices, and drivers are symlinks into /sys/bus.
type fixture struct {
	t    *testing.T
	root string
}

func (f fixture) file(p, content string) {
	full := filepath.Join(f.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f fixture) link(p, target string) {
	full := filepath.Join(f.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		f.t.Fatal(err)
	}
}

func newFixture(t *testing.T) fixture {
	f := fixture{t: t, root: t.TempDir()}
	// virtio disk: driver virtio_blk on the virtio device
	f.file("devices/pci0000:00/0000:00:04.0/virtio1/block/vda/size", "67108864")
	f.link("devices/pci0000:00/0000:00:04.0/virtio1/driver", "../../../../bus/virtio/drivers/virtio_blk")
	f.link("devices/pci0000:00/0000:00:04.0/virtio1/block/vda/device", "../../../virtio1")
	f.link("block/vda", "../devices/pci0000:00/0000:00:04.0/virtio1/block/vda")
	// AHCI disk: sd on the SCSI device, ahci on the PCI function
	dev := "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0"
	f.file(dev+"/model", "QEMU HARDDISK")
	f.link(dev+"/driver", "../../../../../../../bus/scsi/drivers/sd")
	f.link("devices/pci0000:00/0000:00:1f.2/driver", "../../../bus/pci/drivers/ahci")
	f.file(dev+"/block/sda/size", "20971520")
	f.link(dev+"/block/sda/device", "../../../0:0:0:0")
	f.link("block/sda", "../"+dev+"/block/sda")
	// loop devices are not disks
	f.file("devices/virtual/block/loop0/size", "0")
	f.link("block/loop0", "../devices/virtual/block/loop0")
	// NICs
	f.file("devices/pci0000:00/0000:00:03.0/net/eth0/address", "52:54:00:12:34:56")
	f.file("devices/pci0000:00/0000:00:03.0/net/eth0/carrier", "1")
	f.file("devices/pci0000:00/0000:00:03.0/net/eth0/speed", "1000")
	f.link("devices/pci0000:00/0000:00:03.0/driver", "../../../bus/pci/drivers/e1000")
	f.link("devices/pci0000:00/0000:00:03.0/net/eth0/device", "../../../0000:00:03.0")
	f.link("class/net/eth0", "../../devices/pci0000:00/0000:00:03.0/net/eth0")
	f.file("devices/virtual/net/lo/address", "00:00:00:00:00:00")
	f.link("class/net/lo", "../../devices/virtual/net/lo")
	return f
}

func TestDisksNamesTheControllerDriver(t *testing.T) {
	f := newFixture(t)
	disks, err := Disks(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 2 {
		t.Fatalf("want vda and sda, got %+v", disks)
	}
	sda, vda := disks[0], disks[1]
	if sda.Name != "sda" || sda.Driver != "ahci" || sda.Model != "QEMU HARDDISK" || sda.SizeBytes != 10<<30 {
		t.Errorf("sda = %+v", sda)
	}
	if vda.Name != "vda" || vda.Driver != "virtio_blk" || vda.SizeBytes != 32<<30 {
		t.Errorf("vda = %+v", vda)
	}
}

func TestNICsSkipVirtualInterfaces(t *testing.T) {
	f := newFixture(t)
	nics, err := NICs(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(nics) != 1 {
		t.Fatalf("want only eth0, got %+v", nics)
	}
	n := nics[0]
	if n.Name != "eth0" || n.Driver != "e1000" || n.MAC != "52:54:00:12:34:56" || !n.Link || n.Speed != 1000 {
		t.Errorf("eth0 = %+v", n)
	}
}

func TestHumanSize(t *testing.T) {
	for in, want := range map[int64]string{512: "512 B", 32 << 30: "32.0 GiB", 1536 << 20: "1.5 GiB"} {
		if got := HumanSize(in); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestNICsBusAndPCIAddress(t *testing.T) {
	tr := probetest.New(t)
	tr.NIC("0000:00:03.0/0000:01:00.0", "eno1", "b0:26:28:00:00:01", "igb", 1000, true)
	tr.NIC("0000:00:03.0/0000:01:00.1", "eno2", "b0:26:28:00:00:02", "igb", 0, false)
	tr.USBNIC("0000:00:14.0", "2", "enx001122334455", "00:11:22:33:44:55", "cdc_ether")
	tr.Loopback()
	nics, err := NICs(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(nics) != 3 {
		t.Fatalf("nics %+v", nics)
	}
	eno1, eno2, usb := nics[0], nics[1], nics[2]
	if eno1.Bus != "pci" || eno1.PCIAddr != "0000:01:00.0" || eno1.Driver != "igb" || !eno1.Link || eno1.Speed != 1000 || !eno1.MACPermanent {
		t.Errorf("eno1 = %+v", eno1)
	}
	if eno2.PCIAddr != "0000:01:00.1" || eno2.Link || eno2.Speed != 0 {
		t.Errorf("eno2 = %+v", eno2)
	}
	if usb.Bus != "usb" || usb.PCIAddr != "" || usb.Driver != "cdc_ether" {
		t.Errorf("usb nic = %+v", usb)
	}
}
