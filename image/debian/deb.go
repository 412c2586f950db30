package debian

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Extract unpacks the data.tar.* member of the .deb at debPath into destDir
// (created if missing). Regular files, directories, symlinks and hard links
// are created; device nodes and FIFOs are skipped, as they cannot be created
// without root and do not occur in the packages an installer image needs.
//
// keep is called with each entry's normalised name ("usr/bin/foo", no
// leading "./", no trailing "/"); entries it rejects are skipped, and parent
// directories of kept entries are created as needed. keep == nil keeps
// everything. File modes (including setuid bits) and modification times are
// applied; ownership is not, so no root is needed.
//
// Entries whose names escape destDir are refused, and all file system access
// goes through an os.Root, so a symlink in the archive (or already in
// destDir) cannot redirect a later write outside destDir either.
func Extract(debPath, destDir string, keep func(name string) bool) error {
	f, err := os.Open(debPath)
	if err != nil {
		return fmt.Errorf("debian: extract: %w", err)
	}
	defer f.Close()
	member, data, err := dataMember(f)
	if err != nil {
		return fmt.Errorf("debian: extract %s: %w", debPath, err)
	}
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return fmt.Errorf("debian: extract %s: %w", debPath, err)
	}
	root, err := os.OpenRoot(destDir)
	if err != nil {
		return fmt.Errorf("debian: extract %s: %w", debPath, err)
	}
	defer root.Close()
	if err := extractTar(member, data, root, keep); err != nil {
		return fmt.Errorf("debian: extract %s: %w", debPath, err)
	}
	return nil
}

// dataMember walks the ar archive a .deb is and returns the name and
// decompressed contents of its data.tar.* member.
//
// ar format: "!<arch>\n", then per member a 60-byte header (name[16]
// mtime[12] uid[6] gid[6] mode[8] size[10] "`\n") followed by the data,
// padded to an even length.
func dataMember(f *os.File) (string, io.Reader, error) {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != "!<arch>\n" {
		return "", nil, errors.New("not a .deb (no ar archive header)")
	}
	off := int64(8)
	for i := 0; ; i++ {
		hdr := make([]byte, 60)
		if _, err := f.ReadAt(hdr, off); err != nil {
			if err == io.EOF {
				return "", nil, errors.New("no data.tar member")
			}
			return "", nil, err
		}
		if string(hdr[58:60]) != "`\n" {
			return "", nil, fmt.Errorf("corrupt ar member header at offset %d", off)
		}
		// GNU ar terminates names with '/'; dpkg-deb writes space padding.
		name := strings.TrimSuffix(strings.TrimRight(string(hdr[0:16]), " "), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return "", nil, fmt.Errorf("ar member %q: bad size", name)
		}
		body := io.NewSectionReader(f, off+60, size)
		if i == 0 {
			// The format version comes first; only 2.x exists.
			if name != "debian-binary" {
				return "", nil, fmt.Errorf("first member is %q, not debian-binary", name)
			}
			v, _ := io.ReadAll(io.LimitReader(body, 16))
			if !bytes.HasPrefix(v, []byte("2.")) {
				return "", nil, fmt.Errorf("unsupported .deb format version %q", strings.TrimSpace(string(v)))
			}
		}
		if strings.HasPrefix(name, "data.tar") {
			r, err := decompress(name, body)
			return name, r, err
		}
		off += 60 + size + size%2
	}
}

func decompress(name string, body io.Reader) (io.Reader, error) {
	// Buffered: the xz decoder in particular reads byte by byte.
	r := bufio.NewReaderSize(body, 1<<16)
	switch path.Ext(name) {
	case ".tar":
		return r, nil
	case ".xz":
		return xz.NewReader(r)
	case ".zst":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		// IOReadCloser releases the decoder's goroutines when the member has
		// been read to the end; nothing here keeps it longer.
		return d.IOReadCloser(), nil
	case ".gz":
		return gzip.NewReader(r)
	case ".bz2":
		return bzip2.NewReader(r), nil
	}
	return nil, fmt.Errorf("unsupported compression of member %q", name)
}

// cleanName normalises a tar entry name to a slash-separated path relative to
// the destination, or returns an error if it would leave it.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("entry %q: absolute path refused", name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("entry %q escapes the destination directory", name)
	}
	return clean, nil // "." for the archive's root entry
}

func extractTar(member string, data io.Reader, root *os.Root, keep func(string) bool) error {
	if c, ok := data.(io.Closer); ok {
		defer c.Close()
	}
	type dirMeta struct {
		name  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMeta
	extracted := map[string]bool{} // for hard links, whose target must exist
	tr := tar.NewReader(data)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", member, err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." || (keep != nil && !keep(name)) {
			continue
		}
		mode := hdr.FileInfo().Mode()
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
			// Modes and times of directories are applied at the end: a
			// read-only directory would block its own contents, and
			// writing into a directory changes its mtime.
			dirs = append(dirs, dirMeta{name, mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), hdr.ModTime})
		case tar.TypeReg:
			if err := replace(root, name); err != nil {
				return err
			}
			if err := writeFile(root, name, tr, mode, hdr.ModTime); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := replace(root, name); err != nil {
				return err
			}
			// The target is stored as is (absolute targets are normal in
			// packages); os.Root refuses to follow it out of destDir later.
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
		case tar.TypeLink:
			target, err := cleanName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("hard link %q: %w", name, err)
			}
			if !extracted[target] {
				return fmt.Errorf("hard link %q: target %q was not extracted (excluded by keep?)", name, target)
			}
			if err := replace(root, name); err != nil {
				return err
			}
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
		default:
			continue // devices, FIFOs: see Extract
		}
		extracted[name] = true
	}
	// Deepest first, so fixing a parent's mode cannot block a child.
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := root.Chmod(d.name, d.mode); err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
	}
	return nil
}

// replace removes a non-directory already at name, so a file or link from the
// archive replaces it (as dpkg does) instead of writing through it.
func replace(root *os.Root, name string) error {
	st, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if st.IsDir() {
		return fmt.Errorf("entry %q: a directory is in the way", name)
	}
	if err := root.Remove(name); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	return nil
}

func writeFile(root *os.Root, name string, r io.Reader, mode fs.FileMode, mtime time.Time) error {
	// O_EXCL: replace() removed any old entry, so anything here now is a
	// race we refuse rather than follow.
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	// Chmod after writing: the umask must not strip bits, and setuid is
	// only kept when set explicitly.
	if err := f.Chmod(mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return root.Chtimes(name, mtime, mtime)
}
