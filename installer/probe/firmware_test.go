package probe

import (
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func TestFirmwareUEFIWithEFIVars(t *testing.T) {
	tr := probetest.New(t)
	tr.DMI("Dell Inc.", "PowerEdge R730", "2.17.0")
	tr.UEFI(true, true, 0x0003, []uint16{0x0003, 0x0001, 0x000A}, map[uint16]string{3: "Integrated RAID Controller 1: debian", 1: "Embedded NIC 1 Port 1 Partition 1", 0xA: "Virtual Optical Drive"})
	fw := Firmware(tr.Sys)
	if !fw.UEFI || !fw.EFIVars || !fw.SecureBoot {
		t.Errorf("uefi %v efivars %v secureboot %v", fw.UEFI, fw.EFIVars, fw.SecureBoot)
	}
	if fw.BootCurrent != "Boot0003" || !reflect.DeepEqual(fw.BootOrder, []string{"Boot0003", "Boot0001", "Boot000A"}) {
		t.Errorf("current %q order %v", fw.BootCurrent, fw.BootOrder)
	}
	if e, ok := fw.Entry("Boot000A"); !ok || e.Description != "Virtual Optical Drive" || !e.Active {
		t.Errorf("Boot000A = %+v, %v", e, ok)
	}
	if len(fw.BootEntries) != 3 || fw.BootEntries[0].ID != "Boot0003" {
		t.Errorf("entries %+v", fw.BootEntries)
	}
	if fw.Vendor != "Dell Inc." || fw.Product != "PowerEdge R730" || fw.BIOSVersion != "2.17.0" {
		t.Errorf("dmi %+v", fw)
	}
}

func TestFirmwareUEFIWithoutEFIVarsMounted(t *testing.T) {
	tr := probetest.New(t)
	tr.UEFI(false, false, 0, nil, nil)
	fw := Firmware(tr.Sys)
	if !fw.UEFI || fw.EFIVars || fw.SecureBoot || fw.BootOrder != nil {
		t.Errorf("%+v", fw)
	}
}

func TestFirmwareLegacy(t *testing.T) {
	tr := probetest.New(t)
	tr.DMI("QEMU", "Standard PC (i440FX + PIIX, 1996)", "1.16.3-debian-1.16.3-2")
	fw := Firmware(tr.Sys)
	if fw.UEFI || fw.EFIVars || fw.Vendor != "QEMU" {
		t.Errorf("%+v", fw)
	}
}

func TestFirmwareOldSysfsVars(t *testing.T) {
	tr := probetest.New(t)
	tr.SysBytes("firmware/efi/vars/BootOrder-"+EFIGlobalGUID+"/data", []byte{2, 0, 1, 0})
	fw := Firmware(tr.Sys)
	if !fw.UEFI || !reflect.DeepEqual(fw.BootOrder, []string{"Boot0002", "Boot0001"}) {
		t.Errorf("%+v", fw)
	}
}
