// Package uimage builds the installer's initramfs with u-root's mkuimage used
// as a library: a busybox-mode Go binary holding u-root's init, the installer
// (as uinit) and a few rescue tools, plus a staged tree of kernel modules,
// firmware and release files; the archive is compressed with zstd.
package uimage

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/gobusybox/src/pkg/golang"
	mk "github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"
)

// Installer is the uinit package, built into the busybox.
const Installer = "github.com/lockstep-ft/lockstep/cmd/lockstep-installer"

const initPkg = "github.com/u-root/u-root/cmds/core/init"

// Options for Build.
type Options struct {
	RepoDir  string   // the module root: go resolves the packages from here
	Commands []string // extra u-root command packages (rescue tools)
	// Tree is a staged directory (lib/modules, lib/firmware, etc/...) copied into the archive root.
	Tree     string
	Out      string // the compressed initramfs
	TempDir  string
	Progress func(format string, args ...any)
}

// Build writes the compressed initramfs to opt.Out.
func Build(opt Options) error {
	progress := opt.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	tmp, err := os.MkdirTemp(opt.TempDir, "uimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cpioPath := filepath.Join(tmp, "initramfs.cpio")

	cmds := append([]string{initPkg, Installer}, opt.Commands...)
	progress("initramfs: compiling %d Go commands into one busybox binary", len(cmds))
	env := golang.Default(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH("amd64"), golang.WithWorkingDir(opt.RepoDir))
	logger := llog.New(slog.LevelWarn, func(format string, args ...any) { progress("initramfs: "+format, args...) })
	mods := []mk.Modifier{
		mk.WithReplaceEnv(env),
		mk.WithBaseArchive(mk.DefaultRamfs()),
		mk.WithBusyboxCommands(cmds...),
		mk.WithInit("init"),
		mk.WithUinit("lockstep-installer"),
		// No /bin/sh: u-root's init starts it when uinit exits, and the installer
		// must not fall through to an unauthenticated shell.
		mk.WithShell(""),
		mk.WithSkipLDD(),
		mk.WithTempDir(tmp),
		mk.WithCPIOOutput(cpioPath),
	}
	if opt.Tree != "" {
		entries, err := os.ReadDir(opt.Tree)
		if err != nil {
			return fmt.Errorf("initramfs: staged tree: %w", err)
		}
		for _, e := range entries {
			mods = append(mods, mk.WithFiles(filepath.Join(opt.Tree, e.Name())+":"+e.Name()))
		}
	}
	if err := mk.Create(logger, mods...); err != nil {
		return fmt.Errorf("initramfs: u-root build failed (needs the Go toolchain and the module's dependencies; run `go mod download`): %w", err)
	}
	st, err := os.Stat(cpioPath)
	if err != nil {
		return err
	}
	progress("initramfs: compressing %d MiB with zstd", st.Size()>>20)
	return compress(cpioPath, opt.Out)
}

// compress writes a zstd stream the kernel can unpack: one encoder goroutine
// keeps the output byte-identical between runs, and an 8 MiB window stays
// inside what the kernel's initramfs decompressor accepts.
func compress(in, out string) error {
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	enc, err := zstd.NewWriter(dst,
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(8<<20),
		zstd.WithEncoderCRC(true))
	if err != nil {
		dst.Close()
		return err
	}
	if _, err := io.Copy(enc, src); err != nil {
		enc.Close()
		dst.Close()
		return fmt.Errorf("initramfs: compress: %w", err)
	}
	if err := enc.Close(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
