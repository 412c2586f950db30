package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// isoFile writes a few KiB as dir/name and returns its path.
func isoFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, bytes.Repeat([]byte("CD001 lockstep test image\n"), n), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVCDOutput pins the VCD output, in order: the commands change the
// fake's VCDs. Run with -update to rewrite testdata/.
func TestVCDOutput(t *testing.T) {
	h := newScriptHarness(t)
	dir := t.TempDir()
	alpine := isoFile(t, dir, "alpine-virt-3.21.iso", 200)
	other := isoFile(t, dir, "other.iso", 300)
	h.wantGolden(t, []goldenCase{
		{"vcd_list", []string{"vcd", "list"}},
		{"vcd_list_json", []string{"vcd", "list", "--json"}},
		{"vcd_upload", []string{"vcd", "upload", alpine}},
		{"vcd_upload_json", []string{"vcd", "upload", "--json", other, "--name", "tools.iso"}},
		{"vcd_list_after", []string{"vcd", "list"}},
		{"vcd_delete", []string{"vcd", "delete", "alpine-virt-3.21.iso", "--yes"}},
		{"vcd_delete_json", []string{"vcd", "delete", "--json", "--yes", "tools.iso"}},
		{"vcd_upload_help", []string{"help", "vcd", "upload"}},
	})
	h.wantCalls(t, "[vcd put alpine-virt-3.21.iso vcd put tools.iso vcd delete alpine-virt-3.21.iso vcd delete tools.iso]")
	h.wantEmptyList(t, func(b *apitest.Backend) { b.VCDList = nil }, "No VCDs.\n", "vcd", "list")
}

func TestVCDErrors(t *testing.T) {
	h := newScriptHarness(t)
	dir := t.TempDir()
	iso := isoFile(t, dir, "debian-13.iso", 10)
	isoFile(t, dir, "empty.iso", 0)
	h.wantErrors(t, []errCase{
		{"vcd upload " + iso, 1, "lockstep: VCD debian-13.iso is inserted in VM web, which is running\n"},
		{"vcd upload " + iso + " --name a:b", 1, "lockstep: VCD name \"a:b\": use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit\n"},
		{"vcd upload " + dir + "/empty.iso", 1, "is empty, not an ISO image"},
		{"vcd upload " + dir + "/nope.iso", 1, "no such file or directory"},
		{"vcd upload " + dir, 1, "is a directory, not an ISO image"},
		{"vcd upload", 2, "usage: lockstep vcd upload [flags] <file>"},
		{"vcd delete debian-13.iso", 2, "vcd delete: this deletes debian-13.iso from both nodes; add --yes to do it"},
		{"vcd delete debian-13.iso --yes", 1, "lockstep: VCD debian-13.iso is inserted in VM web, which is running\n"},
		{"vcd delete nope.iso --yes", 1, "lockstep: no VCD \"nope.iso\": not found\n"},
		{"vcd", 2, "vcd: which one? list, upload, delete"},
	})
	h.wantCalls(t, "[vcd put debian-13.iso vcd put a:b vcd delete debian-13.iso vcd delete nope.iso]")
}

// An upload with an expired session is sent again, whole, after a new
// login.
func TestVCDUploadRenewsSession(t *testing.T) {
	h := newHarness(t)
	h.prompt = func(string) (string, error) { return apitest.Password, nil }
	h.ok(t, "login", "--fingerprint", h.pki.Fingerprint())
	h.clock.Add(31 * time.Minute)
	path := isoFile(t, t.TempDir(), "x.iso", 100)
	out := h.ok(t, "vcd", "upload", path)
	if h.prompts != 2 || !strings.Contains(out, "Size:     2.5 KiB (2600 bytes)") {
		t.Errorf("%d prompts, upload said %q", h.prompts, out)
	}
}

func TestProgress(t *testing.T) {
	var errb bytes.Buffer
	clk := &clock{t: apitest.T0}
	c := &cli{env: env{stderr: &errb, now: clk.Now}}
	p := &progress{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 4096))), c: c, name: "x.iso", size: 4096}
	buf := make([]byte, 512)
	for i := 0; ; i++ {
		if i%2 == 0 { // a line at most once a second
			clk.Add(time.Second)
		}
		if _, err := p.Read(buf); err != nil {
			break
		}
	}
	p.Close()
	want := "\r\033[Kx.iso: 12% of 4 KiB sent\r\033[Kx.iso: 37% of 4 KiB sent\r\033[Kx.iso: 62% of 4 KiB sent" +
		"\r\033[Kx.iso: 87% of 4 KiB sent\r\033[Kx.iso: 4 KiB sent; the system is storing it\n"
	if got := errb.String(); got != want {
		t.Errorf("progress %q\nwant     %q", got, want)
	}
}
