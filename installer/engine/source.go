package engine

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lockstep-ft/lockstep/image/sysimage"
)

// Source is a system image as lockstep-build ships it: the squashfs, its
// manifest (version, sha256, package lock) and its boot files beside it.
type Source struct {
	Image    string // system.squashfs
	Manifest *sysimage.Manifest
	BootDir  string
}

// OpenSource checks that the image, its manifest and every boot file the
// manifest lists are there. Their contents are checked against the manifest
// while they are written (a corrupt medium fails the install before the
// slot is marked good).
func OpenSource(image string) (*Source, error) {
	m, err := sysimage.ReadManifest(sysimage.ManifestPath(image))
	if err != nil {
		return nil, fmt.Errorf("system image: %w", err)
	}
	st, err := os.Stat(image)
	if err != nil {
		return nil, fmt.Errorf("system image: %w", err)
	}
	if st.Size() != m.Image.Size {
		return nil, fmt.Errorf("system image %s is %d bytes, its manifest says %d: the medium is damaged or incomplete", image, st.Size(), m.Image.Size)
	}
	s := &Source{Image: image, Manifest: m, BootDir: sysimage.BootDir(image)}
	for _, name := range sysimage.BootFiles {
		f, ok := s.boot(name)
		if !ok {
			return nil, fmt.Errorf("system image %s: the manifest lists no boot file %s (the image was not built bootable)", image, name)
		}
		if _, err := os.Stat(filepath.Join(s.BootDir, f.File)); err != nil {
			return nil, fmt.Errorf("system image: boot file: %w", err)
		}
	}
	return s, nil
}

// Version is the image's product version.
func (s *Source) Version() string { return s.Manifest.Version }

func (s *Source) boot(name string) (sysimage.Image, bool) {
	for _, f := range s.Manifest.Boot {
		if f.File == name {
			return f, true
		}
	}
	return sysimage.Image{}, false
}

// bootPath returns a boot file's path and its manifest entry.
func (s *Source) bootPath(name string) (string, sysimage.Image) {
	f, _ := s.boot(name)
	return filepath.Join(s.BootDir, name), f
}
