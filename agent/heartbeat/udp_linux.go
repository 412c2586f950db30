package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenUDP opens the real socket of link iface: UDP over IPv6 on port,
// bound to [::] (so that unicast and ff02::1 both arrive) and to the
// interface with SO_BINDTODEVICE. It works in the calling thread's network
// namespace: the interface index is looked up there and the socket is
// made there.
func ListenUDP(iface string, port int) (PacketConn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			// Before bind: each link's socket binds the same port, which the
			// kernel allows only for sockets bound to different devices.
			if serr = unix.SetsockoptString(s, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", iface, serr)
				return
			}
			for _, o := range []struct {
				name string
				opt  int
				val  int
			}{
				// Our own ff02::1 heartbeats must not come back to us.
				{"IPV6_MULTICAST_LOOP", unix.IPV6_MULTICAST_LOOP, 0},
				{"IPV6_MULTICAST_IF", unix.IPV6_MULTICAST_IF, ifi.Index},
				// Link-local: nothing to route, nothing beyond the cable.
				{"IPV6_MULTICAST_HOPS", unix.IPV6_MULTICAST_HOPS, 1},
			} {
				if serr = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, o.opt, o.val); serr != nil {
					serr = fmt.Errorf("%s: %w", o.name, serr)
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp6", net.JoinHostPort("::", strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, err
	}
	return &udpConn{uc: uc, rc: rc, iface: iface, index: ifi.Index}, nil
}

// udpConn does its own recvfrom/sendto through the runtime poller instead
// of UDPConn's address methods: those translate zones through a
// process-wide interface table, which is wrong in a process whose threads
// live in different network namespaces (the tests) — an interface name
// means a different index in each. The socket is bound to one interface,
// so every scope id it sees or uses is that interface's.
type udpConn struct {
	uc    *net.UDPConn
	rc    syscall.RawConn
	iface string
	index int
}

func (u *udpConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	var (
		n    int
		from unix.Sockaddr
		rerr error
	)
	err := u.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), b, 0)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	sa, ok := from.(*unix.SockaddrInet6)
	if !ok {
		return n, netip.AddrPort{}, nil // not IPv6: fails the link-local rule
	}
	a := netip.AddrFrom16(sa.Addr)
	if sa.ZoneId != 0 {
		a = a.WithZone(u.iface)
	}
	return n, netip.AddrPortFrom(a, uint16(sa.Port)), nil
}

func (u *udpConn) WriteTo(b []byte, dst netip.AddrPort) (int, error) {
	a := dst.Addr()
	if !a.Is6() || a.Is4In6() {
		return 0, fmt.Errorf("heartbeat destination %v is not IPv6", dst)
	}
	if z := a.Zone(); z != "" && z != u.iface {
		return 0, fmt.Errorf("heartbeat destination %v is not on %s", dst, u.iface)
	}
	sa := &unix.SockaddrInet6{Port: int(dst.Port()), Addr: a.As16()}
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		sa.ZoneId = uint32(u.index)
	}
	var werr error
	err := u.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), b, 0, sa)
		return !errors.Is(werr, unix.EAGAIN)
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

func (u *udpConn) Close() error { return u.uc.Close() }
