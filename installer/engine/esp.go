package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/installer/engine/layout"
)

// ESP paths. Both firmwares end up in boot/grub/grub.cfg: BIOS GRUB has
// its prefix there (sysimage.BIOSPrefix); the signed UEFI GRUB reads
// grub.cfg from its own directory (or /EFI/debian, its built-in prefix),
// where a two-line stub sends it on.
const (
	espLabel      = "LOCKSTEP"
	espGrubCfg    = "boot/grub/grub.cfg"
	espFallback   = "EFI/BOOT/BOOTX64.EFI" // the removable-media path every UEFI firmware tries
	espKernelDir  = "lockstep"             // lockstep/<slot>/vmlinuz, initrd.img
	uefiStubGrub  = "set prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n"
	envBlockBytes = abboot.EnvBlockSize
)

// espFS opens (or, with create, makes) the FAT32 file system of the ESP
// inside the whole disk f.
func espFS(f *os.File, p layout.Partition, create bool) (filesystem.FileSystem, error) {
	be := file.New(f, false)
	if create {
		fs, err := fat32.Create(be, p.Size, p.Start, sector, espLabel, false)
		if err != nil {
			return nil, fmt.Errorf("ESP: make FAT32: %w", err)
		}
		return fs, nil
	}
	fs, err := fat32.Read(be, p.Size, p.Start, sector)
	if err != nil {
		return nil, fmt.Errorf("ESP: read FAT32: %w", err)
	}
	return fs, nil
}

func mkdirAll(fs filesystem.FileSystem, dir string) error {
	if dir == "." || dir == "/" || dir == "" {
		return nil
	}
	if err := mkdirAll(fs, path.Dir(dir)); err != nil {
		return err
	}
	if _, err := fs.ReadDir("/" + dir); err == nil {
		return nil
	}
	return fs.Mkdir("/" + dir)
}

// writeESPFile writes data to p on the ESP, replacing what was there, and
// reads it back: a write the medium did not keep fails here, not at boot.
func writeESPFile(fs filesystem.FileSystem, p string, data []byte) error {
	if err := mkdirAll(fs, path.Dir(p)); err != nil {
		return fmt.Errorf("ESP: mkdir %s: %w", path.Dir(p), err)
	}
	_ = fs.Remove("/" + p)
	w, err := fs.OpenFile("/"+p, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("ESP: create %s: %w", p, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("ESP: write %s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("ESP: write %s: %w", p, err)
	}
	got, err := readESPFile(fs, p)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("ESP: %s reads back different from what was written (%d of %d bytes)", p, len(got), len(data))
	}
	return nil
}

func readESPFile(fs filesystem.FileSystem, p string) ([]byte, error) {
	r, err := fs.OpenFile("/"+p, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("ESP: open %s: %w", p, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ESP: read %s: %w", p, err)
	}
	return b, nil
}

// copyBootFile puts one boot file of the source on the ESP, checking its
// sha256 against the manifest.
func copyBootFile(fs filesystem.FileSystem, src *Source, name, dst string) error {
	p, want := src.bootPath(name)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want.SHA256 {
		return fmt.Errorf("boot file %s: sha256 %s, the manifest says %s: the medium is damaged", p, got, want.SHA256)
	}
	return writeESPFile(fs, dst, b)
}

// loadState reads the A/B state from the ESP.
func loadState(fs filesystem.FileSystem) (abboot.State, []byte, error) {
	b, err := readESPFile(fs, abboot.EnvPath)
	if err != nil {
		return abboot.State{}, nil, err
	}
	st, err := abboot.Parse(b)
	if err != nil {
		return abboot.State{}, nil, fmt.Errorf("ESP: %s: %w", abboot.EnvPath, err)
	}
	return st, b, nil
}

// storeState rewrites the environment block with st (and extra variables
// set, "" deletes), keeping its size so GRUB can keep saving into it.
func storeState(fs filesystem.FileSystem, old []byte, st abboot.State, extra map[string]string) error {
	nb, err := abboot.Update(old, st)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		env, err := abboot.Decode(nb)
		if err != nil {
			return err
		}
		for k, v := range extra {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		if nb, err = abboot.Encode(env); err != nil {
			return err
		}
	}
	w, err := fs.OpenFile("/"+abboot.EnvPath, os.O_RDWR)
	if err != nil {
		return fmt.Errorf("ESP: open %s: %w", abboot.EnvPath, err)
	}
	if _, err := w.Write(nb); err != nil {
		w.Close()
		return fmt.Errorf("ESP: write %s: %w", abboot.EnvPath, err)
	}
	return w.Close()
}
