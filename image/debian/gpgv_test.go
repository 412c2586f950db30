package debian

import (
	"os/exec"
	"strings"
	"testing"
)

func TestParseGPGStatus(t *testing.T) {
	// One key missing, one good: what a keyring lacking an old archive key sees.
	status := `[GNUPG:] NEWSIG
[GNUPG:] ERRSIG 6ED0E7B82643E131 1 8 01 1795252580 9 4CB5
[GNUPG:] NO_PUBKEY 6ED0E7B82643E131
[GNUPG:] NEWSIG
[GNUPG:] GOODSIG 762F67A0B2C39DE4 Debian Stable Release Key (13/trixie)
[GNUPG:] VALIDSIG 41587F7DB8C774BCCF131416762F67A0B2C39DE4 2026-11-21
`
	if good, bad := parseGPGStatus([]byte(status)); good != 1 || len(bad) != 0 {
		t.Errorf("good=%d bad=%q, want 1, none", good, bad)
	}
	// VALIDSIG alone (an expired key) does not count.
	status = "[GNUPG:] NEWSIG\n[GNUPG:] EXPKEYSIG 1 old\n[GNUPG:] VALIDSIG AB 2020-01-01\n"
	if good, _ := parseGPGStatus([]byte(status)); good != 0 {
		t.Errorf("expired key counted as good")
	}
	status = "[GNUPG:] NEWSIG\n[GNUPG:] BADSIG 78DBA3BC47EF2265 Debian\n"
	if _, bad := parseGPGStatus([]byte(status)); len(bad) != 1 {
		t.Errorf("BADSIG not reported")
	}
}

func TestGPGVMissingBinary(t *testing.T) {
	_, err := GPGV{Keyring: DefaultKeyring, Path: "/nonexistent/gpgv"}.Verify([]byte("x"))
	if err == nil || !strings.Contains(err.Error(), "install package gpgv") {
		t.Errorf("err = %v", err)
	}
}

func TestGPGVRejectsUnsigned(t *testing.T) {
	if _, err := exec.LookPath("gpgv"); err != nil {
		t.Skip("gpgv not installed")
	}
	keyring := writeDeb(t, nil) // any existing file: an empty keyring
	_, err := GPGV{Keyring: keyring}.Verify([]byte("Origin: Debian\nSuite: trixie\n"))
	if err == nil || !strings.Contains(err.Error(), keyring) {
		t.Errorf("err = %v, want a failure naming the keyring", err)
	}
	t.Log(err)
}
