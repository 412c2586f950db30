package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/image/imager"
	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// cmdDisk makes the disk image of an installed node with the install
// engine itself: the same partitioning, slot, boot loaders and node config
// as the installer writes, onto a raw file (for tests and labs).
func cmdDisk(args []string) error {
	fs := flag.NewFlagSet("disk", flag.ExitOnError)
	recipePath := fs.String("recipe", "recipes/lockstep.yaml", "the build recipe")
	answersPath := fs.String("answers", "", "answer file of the node (required; NICs given by MAC)")
	out := fs.String("o", "", "output image (default out/<hostname>.img, or .qcow2 with -format qcow2)")
	sizeFlag := fs.String("size", "32G", "disk size (bytes, or with a K, M, G or T suffix)")
	format := fs.String("format", "raw", "raw or qcow2 (qcow2 needs qemu-img)")
	cache := fs.String("cache", defaultCache(), "download and image cache")
	fs.Parse(args)
	if *answersPath == "" {
		return errors.New("disk: -answers is required")
	}
	if *format != "raw" && *format != "qcow2" {
		return fmt.Errorf("disk: -format %q: raw or qcow2", *format)
	}
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return fmt.Errorf("disk: -size: %w", err)
	}
	a, err := answers.Load(*answersPath)
	if err != nil {
		return err
	}
	// The machine is the image: its "hardware" is the NICs the answers
	// name by MAC and one disk of the requested size.
	hw := answers.Hardware{Disks: []answers.DiskInfo{{ID: a.Disk.System, Name: "image", SizeBytes: size}}}
	if a.Lab {
		hw.MinDiskBytes = answers.LabMinDiskBytes
	}
	fields, nics := []string{"priv0", "ibiz0"}, []string{a.Network.Priv0, a.Network.Ibiz0}
	for i, nic := range a.Network.ALinks {
		fields, nics = append(fields, fmt.Sprintf("alinks[%d]", i)), append(nics, nic)
	}
	for i, nic := range nics {
		mac, err := net.ParseMAC(nic)
		if err != nil {
			return fmt.Errorf("%s: network.%s %q: a disk image needs NICs by MAC address", *answersPath, fields[i], nic)
		}
		// One NIC per MAC: a MAC named twice is then reported as the same
		// NIC for two roles, not as a MAC shared by two NICs.
		if !slices.ContainsFunc(hw.NICs, func(n answers.NIC) bool { return n.MAC == mac.String() }) {
			hw.NICs = append(hw.NICs, answers.NIC{Name: "eth" + strconv.Itoa(len(hw.NICs)), MAC: mac.String()})
		}
	}
	if err := answers.Validate(a, hw).Err(); err != nil {
		return fmt.Errorf("%s:\n%w", *answersPath, err)
	}
	if a.Action.Joins() {
		// Its certificate and the system's secrets come from the system
		// over priv0, which an image builder does not have.
		return fmt.Errorf("%s: action %s joins a running system; install that node from the ISO, where the installer joins over priv0", *answersPath, a.Action)
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
		*out = filepath.Join("out", a.Hostname+map[string]string{"raw": ".img", "qcow2": ".qcow2"}[*format])
	}
	if err := os.MkdirAll(filepath.Dir(absOr(*out)), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(absOr(*out)), ".work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	progress := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	opts := imager.Options{RepoDir: repo, CacheDir: *cache, WorkDir: work, Progress: progress}
	sys, err := imager.BuildSystem(ctx, r, filepath.Join(work, "system"), opts)
	if err != nil {
		return err
	}
	src, err := engine.OpenSource(sys.Squashfs)
	if err != nil {
		return err
	}
	cfg, err := nodeconfig.FromAnswers(*a, strings.ToLower(a.Network.Priv0), strings.ToLower(a.Network.Ibiz0),
		nodeconfig.Install{Time: time.Now().UTC(), Version: src.Version(), Media: "lockstep-build disk", Disk: a.Disk.System})
	if err != nil {
		return err
	}
	if cfg, err = nodeconfig.WithALinks(cfg, a.Network.ALinks); err != nil {
		return err
	}
	tools, err := engine.MountImageTools(src.Image, work)
	if err != nil {
		return err
	}
	defer tools.Close()

	raw := *out
	if *format == "qcow2" {
		raw = filepath.Join(work, "disk.img")
	}
	f, err := os.OpenFile(raw, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	in := &engine.Install{Disk: f, DiskBytes: size, Source: src, Format: tools, Config: cfg,
		Boot: engine.BootOptions{KernelArgs: "console=tty0 console=ttyS0,115200n8", Serial: "--unit=0 --speed=115200"}}
	last := ""
	if err := in.Run(ctx, func(ev engine.Event) {
		if ev.Title != last || ev.Done {
			progress("%3d%% %s %s", ev.Percent, ev.Title, ev.Message)
			last = ev.Title
		}
	}); err != nil {
		os.Remove(raw)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if *format == "qcow2" {
		cmd := exec.CommandContext(ctx, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, *out)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("qemu-img convert: %w: %s", err, b)
		}
	}
	progress("done: %s, %s system %s in slot A", *out, *format, src.Version())
	fmt.Println(*out)
	return nil
}

// parseSize reads 32G, 512M, 21474836480.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		case "T":
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 32G)", s)
	}
	return v * mult, nil
}
