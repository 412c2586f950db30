package esp

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuildIsReproducibleAndReadable(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "boot.efi")
	payload := bytes.Repeat([]byte("MZ-efi-"), 100000)
	if err := os.WriteFile(src, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	files := []File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Source: src},
		{Path: "EFI/BOOT/grub.cfg", Data: []byte("set timeout=5\n")},
	}
	epoch := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var sums [2][32]byte
	for i := range sums {
		out := filepath.Join(dir, "esp"+string(rune('a'+i))+".img")
		size, err := Build(out, "LOCKSTEP", append([]File(nil), files...), epoch)
		if err != nil {
			t.Fatal(err)
		}
		if size%(1<<20) != 0 || size < minSize {
			t.Fatalf("size %d not a whole MiB >= %d", size, minSize)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(b)
		if i == 1 {
			checkWithMtools(t, out, payload)
		}
		if i == 0 {
			time.Sleep(1100 * time.Millisecond) // a clock leak would show as a different second
		}
	}
	if sums[0] != sums[1] {
		t.Fatalf("two builds differ: %x vs %x", sums[0], sums[1])
	}
}

// checkWithMtools reads the image back with an independent FAT implementation.
func checkWithMtools(t *testing.T, img string, payload []byte) {
	if _, err := exec.LookPath("mcopy"); err != nil {
		t.Log("mtools not installed: independent read-back skipped")
		return
	}
	out, err := exec.Command("mdir", "-i", img, "-/", "::").CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "BOOTX64") || !strings.Contains(string(out), "2026-11-01") {
		t.Fatalf("mdir listing lacks BOOTX64.EFI dated 2026-11-01:\n%s", out)
	}
	got, err := exec.Command("mtype", "-i", img, "::EFI/BOOT/BOOTX64.EFI").Output()
	if err != nil {
		t.Fatalf("mtype: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("BOOTX64.EFI read back %d bytes, want %d identical", len(got), len(payload))
	}
	// minfo prints the BPB, whose type string says FAT16.
	info, _ := exec.Command("minfo", "-i", img, "::").CombinedOutput()
	if !strings.Contains(string(info), `disk type="FAT16`) {
		t.Fatalf("image is not FAT16:\n%s", info)
	}
}

// TestBuildLeavesTheEnvironmentAlone: parallel builds (parallel tests make
// answer sticks) must not leave SOURCE_DATE_EPOCH behind, or every later
// build in the process takes its timestamps from it.
func TestBuildLeavesTheEnvironmentAlone(t *testing.T) {
	if v, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok {
		t.Setenv("SOURCE_DATE_EPOCH", v) // restored by the test framework
		os.Unsetenv("SOURCE_DATE_EPOCH")
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(dir, fmt.Sprintf("%d.img", i))
			if _, err := Build(out, "TEST", []File{{Path: "a.txt", Data: []byte("x")}}, time.Unix(int64(i), 0)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if v, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok {
		t.Fatalf("SOURCE_DATE_EPOCH=%s left behind", v)
	}
}
