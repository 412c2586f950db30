// Command lockstep-build makes Lockstep's outputs from a recipe.
//
//	lockstep-build iso [-recipe recipes/lockstep.yaml] [-o out/lockstep-<version>.iso] [-answers answers.yaml]
//	lockstep-build disk -answers node.yaml [-size 32G] [-format raw|qcow2] [-o out/<hostname>.img]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/lockstep-ft/lockstep/image/imager"
	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/installer/answers"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage: lockstep-build <command> [flags]

commands:
  iso    build the hybrid installer ISO (BIOS + UEFI; DVD, USB stick, IPMI virtual media)
  disk   build the disk image of an installed node (raw or qcow2), with the install engine

Run "lockstep-build <command> -h" for the flags of a command.
`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "iso":
		err = cmdISO(os.Args[2:])
	case "disk":
		err = cmdDisk(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "lockstep-build: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lockstep-build: %v\n", err)
		os.Exit(1)
	}
}

func cmdISO(args []string) error {
	fs := flag.NewFlagSet("iso", flag.ExitOnError)
	recipePath := fs.String("recipe", "recipes/lockstep.yaml", "the build recipe")
	out := fs.String("o", "", "output ISO (default out/<name>-<version>.iso)")
	cache := fs.String("cache", defaultCache(), "download cache")
	keep := fs.Bool("keep-work", false, "keep the work directory for inspection")
	answersPath := fs.String("answers", "", "answer file to put on the medium: the ISO then installs unattended")
	fs.Parse(args)
	var answerFile []byte
	if *answersPath != "" {
		b, err := os.ReadFile(*answersPath)
		if err != nil {
			return err
		}
		// Check it now: a typo must not wait until a server boots the ISO.
		if _, err := answers.Parse(b); err != nil {
			return fmt.Errorf("answer file %s: %w", *answersPath, err)
		}
		answerFile = b
	}

	repo, err := findRepo()
	if err != nil {
		return err
	}
	r, err := recipe.Load(*recipePath)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join("out", fmt.Sprintf("%s-%s.iso", r.Name, r.Version))
	}
	work, err := os.MkdirTemp(filepath.Dir(absOr(*out)), ".work-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(absOr(*out)), 0o755); err != nil {
			return err
		}
		if work, err = os.MkdirTemp(filepath.Dir(absOr(*out)), ".work-"); err != nil {
			return err
		}
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	progress := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	if _, err := imager.BuildISO(ctx, r, *out, imager.Options{RepoDir: repo, CacheDir: *cache, WorkDir: work, Answers: answerFile, Progress: progress}); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	progress("done: %d MiB", st.Size()>>20)
	fmt.Println(*out)
	return nil
}

func defaultCache() string {
	if d := os.Getenv("LOCKSTEP_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".cache"
	}
	return filepath.Join(home, ".cache", "lockstep")
}

func absOr(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// findRepo locates the module root: the initramfs compiles Go packages from it.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("run lockstep-build inside the Lockstep source tree: the installer is compiled from it (no go.mod found above " + dir + ")")
		}
	}
}
