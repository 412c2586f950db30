// Package moddep indexes the kernel modules of an unpacked kernel package
// and writes a trimmed, decompressed module tree for the installer
// initramfs with the depmod text indexes (modules.dep, modules.alias,
// modules.softdep) generated in Go, because Debian's kernel packages ship
// no depmod output.
package moddep

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/lockstep-ft/lockstep/initramfs/coldplug"
)

// Module is one kernel module.
type Module struct {
	Name     string   // normalised: '-' -> '_'  (e.g. "virtio_blk")
	Path     string   // relative to the modules root, without compression suffix, e.g. "kernel/drivers/block/virtio_blk.ko"
	Source   string   // absolute path of the file as found (may end in .ko.xz/.ko.zst/.ko); empty for built-in modules
	Depends  []string // from .modinfo "depends=" (comma list)
	Aliases  []string // from .modinfo "alias="
	Firmware []string // from .modinfo "firmware="

	SoftPre, SoftPost []string // from "softdep=" ("pre: a b post: c")

	// Builtin marks a module compiled into the kernel image (listed in
	// modules.builtin); its Aliases and Firmware come from
	// modules.builtin.modinfo, which only records explicit MODULE_ALIAS
	// aliases, not device-table ones.
	Builtin bool

	softdeps []string // raw "softdep=" values, for modules.softdep
}

// Index is the set of modules of one kernel.
type Index struct {
	KernelVersion string
	Modules       map[string]*Module // loadable modules by Name
	Builtin       map[string]*Module // built-in modules by Name (from modules.builtin)

	root  string         // absolute modules root
	order map[string]int // Path -> line of modules.order
}

// moduleSuffixes are the module file name endings Scan accepts.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

func moduleSuffix(name string) (string, bool) {
	for _, s := range moduleSuffixes {
		if strings.HasSuffix(name, s) {
			return s, true
		}
	}
	return "", false
}

// Name returns the normalised module name for a module file path or name:
// the base name without ".ko" and compression suffix, '-' replaced by '_'.
func Name(path string) string { return coldplug.ModuleName(path) }

// Scan indexes the modules under modulesRoot (<tree>/lib/modules/<kver> or
// <tree>/usr/lib/modules/<kver>; the kernel version is its base name). It
// reads every .ko, .ko.xz, .ko.zst and .ko.gz file below it, and
// modules.order, modules.builtin and modules.builtin.modinfo when present.
func Scan(modulesRoot string) (*Index, error) {
	root, err := filepath.Abs(modulesRoot)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("moddep: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("moddep: %s is not a directory", root)
	}
	ix := &Index{
		KernelVersion: filepath.Base(root),
		Modules:       map[string]*Module{},
		Builtin:       map[string]*Module{},
		root:          root,
		order:         map[string]int{},
	}

	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, ok := moduleSuffix(d.Name()); ok && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("moddep: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("moddep: no kernel modules under %s", root)
	}
	sort.Strings(files)

	mods := make([]*Module, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				mods[i], errs[i] = readModule(root, files[i])
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	for _, m := range mods {
		if old, dup := ix.Modules[m.Name]; dup {
			// depmod's default search order prefers updates/.
			switch {
			case strings.HasPrefix(m.Path, "updates/") && !strings.HasPrefix(old.Path, "updates/"):
			case strings.HasPrefix(old.Path, "updates/") && !strings.HasPrefix(m.Path, "updates/"):
				continue
			default:
				return nil, fmt.Errorf("moddep: module %s found twice: %s and %s", m.Name, old.Source, m.Source)
			}
		}
		ix.Modules[m.Name] = m
	}

	if err := ix.readOrder(); err != nil {
		return nil, err
	}
	if err := ix.readBuiltin(); err != nil {
		return nil, err
	}
	return ix, nil
}

// readModule reads and indexes one module file.
func readModule(root, file string) (*Module, error) {
	data, err := readModuleFile(file)
	if err != nil {
		return nil, err
	}
	info, err := ReadModInfo(data)
	if err != nil {
		return nil, fmt.Errorf("moddep: %s: %w", file, err)
	}
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return nil, err
	}
	rel = filepath.ToSlash(rel)
	suf, _ := moduleSuffix(rel)
	m := &Module{
		Name:     Name(rel),
		Path:     strings.TrimSuffix(rel, suf) + ".ko",
		Source:   file,
		Aliases:  info["alias"],
		Firmware: info["firmware"],
	}
	for _, d := range info["depends"] {
		for _, n := range strings.Split(d, ",") {
			if n = strings.TrimSpace(n); n != "" {
				m.Depends = append(m.Depends, Name(n))
			}
		}
	}
	m.softdeps = info["softdep"]
	for _, sd := range m.softdeps {
		pre, post := coldplug.ParseSoftdepValue(sd)
		m.SoftPre = append(m.SoftPre, pre...)
		m.SoftPost = append(m.SoftPost, post...)
	}
	return m, nil
}

