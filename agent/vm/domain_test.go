package vm

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.xml from DomainXML's output")

func sampleDomain() Domain {
	return Domain{
		Name:      "web1",
		UUID:      "5f0c3c7e-8d7a-4c59-9d0e-2f6f1b1e9a01",
		VCPUs:     4,
		MemoryMiB: 8192,
		Disks: []Disk{
			{Path: "/dev/drbd3", Serial: "web1-root"},
			{Path: "/dev/drbd4", Target: "vdc", Serial: "web1-data"},
		},
		CD: "/var/lib/lockstep/vcd/debian-12.iso",
		NICs: []NIC{
			{Bridge: "bbiz0", MAC: MAC("sys-1", "web1", 0)},
			{Bridge: "bbiz1", MAC: "02:00:5E:10:00:01"},
		},
		ConsoleLog: "/var/log/lockstep/console/web1.log",
	}
}

func TestDomainXMLGolden(t *testing.T) {
	got, err := DomainXML(sampleDomain())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "web1.xml")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("DomainXML differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestDomainXMLEmptyCD(t *testing.T) {
	d := sampleDomain()
	d.CD, d.Disks, d.NICs, d.ConsoleLog = "", nil, nil, ""
	s, err := DomainXML(d)
	if err != nil {
		t.Fatal(err)
	}
	var x libvirtxml.Domain
	if err := x.Unmarshal(s); err != nil {
		t.Fatal(err)
	}
	if len(x.Devices.Disks) != 1 {
		t.Fatalf("disks = %d, want the CD drive alone", len(x.Devices.Disks))
	}
	cd := x.Devices.Disks[0]
	if cd.Device != "cdrom" || cd.Target.Dev != CDTarget || cd.Target.Bus != "sata" || strings.Contains(s, "<source") {
		t.Errorf("want an empty SATA CD drive, got\n%s", s)
	}
	if x.Type != "kvm" || x.OS.Type.Machine != "q35" {
		t.Errorf("type %q machine %q, want the defaults kvm, q35", x.Type, x.OS.Type.Machine)
	}
	if x.Devices.Serials[0].Log != nil {
		t.Errorf("console log without a path: %+v", x.Devices.Serials[0].Log)
	}
}

func TestDomainXMLErrors(t *testing.T) {
	for _, tc := range []struct {
		change func(*Domain)
		want   string
	}{
		{func(d *Domain) { d.Name = "" }, "no name"},
		{func(d *Domain) { d.UUID = "5f0c3c7e" }, `web1: bad UUID "5f0c3c7e"`},
		{func(d *Domain) { d.VCPUs = 0 }, "at least 1 vCPU"},
		{func(d *Domain) { d.MemoryMiB = 0 }, "1 MiB of memory"},
		{func(d *Domain) { d.CD = "debian.iso" }, "CD \"debian.iso\" is not an absolute path"},
		{func(d *Domain) { d.Disks[0].Path = "drbd3" }, "disk vda: \"drbd3\" is not an absolute path"},
		{func(d *Domain) { d.Disks[1].Target = "vda" }, "two disks on vda"},
		{func(d *Domain) { d.Disks[0].Serial = "a/b" }, "serial \"a/b\""},
		{func(d *Domain) { d.Disks[0].Serial = strings.Repeat("x", 21) }, "at most 20"},
		{func(d *Domain) { d.NICs[1].MAC = "01:00:5e:00:00:01" }, "NIC 1: MAC \"01:00:5e:00:00:01\" is a multicast address"},
		{func(d *Domain) { d.NICs[0].MAC = "" }, "NIC 0: MAC \"\""},
		{func(d *Domain) { d.NICs[0].Bridge = "" }, "NIC 0: no bridge"},
		{func(d *Domain) { d.ConsoleLog = "web1.log" }, "console log"},
	} {
		d := sampleDomain()
		tc.change(&d)
		_, err := DomainXML(d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one with %q", err, tc.want)
		}
	}
}
