package abboot

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The GRUB environment block format, as GRUB's load_env/save_env and
// grub-editenv read and write it:
//
//	"# GRUB Environment Block\n"
//	name=value\n           one line per variable
//	...
//	###...#                padding to the block size
//
// Lines starting with '#' are comments. In a value, '\' and newline are
// escaped with a preceding '\'. GRUB's save_env rewrites the block in
// place, through the file's block list, and never changes its size: the
// file must exist with the full size before GRUB can save into it, and it
// must sit on a file system GRUB can write through block lists (FAT on the
// ESP is fine; not LVM, md RAID or compressed btrfs).
const (
	// EnvBlockSize is the size of the block GRUB and grub-editenv create.
	EnvBlockSize = 1024
	// EnvSignature starts every environment block.
	EnvSignature = "# GRUB Environment Block\n"
)

// ErrEnvTooBig is returned by Encode when the variables do not fit.
var ErrEnvTooBig = errors.New("abboot: variables do not fit in the 1024-byte GRUB environment block")

// validName accepts the variable names the boot state uses and rejects
// what would break the block ('=', newline, a leading '#' that would make
// the line a comment) or GRUB script ($, spaces).
func validName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for _, c := range n {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Encode returns the GRUB environment block holding vars, exactly
// EnvBlockSize bytes, variables in name order (so equal maps give equal
// blocks). It fails on an invalid name, a NUL in a value (GRUB reads values
// as C strings) or when the variables do not fit (ErrEnvTooBig).
func Encode(vars map[string]string) ([]byte, error) {
	names := make([]string, 0, len(vars))
	for n := range vars {
		if !validName(n) {
			return nil, fmt.Errorf("abboot: invalid GRUB variable name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString(EnvSignature)
	for _, n := range names {
		v := vars[n]
		if strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("abboot: GRUB variable %s contains a NUL byte", n)
		}
		b.WriteString(n)
		b.WriteByte('=')
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' || v[i] == '\n' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		b.WriteByte('\n')
	}
	if b.Len() > EnvBlockSize {
		return nil, fmt.Errorf("%w (%d bytes)", ErrEnvTooBig, b.Len())
	}
	out := b.Bytes()
	for len(out) < EnvBlockSize {
		out = append(out, '#')
	}
	return out, nil
}

// Decode parses a GRUB environment block: the signature, then name=value
// lines and comment lines, then '#' padding. Any size is accepted, as GRUB
// does (grub-editenv makes 1024 bytes). A line without '=' or with an invalid
// name, a variable set twice, or a last line cut off by the end of the block
// is an error: GRUB would skip such lines, but in our block they mean
// corruption and the caller must not act on half a state.
func Decode(b []byte) (map[string]string, error) {
	if !bytes.HasPrefix(b, []byte(EnvSignature)) {
		return nil, errors.New("abboot: not a GRUB environment block (bad signature)")
	}
	vars := map[string]string{}
	rest := b[len(EnvSignature):]
	for len(rest) > 0 {
		if rest[0] == '\n' { // empty line: GRUB skips it too
			rest = rest[1:]
			continue
		}
		if rest[0] == '#' { // comment or padding: skip to the end of the line
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break // the padding runs to the end
			}
			rest = rest[i+1:]
			continue
		}
		eq := bytes.IndexByte(rest, '=')
		nl := bytes.IndexByte(rest, '\n')
		if eq < 0 || (nl >= 0 && nl < eq) {
			return nil, fmt.Errorf("abboot: GRUB environment line without '=': %q", line(rest))
		}
		name := string(rest[:eq])
		if !validName(name) {
			return nil, fmt.Errorf("abboot: invalid GRUB variable name %q", name)
		}
		var v []byte
		i := eq + 1
		for ; i < len(rest) && rest[i] != '\n'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			if rest[i] == 0 {
				return nil, fmt.Errorf("abboot: GRUB variable %s contains a NUL byte", name)
			}
			v = append(v, rest[i])
		}
		if i >= len(rest) {
			return nil, fmt.Errorf("abboot: GRUB variable %s cut off by the end of the block", name)
		}
		if _, dup := vars[name]; dup {
			return nil, fmt.Errorf("abboot: GRUB variable %s set twice", name)
		}
		vars[name] = string(v)
		rest = rest[i+1:]
	}
	return vars, nil
}

// line returns b up to its first newline, for error messages.
func line(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}
