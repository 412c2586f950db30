//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// Kernel command line parameters. The dot makes the kernel take them
	// for module parameters: it neither complains on the console nor hands
	// them to init as arguments or environment; /proc/cmdline has them.
	paramIP = "lsguest.ip"
	paramGW = "lsguest.gw"

	sysClassNet = "/sys/class/net"
	nicWait     = 30 * time.Second
	// e1000 reports its link a watchdog period (2 s) after it is up.
	carrierWait = 10 * time.Second
	echoPort    = 7
)

// netConfig is the network the kernel command line asks for.
type netConfig struct {
	addr netip.Prefix // the interface's address and its prefix length
	gw   netip.Addr   // the default route's gateway; invalid: no default route
}

// parseNetConfig reads lsguest.ip=<addr>/<prefix> and lsguest.gw=<addr>
// from a kernel command line; as for the kernel's own parameters, the last
// occurrence counts. ok is false without lsguest.ip. The gateway must be in
// the address's subnet: the kernel refuses a route through any other.
func parseNetConfig(cmdline string) (cfg netConfig, ok bool, err error) {
	var ip, gw string
	var hasIP, hasGW bool
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case paramIP:
			ip, hasIP = v, true
		case paramGW:
			gw, hasGW = v, true
		}
	}
	if !hasIP {
		if hasGW {
			return netConfig{}, false, fmt.Errorf("%s=%s without %s", paramGW, gw, paramIP)
		}
		return netConfig{}, false, nil
	}
	if cfg.addr, err = netip.ParsePrefix(ip); err != nil {
		return netConfig{}, false, fmt.Errorf("%s=%s: want <address>/<prefix length>: %v", paramIP, ip, err)
	}
	a := cfg.addr.Addr()
	if a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
		return netConfig{}, false, fmt.Errorf("%s=%s: not an interface address", paramIP, ip)
	}
	if !hasGW {
		return cfg, true, nil
	}
	if cfg.gw, err = netip.ParseAddr(gw); err != nil {
		return netConfig{}, false, fmt.Errorf("%s=%s: %v", paramGW, gw, err)
	}
	if cfg.gw == a || !cfg.addr.Masked().Contains(cfg.gw) {
		return netConfig{}, false, fmt.Errorf("%s=%s: not another address in %s", paramGW, gw, cfg.addr.Masked())
	}
	return cfg, true, nil
}

// isNetModule tells the NIC drivers and their dependencies (virtio_net
// needs net_failover and failover) from the rest by their path under
// /lib/modules/<version>.
func isNetModule(path string) bool {
	return strings.HasPrefix(path, "kernel/drivers/net/") || strings.HasPrefix(path, "kernel/net/")
}

// nic is a network interface backed by a device.
type nic struct {
	name  string
	index int
	mac   string
}

// firstNIC returns the interface with the lowest index among those under
// dir (/sys/class/net) that have a device: a NIC, not lo or a tunnel.
func firstNIC(dir string) (nic, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nic{}, err
	}
	var nics []nic
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(p, "device")); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p, "ifindex"))
		if err != nil {
			continue // gone again
		}
		idx, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nic{}, fmt.Errorf("%s: ifindex %q", p, b)
		}
		mac, _ := os.ReadFile(filepath.Join(p, "address"))
		nics = append(nics, nic{name: e.Name(), index: idx, mac: strings.TrimSpace(string(mac))})
	}
	if len(nics) == 0 {
		return nic{}, errNoNIC
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].index < nics[j].index })
	return nics[0], nil
}

var errNoNIC = errors.New("no network interface")

// network never returns: it loads the NIC drivers, configures the first
// interface as cfg says and serves echo, printing NET once a connection
// from outside can reach it. Each step that fails is printed and retried,
// as the writer does.
func network(con *console, cfg netConfig) {
	if err := loadModules(isNetModule); err != nil {
		con.printf("ERROR net modules: %s", oneLine(err))
	}
	var n nic
	await(con, "net", nicWait, func() (err error) {
		n, err = firstNIC(sysClassNet)
		return err
	})
	for {
		err := configure(n, cfg)
		if err == nil {
			break
		}
		con.printf("ERROR net %s: %s", n.name, oneLine(err))
		time.Sleep(retry)
	}
	l := listenEcho(con)
	// Until the link is up the NIC drops what it gets: a test that
	// connects on NET would wait out TCP's retransmission backoff.
	await(con, "net "+n.name, carrierWait, func() error {
		b, err := os.ReadFile(filepath.Join(sysClassNet, n.name, "carrier"))
		if err == nil && strings.TrimSpace(string(b)) != "1" {
			err = errors.New("no carrier")
		}
		return err
	})
	con.printf("NET %s %s %s", n.name, cfg.addr, n.mac)
	serveEcho(con, l)
}

// await polls f every interval until it succeeds; once limit has passed,
// it prints f's error every second instead (as waitDisk does).
func await(con *console, what string, limit time.Duration, f func() error) {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			con.printf("ERROR %s: %s after %v", what, oneLine(err), limit)
			time.Sleep(retry)
			continue
		}
		time.Sleep(interval)
	}
}

