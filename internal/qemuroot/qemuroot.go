// Package qemuroot provides a QEMU 11.1 (Debian trixie-backports) that runs
// on a Debian 12 build host, whose own QEMU 7.2 hangs nested guests and
// deadlocks under COLO.
//
// Ensure builds, once, a minimal Debian trixie tree with mmdebstrap that
// holds qemu-system-x86, qemu-utils and their firmware (SeaBIOS, iPXE option
// ROMs, OVMF), src:qemu and src:seabios pinned to trixie-backports, and
// caches it by its inputs. The tree's programs run without a chroot: the
// tree's own dynamic loader runs them with the tree's libraries, so every
// host path a caller passes (disks, sockets, logs, kernels) means the same as
// for a host program.
//
// The loader's path is what /proc/self/exe shows, and QEMU derives its data,
// firmware, module and configuration directories from it: with a
// "qemu-bundle" directory next to the executable, QEMU looks for every
// compiled-in path (/usr/share/qemu, /usr/share/seabios,
// /usr/lib/x86_64-linux-gnu/qemu, /etc/qemu, ...) under it. The tree has
// qemu-bundle next to its loader pointing at the tree's root, so QEMU never
// reads the host's QEMU 7.2 firmware or modules. Command also passes -L for
// the firmware directories and QEMU_MODULE_DIR for the modules, which say
// the same explicitly.
//
// Limits: programs QEMU itself executes run as host programs. The tree's
// qemu-bridge-helper (-netdev bridge) therefore cannot run (it needs the
// tree's C library); use tap file descriptors or socket netdevs. Scripts
// (-netdev tap,script=) run with the host's shell and see the variables
// Command sets (QEMU_MODULE_DIR, LOCPATH, GCONV_PATH).
package qemuroot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// keyFormat changes when the meaning of the key's inputs or the layout of a
// cache entry changes (the loader setup, the wrappers, the manifest).
const keyFormat = "lockstep-qemuroot/1"

// Spec is what goes into the tree.
type Spec struct {
	Mirror     string
	Suite      string   // the base suite: trixie
	Backports  string   // trixie-backports
	Components []string // main
	Arch       string   // amd64
	Variant    string   // mmdebstrap --variant
	Keyring    string
	// Packages are installed (--include). qemu-system-x86 pulls in its
	// default option ROMs and BIOS; the rest are named so that the tree
	// does not depend on Recommends.
	Packages []string
	// BackportsSources are the source packages whose binaries are pinned
	// to Backports (apt_preferences "src:" entries).
	BackportsSources []string
	// PathExclude keeps files out of the tree (dpkg --path-exclude);
	// copyright files are kept.
	PathExclude []string
	// Version is the QEMU release the tree must have, as "major.minor": a
	// build that yields another one fails instead of being cached, because
	// what the project knows about COLO and nested guests holds for it.
	Version string
}

// DefaultSpec is the tree Ensure builds.
func DefaultSpec() Spec {
	return Spec{
		Mirror:           "http://deb.debian.org/debian",
		Suite:            "trixie",
		Backports:        "trixie-backports",
		Components:       []string{"main"},
		Arch:             "amd64",
		Variant:          "apt",
		Keyring:          "/usr/share/keyrings/debian-archive-keyring.gpg",
		Packages:         []string{"qemu-system-x86", "qemu-utils", "ovmf", "seabios", "ipxe-qemu"},
		BackportsSources: []string{"qemu", "seabios"}, // qemu 11.1 needs seabios >> 1.17.0-1~
		PathExclude: []string{
			"/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*",
			"/usr/share/locale/*", "/usr/share/lintian/*",
		},
		Version: "11.1",
	}
}

// preferences pins BackportsSources to the backports suite.
func (s Spec) preferences() string {
	if len(s.BackportsSources) == 0 {
		return ""
	}
	var names []string
	for _, p := range s.BackportsSources {
		names = append(names, "src:"+p)
	}
	slices.Sort(names)
	return fmt.Sprintf("Package: %s\nPin: release n=%s\nPin-Priority: 990\n", strings.Join(names, " "), s.Backports)
}

