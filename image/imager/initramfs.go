package imager

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/initramfs/moddep"
)

// kernelFiles locates vmlinuz and the modules root in the unpacked kernel package.
func kernelFiles(in *inputs, r *recipe.Recipe) (vmlinuz, modulesRoot, kver string, err error) {
	dir := in.dirs[r.Kernel.Package.Name]
	for _, base := range []string{"usr/lib/modules", "lib/modules"} {
		entries, _ := os.ReadDir(filepath.Join(dir, base))
		for _, e := range entries {
			if e.IsDir() {
				kver = e.Name()
				modulesRoot = filepath.Join(dir, base, kver)
			}
		}
		if kver != "" {
			break
		}
	}
	if kver == "" {
		return "", "", "", fmt.Errorf("kernel package %s has no lib/modules/<version>", r.Kernel.Package.Name)
	}
	vmlinuz = filepath.Join(dir, "boot", "vmlinuz-"+kver)
	if _, err := os.Stat(vmlinuz); err != nil {
		return "", "", "", fmt.Errorf("kernel package %s has no boot/vmlinuz-%s", r.Kernel.Package.Name, kver)
	}
	return vmlinuz, modulesRoot, kver, nil
}

// stageInitramfsTree writes the kernel modules the recipe selects (with their
// dependencies and generated modules.dep/alias) and the firmware they name.
func stageInitramfsTree(in *inputs, r *recipe.Recipe, modulesRoot, tree, release string, o *Options) error {
	ix, err := moddep.Scan(modulesRoot)
	if err != nil {
		return err
	}
	names, err := ix.Select(r.Kernel.Modules...)
	if err != nil {
		return fmt.Errorf("recipe kernel.modules: %w", err)
	}
	mods, err := ix.Closure(names...)
	if err != nil {
		return err
	}
	o.progress("initramfs: %d kernel modules selected (of %d in %s)", len(mods), len(ix.Modules), ix.KernelVersion)
	if err := ix.WriteTree(tree, mods); err != nil {
		return err
	}
	var found, missing int
	for _, fw := range ix.Firmware(mods) {
		n, err := copyFirmware(in, r, fw, filepath.Join(tree, "lib", "firmware"))
		if err != nil {
			return err
		}
		if n == 0 {
			missing++
		}
		found += n
	}
	o.progress("initramfs: %d firmware files carried (%d names not in the recipe's firmware packages)", found, missing)
	return writeFile(filepath.Join(tree, "etc", "lockstep-release"), []byte(release+"\n"))
}

// copyFirmware copies every file matching name (which may be a glob, and may
// be stored compressed) from the recipe's firmware packages.
func copyFirmware(in *inputs, r *recipe.Recipe, name, dst string) (int, error) {
	n := 0
	for _, p := range r.Firmware {
		dir := in.dirs[p.Name]
		for _, base := range []string{"usr/lib/firmware", "lib/firmware"} {
			for _, suffix := range []string{"", ".xz", ".zst"} {
				matches, _ := filepath.Glob(filepath.Join(dir, base, name+suffix))
				for _, m := range matches {
					rel, _ := filepath.Rel(filepath.Join(dir, base), m)
					if strings.HasPrefix(rel, "..") {
						continue
					}
					st, err := os.Stat(m)
					if err != nil || st.IsDir() {
						continue
					}
					if err := copyFile(m, filepath.Join(dst, rel), 0o644); err != nil {
						return n, err
					}
					n++
				}
			}
		}
	}
	return n, nil
}

// buildInitramfs stages the tree and runs the u-root build.
func buildInitramfs(in *inputs, r *recipe.Recipe, modulesRoot, out string, o *Options) error {
	tree := filepath.Join(o.WorkDir, "initramfs-tree")
	if err := stageInitramfsTree(in, r, modulesRoot, tree, r.Name+" "+r.Version, o); err != nil {
		return err
	}
	// u-root's builder links the Go package loader; it runs as its own process
	// (cmd/lockstep-uimage) so this one stays small.
	cmd := exec.Command("go", "run", "./cmd/lockstep-uimage",
		"-repo", o.RepoDir, "-tree", tree, "-o", out, "-tmp", o.WorkDir,
		"-commands", strings.Join(r.Installer.Commands, ","))
	cmd.Dir = o.RepoDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	var last []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		o.progress("%s", sc.Text())
		last = append(last, sc.Text())
		if len(last) > 20 {
			last = last[1:]
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("initramfs build failed (%v): %s", err, strings.Join(last, "\n"))
	}
	return nil
}
