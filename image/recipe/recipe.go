// Package recipe loads the declarative build recipe: the one input from which
// the builder makes the installer ISO (and, later, disk images and kits).
package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lockstep-ft/lockstep/image/debian"
)

// Package names one Debian package at an exact version.
type Package struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Suite   string `yaml:"suite,omitempty"`
}

// Source is one Debian archive suite the packages come from.
type Source struct {
	Mirror     string   `yaml:"mirror"`
	Suite      string   `yaml:"suite"`
	Components []string `yaml:"components"`
}

// Recipe is the whole build input.
type Recipe struct {
	Name     string `yaml:"name"`
	Version  string `yaml:"version"`
	VolumeID string `yaml:"volume_id"`
	// Epoch is the timestamp written everywhere in the outputs; SOURCE_DATE_EPOCH overrides it.
	Epoch string `yaml:"epoch"`

	Archive struct {
		Keyring string   `yaml:"keyring"`
		Arch    string   `yaml:"arch"`
		Sources []Source `yaml:"sources"`
	} `yaml:"archive"`

	Kernel struct {
		Package Package `yaml:"package"`
		// Modules are globs on module paths (kernel/drivers/ata/*, kernel/drivers/net/**) or
		// bare module names; the builder adds their dependencies.
		Modules []string `yaml:"modules"`
		// Cmdline is appended to every boot menu entry.
		Cmdline string `yaml:"cmdline"`
	} `yaml:"kernel"`

	// Firmware packages: only the files that the selected modules ask for are carried.
	Firmware []Package `yaml:"firmware"`

	Bootloader struct {
		BIOS []Package `yaml:"bios"` // isolinux + syslinux-common
		EFI  []Package `yaml:"efi"`  // shim-signed + grub-efi-amd64-signed
		// Timeout in seconds before the default entry boots.
		Timeout int `yaml:"timeout"`
		// GPT also writes a GPT next to the hybrid MBR.
		GPT bool `yaml:"gpt"`
	} `yaml:"bootloader"`

	Installer struct {
		// Commands are extra u-root commands built into the busybox (rescue tools).
		Commands []string `yaml:"commands"`
	} `yaml:"installer"`

	// System is the system image recipe (image/sysimage), relative to this
	// file: the host OS the installer writes to a node. Empty builds an ISO
	// without one, whose installer can only do dry runs.
	System string `yaml:"system"`

	// Dir is the directory the recipe was read from (for relative paths).
	Dir string `yaml:"-"`
}

// Load reads and validates a recipe file.
func Load(path string) (*Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	r.Dir = filepath.Dir(path)
	return r, nil
}

// Parse decodes and validates recipe YAML; unknown keys are errors so that a
// typo never silently drops a setting.
func Parse(b []byte) (*Recipe, error) {
	var r Recipe
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

var (
	volIDRe   = regexp.MustCompile(`^[A-Z0-9_]{1,32}$`)
	versionRe = regexp.MustCompile(`^[0-9A-Za-z.+~_-]+$`)
)

// Validate lists every problem at once, each naming its field.
func (r *Recipe) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if r.Name == "" {
		bad("name", "is required")
	}
	if !versionRe.MatchString(r.Version) {
		bad("version", "%q is not a version (letters, digits, . + ~ _ -)", r.Version)
	}
	if !volIDRe.MatchString(r.VolumeID) {
		bad("volume_id", "%q must be 1-32 of A-Z 0-9 _", r.VolumeID)
	}
	if _, err := parseEpoch(r.Epoch); err != nil {
		bad("epoch", "%v", err)
	}
	if len(r.Archive.Sources) == 0 {
		bad("archive.sources", "at least one source is required")
	}
	for i, s := range r.Archive.Sources {
		if !strings.HasPrefix(s.Mirror, "http://") && !strings.HasPrefix(s.Mirror, "https://") {
			bad(fmt.Sprintf("archive.sources[%d].mirror", i), "%q is not an http(s) URL", s.Mirror)
		}
		if s.Suite == "" {
			bad(fmt.Sprintf("archive.sources[%d].suite", i), "is required")
		}
		if len(s.Components) == 0 {
			bad(fmt.Sprintf("archive.sources[%d].components", i), "at least one component is required")
		}
	}
	if r.Archive.Keyring == "" {
		bad("archive.keyring", "is required (e.g. /usr/share/keyrings/debian-archive-keyring.gpg)")
	}
	checkPkg := func(field string, p Package) {
		if p.Name == "" {
			bad(field+".name", "is required")
		}
		if p.Version == "" {
			bad(field+".version", "is required: packages are pinned to exact versions")
		}
	}
	checkPkg("kernel.package", r.Kernel.Package)
	if len(r.Kernel.Modules) == 0 {
		bad("kernel.modules", "at least one module pattern is required")
	}
	for i, p := range r.Firmware {
		checkPkg(fmt.Sprintf("firmware[%d]", i), p)
	}
	if len(r.Bootloader.BIOS) == 0 {
		bad("bootloader.bios", "the BIOS boot packages are required")
	}
	if len(r.Bootloader.EFI) == 0 {
		bad("bootloader.efi", "the EFI boot packages are required")
	}
	for i, p := range r.Bootloader.BIOS {
		checkPkg(fmt.Sprintf("bootloader.bios[%d]", i), p)
	}
	for i, p := range r.Bootloader.EFI {
		checkPkg(fmt.Sprintf("bootloader.efi[%d]", i), p)
	}
	if r.Bootloader.Timeout < 1 || r.Bootloader.Timeout > 600 {
		bad("bootloader.timeout", "%d is out of range 1..600 seconds", r.Bootloader.Timeout)
	}
	return errors.Join(errs...)
}

// EpochTime is the build timestamp: SOURCE_DATE_EPOCH when set, else the recipe's.
func (r *Recipe) EpochTime() (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return parseEpoch(r.Epoch)
}

func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("is required (RFC 3339, e.g. 2026-11-01T00:00:00Z)")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339 (e.g. 2026-11-01T00:00:00Z)", s)
	}
	return t.UTC(), nil
}

// Pins lists every package the recipe pins, kernel first.
func (r *Recipe) Pins() []debian.Pin {
	var pins []debian.Pin
	add := func(p Package) { pins = append(pins, debian.Pin{Name: p.Name, Version: p.Version, Suite: p.Suite}) }
	add(r.Kernel.Package)
	for _, p := range r.Bootloader.BIOS {
		add(p)
	}
	for _, p := range r.Bootloader.EFI {
		add(p)
	}
	for _, p := range r.Firmware {
		add(p)
	}
	return pins
}

// Sources converts the recipe's archive sources.
func (r *Recipe) Sources() []debian.Source {
	out := make([]debian.Source, len(r.Archive.Sources))
	for i, s := range r.Archive.Sources {
		out[i] = debian.Source{Mirror: s.Mirror, Suite: s.Suite, Components: s.Components}
	}
	return out
}
