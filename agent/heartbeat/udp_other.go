//go:build !linux

package heartbeat

import "errors"

// ListenUDP needs Linux (SO_BINDTODEVICE).
func ListenUDP(iface string, port int) (PacketConn, error) {
	return nil, errors.New("heartbeat sockets need Linux")
}
