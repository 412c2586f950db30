//go:build !linux

package sysip

import (
	"errors"
	"net/netip"
)

var errLinux = errors.New("the system IP needs Linux (netlink, AF_PACKET)")

// PacketAnnouncer needs Linux.
type PacketAnnouncer struct{}

// Announce implements Announcer.
func (PacketAnnouncer) Announce(string, netip.Addr) error { return errLinux }

// Open needs Linux.
func Open() (*Manager, error) { return nil, errLinux }
