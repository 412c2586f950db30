package main

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// addTap makes a persistent tap name on bridge, up, for a QEMU that opens
// it by name (netdev tap,ifname=…,script=no): QEMU would create a missing
// tap itself, but neither bring it up nor put it on a bridge. An old tap
// of that name (a QEMU killed with the agent) is replaced. The flags are
// QEMU's own (no packet information, virtio-net headers), so that its
// TUNSETIFF on the existing device matches.
func addTap(name, bridge string) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("tap %s: bridge %s: %w", name, bridge, err)
	}
	if old, err := netlink.LinkByName(name); err == nil {
		if err := netlink.LinkDel(old); err != nil {
			return fmt.Errorf("tap %s: removing the old one: %w", name, err)
		}
	}
	t := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP,
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
	if err := netlink.LinkAdd(t); err != nil {
		return fmt.Errorf("tap %s: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetMaster(l, br)
	}
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("tap %s: %w", name, err), delTap(name))
	}
	return nil
}

// delTap removes tap name, if it exists.
func delTap(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(l)
}
