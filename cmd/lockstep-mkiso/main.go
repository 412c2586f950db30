// Command lockstep-mkiso writes a staged tree as a hybrid installer ISO, the
// last step of `lockstep-build iso` (the same code, image/hybrid.WriteISO),
// usable on its own the way `xorriso -as mkisofs` is:
//
//	lockstep-mkiso -tree DIR -o OUT.iso [-mbr isohdpfx.bin] [-gpt] [-volid LOCKSTEP]
//
// The tree must hold isolinux/isolinux.bin and boot/efi.img.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/lockstep-ft/lockstep/image/hybrid"
)

func main() {
	tree := flag.String("tree", "", "the staged tree (required)")
	out := flag.String("o", "", "output ISO (required)")
	mbr := flag.String("mbr", "/usr/lib/ISOLINUX/isohdpfx.bin", "syslinux's isohybrid MBR boot code")
	volid := flag.String("volid", "LOCKSTEP", "ISO9660 volume label")
	bios := flag.String("bios-boot", "isolinux/isolinux.bin", "BIOS El Torito boot file in the tree")
	efi := flag.String("efi-boot", "boot/efi.img", "EFI El Torito boot image (the ESP) in the tree")
	gpt := flag.Bool("gpt", false, "also write a GPT")
	flag.Parse()
	if err := run(*tree, *out, *mbr, *volid, *bios, *efi, *gpt); err != nil {
		fmt.Fprintf(os.Stderr, "lockstep-mkiso: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}

func run(tree, out, mbr, volid, bios, efi string, gpt bool) error {
	if tree == "" || out == "" {
		return fmt.Errorf("-tree and -o are required")
	}
	code, err := os.ReadFile(mbr)
	if err != nil {
		return fmt.Errorf("MBR boot code: %w (apt-get install isolinux, or pass -mbr)", err)
	}
	epoch := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		epoch = time.Unix(n, 0).UTC()
	}
	return hybrid.WriteISO(tree, out, hybrid.ISOOptions{
		VolumeID: volid, Epoch: epoch, BIOSBoot: bios, EFIBoot: efi,
		MBRCode: code, DiskID: 0x4c4f434b, GPT: gpt,
	})
}
