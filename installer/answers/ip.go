package answers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// The IPv4 helpers below parse strictly and explain what is wrong in words an
// operator understands; every message starts with the quoted value.

// errIPv6 is the message for an IPv6 address where ibiz0 needs IPv4.
func errIPv6(s string) error {
	return fmt.Errorf("%q is an IPv6 address; ibiz0 supports IPv4 only for now", s)
}

// parseIPv4 parses a dotted-quad IPv4 address: four decimal numbers 0-255,
// without leading zeros (ambiguous: some tools read them as octal).
func parseIPv4(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("is empty")
	}
	if strings.Contains(s, ":") {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
			return netip.Addr{}, errIPv6(s)
		}
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address: \":\" is not allowed (no port numbers)", s)
	}
	if strings.Contains(s, "/") {
		return netip.Addr{}, fmt.Errorf("%q is not a plain IPv4 address: give it without a prefix length", s)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address: it has %d part(s); an IPv4 address is four numbers 0-255 separated by dots, e.g. 192.0.2.10", s, len(parts))
	}
	var b [4]byte
	for i, p := range parts {
		switch {
		case p == "":
			return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address: part %d is empty", s, i+1)
		case strings.Trim(p, "0123456789") != "":
			return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address: %q is not a number", s, p)
		case len(p) > 1 && p[0] == '0':
			return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address: %q has a leading zero (ambiguous: some tools read it as octal)", s, p)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 {
			return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address: %s is out of range 0-255", s, p)
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), nil
}

// parseHostIPv4 parses an address that a host may use as its own or as a
// peer's (node, system, gateway, DNS): not 0.0.0.0, loopback, link-local,
// multicast or reserved.
func parseHostIPv4(s string) (netip.Addr, error) {
	a, err := parseIPv4(s)
	if err != nil {
		return a, err
	}
	switch {
	case a.IsUnspecified():
		return a, fmt.Errorf("%q is the unspecified address, not a host address", s)
	case a.IsLoopback():
		return a, fmt.Errorf("%q is a loopback address (127.0.0.0/8), not reachable from other machines", s)
	case a.IsLinkLocalUnicast():
		return a, fmt.Errorf("%q is a link-local address (169.254.0.0/16), not usable as a configured address", s)
	case a.IsMulticast():
		return a, fmt.Errorf("%q is a multicast address (224.0.0.0/4), not a host address", s)
	case a.As4()[0] >= 240:
		return a, fmt.Errorf("%q is in the reserved range 240.0.0.0/4, not a host address", s)
	}
	return a, nil
}

// parsePrefixLen parses "24" into 24 (0-32).
func parsePrefixLen(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 32 || s == "" || (len(s) > 1 && s[0] == '0') || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a prefix length: use a number 0-32 such as 24", s)
	}
	return n, nil
}

// parseNetmask parses a netmask in dotted form ("255.255.255.0") or as a
// prefix length ("/24" or "24") and returns its length. A dotted mask must
// have contiguous one-bits.
func parseNetmask(s string) (int, error) {
	if !strings.Contains(s, ".") {
		n, err := parsePrefixLen(strings.TrimPrefix(s, "/"))
		if err != nil {
			return 0, fmt.Errorf("%q is not a netmask: use dotted form such as 255.255.255.0 or a prefix length such as /24", s)
		}
		return n, nil
	}
	a, err := parseIPv4(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a netmask: %v", s, strings.TrimPrefix(err.Error(), fmt.Sprintf("%q is not an IPv4 address: ", s)))
	}
	m := binary.BigEndian.Uint32(a.AsSlice())
	ones := bits.LeadingZeros32(^m)
	if ones < 32 && m<<ones != 0 {
		return 0, fmt.Errorf("%q is not a valid netmask: its one-bits are not contiguous (a netmask looks like 255.255.255.0 or 255.255.240.0)", s)
	}
	return ones, nil
}

// maskString returns the dotted netmask for a prefix length.
func maskString(n int) string {
	var m uint32
	if n > 0 {
		m = ^uint32(0) << (32 - n)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], m)
	return netip.AddrFrom4(b).String()
}

// nodePrefixProblem explains why a prefix length is unusable for a node's
// ibiz0 subnet, or returns "". The subnet must hold node0, node1 and the
// system IP (3 host addresses), so /30, /31 and /32 are too small, and /0 is
// not a subnet at all.
func nodePrefixProblem(n int) string {
	switch {
	case n == 0:
		return "/0 covers the whole IPv4 space; it is not a subnet"
	case n == 32:
		return "a /32 holds a single address: no room for the other node, the system IP or a gateway"
	case n == 31:
		return "a /31 (point-to-point) holds only 2 addresses; ibiz0's subnet needs at least 3 host addresses (node0, node1 and the system IP), so /29 or larger"
	case n == 30:
		return "a /30 holds only 2 host addresses; ibiz0's subnet needs at least 3 (node0, node1 and the system IP), so /29 or larger"
	}
	return ""
}

// subnet is an IPv4 network with helpers for its special addresses.
type subnet struct{ p netip.Prefix }

func newSubnet(a netip.Addr, bits int) subnet { return subnet{netip.PrefixFrom(a, bits).Masked()} }

func (s subnet) String() string             { return s.p.String() }
func (s subnet) contains(a netip.Addr) bool { return s.p.Contains(a) }
func (s subnet) network() netip.Addr        { return s.p.Addr() }

func (s subnet) broadcast() netip.Addr {
	n := binary.BigEndian.Uint32(s.p.Addr().AsSlice())
	if s.p.Bits() < 32 {
		n |= ^uint32(0) >> s.p.Bits()
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}

// hostProblem explains why a is not a usable host address in s (outside it,
// or its network or broadcast address), or returns "". what names a's role.
func (s subnet) hostProblem(raw string, a netip.Addr, what string) string {
	switch {
	case !s.contains(a):
		return fmt.Sprintf("%q is outside %s subnet %s", raw, what, s)
	case s.p.Bits() <= 30 && a == s.network():
		return fmt.Sprintf("%q is the network address of %s, not a host address", raw, s)
	case s.p.Bits() <= 30 && a == s.broadcast():
		return fmt.Sprintf("%q is the broadcast address of %s, not a host address", raw, s)
	}
	return ""
}

// CheckSystemIP checks a system IP against the node's subnet once it is
// known: the install engine calls it after a DHCP lease when the node's
// address was not static at validation time (see Validate). node is the
// node's address with its prefix length, e.g. 192.0.2.11/24.
func CheckSystemIP(systemIP string, node netip.Prefix) error {
	sys, err := parseHostIPv4(systemIP)
	if err != nil {
		return FieldError{Field: "system.ip", Message: err.Error()}
	}
	sn := newSubnet(node.Addr(), node.Bits())
	if msg := sn.hostProblem(systemIP, sys, "the node's"); msg != "" {
		if !sn.contains(sys) {
			msg += "; the system IP moves between the nodes' ibiz0, so it must be on their subnet"
		}
		return FieldError{Field: "system.ip", Message: msg}
	}
	if sys == node.Addr() {
		return FieldError{Field: "system.ip", Message: fmt.Sprintf("%q is the node's own address (%s); the system IP must be a different address", systemIP, node.Addr())}
	}
	return nil
}
