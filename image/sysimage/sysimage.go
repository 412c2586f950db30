// Package sysimage builds the system image: the Debian host OS (kernel,
// systemd, QEMU/KVM, libvirt, LVM, DRBD, chrony, OpenSSH, the agent) that the
// installer writes to a node's system slot. mmdebstrap bootstraps the tree and
// streams it as a tar into mksquashfs, which packs it with zstd; the manifest
// next to the image records the version, the installed packages and the
// image's sha256.
//
// The same Spec (and the same archive content) gives the same bytes:
// SOURCE_DATE_EPOCH pins every timestamp, and customize hooks remove what is
// host- or run-specific (host keys, machine-id, logs, backup files). Built
// images are cached under <cache>/sysimage/<Key>.squashfs.
package sysimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// AgentPath is where the agent binary goes in the image. When Spec.ExtraFiles
// puts a file there, the embedded lockstepd.service is installed and enabled.
const AgentPath = "/usr/sbin/lockstepd"

// Spec is everything the system image is made from.
type Spec struct {
	// Version is the product version written into the manifest. It does not
	// change the image's bytes and so is not part of the cache key.
	Version string

	Suite      string   // "trixie"
	Mirror     string   // "http://deb.debian.org/debian"
	Components []string // ["main", "non-free-firmware"]; empty means main
	// Backports, when set, adds a sources line for that suite (same mirror and
	// components) and pins FromBackports and BackportsDeps to it.
	Backports string
	Keyring   string // verifies the archive, e.g. /usr/share/keyrings/debian-archive-keyring.gpg
	Arch      string // "amd64" when empty
	// Variant is mmdebstrap's base package set; "minbase" when empty.
	Variant string

	// Packages are installed from Suite: "name" or "name=version".
	Packages []string
	// FromBackports are installed from Backports: "name" or "name=version".
	FromBackports []string
	// BackportsDeps are apt_preferences(5) package patterns (names, globs,
	// src:NAME) also pinned to Backports but not installed by name: the
	// dependencies for which FromBackports need newer versions than Suite has.
	BackportsDeps []string
	// PathExclude are dpkg path-exclude globs (/usr/share/doc/*, ...). When
	// any is set, /usr/share/doc/*/copyright is kept all the same.
	PathExclude []string

	// Epoch is every timestamp in the image (SOURCE_DATE_EPOCH).
	Epoch    time.Time
	Hostname string // "lockstep" when empty

	ExtraFiles   []File
	EnableUnits  []string // systemctl enable, after ExtraFiles are in place
	DisableUnits []string // systemctl disable (e.g. ssh.service: off by default)
}

// File is one host file copied into the image.
type File struct {
	Src  string      // path on the build host
	Dst  string      // absolute path in the image
	Mode fs.FileMode // permission bits; 0 means 0644
}

// Package is one installed Debian package, as dpkg records it in the image.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// Result describes a built (or cached) image.
type Result struct {
	Squashfs string // the image
	Manifest string // its manifest (JSON), see ManifestPath
	SHA256   string // of the image
	Size     int64  // of the image, bytes
	Key      string // the cache key of the inputs
	Kernel   string // kernel release, e.g. 7.3.4+deb13-amd64 (/boot/vmlinuz-<Kernel>)
	BootDir  string // the boot files (BootFiles); "" when the image is not bootable
	Packages []Package
	Cached   bool // served from the cache
}

// Where an install medium (the ISO) carries the system image: the squashfs
// at MediumImage, its manifest and boot files beside it.
const (
	MediumDir   = "lockstep/system"
	MediumImage = MediumDir + "/system.squashfs"
)

// BootDir is where Build puts the boot files (BootFiles) of the image at
// out: system.squashfs → system.boot/.
func BootDir(out string) string {
	return strings.TrimSuffix(out, ".squashfs") + ".boot"
}

// ManifestPath is where Build writes the manifest of the image at out:
// system.squashfs → system.manifest.json.
func ManifestPath(out string) string {
	return strings.TrimSuffix(out, ".squashfs") + ".manifest.json"
}

// Build builds the image described by s into out (and its manifest into
// ManifestPath(out)), or copies it from cacheDir when an image with the same
// key is there. progress, when not nil, receives one line per step.
func Build(ctx context.Context, s Spec, out, cacheDir string, progress func(string, ...any)) (*Result, error) {
	b := &Builder{Runner: Exec{}, CacheDir: cacheDir, Progress: progress}
	return b.Build(ctx, s, out)
}

// Key is the cache key of s: a hash of the mmdebstrap and mksquashfs command
// lines that s produces (suite, mirror, packages, pins, hooks, epoch, ...), of
// the contents of the extra files and the keyring, and of the versions of the
// host tools that make the bytes (mmdebstrap, apt, mksquashfs).
func Key(s Spec) (string, error) {
	b := &Builder{Runner: Exec{}}
	return b.Key(context.Background(), s)
}

