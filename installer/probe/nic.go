package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// NIC is one network interface with a device behind it.
type NIC struct {
	Name   string
	MAC    string
	Driver string
	Speed  int // Mb/s, 0 when unknown (link down or virtual)
	Link   bool
	// PCIAddr is the PCI function of the port ("0000:3b:00.1"); for a USB
	// adapter it is empty, as the nearest PCI function is the USB host.
	PCIAddr string
	Bus     string // "pci", "usb" or "other" (platform, virtual)
	// MACPermanent: the address is the card's own (addr_assign_type 0), not
	// random or set by software, so it identifies the port across reboots.
	MACPermanent bool
}

// NICs lists interfaces that have a device (physical or virtio), not lo, bridges or veths.
func NICs(sysRoot string) ([]NIC, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, "class", "net"))
	if err != nil {
		return nil, fmt.Errorf("probe: list NICs: %w", err)
	}
	var out []NIC
	for _, e := range entries {
		base := filepath.Join(sysRoot, "class", "net", e.Name())
		if _, err := os.Stat(filepath.Join(base, "device")); err != nil {
			continue
		}
		n := NIC{
			Name:         e.Name(),
			MAC:          readTrim(filepath.Join(base, "address")),
			Driver:       deviceDriver(filepath.Join(base, "device")),
			Link:         readTrim(filepath.Join(base, "carrier")) == "1",
			MACPermanent: readTrim(filepath.Join(base, "addr_assign_type")) == "0",
			Bus:          "other",
		}
		if s, err := strconv.Atoi(readTrim(filepath.Join(base, "speed"))); err == nil && s > 0 {
			n.Speed = s
		}
		if _, comps, ok := devicePath(sysRoot, filepath.Join(base, "device")); ok {
			switch {
			case hasUSB(comps):
				n.Bus = "usb"
			case innermostPCI(comps) != "":
				n.Bus, n.PCIAddr = "pci", innermostPCI(comps)
			}
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
