package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileStore keeps the ledger in a JSON file, replaced atomically on every
// change (write a temporary file, fsync, rename, fsync the directory), so a
// crash leaves either the old or the new state, never half of one.
type FileStore struct {
	Path string
}

// Load reads the state file. A missing file is not an error: it returns
// found == false and the caller must quarantine (rule 3).
func (s FileStore) Load() (st State, found bool, err error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Records: map[string]Record{}}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("read witness state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, false, fmt.Errorf("witness state %s is corrupt (%v); move it away only if no lease can still be running", s.Path, err)
	}
	if st.Records == nil {
		st.Records = map[string]Record{}
	}
	return st, true, nil
}

// Save writes st durably.
func (s FileStore) Save(st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.Path)
	f, err := os.CreateTemp(dir, ".witness-state-*")
	if err != nil {
		return fmt.Errorf("save witness state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.Path)
	}
	if err != nil {
		return fmt.Errorf("save witness state %s: %w", s.Path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}
