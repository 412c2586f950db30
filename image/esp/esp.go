// Package esp makes the EFI system partition image: a small FAT filesystem
// holding EFI/BOOT/BOOTX64.EFI and what it loads. The same image is the El
// Torito EFI boot image on CD and the 0xEF partition on a USB stick.
package esp

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
)

const (
	mib = 1 << 20
	// FAT16 needs at least 4085 clusters or firmware reads it as FAT12; with
	// go-diskfs's 1 KiB clusters below 32 MiB, 8 MiB keeps us well inside FAT16.
	minSize = 8 * mib
)

// File is one file to put in the image.
type File struct {
	Path   string // inside the FAT, e.g. "EFI/BOOT/BOOTX64.EFI"
	Source string // on the host; or
	Data   []byte // literal content
}

// Build writes a FAT16 image at out holding files, every timestamp set to
// epoch and the volume serial derived from nothing random, so two builds of
// the same inputs give the same bytes.
func Build(out, label string, files []File, epoch time.Time) (int64, error) {
	var total int64
	for _, f := range files {
		n, err := f.size()
		if err != nil {
			return 0, err
		}
		total += (n + 4095) &^ 4095
	}
	size := (total*5/4 + mib + mib - 1) &^ (mib - 1)
	if size < minSize {
		size = minSize
	}
	// go-diskfs stamps new directory entries with SOURCE_DATE_EPOCH or, without
	// it, the wall clock; pin it for the duration of the build.
	restore := setEnv("SOURCE_DATE_EPOCH", fmt.Sprint(epoch.Unix()))
	defer restore()
	_ = os.Remove(out)
	be, err := file.CreateFromPath(out, size)
	if err != nil {
		return 0, fmt.Errorf("esp: create %s: %w", out, err)
	}
	defer be.Close()
	fs, err := fat16.Create(be, size, 0, 512, label, true)
	if err != nil {
		return 0, fmt.Errorf("esp: mkfs: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	dirs := map[string]bool{}
	var dirList []string
	for _, f := range files {
		for d := path.Dir(f.Path); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			dirList = append(dirList, d)
		}
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := fs.Mkdir("/" + d); err != nil {
			return 0, fmt.Errorf("esp: mkdir %s: %w", d, err)
		}
	}
	for _, f := range files {
		if err := writeFile(fs, f); err != nil {
			return 0, err
		}
	}
	for _, p := range append(dirList, filePaths(files)...) {
		if err := fs.Chtimes("/"+p, epoch, epoch, epoch); err != nil {
			return 0, fmt.Errorf("esp: set time of %s: %w", p, err)
		}
	}
	return size, nil
}

func filePaths(files []File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

func (f File) size() (int64, error) {
	if f.Source == "" {
		return int64(len(f.Data)), nil
	}
	st, err := os.Stat(f.Source)
	if err != nil {
		return 0, fmt.Errorf("esp: %s: %w", f.Path, err)
	}
	return st.Size(), nil
}

func writeFile(fs filesystem.FileSystem, f File) error {
	if strings.ContainsAny(f.Path, "\\:") {
		return fmt.Errorf("esp: bad path %q", f.Path)
	}
	w, err := fs.OpenFile("/"+f.Path, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("esp: create %s: %w", f.Path, err)
	}
	defer w.Close()
	var r io.Reader
	if f.Source != "" {
		src, err := os.Open(f.Source)
		if err != nil {
			return fmt.Errorf("esp: %s: %w", f.Path, err)
		}
		defer src.Close()
		r = src
	} else {
		r = strings.NewReader(string(f.Data))
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("esp: write %s: %w", f.Path, err)
	}
	return nil
}

// envMu serialises setEnv: the environment is process-wide, and two
// overlapping set/restore pairs (parallel builds, parallel tests) would
// leave the first one's value behind for good, changing every later build
// that reads SOURCE_DATE_EPOCH.
var envMu sync.Mutex

// setEnv sets k until the returned func restores it; it holds envMu until
// then, so callers must restore promptly.
func setEnv(k, v string) func() {
	envMu.Lock()
	old, had := os.LookupEnv(k)
	os.Setenv(k, v)
	return func() {
		if had {
			os.Setenv(k, old)
		} else {
			os.Unsetenv(k)
		}
		envMu.Unlock()
	}
}
