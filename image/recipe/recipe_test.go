package recipe

import (
	"strings"
	"testing"
)

func TestDefaultRecipeLoads(t *testing.T) {
	r, err := Load("../../recipes/lockstep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kernel.Package.Name == "" || len(r.Pins()) < 5 || r.VolumeID != "LOCKSTEP" {
		t.Fatalf("unexpected default recipe: %+v", r)
	}
	if p := r.Pins()[0]; p.Name != r.Kernel.Package.Name {
		t.Fatalf("kernel must be the first pin, got %+v", p)
	}
}

func TestBadRecipeListsEveryProblemByField(t *testing.T) {
	_, err := Parse([]byte(`
name: lockstep
version: "1 0"
volume_id: lockstep
epoch: yesterday
archive:
  keyring: /k
  sources:
    - {mirror: ftp://x, suite: trixie, components: [main]}
kernel:
  package: {name: linux-image-x}
  modules: [isofs]
bootloader:
  bios: [{name: isolinux, version: "1"}]
  efi: [{name: shim-signed, version: "1"}]
  timeout: 0
`))
	if err == nil {
		t.Fatal("bad recipe accepted")
	}
	for _, want := range []string{"version:", "volume_id:", "epoch:", "archive.sources[0].mirror:", "kernel.package.version:", "bootloader.timeout:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := Parse([]byte("name: x\nkernal: {}\n"))
	if err == nil || !strings.Contains(err.Error(), "kernal") {
		t.Fatalf("a misspelt key must be reported, got %v", err)
	}
}

func TestSourceDateEpochOverrides(t *testing.T) {
	r := &Recipe{Epoch: "2026-11-01T00:00:00Z"}
	t.Setenv("SOURCE_DATE_EPOCH", "86400")
	got, err := r.EpochTime()
	if err != nil || got.Unix() != 86400 {
		t.Fatalf("EpochTime = %v, %v; want 86400", got, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "soon")
	if _, err := r.EpochTime(); err == nil {
		t.Fatal("a non-numeric SOURCE_DATE_EPOCH must be an error")
	}
}
