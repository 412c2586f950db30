// Package netup brings the installer's network up with DHCP on every wired
// interface that has a link, for fetching an answer file from a URL given on
// the kernel command line. The installed system configures its own network
// from the node config; this is only for the installer.
package netup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
)

// DHCP configures every lease obtained on the physical interfaces: the answer
// file's server may sit on any of them.
func DHCP(ctx context.Context, logf func(string, ...any)) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("netup: list links: %w", err)
	}
	var candidates []netlink.Link
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" || l.Type() != "device" {
			continue
		}
		if _, err := dhclient.IfUp(a.Name, 5*time.Second); err != nil {
			logf("netup: %s: %v", a.Name, err)
			continue
		}
		candidates = append(candidates, l)
	}
	if len(candidates) == 0 {
		return fmt.Errorf("netup: no network interface came up")
	}
	results := dhclient.SendRequests(ctx, candidates, true, false, dhclient.Config{Timeout: 5 * time.Second, Retries: 3}, 10*time.Second)
	var errs []string
	configured := 0
	for r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", r.Interface.Attrs().Name, r.Err))
			continue
		}
		if err := r.Lease.Configure(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: configure: %v", r.Interface.Attrs().Name, err))
			continue
		}
		logf("netup: %s: %s", r.Interface.Attrs().Name, r.Lease)
		configured++
	}
	if configured == 0 {
		return fmt.Errorf("netup: no DHCP lease (%s)", strings.Join(errs, "; "))
	}
	return nil
}

// LinksUp sets every physical interface up without an address, so that the
// installer can show link state and speed (a down interface reports neither),
// and waits up to timeout for carriers: auto-negotiation takes seconds.
func LinksUp(timeout time.Duration, logf func(string, ...any)) {
	links, err := netlink.LinkList()
	if err != nil {
		logf("netup: list links: %v", err)
		return
	}
	var phys []netlink.Link
	for _, l := range links {
		if l.Attrs().Name == "lo" || l.Type() != "device" {
			continue
		}
		if err := netlink.LinkSetUp(l); err != nil {
			logf("netup: %s up: %v", l.Attrs().Name, err)
			continue
		}
		phys = append(phys, l)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		waiting := 0
		for _, l := range phys {
			cur, err := netlink.LinkByIndex(l.Attrs().Index)
			if err == nil && cur.Attrs().OperState != netlink.OperUp {
				waiting++
			}
		}
		if waiting == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
