package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// HTTPError is returned when the mirror answers with a non-200 status.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

// Fetch downloads l's .deb into CacheDir/debs/<sha256>.deb and returns the
// path. A cached file is reused only after its size and SHA256 check out; a
// corrupt one is deleted and downloaded again. The .deb is fetched from the
// mirror of the source whose Suite is l.Suite, or the first source (all suites
// of an archive share one pool/).
func (r *Resolver) Fetch(ctx context.Context, l Locked) (string, error) {
	if !isSHA256(l.SHA256) {
		// The hash becomes a file name, so it must be exactly hex.
		return "", fmt.Errorf("debian: %s %s: bad sha256 %q", l.Name, l.Version, l.SHA256)
	}
	if err := checkFilename(l.Filename); err != nil {
		return "", fmt.Errorf("debian: %s %s: %w", l.Name, l.Version, err)
	}
	if l.Size <= 0 {
		return "", fmt.Errorf("debian: %s %s: bad size %d", l.Name, l.Version, l.Size)
	}
	mirror, err := r.mirrorFor(l.Suite)
	if err != nil {
		return "", fmt.Errorf("debian: %s %s: %w", l.Name, l.Version, err)
	}
	dir, err := r.cacheDir()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, "debs", strings.ToLower(l.SHA256)+".deb")
	if ok, err := r.cached(dest, l.SHA256, l.Size); err != nil {
		return "", err
	} else if ok {
		return dest, nil
	}
	url := mirror + "/" + l.Filename
	if err := r.download(ctx, url, dest, l.SHA256, l.Size); err != nil {
		return "", fmt.Errorf("debian: %s %s: %w", l.Name, l.Version, err)
	}
	return dest, nil
}

func (r *Resolver) mirrorFor(suite string) (string, error) {
	if len(r.Sources) == 0 {
		return "", errors.New("no sources configured")
	}
	for _, s := range r.Sources {
		if s.Suite == suite {
			return strings.TrimRight(s.Mirror, "/"), nil
		}
	}
	return strings.TrimRight(r.Sources[0].Mirror, "/"), nil
}

// cached reports whether path holds a file of the given size and SHA256. A
// file that exists but does not match is removed (and reported via Progress)
// so the caller downloads it again.
func (r *Resolver) cached(path, wantSHA string, wantSize int64) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("debian: cache: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("debian: cache: %w", err)
	}
	if st.Size() == wantSize {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return false, fmt.Errorf("debian: cache: reading %s: %w", path, err)
		}
		if hex.EncodeToString(h.Sum(nil)) == strings.ToLower(wantSHA) {
			return true, nil
		}
	}
	r.progress("cache entry %s is corrupt, downloading again", path)
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("debian: cache: removing corrupt %s: %w", path, err)
	}
	return false, nil
}

// get starts a GET request and returns the body of a 200 response.
func (r *Resolver) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client().Do(req)
	if err != nil {
		return nil, err // already names the method and URL
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return resp, nil
}

// fetchSmall downloads a small unverified file (InRelease) into memory.
func (r *Resolver) fetchSmall(ctx context.Context, url string, limit int64) ([]byte, error) {
	resp, err := r.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r.progress("fetching %s (%d KiB)", url, kib(resp.ContentLength))
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return b, nil
}

// download fetches url into dest, checking size and SHA256 on the way. The
// data goes to a temporary file in dest's directory that is renamed into
// place only once it is verified, so dest never holds unverified bytes, even
// if the process dies or another build shares the cache.
func (r *Resolver) download(ctx context.Context, url, dest, wantSHA string, wantSize int64) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	resp, err := r.get(ctx, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.progress("fetching %s (%d KiB)", url, kib(wantSize))

	tmp, err := os.CreateTemp(filepath.Dir(dest), ".download-*")
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	// Read one byte more than expected so an oversized body is detected
	// without downloading all of it.
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, wantSize+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if n > wantSize {
		return fmt.Errorf("GET %s: size mismatch: larger than the expected %d bytes", url, wantSize)
	}
	if n < wantSize {
		return fmt.Errorf("GET %s: size mismatch: got %d bytes, want %d", url, n, wantSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(wantSHA) {
		return fmt.Errorf("GET %s: sha256 mismatch: got %s, want %s", url, got, strings.ToLower(wantSHA))
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	keep = true
	return nil
}

func kib(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return (n + 1023) / 1024
}
