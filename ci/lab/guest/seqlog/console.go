package seqlog

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every line the guest's init prints:
//
//	LSGUEST BOOT <boot id>
//	LSGUEST LAST <highest sequence number on the disk at start, 0 if none>
//	LSGUEST SEQ <n> <short boot id> [<µs>]    record n is on the disk (after fdatasync),
//	                                           its write and fdatasync took <µs> microseconds
//	                                           (older guests print no latency)
//	LSGUEST TICK <n> <short boot id> <uptime>  a counter, once a second; uptime in seconds
//	LSGUEST BURST <MiB/s> <short boot id>      a sequential write (16 MiB, O_DIRECT, then
//	                                           fdatasync) past the ring ran at <MiB/s> (%.1f)
//	LSGUEST WORK <n> <short boot id>          only with lsguest.work=1: n SHA-256 blocks
//	                                           (4 KiB each) hashed since the boot, once a
//	                                           second of guest time; a reader divides by
//	                                           its own clock to see the guest's CPU rate
//	LSGUEST NET <interface> <addr>/<prefix> <MAC>
//	                                           only with lsguest.ip= on the kernel command
//	                                           line: the interface is up with that address
//	                                           and TCP port 7 echoes what it receives
//	LSGUEST ERROR <message>
const Prefix = "LSGUEST "

// Boot is what the console shows of one boot of the guest.
type Boot struct {
	// ID is the boot id from the BOOT line, or only its short form when
	// the log starts after that line (a migration target's log).
	ID      string
	Last    uint64 // LAST: what the boot found on the disk
	HasLast bool
	Seq     uint64 // the last SEQ printed: acknowledged by the disk
	Seqs    int    // SEQ lines seen
	Tick    uint64 // the last TICK counter
	Ticks   int
	Uptime  time.Duration // of the last TICK
	Work    uint64        // the last WORK count
	Errors  []string
	// Writes are the SEQ lines that carry a latency, in order.
	Writes []Write
	Bursts []Burst
	// Net is the NET line: nil until the guest's network is up (and for
	// a guest booted without one).
	Net *Net
}

// Net is a NET line: the interface the guest configured.
type Net struct {
	Interface string
	Addr      netip.Prefix // the address with its prefix length
	MAC       net.HardwareAddr
}

// Write is one acknowledged record and how long its write and fdatasync
// took.
type Write struct {
	Seq     uint64
	Latency time.Duration
}

// Burst is one BURST line. AfterSeq is the boot's last SEQ before it, which
// places it among the writes: a reader that saw SEQ n knows that a burst
// with AfterSeq > n ended after it read.
type Burst struct {
	AfterSeq uint64
	MiBps    float64
}

// Short is the boot id as SEQ and TICK lines carry it.
func (b *Boot) Short() string { return ShortID(b.ID) }

// Console is a parsed console log: the boots in order.
type Console struct {
	Boots []*Boot
}

// Current is the last boot seen, or nil.
func (c *Console) Current() *Boot {
	if len(c.Boots) == 0 {
		return nil
	}
	return c.Boots[len(c.Boots)-1]
}

// MaxSeq is the highest sequence number any boot acknowledged on the console.
func (c *Console) MaxSeq() uint64 {
	var m uint64
	for _, b := range c.Boots {
		m = max(m, b.Seq)
	}
	return m
}

// ParseConsole reads the LSGUEST lines of a serial console log. Other
// output (firmware, kernel) is skipped, as is a line a kernel message broke
// into (its fields no longer parse): the prefix may start anywhere in a line.
// A SEQ or TICK line whose short boot id is not the current boot's starts
// a new boot.
func ParseConsole(log []byte) *Console {
	c := &Console{}
	// A log read while the guest writes ends in a line cut short: its
	// boot id or number would be taken for another one.
	text := string(log)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		text = ""
	}
	for _, line := range strings.Split(text, "\n") {
		// Only the last LSGUEST of a line is whole: one before it was cut
		// and left unended (a QEMU killed in mid-line, whose successor
		// appends to the same log), and its number or boot id may be
		// short.
		i := strings.LastIndex(line, Prefix)
		if i < 0 {
			continue
		}
		c.parseLine(strings.Fields(line[i+len(Prefix):]))
	}
	return c
}

// parseLine takes one LSGUEST line's fields (after the prefix).
func (c *Console) parseLine(f []string) {
	if len(f) < 2 {
		return
	}
	// A line the kernel's messages cut may still have all its fields
	// ("SEQ 65 e", a newline, the rest of the id after the kernel's line):
	// a boot id that is not whole makes it no record.
	switch f[0] {
	case "SEQ", "BURST", "TICK", "WORK":
		if len(f) < 3 || !isShortID(f[2]) {
			return
		}
	}
	cur := c.Current()
	// boot returns the boot that a line carrying short id s belongs to.
	boot := func(s string) *Boot {
		switch {
		case cur != nil && cur.ID == "": // only ERROR lines so far
			cur.ID = s
		case cur == nil || cur.Short() != s:
			cur = &Boot{ID: s}
			c.Boots = append(c.Boots, cur)
		}
		return cur
	}
	switch f[0] {
	case "BOOT":
		c.Boots = append(c.Boots, &Boot{ID: f[1]})
	case "LAST":
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil && cur != nil {
			cur.Last, cur.HasLast = n, true
		}
	case "SEQ":
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || len(f) < 3 || len(f) > 4 {
			return
		}
		var us uint64
		if len(f) == 4 {
			if us, err = strconv.ParseUint(f[3], 10, 64); err != nil {
				return
			}
		}
		b := boot(f[2])
		b.Seq = n
		b.Seqs++
		if len(f) == 4 {
			b.Writes = append(b.Writes, Write{Seq: n, Latency: time.Duration(us) * time.Microsecond})
		}
	case "BURST":
		if len(f) != 3 {
			return
		}
		if r, err := strconv.ParseFloat(f[1], 64); err == nil {
			b := boot(f[2])
			b.Bursts = append(b.Bursts, Burst{AfterSeq: b.Seq, MiBps: r})
		}
	case "TICK":
		if len(f) != 4 {
			return
		}
		n, err1 := strconv.ParseUint(f[1], 10, 64)
		up, err2 := strconv.ParseFloat(f[3], 64)
		if err1 == nil && err2 == nil {
			b := boot(f[2])
			b.Tick, b.Uptime = n, time.Duration(up*float64(time.Second))
			b.Ticks++
		}
	case "WORK":
		if len(f) != 3 {
			return
		}
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			boot(f[2]).Work = n
		}
	case "NET":
		if len(f) != 4 {
			return
		}
		p, err1 := netip.ParsePrefix(f[2])
		mac, err2 := net.ParseMAC(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		if cur == nil {
			cur = &Boot{}
			c.Boots = append(c.Boots, cur)
		}
		cur.Net = &Net{Interface: f[1], Addr: p, MAC: mac}
	case "ERROR":
		if cur == nil {
			cur = &Boot{}
			c.Boots = append(c.Boots, cur)
		}
		cur.Errors = append(cur.Errors, strings.Join(f[1:], " "))
	}
}

// isShortID: s is a whole short boot id (ShortID of a BOOT line's id,
// which the kernel makes of hex digits).
func isShortID(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}
