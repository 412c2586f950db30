package vm

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
)

// MAC is the address the system gives NIC nic of VM vm when the
// administrator gives none: the first 6 bytes of
// SHA-256(systemID NUL vm NUL nic), made locally administered (bit 1 of the
// first byte set) and unicast (bit 0 clear). The same inputs give the same
// address, so a VM keeps its MAC on both nodes and across re-creation.
//
// The whole address comes from the hash, not a fixed prefix such as QEMU's
// 52:54:00: with 46 random bits two systems on one LAN, or two NICs of one
// system, collide with negligible chance, where 24 bits under a per-system
// prefix would give about 1% for a full system's 560 NICs (28 VMs × 20).
func MAC(systemID, vm string, nic int) string {
	h := sha256.New()
	h.Write([]byte(systemID))
	h.Write([]byte{0})
	h.Write([]byte(vm))
	h.Write([]byte{0})
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(nic)))
	b := h.Sum(nil)[:6]
	b[0] = b[0]&^0x01 | 0x02
	return net.HardwareAddr(b).String()
}

// ParseMAC checks an administrator's MAC (48 bits, unicast, not all zero)
// and returns it in the form libvirt and the API use: lower case, colons.
func ParseMAC(s string) (string, error) {
	a, err := net.ParseMAC(s)
	if err != nil || len(a) != 6 {
		return "", fmt.Errorf("MAC %q: not a 48-bit MAC address like 02:00:5e:10:00:01", s)
	}
	if a[0]&0x01 != 0 {
		return "", fmt.Errorf("MAC %q is a multicast address (the first byte is odd)", s)
	}
	if string(a) == "\x00\x00\x00\x00\x00\x00" {
		return "", fmt.Errorf("MAC %q is all zero", s)
	}
	return a.String(), nil
}
