package iso

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// entry is one node of the staging tree, in lexical walk order.
type entry struct {
	rel  string // slash path relative to the tree root; "." for the root
	mode fs.FileMode
	size int64
}

type stageTree struct {
	root     string
	entries  []entry
	files    int
	dirs     int
	symlinks int
	bytes    int64
	copied   int    // files copied because hard-linking failed
	deepest  string // a directory deeper than ISO9660's 8 levels, if any
}

// scan walks the staging tree and refuses what the image cannot hold.
func scan(root string, opt Options) (*stageTree, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("iso: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("iso: %s is not a directory", root)
	}
	t := &stageTree{root: root}
	byPath := map[string]entry{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("iso: %w", err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("iso: %w", err)
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("iso: %w", err)
		}
		if len(d.Name()) > 255 {
			return fmt.Errorf("iso: %s: name longer than 255 bytes", rel)
		}
		if strings.ContainsRune(d.Name(), 0) {
			return fmt.Errorf("iso: %s: NUL in name", rel)
		}
		e := entry{rel: rel, mode: info.Mode()}
		switch {
		case info.Mode().IsRegular():
			if info.Size() > MaxFileSize {
				return fmt.Errorf("iso: %s is %d bytes; ISO9660 files must be smaller than 4 GiB (%d bytes)", rel, info.Size(), int64(MaxFileSize)+1)
			}
			e.size = info.Size()
			t.files++
			t.bytes += e.size
		case info.IsDir():
			t.dirs++
			// root is level 1; go-diskfs counts the same way
			if rel != "." && strings.Count(rel, "/")+2 > 8 && t.deepest == "" {
				t.deepest = rel
			}
		case info.Mode()&fs.ModeSymlink != 0:
			t.symlinks++
		default:
			return fmt.Errorf("iso: %s is a %s; only files, directories and symlinks can go in the image", rel, info.Mode().Type())
		}
		t.entries = append(t.entries, e)
		byPath[rel] = e
		return nil
	})
	if err != nil {
		return nil, err
	}

	for _, b := range []struct{ what, p string }{{"BIOS boot file", opt.BIOSBoot}, {"EFI boot image", opt.EFIBoot}} {
		if b.p == "" {
			continue
		}
		e, ok := byPath[b.p]
		switch {
		case !ok:
			return nil, fmt.Errorf("iso: %s %s is not in the tree", b.what, b.p)
		case !e.mode.IsRegular():
			return nil, fmt.Errorf("iso: %s %s is not a regular file", b.what, b.p)
		case e.size == 0:
			return nil, fmt.Errorf("iso: %s %s is empty", b.what, b.p)
		}
	}
	if opt.BIOSBoot != "" && byPath[opt.BIOSBoot].size < 64 {
		return nil, fmt.Errorf("iso: BIOS boot file %s is too small for a boot info table", opt.BIOSBoot)
	}
	if opt.BIOSBoot != "" || opt.EFIBoot != "" {
		if _, ok := byPath[opt.BootCatalog]; ok {
			return nil, fmt.Errorf("iso: boot catalog %s already exists in the tree", opt.BootCatalog)
		}
		for d := path.Dir(opt.BootCatalog); d != "."; d = path.Dir(d) {
			if e, ok := byPath[d]; ok && !e.mode.IsDir() {
				return nil, fmt.Errorf("iso: boot catalog %s: %s is not a directory", opt.BootCatalog, d)
			}
		}
	}
	if err := checkNames(t.entries); err != nil {
		return nil, err
	}
	return t, nil
}

// mirror recreates the tree in ws: directories and symlinks anew, files as
// hard links (copies where linking is impossible). It also creates the boot
// catalog's directory (bootCatalog "": none) if the tree lacks it, as
// go-diskfs needs it.
func (t *stageTree) mirror(ws, bootCatalog string) error {
	if err := os.Chmod(ws, 0o755); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	type dirMode struct {
		p    string
		mode fs.FileMode
	}
	var dirs []dirMode
	noLink := false
	for _, e := range t.entries {
		if e.rel == "." {
			continue
		}
		src := filepath.Join(t.root, filepath.FromSlash(e.rel))
		dst := filepath.Join(ws, filepath.FromSlash(e.rel))
		switch {
		case e.mode.IsDir():
			if err := os.Mkdir(dst, 0o700); err != nil {
				return fmt.Errorf("iso: %w", err)
			}
			dirs = append(dirs, dirMode{dst, e.mode})
		case e.mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return fmt.Errorf("iso: %w", err)
			}
			if err := os.Symlink(target, dst); err != nil {
				return fmt.Errorf("iso: %w", err)
			}
		default:
			if !noLink {
				err := linkFile(src, dst)
				if err == nil {
					continue
				}
				if !linkFallback(err) {
					return fmt.Errorf("iso: %w", err)
				}
				if errors.Is(err, syscall.EXDEV) {
					noLink = true // no use trying again
				}
			}
			if err := copyFile(src, dst, e.mode); err != nil {
				return err
			}
			t.copied++
		}
	}
	if bootCatalog != "" {
		catDir := filepath.Join(ws, filepath.FromSlash(path.Dir(bootCatalog)))
		if err := os.MkdirAll(catDir, 0o755); err != nil {
			return fmt.Errorf("iso: %w", err)
		}
	}
	// Permissions last, so read-only directories can be filled first.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].p, dirs[i].mode&(fs.ModePerm|fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("iso: %w", err)
		}
	}
	return nil
}

// linkFile is os.Link; tests make it fail.
var linkFile = os.Link

// linkFallback tells whether a failed link(2) should be replaced by a copy.
func linkFallback(err error) bool {
	for _, e := range []error{syscall.EXDEV, syscall.EPERM, syscall.EACCES, syscall.EMLINK, syscall.ENOTSUP, syscall.ENOSYS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("iso: copying %s: %w", src, err)
	}
	if err := out.Chmod(mode & (fs.ModePerm | fs.ModeSetgid | fs.ModeSetuid | fs.ModeSticky)); err != nil {
		out.Close()
		return fmt.Errorf("iso: %w", err)
	}
	return out.Close()
}
