// Package system is the system as one node holds it on STATE (SPEC A1, I8):
// the identity and CA, this node's certificate, the shared secrets
// (heartbeat key, witness secret), the system settings (system.json) and
// the node registry (nodes.json). A "Create new system" node founds it on
// its first boot (Ensure); a joining node gets it from the join, written by
// the installer (JoinFiles) and read at every boot (Load).
package system

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/join"
	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// Files under the STATE root.
const (
	PKIDir        = "pki"
	ConfigFile    = "system.json"
	RegistryFile  = "nodes.json"
	HeartbeatFile = PKIDir + "/heartbeat.key"
	WitnessFile   = PKIDir + "/witness.secret"
	// Format is system.json's layout version.
	Format = 1
)

// Dir is the PKI directory on a running node.
const Dir = nodeconfig.StateMount + "/" + PKIDir

// FounderID is the node id of the node that creates the system.
const FounderID = 0

// HeartbeatKeySize is the heartbeat key's length (agent/heartbeat.KeySize;
// kept here so that the installer does not link the agent's transport).
const HeartbeatKeySize = 32

// Config is system.json: the system's settings as this node knows them.
type Config struct {
	Format            int      `json:"format"`
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	IP                string   `json:"ip"`      // the system IP
	NodeID            int      `json:"node_id"` // this node
	Witnesses         []string `json:"witnesses,omitempty"`
	AdminPasswordHash string   `json:"admin_password_hash"`
	// Edition sets the VM limits of SPEC A5 ("enterprise", "express",
	// "single-pvm"); empty is enterprise.
	Edition string `json:"edition,omitempty"`
}

// Identity is the system as this node holds it.
type Identity struct {
	System        *pki.System
	NodeID        int
	Node          tls.Certificate
	Config        Config
	HeartbeatKey  []byte
	WitnessSecret []byte // nil without witnesses
	Registry      *Registry
}

