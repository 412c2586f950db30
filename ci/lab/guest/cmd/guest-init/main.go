//go:build linux

// Command guest-init is /init of the lab's test guest (ci/lab/guest): PID 1
// in an initramfs. It loads the virtio disk driver, then writes numbered
// records to /dev/vda and reports each one on the console only once it is on
// the disk, with the write's latency; every 10 s it also measures the disk's
// sequential write throughput past the records (format: package seqlog). It
// never exits: PID 1 exiting panics the kernel; every failure is printed and
// retried.
//
// With lsguest.ip=<addr>/<prefix> (and optionally lsguest.gw=<addr>) on the
// kernel command line it also loads the NIC drivers, configures the first
// network interface, prints NET and serves TCP echo on port 7, so that an FT
// test can check that a connection survives a failover (net.go). With
// lsguest.work=1 it keeps one CPU busy hashing and prints its progress
// (WORK), for the FT benchmark's CPU throughput.
package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
	"github.com/lockstep-ft/lockstep/initramfs/coldplug"
)

const (
	disk     = "/dev/vda"
	diskWait = 30 * time.Second
	interval = 100 * time.Millisecond
	retry    = time.Second

	// A burst writes burstBytes in burstBlock writes from burstOffset: past
	// the ring (seqlog.RingSize), inside the lab's 64 MiB volumes.
	burstEvery  = 10 * time.Second
	burstOffset = 8 << 20
	burstBytes  = 16 << 20
	burstBlock  = 1 << 20
)

// The bursts stay clear of the ring: a negative constant fails to convert.
const _ = uint64(burstOffset - seqlog.RingSize)

// console writes whole lines, one write(2) each, so that the writer and
// the ticker never interleave within a line.
type console struct {
	mu sync.Mutex
	f  *os.File
}

func (c *console) printf(format string, args ...any) {
	line := fmt.Sprintf(seqlog.Prefix+format+"\n", args...)
	c.mu.Lock()
	c.f.WriteString(line)
	c.mu.Unlock()
}

func main() {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dir, 0o755)
		unix.Mount(m.src, m.dir, m.fs, 0, "") // a failure shows up below as a missing file
	}
	con := &console{f: os.Stdout} // the kernel's /dev/console from the initramfs
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
		con.f = f
	}
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	bootID := strings.TrimSpace(string(b))
	id, perr := seqlog.ParseBootID(bootID)
	if err != nil || perr != nil {
		// Without a boot id the evidence cannot tell boots apart: say so,
		// and go on with a zero id.
		con.printf("ERROR boot id: %v %v", err, perr)
	}
	con.printf("BOOT %s", bootID)
	short := seqlog.ShortID(bootID)
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		con.printf("ERROR cmdline: %v", err)
	}
	cfg, netOn, err := parseNetConfig(string(cmdline))
	if err != nil {
		con.printf("ERROR net: %s", oneLine(err))
	}
	// A guest booted without lsguest.ip leaves the NIC drivers alone, so
	// that a VM with a NIC boots exactly as one without.
	if err := loadModules(func(path string) bool { return !isNetModule(path) }); err != nil {
		con.printf("ERROR modules: %s", oneLine(err))
	}
	if netOn {
		// Its own goroutine: waiting for the interface must not hold up
		// the writer's records.
		go network(con, cfg)
	}
	go tick(con, short)
	if slices.Contains(strings.Fields(string(cmdline)), "lsguest.work=1") {
		go work(con, short)
	}
	writer(con, id, short)
}

// loadModules loads the modules the builder put into the initramfs (the
// virtio disk driver, the NIC drivers and what they need) whose path in
// modules.order passes want, dependencies first.
func loadModules(want func(path string) bool) error {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return err
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	order, err := os.ReadFile(filepath.Join(dir, "modules.order"))
	if err != nil {
		return err
	}
	var names []string
	for _, l := range strings.Fields(string(order)) {
		if want(l) {
			names = append(names, coldplug.ModuleName(l))
		}
	}
	cp := &coldplug.Coldplug{SysRoot: "/sys", ModulesDir: dir, Loader: coldplug.FinitLoader{}}
	return cp.LoadNamed(names...)
}

// tick prints a free-running counter, independent of the disk, so that a
// live migration test sees the guest run on (same boot id, counter going on)
// even while its disk stalls.
func tick(con *console, short string) {
	t := time.NewTicker(time.Second)
	for n := uint64(1); ; n++ {
		<-t.C
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
		// Milliseconds: the HA benchmark dates the kernel's start from it.
		con.printf("TICK %d %s %.3f", n, short, float64(ts.Nano())/1e9)
	}
}

// work hashes 4 KiB blocks without pause and prints how many it did, once
// a second: a CPU-bound load whose rate the FT benchmark compares with and
// without COLO (whose checkpoints stop the guest, and whose dirty-page
// tracking slows it). The count is cumulative so that the reader can use
// its own clock: the guest's clock stands still while QEMU stops the VM.
func work(con *console, short string) {
	var n atomic.Uint64
	go func() {
		buf := make([]byte, 4096)
		for {
			sum := sha256.Sum256(buf)
			copy(buf, sum[:])
			n.Add(1)
		}
	}()
	for range time.Tick(time.Second) {
		con.printf("WORK %d %s", n.Load(), short)
	}
}

