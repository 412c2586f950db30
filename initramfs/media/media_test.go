package media

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/esp"
)

func fakeISO(t *testing.T, path, label string) {
	b := make([]byte, pvdOffset+2048)
	pvd := b[pvdOffset:]
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	copy(pvd[volIDStart:volIDEnd], label+strings.Repeat(" ", 32-len(label)))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindsTheLabelledDeviceAmongOthers(t *testing.T) {
	root := t.TempDir()
	sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
	for _, n := range []string{"sda", "sda1", "sdb", "sr0", "loop0"} {
		if err := os.MkdirAll(filepath.Join(sys, "class", "block", n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(dev, 0o755)
	os.WriteFile(filepath.Join(dev, "sda"), make([]byte, 40000), 0o644)
	fakeISO(t, filepath.Join(dev, "sda1"), "OTHER")
	fakeISO(t, filepath.Join(dev, "sdb"), "LOCKSTEP")
	fakeISO(t, filepath.Join(dev, "loop0"), "LOCKSTEP")
	f := Finder{SysRoot: sys, DevRoot: dev}
	got, err := f.Find(context.Background(), "LOCKSTEP")
	if err != nil {
		t.Fatal(err)
	}
	if got != filepath.Join(dev, "sdb") {
		t.Fatalf("found %s, want sdb", got)
	}
}

func TestFindTimesOutNamingWhatItSaw(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys", "class", "block", "vda"), 0o755)
	f := Finder{SysRoot: filepath.Join(root, "sys"), DevRoot: filepath.Join(root, "dev")}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.Find(ctx, "LOCKSTEP")
	if err == nil || !strings.Contains(err.Error(), `"LOCKSTEP"`) || !strings.Contains(err.Error(), "vda") {
		t.Fatalf("want an error naming the label and the devices seen, got %v", err)
	}
}

func TestFATLabelOfAnESPImage(t *testing.T) {
	// An image made by the same FAT16 writer the builder uses for the ESP.
	p := filepath.Join(t.TempDir(), "cfg.img")
	if _, err := esp.Build(p, "LOCKSTEPCFG", []esp.File{{Path: "answers.yaml", Data: []byte("action: create\n")}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := FATLabel(f); got != "LOCKSTEPCFG" {
		t.Fatalf("FATLabel = %q", got)
	}
	if got := Label(f); got != "" {
		t.Fatalf("a FAT image has no ISO9660 label, got %q", got)
	}
}

func TestFindLabelledFindsTheConfigStick(t *testing.T) {
	root := t.TempDir()
	sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
	for _, n := range []string{"sda", "sdb"} {
		os.MkdirAll(filepath.Join(sys, "class", "block", n), 0o755)
	}
	os.MkdirAll(dev, 0o755)
	fakeISO(t, filepath.Join(dev, "sda"), "LOCKSTEP")
	if _, err := esp.Build(filepath.Join(dev, "sdb"), "LOCKSTEPCFG", []esp.File{{Path: "answers.yaml", Data: []byte("x")}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	d, fstype, err := Finder{SysRoot: sys, DevRoot: dev}.FindLabelled(context.Background(), CfgLabels)
	if err != nil || d != filepath.Join(dev, "sdb") || fstype != "vfat" {
		t.Fatalf("FindLabelled = %q %q %v", d, fstype, err)
	}
}
