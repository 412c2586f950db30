package imager

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/lockstep-ft/lockstep/image/sysimage"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/image/bootmenu"
	"github.com/lockstep-ft/lockstep/image/esp"
	"github.com/lockstep-ft/lockstep/image/hybrid"
	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/internal/digest"
)

// Paths inside the ISO9660 tree.
const (
	isolinuxDir = "isolinux"
	espImage    = "boot/efi.img"
	manifestISO = "lockstep/manifest.json"
	// AnswersISO is where the installer looks for an answer file on its medium.
	AnswersISO = "lockstep/answers.yaml"
)

// BuildISO builds the hybrid installer ISO at out and returns its manifest.
func BuildISO(ctx context.Context, r *recipe.Recipe, out string, o Options) (*Manifest, error) {
	if err := checkTools("gpgv", "go"); err != nil {
		return nil, err
	}
	epoch, err := r.EpochTime()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	in, err := fetch(ctx, r, &o)
	if err != nil {
		return nil, err
	}
	vmlinuz, modulesRoot, kver, err := kernelFiles(in, r)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Name: r.Name, Version: r.Version, Epoch: epoch, Kernel: kver, Packages: in.locked, Files: map[string]string{}}
	tag := "/lockstep/media-" + m.id()

	stage := filepath.Join(o.WorkDir, "iso")
	if err := copyFile(vmlinuz, filepath.Join(stage, bootmenu.Kernel), 0o644); err != nil {
		return nil, err
	}
	initrd := filepath.Join(stage, bootmenu.Initrd)
	if err := os.MkdirAll(filepath.Dir(initrd), 0o755); err != nil {
		return nil, err
	}
	if err := buildInitramfs(in, r, modulesRoot, initrd, &o); err != nil {
		return nil, err
	}
	menu := bootmenu.Default(fmt.Sprintf("Lockstep %s", r.Version), r.VolumeID, r.Kernel.Cmdline, r.Bootloader.Timeout, tag)
	if err := stageBIOS(in, r, stage, menu); err != nil {
		return nil, err
	}
	if err := stageEFI(in, stage, menu, epoch); err != nil {
		return nil, err
	}
	if r.System != "" {
		sys, err := BuildSystem(ctx, r, filepath.Join(stage, sysimage.MediumDir), o)
		if err != nil {
			return nil, err
		}
		m.System = &SystemRef{Version: r.Version, Kernel: sys.Kernel, SHA256: sys.SHA256, Size: sys.Size}
	}
	for _, f := range []string{bootmenu.Kernel, bootmenu.Initrd, espImage} {
		sum, err := digest.File(filepath.Join(stage, f))
		if err != nil {
			return nil, err
		}
		m.Files[strings.TrimPrefix(f, "/")] = sum
	}
	if err := writeFile(filepath.Join(stage, tag), []byte(m.id()+"\n")); err != nil {
		return nil, err
	}
	// Debian's CD GRUB looks for /.disk/info when its own prefix is not on the medium.
	if err := writeFile(filepath.Join(stage, ".disk", "info"), []byte(fmt.Sprintf("Lockstep %s\n", r.Version))); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(stage, manifestISO), m.json()); err != nil {
		return nil, err
	}
	if o.Answers != nil {
		if err := writeFile(filepath.Join(stage, AnswersISO), o.Answers); err != nil {
			return nil, err
		}
	}

	code, _, err := in.findAny("usr/lib/ISOLINUX/isohdpfx.bin")
	if err != nil {
		return nil, err
	}
	mbr, err := os.ReadFile(code)
	if err != nil {
		return nil, err
	}
	id, _ := hex.DecodeString(m.id())
	if err := hybrid.WriteISO(stage, out, hybrid.ISOOptions{
		VolumeID: r.VolumeID,
		Epoch:    epoch,
		MBRCode:  mbr,
		DiskID:   binary.LittleEndian.Uint32(id[:4]),
		GPT:      r.Bootloader.GPT,
		BIOSBoot: isolinuxDir + "/isolinux.bin",
		EFIBoot:  espImage,
		Progress: o.Progress,
	}); err != nil {
		return nil, err
	}
	return m, nil
}

// stageBIOS lays out isolinux and its menu.
func stageBIOS(in *inputs, r *recipe.Recipe, stage string, menu bootmenu.Menu) error {
	dst := filepath.Join(stage, isolinuxDir)
	bin, _, err := in.findAny("usr/lib/ISOLINUX/isolinux.bin")
	if err != nil {
		return err
	}
	if err := copyFile(bin, filepath.Join(dst, "isolinux.bin"), 0o644); err != nil {
		return err
	}
	// menu.c32 needs libutil and libcom32; ldlinux.c32 is isolinux's core.
	for _, c := range []string{"ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32"} {
		p, _, err := in.findAny("usr/lib/syslinux/modules/bios/" + c)
		if err != nil {
			return err
		}
		if err := copyFile(p, filepath.Join(dst, c), 0o644); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dst, "isolinux.cfg"), []byte(menu.Isolinux()))
}

// stageEFI builds the ESP image: shim as the removable-media loader, which
// loads Debian's signed CD GRUB next to it, so Secure Boot machines boot too.
func stageEFI(in *inputs, stage string, menu bootmenu.Menu, epoch time.Time) error {
	shim, _, err := in.findAny("usr/lib/shim/shimx64.efi.signed")
	if err != nil {
		return err
	}
	grub, _, err := in.findAny("usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed")
	if err != nil {
		return err
	}
	cfg := []byte(menu.Grub())
	for _, p := range []string{"boot/grub/grub.cfg", "EFI/BOOT/grub.cfg"} {
		if err := writeFile(filepath.Join(stage, p), cfg); err != nil {
			return err
		}
	}
	files := []esp.File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Source: shim},
		{Path: "EFI/BOOT/grubx64.efi", Source: grub},
		{Path: "EFI/BOOT/grub.cfg", Data: cfg},
	}
	_, err = esp.Build(filepath.Join(stage, espImage), "LOCKSTEP", files, epoch)
	return err
}
