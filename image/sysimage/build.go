package sysimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/internal/digest"
	"github.com/lockstep-ft/lockstep/internal/mountinfo"
)

// keyFormat changes when the meaning of the key inputs changes.
const keyFormat = "lockstep-sysimage/1"

// Builder builds system images; Build and Key use one with the host's Exec.
type Builder struct {
	Runner   Runner
	CacheDir string // images are kept in CacheDir/sysimage; "" disables the cache
	Progress func(format string, args ...any)
	// Refresh builds even when the cache has the image; the new image then
	// replaces the cached one. Used to check that builds are reproducible.
	Refresh bool
	// Euid decides mmdebstrap's mode (root as root, else unshare); nil means os.Geteuid.
	Euid func() int
}

func (b *Builder) progress(format string, args ...any) {
	if b.Progress != nil {
		b.Progress(format, args...)
	}
}

// Tools whose versions change the image's bytes, with the probe for each.
var tools = []struct {
	name string
	args []string
}{
	{"mmdebstrap", []string{"--version"}},
	{"apt-get", []string{"--version"}}, // mmdebstrap resolves and downloads with the host's apt
	{"mksquashfs", []string{"-version"}},
}

// toolVersions probes every tool; a missing one is named with its package.
func (b *Builder) toolVersions(ctx context.Context) (map[string]string, error) {
	v := map[string]string{}
	var missing []string
	for _, t := range tools {
		out, err := b.Runner.Output(ctx, Cmd{Name: t.name, Args: t.args})
		if errors.Is(err, exec.ErrNotFound) {
			missing = append(missing, t.name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v: %s", t.name, strings.Join(t.args, " "), err, firstLine(out))
		}
		v[t.name] = firstLine(out)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing build tools: %s (on Debian: apt-get install mmdebstrap squashfs-tools)", strings.Join(missing, ", "))
	}
	return v, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(s)
}

// prepare fills defaults and validates.
func prepare(s Spec) (Spec, error) {
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("system image spec: %w", err)
	}
	return s, nil
}

// Key returns the cache key of s (see the package function Key).
func (b *Builder) Key(ctx context.Context, s Spec) (string, error) {
	s, err := prepare(s)
	if err != nil {
		return "", err
	}
	tv, err := b.toolVersions(ctx)
	if err != nil {
		return "", err
	}
	return s.key(tv)
}

