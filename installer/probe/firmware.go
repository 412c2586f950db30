package probe

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// EFIGlobalGUID is the vendor GUID of the UEFI global variables (BootOrder,
// SecureBoot…).
const EFIGlobalGUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"

// FirmwareInfo is the boot firmware's mode and what it lets the OS read.
type FirmwareInfo struct {
	UEFI bool
	// EFIVars: the UEFI variables were readable. efivarfs must be mounted at
	// sysRoot/firmware/efi/efivars for that; without it Secure Boot and the
	// boot order are unknown, not off.
	EFIVars     bool
	SecureBoot  bool
	BootCurrent string      // "Boot0003"
	BootOrder   []string    // "Boot0003", "Boot0001"…
	BootEntries []BootEntry // the entries named in BootCurrent and BootOrder, in that order

	Vendor      string // DMI sys_vendor: "Dell Inc.", "HPE", "QEMU"
	Product     string // DMI product_name: "PowerEdge R640"
	BIOSVendor  string
	BIOSVersion string
	BIOSDate    string
}

// BootEntry is one UEFI Boot#### load option.
type BootEntry struct {
	ID          string // "Boot0001"
	Description string // "UEFI: PXE IPv4 Intel(R) I350", "debian"
	Active      bool
}

// Firmware reads the boot mode, efivars and DMI strings. Missing files just
// leave fields empty: legacy BIOS has no efi directory, and not every board
// fills DMI in.
func Firmware(sysRoot string) FirmwareInfo {
	dmi := filepath.Join(sysRoot, "class", "dmi", "id")
	fw := FirmwareInfo{
		Vendor:      readTrim(filepath.Join(dmi, "sys_vendor")),
		Product:     readTrim(filepath.Join(dmi, "product_name")),
		BIOSVendor:  readTrim(filepath.Join(dmi, "bios_vendor")),
		BIOSVersion: readTrim(filepath.Join(dmi, "bios_version")),
		BIOSDate:    readTrim(filepath.Join(dmi, "bios_date")),
	}
	if _, err := os.Stat(filepath.Join(sysRoot, "firmware", "efi")); err != nil {
		return fw
	}
	fw.UEFI = true
	if v, ok := efiVar(sysRoot, "SecureBoot"); ok && len(v) >= 1 {
		fw.EFIVars = true
		fw.SecureBoot = v[0] == 1
	}
	if v, ok := efiVar(sysRoot, "BootCurrent"); ok && len(v) >= 2 {
		fw.EFIVars = true
		fw.BootCurrent = bootID(binary.LittleEndian.Uint16(v))
	}
	if v, ok := efiVar(sysRoot, "BootOrder"); ok {
		fw.EFIVars = true
		for i := 0; i+1 < len(v); i += 2 {
			fw.BootOrder = append(fw.BootOrder, bootID(binary.LittleEndian.Uint16(v[i:])))
		}
	}
	seen := map[string]bool{}
	for _, id := range append([]string{fw.BootCurrent}, fw.BootOrder...) {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if v, ok := efiVar(sysRoot, id); ok {
			fw.BootEntries = append(fw.BootEntries, parseLoadOption(id, v))
		}
	}
	return fw
}

// Entry returns the boot entry with that id.
func (fw FirmwareInfo) Entry(id string) (BootEntry, bool) {
	for _, e := range fw.BootEntries {
		if e.ID == id {
			return e, true
		}
	}
	return BootEntry{}, false
}

func bootID(n uint16) string { return fmt.Sprintf("Boot%04X", n) }

// efiVar reads a global UEFI variable's data. efivarfs files start with the
// 4-byte attributes; the old sysfs interface (firmware/efi/vars, gone in
// Linux 6.0) has the bare data in a "data" file.
func efiVar(sysRoot, name string) ([]byte, bool) {
	fw := filepath.Join(sysRoot, "firmware", "efi")
	if b, err := os.ReadFile(filepath.Join(fw, "efivars", name+"-"+EFIGlobalGUID)); err == nil && len(b) >= 4 {
		return b[4:], true
	}
	if b, err := os.ReadFile(filepath.Join(fw, "vars", name+"-"+EFIGlobalGUID, "data")); err == nil {
		return b, true
	}
	return nil, false
}

// parseLoadOption reads an EFI_LOAD_OPTION: UINT32 attributes, UINT16 device
// path length, then the NUL-terminated UTF-16LE description.
func parseLoadOption(id string, v []byte) BootEntry {
	e := BootEntry{ID: id}
	if len(v) < 6 {
		return e
	}
	e.Active = binary.LittleEndian.Uint32(v)&1 != 0
	var u []uint16
	for i := 6; i+1 < len(v); i += 2 {
		c := binary.LittleEndian.Uint16(v[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	e.Description = strings.TrimSpace(string(utf16.Decode(u)))
	return e
}
