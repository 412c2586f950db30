package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names in a PKI directory (on a node: a directory on STATE). The
// certificates are public (0644); the keys are 0600 and Load refuses a key
// that others can read, as ssh does, because a readable CA key lets anyone
// on the host mint a node of this system.
const (
	CACertFile   = "ca.crt"
	CAKeyFile    = "ca.key"
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key"
)

// Save writes the CA certificate and, if held, the CA key into dir
// (created 0700 if missing). Each file is replaced atomically, so a power
// cut leaves the old or the new file, never a torn one.
func (s *System) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if s.CAKey != nil {
		k, err := EncodeKey(s.CAKey)
		if err != nil {
			return err
		}
		if err := WriteFileAtomic(filepath.Join(dir, CAKeyFile), k, 0o600); err != nil {
			return err
		}
	}
	return WriteFileAtomic(filepath.Join(dir, CACertFile), EncodeCert(s.CACert), 0o644)
}

// Load reads a system saved by Save. A missing ca.key is not an error: the
// System then verifies but cannot issue (CAKey nil).
func Load(dir string) (*System, error) {
	b, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	ca, err := ParseCertPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CACertFile), err)
	}
	s, err := FromCA(ca)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CACertFile), err)
	}
	kp := filepath.Join(dir, CAKeyFile)
	key, err := readKey(kp)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, want the CA's ECDSA key", kp, key)
	}
	if err := s.SetCAKey(ek); err != nil {
		return nil, fmt.Errorf("%s: %w", kp, err)
	}
	return s, nil
}

// SaveNode writes this node's certificate (PEM) and private key into dir.
func SaveNode(dir string, certPEM []byte, key crypto.Signer) error {
	if _, err := ParseCertPEM(certPEM); err != nil {
		return err
	}
	k, err := EncodeKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, NodeKeyFile), k, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, NodeCertFile), certPEM, 0o644)
}

// LoadNode reads the node's certificate and key as a tls.Certificate with
// Leaf set, checking that they belong together.
func LoadNode(dir string) (tls.Certificate, error) {
	cp := filepath.Join(dir, NodeCertFile)
	b, err := os.ReadFile(cp)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := ParseCertPEM(b)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", cp, err)
	}
	key, err := readKey(filepath.Join(dir, NodeKeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	return KeyPair(cert, key)
}

// KeyPair makes a tls.Certificate (Leaf set) from a certificate and its key.
func KeyPair(cert *x509.Certificate, key crypto.Signer) (tls.Certificate, error) {
	type pubEqual interface{ Equal(crypto.PublicKey) bool }
	if p, ok := key.Public().(pubEqual); !ok || !p.Equal(cert.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("the key does not belong to certificate %q", cert.Subject.CommonName)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// EncodeCert is the certificate as PEM ("CERTIFICATE").
func EncodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// ParseCertPEM reads exactly one PEM certificate.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	if more, _ := pem.Decode(rest); more != nil {
		return nil, errors.New("more than one PEM block; want one certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// EncodeKey is the key as PKCS#8 PEM ("PRIVATE KEY").
func EncodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKeyPEM reads a PKCS#8 PEM private key.
func ParseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY (PKCS#8) block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return s, nil
}

func readKey(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets others read a private key; chmod 600 it", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WriteFileAtomic writes data to a temporary file in path's directory with
// mode perm (set before any byte is written, so a key is never readable by
// others even briefly), syncs it, renames it over path and syncs the
// directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, derr := os.Open(dir)
	if derr != nil {
		return nil // renamed; only durability across a crash is weaker
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}
