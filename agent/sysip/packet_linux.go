package sysip

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// PacketAnnouncer sends gratuitous ARP through an AF_PACKET raw socket:
// the frame is written whole (GratuitousARP), because the kernel's own ARP
// code sends no announcements when an address is added. It works in the
// calling thread's network namespace.
type PacketAnnouncer struct{}

// Announce implements Announcer.
func (PacketAnnouncer) Announce(ifname string, ip netip.Addr) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("%s has no Ethernet address (%v): cannot send ARP", ifname, ifi.HardwareAddr)
	}
	if !ip.Is4() {
		return fmt.Errorf("ARP announces IPv4 addresses only, not %v", ip)
	}
	// Protocol 0: the socket only sends, so the kernel queues nothing to it.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(etherTypeARP), Halen: 6}
	copy(sa.Addr[:], Broadcast)
	if err := unix.Sendto(fd, GratuitousARP(ifi.HardwareAddr, ip), 0, sa); err != nil {
		return fmt.Errorf("send gratuitous ARP on %s: %w", ifname, err)
	}
	return nil
}

// htons puts v in network byte order, as sockaddr_ll's protocol wants.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