// key hashes the planned commands (with placeholder paths), the contents of
// every file they read from the host and the tool versions.
func (s Spec) key(toolVersions map[string]string) (string, error) {
	h := sha256.New()
	put := func(kind string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(h, "%s %d\n%s\n", kind, len(b), b)
	}
	put("format", keyFormat)
	put("plan", s.plan(keyLayout))
	for _, f := range s.staged() {
		sum, err := f.sum()
		if err != nil {
			return "", err
		}
		put("file", []string{f.Name, sum})
	}
	keyring, err := digest.File(s.Keyring)
	if err != nil {
		return "", fmt.Errorf("keyring %s: %w (on Debian: apt-get install debian-archive-keyring)", s.Keyring, errors.Unwrap(err))
	}
	put("keyring", keyring)
	names := make([]string, 0, len(toolVersions))
	for n := range toolVersions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		put("tool", []string{n, toolVersions[n]})
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func (f stagedFile) sum() (string, error) {
	if f.Src == "" {
		s := sha256.Sum256(f.Data)
		return hex.EncodeToString(s[:]), nil
	}
	sum, err := digest.File(f.Src)
	if err != nil {
		return "", fmt.Errorf("extra file for %s: %w", f.Dst, err)
	}
	return sum, nil
}

// CachePath is where an image with this key is cached; its manifest is
// ManifestPath of it.
func CachePath(cacheDir, key string) string {
	return filepath.Join(cacheDir, "sysimage", key+".squashfs")
}

// Build builds s into out (see the package function Build).
func (b *Builder) Build(ctx context.Context, s Spec, out string) (*Result, error) {
	start := time.Now()
	s, err := prepare(s)
	if err != nil {
		return nil, err
	}
	tv, err := b.toolVersions(ctx)
	if err != nil {
		return nil, err
	}
	key, err := s.key(tv)
	if err != nil {
		return nil, err
	}
	b.progress("system image: %s %s + %s, %d packages requested, key %s",
		s.Suite, s.Arch, orNone(s.Backports), len(s.Packages)+len(s.FromBackports), key)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	if b.CacheDir != "" && !b.Refresh {
		r, err := b.fromCache(s, key, out)
		if err == nil {
			b.progress("system image: from the cache %s (%d MiB) in %.1fs", CachePath(b.CacheDir, key), r.Size>>20, time.Since(start).Seconds())
			return r, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			b.progress("system image: cached copy unusable, rebuilding: %v", err)
		}
	}

	r, err := b.build(ctx, s, key, tv, out)
	if err != nil {
		return nil, err
	}
	b.progress("system image: %s, %d MiB, sha256 %s, %d packages, kernel %s, built in %.0fs",
		out, r.Size>>20, r.SHA256, len(r.Packages), r.Kernel, time.Since(start).Seconds())
	if b.CacheDir != "" {
		if err := b.store(out, key); err != nil {
			// The image is fine; only the next build will be slower.
			b.progress("system image: could not cache it: %v", err)
		} else {
			b.progress("system image: cached as %s", CachePath(b.CacheDir, key))
		}
	}
	return r, nil
}

func orNone(s string) string {
	if s == "" {
		return "no backports"
	}
	return s
}

// build runs mmdebstrap | mksquashfs in a scratch directory next to out.
func (b *Builder) build(ctx context.Context, s Spec, key string, tv map[string]string, out string) (_ *Result, err error) {
	work, err := os.MkdirTemp(filepath.Dir(out), ".sysimage-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := removeWork(work); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	mode := "root"
	euid := os.Geteuid
	if b.Euid != nil {
		euid = b.Euid
	}
	if euid() != 0 {
		// Unprivileged: user namespaces (needs /etc/subuid and /etc/subgid).
		mode = "unshare"
		if err := os.Chmod(work, 0o777|os.ModeSticky); err != nil {
			return nil, err
		}
	}
	l := layout{Mode: mode, Work: work, Out: filepath.Join(work, "system.squashfs")}
	for _, d := range []string{l.files(), l.meta(), l.tmp()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if mode == "unshare" {
		for _, d := range []string{l.meta(), l.tmp()} {
			if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range s.staged() {
		if err := stage(f, filepath.Join(l.files(), f.Name)); err != nil {
			return nil, err
		}
	}

	cmds := s.plan(l)
	b.progress("system image: mmdebstrap %s | mksquashfs (zstd, %s blocks), mode %s", s.Suite, blockSize, mode)
	tail := &tailLog{max: 200}
	runErr := b.Runner.Run(ctx, func(name, line string) {
		tail.add(name, line)
		switch {
		case name == "mmdebstrap" && (strings.HasPrefix(line, "I: ") || strings.HasPrefix(line, "W: ") || strings.HasPrefix(line, "E: ")):
			b.progress("%s: %s", name, clip(line, 160))
		case name == "mksquashfs" && strings.HasPrefix(line, "Empty tar filename"):
			// the tar's "./": the root directory is set by -root-mode
		case name == "mksquashfs":
			b.progress("%s: %s", name, clip(line, 160))
		}
	}, cmds...)
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("system image: build cancelled: %w", ctx.Err())
		}
		err := explain(runErr, tail.lines, s)
		if mode == "unshare" {
			err = fmt.Errorf("%w\n  (built unprivileged with mmdebstrap --mode=unshare: it needs /etc/subuid and /etc/subgid entries for this user; or build as root)", err)
		}
		return nil, err
	}

	pkgs, rels, err := readMeta(l.meta())
	if err != nil {
		return nil, fmt.Errorf("system image: %w", err)
	}
	kernel, err := kernelRelease(pkgs)
	if err != nil {
		return nil, fmt.Errorf("system image: %w", err)
	}
	sum, err := digest.File(l.Out)
	if err != nil {
		return nil, fmt.Errorf("system image: mksquashfs wrote no image: %w", err)
	}
	st, err := os.Stat(l.Out)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(l.Out, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(l.Out, out); err != nil {
		return nil, err
	}
	var boot []Image
	if s.bootable() {
		if boot, err = moveBootFiles(filepath.Join(l.meta(), "boot"), BootDir(out)); err != nil {
			return nil, fmt.Errorf("system image: boot files: %w", err)
		}
	}
	m := &Manifest{
		Format: ManifestFormat, Version: s.Version, Key: key, Epoch: s.Epoch.UTC(),
		Suite: s.Suite, Backports: s.Backports, Mirror: s.Mirror, Archive: rels,
		Kernel: kernel, Image: Image{File: filepath.Base(out), Size: st.Size(), SHA256: sum},
		Boot: boot, Tools: tv, Packages: pkgs,
	}
	if err := writeFileAtomic(ManifestPath(out), m.JSON(), 0o644); err != nil {
		return nil, err
	}
	return result(m, out, false), nil
}

func result(m *Manifest, out string, cached bool) *Result {
	r := &Result{
		Squashfs: out, Manifest: ManifestPath(out), SHA256: m.Image.SHA256, Size: m.Image.Size,
		Key: m.Key, Kernel: m.Kernel, Packages: m.Packages, Cached: cached,
	}
	if len(m.Boot) > 0 {
		r.BootDir = BootDir(out)
	}
	return r
}

// moveBootFiles moves the boot files from the build's meta directory to
// dir and describes them.
func moveBootFiles(from, dir string) ([]Image, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []Image
	for _, name := range BootFiles {
		src := filepath.Join(from, name)
		sum, n, err := copyFile(src, filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Image{File: name, Size: n, SHA256: sum})
	}
	return out, nil
}

// copyBootFiles copies the boot files listed in m from one BootDir to
// another, checking each against m.
func copyBootFiles(m *Manifest, from, to string) error {
	if len(m.Boot) == 0 {
		return nil
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, f := range m.Boot {
		sum, n, err := copyFile(filepath.Join(from, f.File), filepath.Join(to, f.File))
		if err != nil {
			return err
		}
		if sum != f.SHA256 || n != f.Size {
			return fmt.Errorf("%s: sha256 %s (%d bytes), the manifest says %s (%d bytes)", filepath.Join(from, f.File), sum, n, f.SHA256, f.Size)
		}
	}
	return nil
}

// stage copies (or writes) one file into the build's scratch directory.
func stage(f stagedFile, dst string) error {
	if f.Src == "" {
		return os.WriteFile(dst, f.Data, 0o644)
	}
	in, err := os.Open(f.Src)
	if err != nil {
		return fmt.Errorf("extra file for %s: %w", f.Dst, err)
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return fmt.Errorf("extra file %s: %w", f.Src, err)
	}
	return o.Close()
}

// fromCache copies a cached image to out, checking its sha256 on the way,
// and writes its manifest with this Spec's version.
func (b *Builder) fromCache(s Spec, key, out string) (*Result, error) {
	src := CachePath(b.CacheDir, key)
	m, err := ReadManifest(ManifestPath(src))
	if err != nil {
		return nil, err
	}
	if m.Key != key {
		return nil, fmt.Errorf("%s: manifest key %s, want %s", ManifestPath(src), m.Key, key)
	}
	sum, n, err := copyFile(src, out)
	if err != nil {
		return nil, err
	}
	if sum != m.Image.SHA256 || n != m.Image.Size {
		os.Remove(out)
		return nil, fmt.Errorf("%s: sha256 %s (%d bytes), its manifest says %s (%d bytes)", src, sum, n, m.Image.SHA256, m.Image.Size)
	}
	if err := copyBootFiles(m, BootDir(src), BootDir(out)); err != nil {
		os.Remove(out)
		return nil, err
	}
	m.Version = s.Version
	m.Image.File = filepath.Base(out)
	if err := writeFileAtomic(ManifestPath(out), m.JSON(), 0o644); err != nil {
		return nil, err
	}
	return result(m, out, true), nil
}

// store copies a fresh image and its manifest into the cache.
func (b *Builder) store(out, key string) error {
	dst := CachePath(b.CacheDir, key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	m, err := ReadManifest(ManifestPath(out))
	if err != nil {
		return err
	}
	// The manifest goes second: an image without one is never used.
	os.Remove(ManifestPath(dst))
	if _, _, err := copyFile(out, dst); err != nil {
		return err
	}
	if err := copyBootFiles(m, BootDir(out), BootDir(dst)); err != nil {
		return err
	}
	m.Image.File = filepath.Base(dst)
	return writeFileAtomic(ManifestPath(dst), m.JSON(), 0o644)
}

// copyFile copies src to dst through a temporary file and returns the sha256
// and size of what it copied.
func copyFile(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), in)
	if err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// removeWork deletes the scratch directory, unless something is still
// mounted below it (a killed mmdebstrap leaves its chroot's /proc, /sys and
// /dev mounted; deleting through those would hurt the host).
func removeWork(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("system image: left %s in place: still mounted below it: %s (umount -R them, then remove it)",
			dir, strings.Join(mounts, " "))
	}
	return os.RemoveAll(dir)
}

func mountsUnder(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return mountinfo.Under(mountinfo.Parse(b), abs), nil
}

// tailLog keeps the last lines of the build's output for error messages.
type tailLog struct {
	max   int
	lines []string
}

func (t *tailLog) add(name, line string) {
	t.lines = append(t.lines, name+": "+line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var (
	notFoundRe  = regexp.MustCompile(`E: Unable to locate package (\S+)`)
	noVersionRe = regexp.MustCompile(`E: Version '([^']+)' for '([^']+)' was not found`)
	unmetRe     = regexp.MustCompile(`^\s*(\S+) : (?:Pre)?Depends: (.+)$`)
	moreUnmetRe = regexp.MustCompile(`^\s+(?:Pre)?Depends: (.+)$`)
	netRe       = regexp.MustCompile(`(?i)(Failed to fetch|Could not resolve|Temporary failure resolving|Could not connect|Unable to connect|Connection failed|Connection timed out|No route to host|404\s+Not Found)`)
	keyRe       = regexp.MustCompile(`NO_PUBKEY|not signed|signatures couldn't be verified|is not signed|EXPKEYSIG|Release file .* is expired`)
)

// explain turns a failed pipeline into an error that names the cause: a
// package or version the archive lacks, a dependency that needs backports, an
// unreachable mirror, a keyring problem; else mmdebstrap's own errors.
func explain(runErr error, lines []string, s Spec) error {
	text := strings.Join(lines, "\n")
	var msgs []string
	for _, m := range notFoundRe.FindAllStringSubmatch(text, -1) {
		msgs = append(msgs, fmt.Sprintf("package %s is not in %s", m[1], suitesOf(s)))
	}
	for _, m := range noVersionRe.FindAllStringSubmatch(text, -1) {
		msgs = append(msgs, fmt.Sprintf("package %s: version %s is not in %s (the pin is out of date)", m[2], m[1], suitesOf(s)))
	}
	var unmet []string
	last := ""
	for _, l := range lines {
		_, l, _ = strings.Cut(l, ": ")
		if m := unmetRe.FindStringSubmatch(l); m != nil {
			last = m[1]
			unmet = append(unmet, last+" needs "+strings.TrimSpace(m[2]))
		} else if m := moreUnmetRe.FindStringSubmatch(l); m != nil && last != "" {
			unmet = append(unmet, last+" needs "+strings.TrimSpace(m[1]))
		} else {
			last = ""
		}
	}
	if len(unmet) > 0 {
		msg := "unmet dependencies: " + strings.Join(unmet, "; ")
		if s.Backports != "" {
			msg += fmt.Sprintf(" (when a package from %s needs a newer dependency, add that dependency to BackportsDeps)", s.Backports)
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		for _, l := range lines {
			if netRe.MatchString(l) {
				msgs = append(msgs, fmt.Sprintf("cannot download from the mirror %s: %s", s.Mirror, strings.TrimPrefix(l, "mmdebstrap: ")))
				break
			}
		}
	}
	if len(msgs) == 0 {
		for _, l := range lines {
			if keyRe.MatchString(l) {
				msgs = append(msgs, fmt.Sprintf("the archive's signature does not verify with keyring %s: %s", s.Keyring, strings.TrimPrefix(l, "mmdebstrap: ")))
				break
			}
		}
	}
	if len(msgs) == 0 {
		var errLines []string
		for _, l := range lines {
			if strings.Contains(l, " E: ") || strings.HasPrefix(l, "mksquashfs: ") {
				errLines = append(errLines, l)
			}
		}
		if len(errLines) > 8 {
			errLines = errLines[len(errLines)-8:]
		}
		if len(errLines) == 0 && len(lines) > 0 {
			errLines = lines[max(0, len(lines)-8):]
		}
		msgs = append(msgs, strings.Join(errLines, "\n  "))
	}
	return fmt.Errorf("system image: %s\n  (%s)", strings.Join(msgs, "; "), strings.ReplaceAll(runErr.Error(), "\n", "; "))
}

func suitesOf(s Spec) string {
	if s.Backports == "" {
		return s.Mirror + " " + s.Suite
	}
	return s.Mirror + " " + s.Suite + " or " + s.Backports
}
