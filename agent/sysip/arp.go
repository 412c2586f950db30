package sysip

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Ethernet and ARP constants (RFC 826).
const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	arpHWEthernet = 1
	arpRequest    = 1
	arpReply      = 2
	// frameLen is the minimum Ethernet frame without FCS: an ARP packet
	// (14 + 28 bytes) is padded to it, as the wire requires.
	frameLen = 60
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// GratuitousARP is the Ethernet frame of an ARP announcement of ip by
// mac (RFC 5227 §3): broadcast, an ARP *request* whose sender and target
// protocol addresses are both ip, sender hardware address mac, target
// hardware address zero. A request, not a reply: hosts update an existing
// cache entry from either, but some only look at broadcast requests, and a
// request for one's own address asks no one to answer.
func GratuitousARP(mac net.HardwareAddr, ip netip.Addr) []byte {
	f := make([]byte, frameLen)
	copy(f[0:6], Broadcast)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:14], etherTypeARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:2], arpHWEthernet)
	binary.BigEndian.PutUint16(a[2:4], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], arpRequest)
	ip4 := ip.As4()
	copy(a[8:14], mac)     // sender hardware address
	copy(a[14:18], ip4[:]) // sender protocol address
	// a[18:24]: target hardware address, zero
	copy(a[24:28], ip4[:]) // target protocol address
	return f
}

// ARP is a decoded Ethernet ARP frame (IPv4 over Ethernet only).
type ARP struct {
	Dst, Src  net.HardwareAddr // Ethernet header
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

// ParseARP decodes an Ethernet frame carrying an IPv4-over-Ethernet ARP
// packet; ok is false for anything else.
func ParseARP(f []byte) (a ARP, ok bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:14]) != etherTypeARP {
		return ARP{}, false
	}
	p := f[14:]
	if binary.BigEndian.Uint16(p[0:2]) != arpHWEthernet || binary.BigEndian.Uint16(p[2:4]) != etherTypeIPv4 || p[4] != 6 || p[5] != 4 {
		return ARP{}, false
	}
	return ARP{
		Dst: net.HardwareAddr(f[0:6]), Src: net.HardwareAddr(f[6:12]),
		Op:        binary.BigEndian.Uint16(p[6:8]),
		SenderMAC: net.HardwareAddr(p[8:14]), SenderIP: netip.AddrFrom4([4]byte(p[14:18])),
		TargetMAC: net.HardwareAddr(p[18:24]), TargetIP: netip.AddrFrom4([4]byte(p[24:28])),
	}, true
}

// IsAnnouncement reports whether a is a gratuitous ARP announcement of ip
// by mac (what GratuitousARP makes).
func (a ARP) IsAnnouncement(mac net.HardwareAddr, ip netip.Addr) bool {
	return a.Op == arpRequest && a.SenderIP == ip && a.TargetIP == ip &&
		a.Dst.String() == Broadcast.String() && a.Src.String() == mac.String() && a.SenderMAC.String() == mac.String()
}