// sourcesLines are apt's sources for the build.
func (s Spec) sourcesLines() []string {
	comps := strings.Join(s.Components, " ")
	lines := []string{fmt.Sprintf("deb %s %s %s", s.Mirror, s.Suite, comps)}
	if s.Backports != "" {
		lines = append(lines, fmt.Sprintf("deb %s %s %s", s.Mirror, s.Backports, comps))
	}
	return lines
}

// mmdebstrapArgs builds the tree into target (a directory).
func (s Spec) mmdebstrapArgs(target string) []string {
	args := []string{
		"--mode=root",
		"--variant=" + s.Variant,
		"--architectures=" + s.Arch,
		"--format=directory",
		"--keyring=" + s.Keyring,
		`--aptopt=Acquire::Languages "none"`,
	}
	for _, p := range s.PathExclude {
		args = append(args, "--dpkgopt=path-exclude="+p)
	}
	if len(s.PathExclude) > 0 {
		args = append(args, "--dpkgopt=path-include=/usr/share/doc/*/copyright")
	}
	if prefs := s.preferences(); prefs != "" {
		args = append(args, "--setup-hook="+
			`mkdir -p "$1/etc/apt/preferences.d" && printf '%s' `+shq(prefs)+` > "$1/etc/apt/preferences.d/lockstep-backports"`)
	}
	if len(s.Packages) > 0 {
		args = append(args, "--include="+strings.Join(s.Packages, ","))
	}
	args = append(args, s.Suite, target)
	return append(args, s.sourcesLines()...)
}

// Key names the cache entry of a tree built from s by the given mmdebstrap
// version: the hex sha256 of every input, truncated to 128 bits. The order
// of Packages, BackportsSources and PathExclude does not matter.
func (s Spec) Key(mmdebstrapVersion string) string {
	sorted := func(v []string) string {
		c := slices.Clone(v)
		slices.Sort(c)
		return strings.Join(c, " ")
	}
	h := sha256.New()
	for _, f := range []string{
		keyFormat,
		"mmdebstrap " + mmdebstrapVersion,
		"mirror " + s.Mirror,
		"suites " + s.Suite + " " + s.Backports,
		"components " + strings.Join(s.Components, " "),
		"arch " + s.Arch,
		"variant " + s.Variant,
		"keyring " + s.Keyring,
		"packages " + sorted(s.Packages),
		"pins " + s.preferences(),
		"pin-sources " + sorted(s.BackportsSources),
		"exclude " + sorted(s.PathExclude),
		"version " + s.Version,
	} {
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Root is a built tree in the cache.
type Root struct {
	Dir      string // the cache entry: <cache>/qemuroot/<key>
	Manifest Manifest
}

// Tree is the Debian tree.
func (r *Root) Tree() string { return filepath.Join(r.Dir, "root") }

// Loader is the tree's dynamic loader, which runs the tree's programs.
func (r *Root) Loader() string { return filepath.Join(r.Tree(), "lib64", "ld-linux-x86-64.so.2") }

// libDirs are the tree's library directories, searched before anything of
// the host's.
func (r *Root) libDirs() string {
	t := r.Tree()
	return filepath.Join(t, "usr", "lib", "x86_64-linux-gnu") + ":" + filepath.Join(t, "lib", "x86_64-linux-gnu")
}

// ModuleDir holds QEMU's loadable modules (display, USB, audio, ...).
func (r *Root) ModuleDir() string {
	return filepath.Join(r.Tree(), "usr", "lib", "x86_64-linux-gnu", "qemu")
}

// FirmwareDirs are QEMU's -L directories in the tree: its data directory
// (option ROMs, kvmvapic, keymaps) and SeaBIOS.
func (r *Root) FirmwareDirs() []string {
	return []string{filepath.Join(r.Tree(), "usr", "share", "qemu"), filepath.Join(r.Tree(), "usr", "share", "seabios")}
}

// OVMFCode is the tree's 4 MiB OVMF code (without Secure Boot), for a
// read-only pflash unit 0.
func (r *Root) OVMFCode() string {
	return filepath.Join(r.Tree(), "usr", "share", "OVMF", "OVMF_CODE_4M.fd")
}

// OVMFVars is the tree's OVMF variable store template: copy it for each VM
// (PflashArgs does), never hand the template itself to QEMU.
func (r *Root) OVMFVars() string {
	return filepath.Join(r.Tree(), "usr", "share", "OVMF", "OVMF_VARS_4M.fd")
}

// PflashArgs copies the OVMF variable store into dir and returns the QEMU
// arguments for OVMF from the tree (code read-only, the copy writable).
func (r *Root) PflashArgs(dir string) ([]string, error) {
	b, err := os.ReadFile(r.OVMFVars())
	if err != nil {
		return nil, fmt.Errorf("qemuroot: OVMF variable store: %w", err)
	}
	vars := filepath.Join(dir, "OVMF_VARS_4M.fd")
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		return nil, err
	}
	return []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + r.OVMFCode(),
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
	}, nil
}

