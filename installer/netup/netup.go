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

// DHCP configures the first lease obtained on any physical interface.
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
		return nil
	}
	return fmt.Errorf("netup: no DHCP lease (%s)", strings.Join(errs, "; "))
}
