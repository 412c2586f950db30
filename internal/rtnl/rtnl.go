// Package rtnl opens the rtnetlink handle that agent/netcfg and agent/sysip
// use, the same way for both.
package rtnl

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Timeout bounds every request: a reply the kernel drops (a receive buffer
// overrun in a burst of link events at boot) must fail the request rather
// than hang the agent or a failover; the callers retry.
const Timeout = 5 * time.Second

// Open opens rtnetlink in the calling thread's network namespace. Route
// only: with no families given the library also opens XFRM and netfilter
// sockets, which fail where those modules are missing (the installer's
// initramfs: "protocol not supported").
func Open() (*netlink.Handle, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	if err := h.SetSocketTimeout(Timeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("rtnetlink socket timeout: %w", err)
	}
	return h, nil
}
