package sysimage

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/image/debian"
)

// ManifestFormat is the version of the manifest's layout.
const ManifestFormat = 1

// Manifest is written next to the image (ManifestPath) and describes it.
type Manifest struct {
	Format    int       `json:"format"`
	Version   string    `json:"version"` // product version (Spec.Version)
	Key       string    `json:"key"`     // cache key of the inputs
	Epoch     time.Time `json:"epoch"`
	Suite     string    `json:"suite"`
	Backports string    `json:"backports,omitempty"`
	Mirror    string    `json:"mirror"`
	// Archive is the state of each suite the packages came from.
	Archive []Release `json:"archive"`
	Kernel  string    `json:"kernel"` // release: /boot/vmlinuz-<kernel>
	Image   Image     `json:"image"`
	// Boot are the boot files in BootDir (bootable images only), BootFiles order.
	Boot []Image `json:"boot,omitempty"`
	// Tools are the host tools that made the bytes, with their versions.
	Tools map[string]string `json:"tools"`
	// Packages is the package lock: every package installed in the image.
	Packages []Package `json:"packages"`
}

// Release identifies one suite's signed index, as apt saw it during the build.
type Release struct {
	Suite    string `json:"suite"`
	Codename string `json:"codename"`
	Version  string `json:"version,omitempty"`
	Date     string `json:"date"`
	SHA256   string `json:"sha256"` // of the InRelease file
}

// Image is the squashfs file.
type Image struct {
	File   string `json:"file"` // base name
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// JSON is the manifest as written: indented, keys in a fixed order, a final newline.
func (m *Manifest) JSON() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // only plain data
	}
	return append(b, '\n')
}

// ReadManifest reads a manifest written by Build.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest %s: format %d, want %d", path, m.Format, ManifestFormat)
	}
	return &m, nil
}

// Package returns the installed package called name.
func (m *Manifest) Package(name string) (Package, bool) {
	for _, p := range m.Packages {
		if p.Name == name {
			return p, true
		}
	}
	return Package{}, false
}

// parseDpkgStatus lists the installed packages of a dpkg status file, by name.
func parseDpkgStatus(b []byte) ([]Package, error) {
	var out []Package
	for _, para := range bytes.Split(b, []byte("\n\n")) {
		f := fields(para)
		if f["Package"] == "" {
			continue
		}
		if !strings.HasSuffix(f["Status"], " installed") {
			continue
		}
		if f["Version"] == "" || f["Architecture"] == "" {
			return nil, fmt.Errorf("dpkg status: package %s has no version or architecture", f["Package"])
		}
		out = append(out, Package{Name: f["Package"], Version: f["Version"], Arch: f["Architecture"]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dpkg status lists no installed package")
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Arch < out[j].Arch
	})
	return out, nil
}

// fields reads the single-line fields of one deb822 paragraph.
func fields(para []byte) map[string]string {
	f := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(para))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[k] = strings.TrimSpace(v)
		}
	}
	return f
}

// parseInRelease reads the identity fields of a (clear-signed) InRelease file.
func parseInRelease(b []byte) Release {
	text := b
	if i := bytes.Index(text, []byte("\n\n")); bytes.HasPrefix(text, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) && i >= 0 {
		text = text[i+2:]
	}
	if i := bytes.Index(text, []byte("\n-----BEGIN PGP SIGNATURE-----")); i >= 0 {
		text = text[:i]
	}
	f := fields(text)
	sum := sha256.Sum256(b)
	return Release{Suite: f["Suite"], Codename: f["Codename"], Version: f["Version"], Date: f["Date"], SHA256: hex.EncodeToString(sum[:])}
}

// readMeta reads what the build's first customize hook copied out.
func readMeta(dir string) ([]Package, []Release, error) {
	status, err := os.ReadFile(filepath.Join(dir, "dpkg-status"))
	if err != nil {
		return nil, nil, fmt.Errorf("the build left no dpkg status: %w", err)
	}
	pkgs, err := parseDpkgStatus(status)
	if err != nil {
		return nil, nil, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*_InRelease"))
	sort.Strings(files)
	var rels []Release
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		rels = append(rels, parseInRelease(b))
	}
	return pkgs, rels, nil
}

// kernelRelease finds the kernel in the package list: Debian's
// linux-image-<release> packages install /boot/vmlinuz-<release>. With more
// than one, the newest package wins.
func kernelRelease(pkgs []Package) (string, error) {
	var best *Package
	for i, p := range pkgs {
		rel, ok := strings.CutPrefix(p.Name, "linux-image-")
		if !ok || rel == "" || rel[0] < '0' || rel[0] > '9' || strings.HasSuffix(rel, "-dbg") {
			continue
		}
		if best == nil || debian.CompareVersions(p.Version, best.Version) > 0 {
			best = &pkgs[i]
		}
	}
	if best == nil {
		return "", fmt.Errorf("no kernel in the image: add linux-image-amd64 to the packages")
	}
	return strings.TrimPrefix(best.Name, "linux-image-"), nil
}
