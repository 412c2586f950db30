// Package imager turns a recipe into outputs. One engine, many outputs: the
// installer ISO now; raw disk images and upgrade kits reuse the same fetched
// inputs and staging.
package imager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/image/debian"
	"github.com/lockstep-ft/lockstep/image/recipe"
)

// Options shared by every output.
type Options struct {
	RepoDir  string // module root, for building Go commands into the initramfs
	CacheDir string // ~/.cache/lockstep
	WorkDir  string // scratch space; removed afterwards
	// Answers, when set, is an answer file put on the medium as
	// lockstep/answers.yaml: the ISO then installs unattended (IPMI fleets).
	Answers  []byte
	Progress func(format string, args ...any)
}

// Manifest describes what went into an output; it is written into the ISO as
// lockstep/manifest.json.
type Manifest struct {
	Name     string            `json:"name"`
	Version  string            `json:"version"`
	Epoch    time.Time         `json:"epoch"`
	Kernel   string            `json:"kernel"`
	Packages []debian.Locked   `json:"packages"`
	Files    map[string]string `json:"files,omitempty"` // path -> sha256 of the big artifacts
	// System is the system image on the medium (SystemDir), if any; its own
	// manifest there lists its packages.
	System *SystemRef `json:"system,omitempty"`
}

// SystemRef names the system image an ISO carries.
type SystemRef struct {
	Version string `json:"version"`
	Kernel  string `json:"kernel"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// inputs are the fetched and unpacked packages of a recipe.
type inputs struct {
	locked []debian.Locked
	// root of each unpacked package by name
	dirs map[string]string
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// checkTools names every missing host tool at once.
func checkTools(tools ...string) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing build tools: %s (on Debian: apt-get install gpgv; Go from go.dev/dl or golang-go)", strings.Join(missing, ", "))
	}
	return nil
}

// fetch resolves every pinned package against the archive's signed indexes,
// downloads what the cache lacks, verifies sha256 and unpacks each.
func fetch(ctx context.Context, r *recipe.Recipe, o *Options) (*inputs, error) {
	res := &debian.Resolver{
		Sources:  r.Sources(),
		Arch:     r.Archive.Arch,
		Keyring:  r.Archive.Keyring,
		CacheDir: filepath.Join(o.CacheDir, "debian"),
		Progress: o.Progress,
	}
	if res.Arch == "" {
		res.Arch = "amd64"
	}
	o.progress("resolving %d pinned packages", len(r.Pins()))
	locked, err := res.Resolve(ctx, r.Pins())
	if err != nil {
		return nil, err
	}
	in := &inputs{locked: locked, dirs: map[string]string{}}
	for _, l := range locked {
		path, err := res.Fetch(ctx, l)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(o.WorkDir, "pkgs", l.Name)
		o.progress("unpacking %s %s", l.Name, l.Version)
		if err := debian.Extract(path, dir, keepForBoot); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", l.Name, err)
		}
		in.dirs[l.Name] = dir
	}
	return in, nil
}

// keepForBoot skips documentation and the like while unpacking.
func keepForBoot(name string) bool {
	return !strings.HasPrefix(name, "usr/share/doc") && !strings.HasPrefix(name, "usr/share/man") &&
		!strings.HasPrefix(name, "usr/share/lintian") && !strings.HasPrefix(name, "usr/share/bug")
}

// find returns the first existing path among candidates under one package.
func (in *inputs) find(pkg string, candidates ...string) (string, error) {
	dir, ok := in.dirs[pkg]
	if !ok {
		return "", fmt.Errorf("the recipe does not pin package %q, which provides %s", pkg, candidates[0])
	}
	for _, c := range candidates {
		p := filepath.Join(dir, c)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("package %s has no %s", pkg, strings.Join(candidates, " or "))
}

// findAny looks for a file in every unpacked package, in recipe order.
func (in *inputs) findAny(rel ...string) (string, string, error) {
	for _, l := range in.locked {
		for _, r := range rel {
			p := filepath.Join(in.dirs[l.Name], r)
			if _, err := os.Stat(p); err == nil {
				return p, l.Name, nil
			}
		}
	}
	return "", "", fmt.Errorf("no pinned package provides %s", strings.Join(rel, " or "))
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeFile(dst string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

func (m *Manifest) json() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// id is a short, deterministic identity of the build inputs.
func (m *Manifest) id() string {
	pk := make([]string, 0, len(m.Packages))
	for _, p := range m.Packages {
		pk = append(pk, p.Name+"="+p.SHA256)
	}
	sort.Strings(pk)
	h := sha256.Sum256([]byte(m.Name + "\x00" + m.Version + "\x00" + strings.Join(pk, "\x00")))
	return hex.EncodeToString(h[:6])
}
