package main

import (
	"net"
	"os"
)

// sdNotify sends a state to systemd's notification socket (sd_notify(3)).
// It is a no-op outside a Type=notify service (NOTIFY_SOCKET unset), so the
// unit may stay Type=simple until it wants readiness to gate other units.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract namespace
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