// Env is what the tree's programs get on top of the caller's environment:
// QEMU's modules, and the C library's locales and character set converters,
// from the tree.
func (r *Root) Env() []string {
	t := r.Tree()
	return []string{
		"QEMU_MODULE_DIR=" + r.ModuleDir(),
		"LOCPATH=" + filepath.Join(t, "usr", "lib", "locale"),
		"GCONV_PATH=" + filepath.Join(t, "usr", "lib", "x86_64-linux-gnu", "gconv"),
	}
}

// argv is the command line that runs the tree's /usr/bin/<name> with args.
func (r *Root) argv(name string, args []string) []string {
	out := []string{
		r.Loader(),
		"--inhibit-cache", // never the host's /etc/ld.so.cache
		"--library-path", r.libDirs(),
		"--argv0", name, // messages read "qemu-system-x86_64: ...", as from the host's
		filepath.Join(r.Tree(), "usr", "bin", name),
	}
	if name == "qemu-system-x86_64" {
		for _, d := range r.FirmwareDirs() {
			out = append(out, "-L", d)
		}
	}
	return append(out, args...)
}

// Tool returns the command that runs the tree's /usr/bin/<name> (qemu-img,
// qemu-nbd, qemu-io, ...) with args. ctx kills it as exec.CommandContext does.
func (r *Root) Tool(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := r.argv(name, args)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), r.Env()...)
	return cmd
}

// Command returns the command that runs the tree's qemu-system-x86_64 with
// args, after -L for the tree's firmware directories.
func (r *Root) Command(ctx context.Context, args ...string) *exec.Cmd {
	return r.Tool(ctx, "qemu-system-x86_64", args...)
}

// Img returns the command that runs the tree's qemu-img with args.
func (r *Root) Img(ctx context.Context, args ...string) *exec.Cmd {
	return r.Tool(ctx, "qemu-img", args...)
}

// Wrapped are the programs that get a wrapper script in <Dir>/bin.
var Wrapped = []string{"qemu-system-x86_64", "qemu-img", "qemu-nbd", "qemu-io"}

// Bin is the path of the wrapper script for one of Wrapped: an executable
// that runs the tree's program as Tool does, for code that takes a binary
// path (internal/qemu.Start) or a shell.
func (r *Root) Bin(name string) string { return filepath.Join(r.Dir, "bin", name) }

// wrapperScript is <Dir>/bin/<name>. It finds the tree relative to itself, so
// a cache directory keeps working when it is moved.
func wrapperScript(name string) string {
	var l string
	if name == "qemu-system-x86_64" {
		l = ` -L "$t/usr/share/qemu" -L "$t/usr/share/seabios"`
	}
	return `#!/bin/sh
# Runs ` + name + ` from the QEMU tree next to this script (lockstep internal/qemuroot).
t=$(dirname "$(dirname "$(readlink -f "$0")")")/root
export QEMU_MODULE_DIR="$t/usr/lib/x86_64-linux-gnu/qemu" LOCPATH="$t/usr/lib/locale" GCONV_PATH="$t/usr/lib/x86_64-linux-gnu/gconv"
exec "$t/lib64/ld-linux-x86-64.so.2" --inhibit-cache \
	--library-path "$t/usr/lib/x86_64-linux-gnu:$t/lib/x86_64-linux-gnu" \
	--argv0 ` + name + ` "$t/usr/bin/` + name + `"` + l + ` "$@"
`
}

// shq quotes s for sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
