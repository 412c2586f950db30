package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// session is what "lockstep login" remembers for one server: the token
// and the CA that verified the server then, so that later commands verify
// it the same way without repeating --ca-file or --fingerprint.
type session struct {
	User  string `json:"user"`
	Token string `json:"token"`
	CA    string `json:"ca,omitempty"` // PEM; absent after an --insecure login
}

// tokenFile is the cache: one JSON file with a session per server, readable
// by its owner only.
type tokenFile struct {
	path     string
	Sessions map[string]session `json:"sessions"` // by host:port
}

// tokenPath is $XDG_CONFIG_HOME/lockstep/token, or ~/.config/lockstep/token.
func tokenPath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("cannot find the token cache: $HOME is not set")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "lockstep", "token"), nil
}

func loadTokens(path string) (*tokenFile, error) {
	tf := &tokenFile{path: path, Sessions: map[string]session{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tf, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, tf); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it and log in again)", path, err)
	}
	if tf.Sessions == nil {
		tf.Sessions = map[string]session{}
	}
	return tf, nil
}

// save writes the file atomically with mode 0600 in a 0700 directory: the
// tokens are as good as the password while they live.
func (tf *tokenFile) save() error {
	dir := filepath.Dir(tf.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), tf.path)
}

// password returns the password: from --password-file, else
// $LOCKSTEP_PASSWORD, else a prompt on the terminal. Scripts without any
// of these get an error rather than a hang.
func (c *cli) password() (string, error) {
	if c.pw != "" {
		return c.pw, nil
	}
	switch {
	case c.g.passwordFile != "":
		f, err := os.Open(c.g.passwordFile)
		if err != nil {
			return "", err
		}
		defer f.Close()
		line, err := bufio.NewReader(f).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("%s: no password in it", c.g.passwordFile)
		}
		c.pw = strings.TrimRight(line, "\r\n")
	case c.getenv("LOCKSTEP_PASSWORD") != "":
		c.pw = c.getenv("LOCKSTEP_PASSWORD")
	case c.readPassword != nil:
		pw, err := c.readPassword(fmt.Sprintf("Password for %s@%s: ", c.g.user, c.server))
		if err != nil {
			return "", err
		}
		c.pw = pw
	default:
		return "", errors.New("no password: use --password-file, set LOCKSTEP_PASSWORD, run 'lockstep login' first, or run on a terminal")
	}
	if c.pw == "" {
		return "", errors.New("the password is empty")
	}
	return c.pw, nil
}