// writer never returns. Every interval it writes the next record and prints
// SEQ, with the microseconds the write took, only after pwrite
// (O_DIRECT|O_SYNC) and fdatasync returned; on a failure it prints ERROR and
// retries the same record every second. It starts burster once the disk is
// there.
func writer(con *console, id [16]byte, short string) {
	// O_DIRECT needs an aligned buffer: an anonymous mapping is page-aligned.
	var buf []byte
	for {
		b, err := unix.Mmap(-1, 0, seqlog.MaxRead, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err == nil {
			buf = b
			break
		}
		con.printf("ERROR mmap: %v", err)
		time.Sleep(retry)
	}
	slot := buf[:seqlog.SlotSize]

	waitDisk(con)
	go burster(con, short)
	fd := -1
	var seq uint64
	scanned := false
	t := time.NewTicker(interval)
	for {
		if fd < 0 {
			f, err := unix.Open(disk, unix.O_RDWR|unix.O_DIRECT|unix.O_SYNC|unix.O_CLOEXEC, 0)
			if err != nil {
				con.printf("ERROR open %s: %v", disk, err)
				time.Sleep(retry)
				continue
			}
			fd = f
		}
		if !scanned {
			last, _, err := seqlog.Scan(directReader{fd, buf})
			if err != nil {
				con.printf("ERROR scan %s: %s", disk, oneLine(err))
				unix.Close(fd)
				fd = -1
				time.Sleep(retry)
				continue
			}
			seq, scanned = last.Seq, true
			con.printf("LAST %d", seq)
			clear(buf) // Encode leaves the slot's tail as it finds it: zero
		}
		<-t.C
		r := seqlog.Record{Seq: seq + 1, BootID: id, UnixNano: time.Now().UnixNano()}
		r.Encode(slot)
		start := time.Now()
		n, err := unix.Pwrite(fd, slot, seqlog.Offset(r.Seq))
		if err == nil && n != len(slot) {
			err = fmt.Errorf("short write (%d bytes)", n)
		}
		if err == nil {
			err = unix.Fdatasync(fd)
		}
		lat := time.Since(start)
		if err != nil {
			con.printf("ERROR write seq %d to %s: %v", r.Seq, disk, err)
			// Reopen: the device may have gone and come back.
			unix.Close(fd)
			fd = -1
			time.Sleep(retry)
			continue
		}
		seq = r.Seq
		con.printf("SEQ %d %s %d", seq, short, lat.Microseconds())
	}
}

// burster prints BURST with the disk's sequential write throughput in MiB/s
// every burstEvery. Its own goroutine and descriptor keep the writer's
// cadence: SEQ records only queue behind the burst's I/O in the disk. A disk
// too small for the bursts is reported once and gets none.
func burster(con *console, short string) {
	buf, err := unix.Mmap(-1, 0, burstBlock, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		con.printf("ERROR burst mmap: %v", err)
		return
	}
	// Not zeros, which a layer below might store or send specially.
	for i := range buf {
		buf[i] = 0xa5
	}
	t := time.NewTicker(burstEvery)
	for range t.C {
		mibps, err := burst(buf)
		if errors.Is(err, errSmallDisk) {
			con.printf("ERROR burst: %s: no bursts", oneLine(err))
			return
		}
		if err != nil {
			con.printf("ERROR burst on %s: %s", disk, oneLine(err))
			continue
		}
		con.printf("BURST %.1f %s", mibps, short)
	}
}

var errSmallDisk = fmt.Errorf("%s is smaller than %d MiB", disk, (burstOffset+burstBytes)>>20)

// burst writes burstBytes sequentially with O_DIRECT and fdatasync, on a
// descriptor of its own (opened each time: the device may have come back).
func burst(buf []byte) (mibps float64, err error) {
	fd, err := unix.Open(disk, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	size, err := unix.Seek(fd, 0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if size < burstOffset+burstBytes {
		return 0, errSmallDisk
	}
	start := time.Now()
	for off := int64(burstOffset); off < burstOffset+burstBytes; off += burstBlock {
		n, err := unix.Pwrite(fd, buf, off)
		if err == nil && n != len(buf) {
			err = fmt.Errorf("short write (%d bytes) at %d", n, off)
		}
		if err != nil {
			return 0, err
		}
	}
	if err := unix.Fdatasync(fd); err != nil {
		return 0, err
	}
	return burstBytes / float64(1<<20) / time.Since(start).Seconds(), nil
}

// waitDisk waits up to diskWait for the disk node, then reports its absence
// every second until it appears.
func waitDisk(con *console) {
	deadline := time.Now().Add(diskWait)
	for {
		if _, err := os.Stat(disk); err == nil {
			return
		}
		if time.Now().After(deadline) {
			con.printf("ERROR no %s after %v", disk, diskWait)
			time.Sleep(retry)
			continue
		}
		time.Sleep(interval)
	}
}

// directReader reads an O_DIRECT descriptor through an aligned buffer
// (seqlog.Scan reads aligned chunks no larger than it).
type directReader struct {
	fd  int
	buf []byte
}

func (d directReader) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > len(d.buf) {
		return 0, fmt.Errorf("read of %d bytes exceeds the %d-byte buffer", len(p), len(d.buf))
	}
	n, err := unix.Pread(d.fd, d.buf[:len(p)], off)
	if n < 0 {
		n = 0
	}
	copy(p, d.buf[:n])
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