// Ensure returns the system that cfg's node founded, creating what is
// missing on the first call: a new CA for cfg.System.Name, a node
// certificate for the node's host name, its static address and the system
// IP, the heartbeat key, system.json and the registry. Later calls load
// what the first one saved, so the system id and CA never change.
func Ensure(stateDir string, cfg nodeconfig.Config, now time.Time) (*Identity, error) {
	if cfg.Action != answers.Create {
		return nil, fmt.Errorf("system: node installed with %q, not create: it joins a system instead of founding one", cfg.Action)
	}
	dir := filepath.Join(stateDir, PKIDir)
	sys, err := pki.Load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if sys, err = pki.NewSystem(cfg.System.Name, now); err != nil {
			return nil, err
		}
		if err := sys.Save(dir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if sys.Name != cfg.System.Name {
		return nil, fmt.Errorf("system: %s holds system %q, the node config says %q", dir, sys.Name, cfg.System.Name)
	}
	node, err := pki.LoadNode(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if node, err = issue(sys, dir, cfg, now); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	key, err := readHex(filepath.Join(stateDir, HeartbeatFile))
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, HeartbeatKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeHex(filepath.Join(stateDir, HeartbeatFile), key); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	c, err := LoadConfig(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		c = Config{Format: Format, ID: sys.ID, Name: sys.Name, IP: cfg.System.IP, NodeID: FounderID,
			Witnesses: cfg.System.Witnesses, AdminPasswordHash: cfg.AdminPasswordHash}
		if cfg.System.WitnessSecret != "" {
			if err := writeSecret(filepath.Join(stateDir, WitnessFile), cfg.System.WitnessSecret); err != nil {
				return nil, err
			}
		}
		if err := c.Save(stateDir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	reg := &Registry{Path: filepath.Join(stateDir, RegistryFile)}
	recs, err := reg.Nodes()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		ip := ""
		if !cfg.Network.Node.DHCP {
			ip = hostIP(cfg.Network.Node.IP)
		}
		if err := reg.Put(join.NodeRecord{ID: FounderID, Hostname: cfg.Hostname, IP: ip,
			Serial: node.Leaf.SerialNumber.Text(16), Joined: now}); err != nil {
			return nil, err
		}
	}
	id := &Identity{System: sys, NodeID: FounderID, Node: node, Config: c, HeartbeatKey: key, Registry: reg}
	return id, id.loadWitnessSecret(stateDir)
}

// Load reads the system of a node that joined it (or founded it: Ensure
// has saved everything Load reads).
func Load(stateDir string) (*Identity, error) {
	dir := filepath.Join(stateDir, PKIDir)
	sys, err := pki.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	node, err := pki.LoadNode(dir)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	c, err := LoadConfig(stateDir)
	if err != nil {
		return nil, err
	}
	if c.ID != sys.ID {
		return nil, fmt.Errorf("system: %s is for system %s, the CA is %s's", ConfigFile, c.ID, sys.ID)
	}
	if sid, n, err := pki.NodeIdentity(node.Leaf); err != nil || sid != sys.ID || n != c.NodeID {
		return nil, fmt.Errorf("system: the node certificate is not node%d of system %s (%v)", c.NodeID, sys.ID, err)
	}
	key, err := readHex(filepath.Join(stateDir, HeartbeatFile))
	if err != nil {
		return nil, fmt.Errorf("system: heartbeat key: %w", err)
	}
	if len(key) != HeartbeatKeySize {
		return nil, fmt.Errorf("system: heartbeat key is %d bytes, want %d", len(key), HeartbeatKeySize)
	}
	id := &Identity{System: sys, NodeID: c.NodeID, Node: node, Config: c, HeartbeatKey: key,
		Registry: &Registry{Path: filepath.Join(stateDir, RegistryFile)}}
	return id, id.loadWitnessSecret(stateDir)
}

func (id *Identity) loadWitnessSecret(stateDir string) error {
	if len(id.Config.Witnesses) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(stateDir, WitnessFile))
	if err != nil {
		return fmt.Errorf("system: %d witnesses configured but no secret: %w", len(id.Config.Witnesses), err)
	}
	// The witness uses its secret file's text as it is (trimmed); so do we.
	id.WitnessSecret = []byte(strings.TrimSpace(string(b)))
	return nil
}

// Secrets are the secrets a join hands to the new node.
func (id *Identity) Secrets() join.Secrets {
	return join.Secrets{
		HeartbeatKey:      hex.EncodeToString(id.HeartbeatKey),
		AdminPasswordHash: id.Config.AdminPasswordHash,
		WitnessSecret:     string(id.WitnessSecret),
	}
}

// JoinFiles are the files a completed join leaves on STATE (paths relative
// to its root), for the installer to write with the node config.
func JoinFiles(r *join.Result) (map[string][]byte, error) {
	c := r.Config
	if c.NodeID != r.NodeID || c.SystemID != r.System.ID {
		return nil, fmt.Errorf("join response: config for node%d of %s, certificate for node%d of %s", c.NodeID, c.SystemID, r.NodeID, r.System.ID)
	}
	key, err := hex.DecodeString(c.Secrets.HeartbeatKey)
	if err != nil || len(key) != HeartbeatKeySize {
		return nil, fmt.Errorf("join response: heartbeat key: want %d hex bytes", HeartbeatKeySize)
	}
	if c.Secrets.AdminPasswordHash == "" {
		return nil, errors.New("join response: no administrator account")
	}
	if len(c.Witnesses) > 0 && c.Secrets.WitnessSecret == "" {
		return nil, errors.New("join response: witnesses without their secret")
	}
	tmp, err := os.MkdirTemp("", "join-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := r.Save(tmp); err != nil {
		return nil, err
	}
	files := map[string][]byte{HeartbeatFile: []byte(c.Secrets.HeartbeatKey + "\n")}
	if c.Secrets.WitnessSecret != "" {
		files[WitnessFile] = []byte(c.Secrets.WitnessSecret + "\n")
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(tmp, e.Name()))
		if err != nil {
			return nil, err
		}
		files[PKIDir+"/"+e.Name()] = b
	}
	sc := Config{Format: Format, ID: c.SystemID, Name: c.SystemName, IP: c.SystemIP, NodeID: c.NodeID,
		Witnesses: c.Witnesses, AdminPasswordHash: c.Secrets.AdminPasswordHash}
	if files[ConfigFile], err = json.MarshalIndent(sc, "", "  "); err != nil {
		return nil, err
	}
	var recs []join.NodeRecord
	for _, n := range c.Nodes {
		rec := join.NodeRecord{ID: n.ID, Hostname: n.Hostname, IP: n.IP}
		if n.ID == r.NodeID {
			rec.Serial = r.Cert.SerialNumber.Text(16)
			rec.Joined = r.Cert.NotBefore
		}
		recs = append(recs, rec)
	}
	if files[RegistryFile], err = json.MarshalIndent(recs, "", "  "); err != nil {
		return nil, err
	}
	return files, nil
}

// LoadConfig reads system.json.
func LoadConfig(stateDir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(stateDir, ConfigFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("system: %s: %w", ConfigFile, err)
	}
	if c.Format != Format {
		return c, fmt.Errorf("system: %s format %d, this build reads %d", ConfigFile, c.Format, Format)
	}
	return c, nil
}

// Save writes system.json atomically.
func (c Config) Save(stateDir string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(filepath.Join(stateDir, ConfigFile), append(b, '\n'), 0o600)
}

func issue(sys *pki.System, dir string, cfg nodeconfig.Config, now time.Time) (tls.Certificate, error) {
	var ips []net.IP
	if ip := net.ParseIP(cfg.System.IP); ip != nil {
		ips = append(ips, ip)
	}
	if !cfg.Network.Node.DHCP {
		if ip := net.ParseIP(hostIP(cfg.Network.Node.IP)); ip != nil {
			ips = append(ips, ip)
		}
	}
	key, err := pki.NewKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, certPEM, err := sys.IssueNode(FounderID, cfg.Hostname, ips, key.Public(), now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := pki.SaveNode(dir, certPEM, key); err != nil {
		return tls.Certificate{}, err
	}
	return pki.KeyPair(cert, key)
}

// hostIP is the address of "a.b.c.d" or "a.b.c.d/n".
func hostIP(s string) string {
	h, _, _ := strings.Cut(s, "/")
	return h
}

func readHex(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func writeHex(path string, b []byte) error { return writeSecret(path, hex.EncodeToString(b)) }

func writeSecret(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return pki.WriteFileAtomic(path, []byte(text+"\n"), 0o600)
}

// Exists reports whether stateDir holds a system.
func Exists(stateDir string) bool {
	_, err := os.Stat(filepath.Join(stateDir, PKIDir, "ca.crt"))
	return err == nil
}