var (
	// a package for apt: name, optionally =version
	pkgRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$`)
	// an apt_preferences pattern: name, glob or src:name
	pinRe    = regexp.MustCompile(`^(src:)?[a-z0-9*?\[\]][a-z0-9+.*?\[\]-]*$`)
	suiteRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	compRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	unitRe   = regexp.MustCompile(`^[A-Za-z0-9@._:-]+\.(service|socket|timer|target|path|mount|automount|swap|slice)$`)
	hostRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	variants = []string{"minbase", "required", "important", "standard", "essential", "apt"}
)

// withDefaults fills the documented defaults.
func (s Spec) withDefaults() Spec {
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	if s.Variant == "" {
		s.Variant = "minbase"
	}
	if len(s.Components) == 0 {
		s.Components = []string{"main"}
	}
	if s.Hostname == "" {
		s.Hostname = "lockstep"
	}
	return s
}

// Validate lists every problem at once, each naming its field.
func (s Spec) Validate() error {
	s = s.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !suiteRe.MatchString(s.Suite) {
		bad("Suite", "%q is not a suite name (e.g. trixie)", s.Suite)
	}
	if s.Backports != "" && !suiteRe.MatchString(s.Backports) {
		bad("Backports", "%q is not a suite name (e.g. trixie-backports)", s.Backports)
	}
	if !strings.HasPrefix(s.Mirror, "http://") && !strings.HasPrefix(s.Mirror, "https://") {
		bad("Mirror", "%q is not an http(s) URL", s.Mirror)
	} else if strings.ContainsAny(s.Mirror, " \t\n'\"") {
		bad("Mirror", "%q contains blanks or quotes", s.Mirror)
	}
	for _, c := range s.Components {
		if !compRe.MatchString(c) {
			bad("Components", "%q is not a component name", c)
		}
	}
	if !suiteRe.MatchString(s.Arch) {
		bad("Arch", "%q is not a Debian architecture", s.Arch)
	}
	if !slices.Contains(variants, s.Variant) {
		bad("Variant", "%q is not one of %s", s.Variant, strings.Join(variants, ", "))
	}
	if s.Keyring == "" {
		bad("Keyring", "is required (e.g. /usr/share/keyrings/debian-archive-keyring.gpg)")
	}
	if len(s.Packages)+len(s.FromBackports) == 0 {
		bad("Packages", "at least one package is required")
	}
	for _, p := range s.Packages {
		if !pkgRe.MatchString(p) {
			bad("Packages", "%q is not a package name (name or name=version)", p)
		}
	}
	if len(s.FromBackports)+len(s.BackportsDeps) > 0 && s.Backports == "" {
		bad("Backports", "is required when FromBackports or BackportsDeps are set")
	}
	for _, p := range s.FromBackports {
		if !pkgRe.MatchString(p) {
			bad("FromBackports", "%q is not a package name (name or name=version)", p)
		}
	}
	for _, p := range s.BackportsDeps {
		if !pinRe.MatchString(p) {
			bad("BackportsDeps", "%q is not a package name, glob or src:name", p)
		}
	}
	for _, p := range s.PathExclude {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\n'\"") {
			bad("PathExclude", "%q must be an absolute glob without blanks or quotes", p)
		}
	}
	if s.Epoch.IsZero() || s.Epoch.Unix() < 0 {
		bad("Epoch", "is required (a time after 1970)")
	}
	if !hostRe.MatchString(s.Hostname) {
		bad("Hostname", "%q is not a host name (a-z 0-9 -, at most 63)", s.Hostname)
	}
	seen := map[string]bool{}
	for i, f := range s.ExtraFiles {
		field := fmt.Sprintf("ExtraFiles[%d]", i)
		if f.Src == "" {
			bad(field+".Src", "is required")
		}
		if !path.IsAbs(f.Dst) || path.Clean(f.Dst) != f.Dst || f.Dst == "/" {
			bad(field+".Dst", "%q must be a clean absolute file path", f.Dst)
		} else if seen[f.Dst] {
			bad(field+".Dst", "%q is given twice", f.Dst)
		}
		seen[f.Dst] = true
		if f.Mode&^fs.ModePerm&^(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			bad(field+".Mode", "%v has more than permission bits", f.Mode)
		}
	}
	for _, u := range append(append([]string(nil), s.EnableUnits...), s.DisableUnits...) {
		if !unitRe.MatchString(u) {
			bad("EnableUnits/DisableUnits", "%q is not a unit name (name.service, name.timer, ...)", u)
		}
	}
	for _, u := range s.EnableUnits {
		if slices.Contains(s.DisableUnits, u) {
			bad("DisableUnits", "%q is also in EnableUnits", u)
		}
	}
	return errors.Join(errs...)
}

// pkgName strips "=version" from a package request.
func pkgName(p string) string {
	name, _, _ := strings.Cut(p, "=")
	return name
}
