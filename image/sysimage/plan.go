package sysimage

import (
	_ "embed"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

var (
	//go:embed files/lockstepd.service
	agentUnit []byte
	//go:embed files/sshd-keygen.conf
	sshdKeygenDropIn []byte
	//go:embed files/initramfs/lockstep
	initramfsScript []byte
	//go:embed files/initramfs/hook
	initramfsHook []byte
	//go:embed files/lockstep-trial.service
	trialUnit []byte
	//go:embed files/trial-guard
	trialGuard []byte
)

const (
	trialUnitPath  = "/usr/lib/systemd/system/lockstep-trial.service"
	trialUnitName  = "lockstep-trial.service"
	agentUnitPath  = "/usr/lib/systemd/system/lockstepd.service"
	agentUnitName  = "lockstepd.service"
	sshdKeygenPath = "/etc/systemd/system/sshd-keygen.service.d/lockstep.conf"
	// squashfs data block size: larger blocks compress better and pack faster.
	blockSize = "1M"
)

// layout names the scratch paths of one build. Key plans with fixed
// placeholders so that the key does not depend on where a build runs.
type layout struct {
	Mode string // mmdebstrap --mode: root (as root) or unshare
	Work string // scratch directory
	Out  string // the squashfs being written
}

func (l layout) files() string { return filepath.Join(l.Work, "files") }
func (l layout) meta() string  { return filepath.Join(l.Work, "meta") }
func (l layout) tmp() string   { return filepath.Join(l.Work, "tmp") }

// keyLayout is the layout Key plans with.
var keyLayout = layout{Mode: "root", Work: "/work", Out: "/work/system.squashfs"}

// stagedFile is a file put into the image: an extra file of the Spec or one
// of the package's embedded units.
type stagedFile struct {
	Name string // under layout.files()
	Dst  string
	Mode fs.FileMode
	Src  string // host path (extra files)
	Data []byte // content (embedded files)
}

// staged lists the files that go into the image, in install order.
func (s Spec) staged() []stagedFile {
	var out []stagedFile
	for i, f := range s.ExtraFiles {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		out = append(out, stagedFile{Name: strconv.Itoa(i), Dst: f.Dst, Mode: mode, Src: f.Src})
	}
	if s.hasAgent() {
		out = append(out, stagedFile{Name: "lockstepd.service", Dst: agentUnitPath, Mode: 0o644, Data: agentUnit})
	}
	if s.wants("openssh-server") {
		out = append(out, stagedFile{Name: "sshd-keygen.conf", Dst: sshdKeygenPath, Mode: 0o644, Data: sshdKeygenDropIn})
	}
	if s.bootable() {
		out = append(out,
			stagedFile{Name: "initramfs-script", Dst: "/etc/initramfs-tools/scripts/lockstep", Mode: 0o644, Data: initramfsScript},
			stagedFile{Name: "initramfs-hook", Dst: "/etc/initramfs-tools/hooks/lockstep", Mode: 0o755, Data: initramfsHook},
			stagedFile{Name: "lockstep-trial.service", Dst: trialUnitPath, Mode: 0o644, Data: trialUnit},
			stagedFile{Name: "trial-guard", Dst: "/usr/lib/lockstep/trial-guard", Mode: 0o755, Data: trialGuard})
	}
	return out
}

// bootPackages make an image installable on a node's disk: its kernel and
// initramfs, and the boot loaders the installer copies out of it.
var bootPackages = []string{"initramfs-tools", "busybox", "grub-pc-bin", "grub-efi-amd64-signed", "shim-signed"}

// bootable reports whether the image carries a kernel and bootPackages:
// then the build also makes the boot files (BootFiles) next to the image.
func (s Spec) bootable() bool {
	for _, p := range bootPackages {
		if !s.wants(p) {
			return false
		}
	}
	for _, p := range append(append([]string(nil), s.Packages...), s.FromBackports...) {
		if strings.HasPrefix(pkgName(p), "linux-image-") {
			return true
		}
	}
	return false
}

func (s Spec) hasAgent() bool {
	return slices.ContainsFunc(s.ExtraFiles, func(f File) bool { return f.Dst == AgentPath })
}

// wants reports whether a package is requested by name.
func (s Spec) wants(name string) bool {
	for _, p := range append(append([]string(nil), s.Packages...), s.FromBackports...) {
		if pkgName(p) == name {
			return true
		}
	}
	return false
}

// enable is EnableUnits plus the agent's unit when the agent is in the image.
func (s Spec) enable() []string {
	units := append([]string(nil), s.EnableUnits...)
	if s.hasAgent() && !slices.Contains(units, agentUnitName) {
		units = append(units, agentUnitName)
	}
	if s.bootable() && !slices.Contains(units, trialUnitName) {
		units = append(units, trialUnitName)
	}
	return units
}

// sourcesLines are apt's sources for the build (and inside the image).
func (s Spec) sourcesLines() []string {
	comps := strings.Join(s.Components, " ")
	lines := []string{fmt.Sprintf("deb %s %s %s", s.Mirror, s.Suite, comps)}
	if s.Backports != "" {
		lines = append(lines, fmt.Sprintf("deb %s %s %s", s.Mirror, s.Backports, comps))
	}
	return lines
}

// preferences pins FromBackports and BackportsDeps to the backports suite.
func (s Spec) preferences() string {
	var names []string
	for _, p := range s.FromBackports {
		if n := pkgName(p); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, p := range s.BackportsDeps {
		if !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("Package: %s\nPin: release n=%s\nPin-Priority: 990\n", strings.Join(names, " "), s.Backports)
}

// plan is the build: mmdebstrap writes the tree as a tar to its stdout, which
// is mksquashfs's stdin. s must have its defaults filled and be valid.
func (s Spec) plan(l layout) []Cmd {
	epoch := strconv.FormatInt(s.Epoch.Unix(), 10)
	args := []string{
		"--mode=" + l.Mode,
		"--variant=" + s.Variant,
		"--architectures=" + s.Arch,
		"--format=tar",
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
	// Before the kernel's postinst builds the initramfs: never resume from
	// a swap device (initramfs-tools would otherwise pick the build host's).
	args = append(args, "--essential-hook="+
		`mkdir -p "$1/etc/initramfs-tools/conf.d" && echo RESUME=none > "$1/etc/initramfs-tools/conf.d/resume"`)
	if len(s.Packages) > 0 {
		args = append(args, "--include="+strings.Join(s.Packages, ","))
	}
	if len(s.FromBackports) > 0 {
		args = append(args, "--include="+strings.Join(s.FromBackports, ","))
	}
	for _, h := range s.customizeHooks(l) {
		args = append(args, "--customize-hook="+h)
	}
	args = append(args, s.Suite, "-")
	args = append(args, s.sourcesLines()...)

	mmdebstrap := Cmd{
		Name: "mmdebstrap",
		Args: args,
		Env:  []string{"SOURCE_DATE_EPOCH=" + epoch, "TMPDIR=" + l.tmp(), "LC_ALL=C.UTF-8"},
	}
	mksquashfs := Cmd{
		Name: "mksquashfs",
		Args: []string{
			"-", l.Out, "-tar", "-noappend",
			"-comp", "zstd", "-b", blockSize,
			// Every timestamp is the epoch; owners come from the tar
			// (numeric ids as in the image's passwd), so no -all-root. Extended
			// attributes are kept (file capabilities); squashfs cannot store
			// POSIX ACLs and drops them with a warning.
			"-mkfs-time", epoch, "-all-time", epoch,
			// The tar's "./" entry is skipped: set the root directory.
			"-root-mode", "0755", "-root-uid", "0", "-root-gid", "0",
			"-no-progress", "-quiet",
		},
		// mksquashfs refuses SOURCE_DATE_EPOCH together with -mkfs-time
		// and -all-time: the options say it.
		Env: []string{"SOURCE_DATE_EPOCH"},
	}
	return []Cmd{mmdebstrap, mksquashfs}
}

// customizeHooks run in the finished tree ("$1"), in order.
func (s Spec) customizeHooks(l layout) []string {
	meta := shq(l.meta())
	hooks := []string{
		// What the manifest needs: the installed packages and the archive state.
		`mkdir -p ` + meta + ` && cp "$1/var/lib/dpkg/status" ` + meta + `/dpkg-status && ` +
			`for f in "$1"/var/lib/apt/lists/*_InRelease; do if [ -e "$f" ]; then cp "$f" ` + meta + `/; fi; done`,
		// The image's own identity, not the build host's (mmdebstrap copies
		// the host's hostname and resolv.conf in).
		`rm -f "$1/etc/hostname" && echo ` + shq(s.Hostname) + ` > "$1/etc/hostname" && ` +
			`if [ ! -L "$1/etc/resolv.conf" ]; then rm -f "$1/etc/resolv.conf" && : > "$1/etc/resolv.conf"; fi && ` +
			`rm -f "$1/etc/.resolv.conf.systemd-resolved.bak"`,
	}
	for _, f := range s.staged() {
		hooks = append(hooks, fmt.Sprintf(`install -D -m %04o %s "$1"%s`,
			unixMode(f.Mode), shq(path.Join(filepath.ToSlash(l.files()), f.Name)), shq(f.Dst)))
	}
	if units := s.enable(); len(units) > 0 {
		hooks = append(hooks, `chroot "$1" systemctl enable `+strings.Join(units, " "))
	}
	if len(s.DisableUnits) > 0 {
		hooks = append(hooks, `chroot "$1" systemctl disable `+strings.Join(s.DisableUnits, " "))
	}
	if s.bootable() {
		hooks = append(hooks, s.bootHooks(l)...)
	}
	hooks = append(hooks, strings.Join([]string{
		// Host keys are per node: sshd-keygen makes them on the node.
		`rm -f "$1"/etc/ssh/ssh_host_*`,
		// Empty machine-id: systemd generates one on first boot.
		`: > "$1/etc/machine-id"`,
		`rm -f "$1/var/lib/dbus/machine-id"`,
		// Build logs (empty placeholders such as wtmp keep their modes),
		// dpkg/debconf backups, the ld.so cache helper, Python byte code.
		`find "$1/var/log" -type f -size +0 -delete`,
		`rm -f "$1"/var/lib/dpkg/*-old "$1"/var/cache/debconf/*-old "$1/var/cache/ldconfig/aux-cache"`,
		`find "$1/usr" -xdev -depth -type d -name __pycache__ -exec rm -rf {} +`,
	}, " && "))
	return hooks
}

// unixMode converts Go's permission and special bits to chmod's octal.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// shq quotes s for sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// The boot files a bootable image yields next to it (BootDir): what the
// installer puts on the ESP and in the BIOS boot partition. They come out of
// the image itself, so a slot's kernel, initramfs and boot loaders always
// match the system in it.
const (
	BootKernel = "vmlinuz"     // the kernel
	BootInitrd = "initrd.img"  // initramfs-tools with /scripts/lockstep
	BootCore   = "core.img"    // GRUB for BIOS (i386-pc), for the BIOS boot partition
	BootMBR    = "boot.img"    // GRUB's MBR boot code
	BootShim   = "shimx64.efi" // signed shim: EFI/BOOT/BOOTX64.EFI
	BootGrub   = "grubx64.efi" // signed GRUB, loaded by shim
	BootMok    = "mmx64.efi"   // MOK manager, loaded by shim on demand
)

// BootFiles lists the boot files in a fixed order.
var BootFiles = []string{BootKernel, BootInitrd, BootCore, BootMBR, BootShim, BootGrub, BootMok}

// BIOSPrefix is GRUB's prefix in core.img: the ESP (partition 2 of
// installer/engine/layout) of the disk the BIOS booted, "(,gpt2)" leaving
// the disk to GRUB. The signed UEFI GRUB looks in its own directory instead.
const BIOSPrefix = "(,gpt2)/boot/grub"

// biosModules are built into core.img, so BIOS GRUB needs no module
// directory on the ESP (the signed UEFI GRUB has them built in as well).
var biosModules = []string{"biosdisk", "part_gpt", "fat", "loadenv", "regexp", "test", "echo",
	"sleep", "minicmd", "normal", "configfile", "linux", "serial", "terminal", "search", "all_video"}

// bootHooks rebuild the initramfs with the Lockstep root script, make
// core.img, and copy the boot files out to <meta>/boot.
func (s Spec) bootHooks(l layout) []string {
	boot := shq(path.Join(filepath.ToSlash(l.meta()), "boot"))
	return []string{
		// The kernel's postinst built an initramfs before our script was in.
		`chroot "$1" update-initramfs -u -k all`,
		`mkdir -p "$1/usr/lib/lockstep/boot" && chroot "$1" grub-mkimage -O i386-pc -o /usr/lib/lockstep/boot/core.img -p ` +
			shq(BIOSPrefix) + " " + strings.Join(biosModules, " "),
		`mkdir -p ` + boot + ` && ` + strings.Join([]string{
			`cp -L "$1/vmlinuz" ` + boot + `/` + BootKernel,
			`cp -L "$1/initrd.img" ` + boot + `/` + BootInitrd,
			`cp "$1/usr/lib/lockstep/boot/core.img" ` + boot + `/` + BootCore,
			`cp "$1/usr/lib/grub/i386-pc/boot.img" ` + boot + `/` + BootMBR,
			`cp "$1/usr/lib/shim/shimx64.efi.signed" ` + boot + `/` + BootShim,
			`cp "$1/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" ` + boot + `/` + BootGrub,
			`cp "$1/usr/lib/shim/mmx64.efi.signed" ` + boot + `/` + BootMok,
		}, " && "),
		// The .old links point at the same kernel: one fewer thing to explain.
		`rm -f "$1/vmlinuz.old" "$1/initrd.img.old"`,
	}
}
