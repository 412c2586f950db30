// Package bootmenu renders the installer's boot menu once for each firmware:
// isolinux.cfg for legacy BIOS and grub.cfg for UEFI, from one definition, so
// that both firmwares offer the same entries with the same kernel command lines.
package bootmenu

import (
	"fmt"
	"strings"
)

// Paths inside the ISO9660 tree.
const (
	Kernel = "/boot/vmlinuz"
	Initrd = "/boot/initrd.img"
)

// Entry is one menu item.
type Entry struct {
	ID      string // isolinux label
	Title   string
	Cmdline string // kernel arguments
}

// Menu is the whole boot menu.
type Menu struct {
	Title   string
	Timeout int // seconds before Entries[0] boots
	// TagFile is a file unique to this medium; GRUB finds the ISO9660 tree by it,
	// because the EFI image it was loaded from is not that tree (El Torito) or is
	// a separate partition (USB).
	TagFile string
	Entries []Entry
}

// Serial is the console IPMI serial-over-LAN users attach to.
const Serial = "ttyS0,115200n8"

// Default builds the installer menu. The default entry puts the kernel console
// and the installer on both the local console and the serial port, so IPMI SOL
// users see the installer without a keystroke. The last console= is
// /dev/console, which is where early kernel messages and init go.
func Default(title, volumeID, extra string, timeout int, tagFile string) Menu {
	base := "lockstep.medium=" + volumeID
	if extra != "" {
		base += " " + extra
	}
	return Menu{
		Title:   title,
		Timeout: timeout,
		TagFile: tagFile,
		Entries: []Entry{
			{ID: "install", Title: "Install Lockstep", Cmdline: base + " console=tty0 console=" + Serial},
			{ID: "serial", Title: "Install Lockstep (serial console only)", Cmdline: base + " console=" + Serial},
			{ID: "rescue", Title: "Rescue shell", Cmdline: base + " lockstep.mode=rescue console=tty0 console=" + Serial},
		},
	}
}

// Isolinux renders isolinux.cfg. menu.c32 draws on the screen and, through
// the SERIAL directive, on ttyS0.
func (m Menu) Isolinux() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SERIAL 0 115200\n")
	fmt.Fprintf(&b, "UI menu.c32\n")
	fmt.Fprintf(&b, "PROMPT 0\n")
	fmt.Fprintf(&b, "TIMEOUT %d\n", m.Timeout*10) // tenths of a second
	fmt.Fprintf(&b, "DEFAULT %s\n", m.Entries[0].ID)
	fmt.Fprintf(&b, "MENU TITLE %s\n", m.Title)
	for i, e := range m.Entries {
		fmt.Fprintf(&b, "\nLABEL %s\n", e.ID)
		fmt.Fprintf(&b, "  MENU LABEL %s\n", e.Title)
		if i == 0 {
			fmt.Fprintf(&b, "  MENU DEFAULT\n")
		}
		fmt.Fprintf(&b, "  LINUX %s\n", Kernel)
		fmt.Fprintf(&b, "  INITRD %s\n", Initrd)
		fmt.Fprintf(&b, "  APPEND %s\n", e.Cmdline)
	}
	return b.String()
}

// Grub renders grub.cfg for Debian's signed GRUB (loaded by shim).
func (m Menu) Grub() string {
	var b strings.Builder
	fmt.Fprintf(&b, "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n")
	fmt.Fprintf(&b, "terminal_input console serial\n")
	fmt.Fprintf(&b, "terminal_output console serial\n")
	fmt.Fprintf(&b, "search --no-floppy --set=root --file %s\n", m.TagFile)
	fmt.Fprintf(&b, "set timeout=%d\n", m.Timeout)
	fmt.Fprintf(&b, "set default=0\n")
	for _, e := range m.Entries {
		fmt.Fprintf(&b, "\nmenuentry %q --id %s {\n", e.Title, e.ID)
		fmt.Fprintf(&b, "\tlinux %s %s\n", Kernel, e.Cmdline)
		fmt.Fprintf(&b, "\tinitrd %s\n", Initrd)
		fmt.Fprintf(&b, "}\n")
	}
	return b.String()
}
