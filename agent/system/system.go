// Package system is what the node of a "Create new system" install founds
// on its first boot (SPEC A1, issue 5): the system's identity and CA, and
// this node's certificate, kept on STATE so every later boot finds them.
package system

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// Dir is the PKI directory under STATE.
const Dir = nodeconfig.StateMount + "/pki"

// FounderID is the node id of the node that creates the system.
const FounderID = 0

// Identity is the system as this node holds it.
type Identity struct {
	System *pki.System
	NodeID int
	Node   tls.Certificate
}

// Ensure returns the system that cfg's node founded, creating it on the
// first call: a new CA for cfg.System.Name and a node certificate for the
// node's host name, its static address and the system IP. Later calls load
// what the first one saved, so the system id and CA never change.
func Ensure(dir string, cfg nodeconfig.Config, now time.Time) (*Identity, error) {
	if cfg.Action != answers.Create {
		return nil, fmt.Errorf("system: node installed with %q, not create: it joins a system instead of founding one", cfg.Action)
	}
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
	return &Identity{System: sys, NodeID: FounderID, Node: node}, nil
}

func issue(sys *pki.System, dir string, cfg nodeconfig.Config, now time.Time) (tls.Certificate, error) {
	var ips []net.IP
	if ip := net.ParseIP(cfg.System.IP); ip != nil {
		ips = append(ips, ip)
	}
	if !cfg.Network.Node.DHCP {
		if ip, _, err := net.ParseCIDR(cfg.Network.Node.IP); err == nil {
			ips = append(ips, ip)
		} else if ip := net.ParseIP(cfg.Network.Node.IP); ip != nil {
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

// Exists reports whether dir holds a system.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "ca.crt"))
	return err == nil
}
