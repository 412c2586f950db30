package debian

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests talk to the real Debian archive and need gpgv and the
// debian-archive-keyring package; they only run with LOCKSTEP_NETWORK_TESTS=1.

const realMirror = "http://deb.debian.org/debian"

func needNetwork(t *testing.T) {
	t.Helper()
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 to run tests against " + realMirror)
	}
}

func TestNetworkGPGVTrixieInRelease(t *testing.T) {
	needNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &Resolver{}
	signed, err := r.fetchSmall(ctx, realMirror+"/dists/trixie/InRelease", maxInRelease)
	if err != nil {
		t.Fatal(err)
	}
	clear, err := GPGV{Keyring: DefaultKeyring}.Verify(signed)
	if err != nil {
		t.Fatal(err)
	}
	// Only the signed text comes back: no armor, no signature blocks.
	if !bytes.HasPrefix(clear, []byte("Origin: Debian\n")) || bytes.Contains(clear, []byte("-----BEGIN PGP")) {
		t.Errorf("cleartext does not look like the bare Release text:\n%.200s", clear)
	}
	rel, err := parseRelease(clear)
	if err != nil {
		t.Fatal(err)
	}
	if err := rel.check("trixie", time.Now()); err != nil {
		t.Error(err)
	}
	if _, err := rel.packagesIndex("trixie", "main", "amd64"); err != nil {
		t.Error(err)
	}

	// One changed byte in the signed text must be caught.
	tampered := bytes.Replace(signed, []byte("Codename: trixie"), []byte("Codename: trixiE"), 1)
	if _, err := (GPGV{Keyring: DefaultKeyring}).Verify(tampered); err == nil || !strings.Contains(err.Error(), "BAD signature") {
		t.Errorf("tampered InRelease: err = %v, want BAD signature", err)
	} else {
		t.Log(err)
	}
}

func TestNetworkIsolinux(t *testing.T) {
	needNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := &Resolver{
		Sources:  []Source{{Mirror: realMirror, Suite: "trixie", Components: []string{"main"}}},
		Arch:     "amd64",
		Keyring:  DefaultKeyring,
		CacheDir: t.TempDir(),
		Client:   &http.Client{Timeout: 5 * time.Minute},
		Progress: t.Logf,
	}
	locked, err := r.Resolve(ctx, []Pin{{Name: "isolinux", Version: "3:6.04~git20190206.bf6db5b4+dfsg1-3.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("locked: %+v", locked[0])
	if l := locked[0]; l.Suite != "trixie" || l.Component != "main" || !strings.HasPrefix(l.Filename, "pool/main/s/syslinux/isolinux_") {
		t.Errorf("unexpected lock entry %+v", l)
	}
	path, err := r.Fetch(ctx, locked[0])
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if err := Extract(path, dest, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"usr/lib/ISOLINUX/isolinux.bin", "usr/lib/ISOLINUX/isohdpfx.bin"} {
		st, err := os.Stat(filepath.Join(dest, f))
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("%s: %d bytes", f, st.Size())
	}

	// A wrong version lists what the archive has.
	_, err = r.Resolve(ctx, []Pin{{Name: "isolinux", Version: "6.04"}})
	if err == nil || !strings.Contains(err.Error(), "available: 3:6.04~git20190206.bf6db5b4+dfsg1-3.1") {
		t.Errorf("err = %v", err)
	} else {
		t.Log(err)
	}
}