// configure brings lo and n up with cfg's address and, if cfg has one, a
// default route. Every request replaces what is there, so a retry after a
// partial failure does not trip over its own earlier work.
func configure(n nic, cfg netConfig) error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	if cfg.addr.Addr().Is4() {
		// The only packets the guest sends are then answers to the test's:
		// IPv6 would send router solicitations and duplicate address
		// probes of its own, which an FT test's packet comparison sees.
		os.WriteFile(filepath.Join("/proc/sys/net/ipv6/conf", n.name, "disable_ipv6"), []byte("1"), 0)
	}
	s, err := dialRtnl()
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.linkUp(lo.Index); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	if err := s.addAddr(n.index, cfg.addr); err != nil {
		return fmt.Errorf("address %s: %w", cfg.addr, err)
	}
	if err := s.linkUp(n.index); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if cfg.gw.IsValid() {
		// After the link is up: the kernel refuses a route through a
		// link that is down.
		if err := s.addDefaultRoute(n.index, cfg.gw); err != nil {
			return fmt.Errorf("default route via %s: %w", cfg.gw, err)
		}
	}
	return nil
}

// listenEcho listens on TCP port echoPort, on every address.
func listenEcho(con *console) net.Listener {
	for {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(echoPort))
		if err == nil {
			return l
		}
		con.printf("ERROR echo: %s", oneLine(err))
		time.Sleep(retry)
	}
}

// serveEcho writes back every byte it reads on l's connections (RFC 862),
// each connection in its own goroutine.
func serveEcho(con *console, l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			// Out of descriptors or memory: pause rather than spin.
			con.printf("ERROR echo accept: %s", oneLine(err))
			time.Sleep(retry)
			continue
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// rtnl is a route netlink socket: the few requests the guest needs, so
// that the init stays small and needs no netlink library.
type rtnl struct {
	fd  int
	seq uint32
}

func dialRtnl() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &rtnl{fd: fd}, nil
}

func (s *rtnl) close() { unix.Close(s.fd) }

func (s *rtnl) linkUp(index int) error {
	return s.request(unix.RTM_NEWLINK, 0, unix.IfInfomsg{Index: int32(index), Flags: unix.IFF_UP, Change: unix.IFF_UP})
}

func (s *rtnl) addAddr(index int, p netip.Prefix) error {
	a := p.Addr()
	m := unix.IfAddrmsg{Family: family(a), Prefixlen: uint8(p.Bits()), Scope: unix.RT_SCOPE_UNIVERSE, Index: uint32(index)}
	if a.Is6() {
		// Usable at once: the address is the test's to give.
		m.Flags = unix.IFA_F_NODAD
	}
	return s.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, m,
		attr(unix.IFA_LOCAL, a.AsSlice()), attr(unix.IFA_ADDRESS, a.AsSlice()))
}

func (s *rtnl) addDefaultRoute(index int, gw netip.Addr) error {
	m := unix.RtMsg{Family: family(gw), Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_BOOT,
		Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST}
	oif := binary.NativeEndian.AppendUint32(nil, uint32(index))
	return s.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, m,
		attr(unix.RTA_GATEWAY, gw.AsSlice()), attr(unix.RTA_OIF, oif))
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// attr encodes one route attribute, padded.
func attr(typ uint16, data []byte) []byte {
	n := unix.SizeofRtAttr + len(data)
	b := binary.NativeEndian.AppendUint16(nil, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	return append(b, make([]byte, align(n)-n)...)
}

// align rounds n up to netlink's alignment of messages and attributes
// (NLMSG_ALIGNTO and RTA_ALIGNTO are both 4).
func align(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// request sends one message (header body, then attrs) and waits for the
// kernel's acknowledgement.
func (s *rtnl) request(typ uint16, flags uint16, body any, attrs ...[]byte) error {
	var b bytes.Buffer
	b.Write(make([]byte, unix.SizeofNlMsghdr))
	if err := binary.Write(&b, binary.NativeEndian, body); err != nil {
		return err
	}
	for _, a := range attrs {
		b.Write(a)
	}
	s.seq++
	msg := b.Bytes()
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], s.seq)
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	return s.ack(s.seq)
}

// ack reads until the acknowledgement of request seq: an NLMSG_ERROR
// message whose error is 0 on success, a negative errno otherwise.
func (s *rtnl) ack(seq uint32) error {
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return fmt.Errorf("netlink: malformed reply")
			}
			typ, mseq := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:])
			if typ == unix.NLMSG_ERROR && mseq == seq {
				if l < unix.SizeofNlMsghdr+4 {
					return fmt.Errorf("netlink: short error message")
				}
				if e := int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:])); e != 0 {
					return unix.Errno(-e)
				}
				return nil
			}
			b = b[min(align(l), len(b)):]
		}
	}
}
