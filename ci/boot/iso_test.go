package boot

import (
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// TestElToritoHasBIOSAndEFIEntries reads the boot catalog with xorriso, an
// independent ISO implementation.
func TestElToritoHasBIOSAndEFIEntries(t *testing.T) {
	iso := isoPath(t)
	out, err := exec.Command("xorriso", "-indev", iso, "-report_el_torito", "plain").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	s := string(out)
	for _, re := range []string{`El Torito boot img :\s+1\s+BIOS\s+y\s+none`, `El Torito boot img :\s+2\s+UEFI\s+y\s+none`} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("xorriso report lacks %q:\n%s", re, s)
		}
	}
	t.Logf("xorriso -report_el_torito plain:\n%s", s)
}

// TestHybridPartitionTable checks with fdisk that a raw copy of the ISO is a
// disk whose first partition spans the image and whose second is the ESP.
func TestHybridPartitionTable(t *testing.T) {
	iso := isoPath(t)
	out, err := exec.Command("fdisk", "-l", iso).CombinedOutput()
	if err != nil {
		t.Fatalf("fdisk: %v\n%s", err, out)
	}
	s := string(out)
	if !regexp.MustCompile(`(?m)^\S+1\s+\*\s+0\s+\d+\s+\d+\s+\S+\s+0\s+Empty`).MatchString(s) {
		t.Errorf("fdisk: partition 1 is not a bootable type-0 partition from sector 0:\n%s", s)
	}
	if !regexp.MustCompile(`(?m)^\S+2\s+\d+\s+\d+\s+\d+\s+\S+\s+ef\s+EFI`).MatchString(s) {
		t.Errorf("fdisk: partition 2 is not the EFI system partition:\n%s", s)
	}
	t.Logf("fdisk -l:\n%s", s)
}

// TestBuildIsReproducible builds the ISO a second time from the same recipe
// and inputs and compares the bytes with the one `make iso` built.
func TestBuildIsReproducible(t *testing.T) {
	iso := isoPath(t)
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	second := filepath.Join(t.TempDir(), "second.iso")
	cmd := exec.Command("go", "run", "./cmd/lockstep-build", "iso", "-o", second)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second build: %v\n%s", err, out)
	}
	a, b := sum(t, iso), sum(t, second)
	if a != b {
		t.Fatalf("two builds differ: %s %x vs %x", iso, a, b)
	}
	t.Logf("both builds: sha256 %x", a)
}

func sum(t *testing.T, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
