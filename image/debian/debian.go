// Package debian fetches pinned Debian binary packages from an archive
// mirror, verifies them against the archive's signed metadata, and extracts
// them into a directory tree.
//
// The trust chain is the one apt uses:
//
//	keyring --(gpgv)--> dists/<suite>/InRelease
//	InRelease SHA256 list --> <component>/binary-<arch>/Packages.xz
//	Packages SHA256 + Size --> pool/.../<name>_<version>_<arch>.deb
//
// Resolve walks the first two steps and records the result for each pin as a
// Locked entry; Fetch only needs a Locked entry (no signature check), so a
// lock file written once can be replayed later without trusting the network.
package debian

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// DefaultKeyring is used when Resolver.Keyring is empty. It is shipped by the
// debian-archive-keyring package.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Source is one archive suite, e.g.
// {Mirror: "http://deb.debian.org/debian", Suite: "trixie", Components: []string{"main", "non-free-firmware"}}.
type Source struct {
	Mirror     string
	Suite      string
	Components []string
}

// Pin asks for one exact package version.
type Pin struct {
	Name    string
	Version string // exact Debian version including any epoch, e.g. "3:6.04~git20190206.bf6db5b4+dfsg1-3.1"
	Suite   string // optional: only look in the source with this suite
}

// Locked is a resolved pin: everything Fetch needs to download and verify the
// .deb without consulting the archive's indexes again.
type Locked struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Suite     string `json:"suite"`
	Component string `json:"component"`
	Filename  string `json:"filename"` // relative to the mirror root, e.g. "pool/main/s/syslinux/isolinux_..._all.deb"
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
}

// Resolver resolves pins against Sources and downloads packages.
type Resolver struct {
	Sources []Source
	Arch    string // e.g. "amd64"
	// Keyring is the OpenPGP keyring used by the default verifier; empty means DefaultKeyring.
	Keyring string
	// CacheDir holds downloaded indexes and .debs; empty means
	// $XDG_CACHE_HOME/lockstep/debian (os.UserCacheDir).
	CacheDir string
	// Client is used for all downloads; nil means http.DefaultClient.
	Client *http.Client
	// Progress, if set, is called once per download so long builds show activity.
	Progress func(format string, args ...any)
	// Verifier checks InRelease signatures; nil means GPGV{Keyring: Keyring}.
	Verifier Verifier
}

func (r *Resolver) client() *http.Client {
	if r.Client != nil {
		return r.Client
	}
	return http.DefaultClient
}

func (r *Resolver) progress(format string, args ...any) {
	if r.Progress != nil {
		r.Progress(format, args...)
	}
}

func (r *Resolver) keyring() string {
	if r.Keyring != "" {
		return r.Keyring
	}
	return DefaultKeyring
}

func (r *Resolver) verifier() Verifier {
	if r.Verifier != nil {
		return r.Verifier
	}
	return GPGV{Keyring: r.keyring()}
}

// verifierName describes the verifier for error messages.
func (r *Resolver) verifierName() string {
	if r.Verifier == nil {
		return "keyring " + r.keyring()
	}
	if g, ok := r.Verifier.(GPGV); ok {
		return "keyring " + g.Keyring
	}
	if r.Keyring != "" {
		return fmt.Sprintf("%T (keyring %s)", r.Verifier, r.Keyring)
	}
	return fmt.Sprintf("%T", r.Verifier)
}

func (r *Resolver) cacheDir() (string, error) {
	if r.CacheDir != "" {
		return r.CacheDir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("debian: no CacheDir set and no user cache directory: %w", err)
	}
	return filepath.Join(base, "lockstep", "debian"), nil
}
