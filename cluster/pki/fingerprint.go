package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
)

// Fingerprint is the SHA-256 of the certificate's DER, as 64 lower-case hex
// digits without separators: the form an answer file's join.fingerprint
// normalizes to, so the two compare with ==.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// NormalizeFingerprint accepts a SHA-256 fingerprint as 64 hex digits in
// either case, with or without colons ("AB:12:…", as openssl prints it) or
// spaces (as FormatFingerprint shows it, so an operator can copy it off the
// screen), and returns the Fingerprint form.
func NormalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "", "\t", "").Replace(strings.TrimSpace(s)))
	if bad := strings.Trim(h, "0123456789abcdef"); bad != "" {
		return "", fmt.Errorf("fingerprint %q: %q is not a hex digit; use 64 hex digits, colons optional", s, bad[:1])
	}
	if len(h) != 2*sha256.Size {
		return "", fmt.Errorf("fingerprint %q: %d hex digits, want 64 (SHA-256)", s, len(h))
	}
	return h, nil
}

// FormatFingerprint shows a fingerprint for people: lower-case groups of
// four hex digits separated by spaces ("ab12 cd34 …", 79 columns for
// SHA-256); the TUI may break the line between groups. Input it cannot
// normalize is returned unchanged.
func FormatFingerprint(fp string) string {
	h, err := NormalizeFingerprint(fp)
	if err != nil {
		return fp
	}
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}
