package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// location is where a block device sits in the hardware tree.
type location struct {
	byPath    string
	transport string
}

// locate rebuilds udev's path_id for a block device from the components of
// its resolved sysfs path (comps[last] is the disk itself). Like path_id it
// reads from the disk outwards and stops at the innermost PCI function, so
// bridges in between do not show. nsid is read lazily: only NVMe needs it.
func locate(root string, comps []string, nsid func() string) location {
	var parts []string
	var loc location
	setTransport := func(t string) {
		if loc.transport == "" {
			loc.transport = t
		}
	}
	dir := func(n int) string { return filepath.Join(append([]string{root}, comps[:n]...)...) }

	i := len(comps) - 2
	if i >= 0 && comps[i] == "block" {
		i--
	}
loop:
	for ; i >= 0; i-- {
		c := comps[i]
		switch {
		case reSCSIAddr.MatchString(c):
			hcil := scsiNumbers(c)
			h := i - 1
			for h >= 0 && !reHost.MatchString(comps[h]) {
				h--
			}
			if h < 0 {
				break loop
			}
			sas := -1
			for k := h + 1; k < i; k++ {
				if strings.HasPrefix(comps[k], "end_device-") {
					sas = k
				}
			}
			switch {
			case h > 0 && reATAPort.MatchString(comps[h-1]):
				// libata: the port number on its host adapter, as udev's
				// compat by-path link spells it ("ata-1"; newer udev adds
				// ".0" for the device on the port and keeps this one too).
				ata := comps[h-1]
				port := readTrim(filepath.Join(dir(h), "ata_port", ata, "port_no"))
				if port == "" {
					port = strings.TrimPrefix(ata, "ata")
				}
				parts = append(parts, "ata-"+port)
				setTransport("sata")
				i = h - 1
				continue
			case sas >= 0:
				addr := readTrim(filepath.Join(dir(sas+1), "sas_device", comps[sas], "sas_address"))
				if addr != "" {
					parts = append(parts, fmt.Sprintf("sas-%s-lun-%d", addr, hcil[3]))
					setTransport("sas")
					i = h
					continue
				}
			}
			// Any other SCSI host: host numbers depend on probe order, so
			// count from the first host on the same parent device.
			parts = append(parts, fmt.Sprintf("scsi-%d:%d:%d:%d", hcil[0]-minHost(dir(h)), hcil[1], hcil[2], hcil[3]))
			setTransport("scsi")
			i = h
		case reNVMeCtrl.MatchString(c) && i > 0 && comps[i-1] == "nvme":
			parts = append(parts, "nvme-"+nsid())
			setTransport("nvme")
			i--
		case reVirtio.MatchString(c):
			setTransport("virtio")
		case reUSBIface.MatchString(c):
			// "1-1.4:1.0" is bus 1, port path 1.4, config 1, interface 0;
			// udev drops the bus number and writes "usb-0:1.4:1.0".
			_, rest, _ := strings.Cut(c, "-")
			parts = append(parts, "usb-0:"+rest)
			loc.transport = "usb" // a SATA disk in a USB enclosure is a USB disk
			for i > 0 && reUSBDevice.MatchString(comps[i-1]) {
				i--
			}
		case rePCIAddr.MatchString(c):
			parts = append(parts, "pci-"+c)
			break loop
		case c == "virtual" || strings.HasPrefix(c, "pci") || c == "devices":
			break loop
		}
	}
	if len(parts) == 0 || !strings.HasPrefix(parts[len(parts)-1], "pci-") {
		// No PCI anchor (virtual or platform devices): not a stable path.
		return location{transport: loc.transport}
	}
	for l, r := 0, len(parts)-1; l < r; l, r = l+1, r-1 {
		parts[l], parts[r] = parts[r], parts[l]
	}
	loc.byPath = strings.Join(parts, "-")
	return loc
}

func scsiNumbers(c string) [4]int {
	var n [4]int
	m := reSCSIAddr.FindStringSubmatch(c)
	for k := 0; k < 4 && m != nil; k++ {
		n[k], _ = strconv.Atoi(m[k+1])
	}
	return n
}

// locSCSI returns H:C:T:L of the innermost SCSI device in comps, or nil.
func locSCSI(comps []string) []int {
	for i := len(comps) - 1; i >= 0; i-- {
		if reSCSIAddr.MatchString(comps[i]) {
			n := scsiNumbers(comps[i])
			return n[:]
		}
	}
	return nil
}

// minHost is the lowest SCSI host number among the hosts of one parent.
func minHost(parent string) int {
	es, _ := os.ReadDir(parent)
	lowest := -1
	for _, e := range es {
		if m := reHost.FindStringSubmatch(e.Name()); m != nil {
			n, _ := strconv.Atoi(m[1])
			if lowest < 0 || n < lowest {
				lowest = n
			}
		}
	}
	if lowest < 0 {
		return 0
	}
	return lowest
}

func isNVMeHead(comps []string) bool {
	for _, c := range comps {
		if c == "nvme-subsystem" {
			return true
		}
	}
	return false
}

// nvmeControllerPath finds a controller of a multipath namespace: the head's
// multipath/ directory lists the per-controller paths nvme<S>c<C>n<N>; with
// none listed, guess the controller from the head's name.
func nvmeControllerPath(sysRoot, base, name string) (string, []string, bool) {
	ctrl := ""
	es, _ := os.ReadDir(filepath.Join(base, "multipath"))
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Name())
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, rest, ok := strings.Cut(strings.TrimPrefix(p, "nvme"), "c"); ok {
			if c, _, ok := strings.Cut(rest, "n"); ok {
				ctrl = "nvme" + c
				break
			}
		}
	}
	if ctrl == "" {
		ctrl = name[:max(strings.LastIndexByte(name, 'n'), 0)]
	}
	root, comps, ok := devicePath(sysRoot, filepath.Join(sysRoot, "class", "nvme", ctrl))
	return root, comps, ok
}

// nvmeNSID is the namespace id: the nsid attribute, or the number after the
// last "n" of the name (nvme0n1 -> 1).
func nvmeNSID(base, name string) string {
	if v := readTrim(filepath.Join(base, "nsid")); v != "" {
		return v
	}
	return lastField(name, 'n')
}

func lastField(s string, sep byte) string {
	if k := strings.LastIndexByte(s, sep); k >= 0 {
		return s[k+1:]
	}
	return s
}
