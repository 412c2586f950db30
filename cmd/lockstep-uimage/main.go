// Command lockstep-uimage builds the installer initramfs with u-root. It is
// the one step of lockstep-build that links the Go toolchain's package loader
// (golang.org/x/tools), so lockstep-build runs it as a child process and
// stays small: its own peak memory is that of writing the ISO.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/lockstep-ft/lockstep/initramfs/uimage"
)

func main() {
	repo := flag.String("repo", ".", "module root")
	tree := flag.String("tree", "", "staged tree (lib/modules, lib/firmware, etc/) to add")
	out := flag.String("o", "", "compressed initramfs to write (required)")
	tmp := flag.String("tmp", os.TempDir(), "scratch directory")
	cmds := flag.String("commands", "", "comma-separated extra u-root command packages")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "lockstep-uimage: -o is required")
		os.Exit(2)
	}
	var extra []string
	if *cmds != "" {
		extra = strings.Split(*cmds, ",")
	}
	err := uimage.Build(uimage.Options{
		RepoDir:  *repo,
		Commands: extra,
		Tree:     *tree,
		Out:      *out,
		TempDir:  *tmp,
		Progress: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "lockstep-uimage: %v\n", err)
		os.Exit(1)
	}
}
