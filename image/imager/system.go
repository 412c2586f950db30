package imager

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/image/sysimage"
)

// BuildSystem builds lockstepd and the system image of r (r.System) into
// dir/system.squashfs (dir is the medium's sysimage.MediumDir) with its manifest and boot files. The image is cached
// by its inputs, the agent binary among them: -trimpath and a fixed version
// make the same source give the same binary, so an unchanged tree reuses it.
func BuildSystem(ctx context.Context, r *recipe.Recipe, dir string, o Options) (*sysimage.Result, error) {
	if r.System == "" {
		return nil, fmt.Errorf("recipe: no system image (system: system.yaml)")
	}
	sr, err := sysimage.LoadRecipe(filepath.Join(r.Dir, r.System))
	if err != nil {
		return nil, err
	}
	spec, err := sr.Spec()
	if err != nil {
		return nil, err
	}
	spec.Version = r.Version
	agent := filepath.Join(o.WorkDir, "lockstepd")
	o.progress("building lockstepd %s", r.Version)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.version="+r.Version, "-o", agent, "./cmd/lockstepd")
	cmd.Dir = o.RepoDir
	// cgo: the agent talks to libvirt through libvirt.org/go/libvirt,
	// linked against the system image's libvirt0 (the build machine's
	// libvirt-dev gives the headers; libvirt keeps its ABI across versions).
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build lockstepd: %w\n%s", err, strings.TrimSpace(string(out)))
	}
	spec.ExtraFiles = append(spec.ExtraFiles, sysimage.File{Src: agent, Dst: sysimage.AgentPath, Mode: 0o755})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res, err := sysimage.Build(ctx, spec, filepath.Join(dir, filepath.Base(sysimage.MediumImage)), o.CacheDir, o.Progress)
	if err != nil {
		return nil, err
	}
	if res.BootDir == "" {
		return nil, fmt.Errorf("system image %s is not bootable: its recipe lacks a kernel or one of the boot packages", r.System)
	}
	return res, nil
}