// readModuleFile returns the decompressed contents of a module file.
func readModuleFile(file string) ([]byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("moddep: %w", err)
	}
	var data []byte
	switch {
	case strings.HasSuffix(file, ".xz"):
		r, err := xz.NewReader(bytes.NewReader(raw))
		if err == nil {
			data, err = io.ReadAll(r)
		}
		if err != nil {
			return nil, fmt.Errorf("moddep: %s: xz: %w", file, err)
		}
	case strings.HasSuffix(file, ".zst"):
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		data, err = dec.DecodeAll(raw, nil)
		dec.Close()
		if err != nil {
			return nil, fmt.Errorf("moddep: %s: zstd: %w", file, err)
		}
	case strings.HasSuffix(file, ".gz"):
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			data, err = io.ReadAll(r)
		}
		if err != nil {
			return nil, fmt.Errorf("moddep: %s: gzip: %w", file, err)
		}
	default:
		data = raw
	}
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("moddep: %s: not an ELF file", file)
	}
	return data, nil
}

// ReadModInfo parses the ".modinfo" section of a kernel module ELF image:
// NUL-separated "key=value" strings. Values of repeated keys keep their
// order.
func ReadModInfo(elfData []byte) (map[string][]string, error) {
	f, err := elf.NewFile(bytes.NewReader(elfData))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	if sec.Type == elf.SHT_NOBITS {
		return nil, errors.New(".modinfo section has no data")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf(".modinfo: %w", err)
	}
	info := map[string][]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if ok && k != "" {
			info[k] = append(info[k], v)
		}
	}
	return info, nil
}

// readOrder reads modules.order (optional), which depmod uses to order its
// output.
func (ix *Index) readOrder() error {
	f, err := os.Open(filepath.Join(ix.root, "modules.order"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("moddep: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if suf, ok := moduleSuffix(p); ok {
			p = strings.TrimSuffix(p, suf) + ".ko"
		}
		if _, dup := ix.order[p]; !dup {
			ix.order[p] = n
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("moddep: modules.order: %w", err)
	}
	return nil
}

// readBuiltin reads modules.builtin and modules.builtin.modinfo (both
// optional).
func (ix *Index) readBuiltin() error {
	b, err := os.ReadFile(filepath.Join(ix.root, "modules.builtin"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("moddep: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		m := &Module{Name: Name(line), Path: line, Builtin: true}
		ix.Builtin[m.Name] = m
	}
	info, err := os.ReadFile(filepath.Join(ix.root, "modules.builtin.modinfo"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("moddep: %w", err)
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		key, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		name, k, ok := strings.Cut(key, ".")
		m := ix.Builtin[Name(name)]
		if !ok || m == nil {
			continue
		}
		switch k {
		case "alias":
			m.Aliases = append(m.Aliases, v)
		case "firmware":
			m.Firmware = append(m.Firmware, v)
		case "softdep":
			pre, post := coldplug.ParseSoftdepValue(v)
			m.SoftPre = append(m.SoftPre, pre...)
			m.SoftPost = append(m.SoftPost, post...)
		}
	}
	return nil
}
