package guest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
	"github.com/lockstep-ft/lockstep/internal/qemuroot"
)

// TestBootNet boots the guest's kernel and initramfs directly with
// lsguest.ip= and a NIC (e1000, then virtio-net) on QEMU's user network,
// whose only way in is a port forwarded from the host's loopback to the
// guest's echo port (and restrict=on keeps the guest from reaching anything
// else). The guest must print NET for that NIC, echo every byte on several
// connections at once, keep doing so for a few seconds, and go on writing
// its records meanwhile.
func TestBootNet(t *testing.T) {
	ctx := guestTest(t, "the test guest")
	start := time.Now()
	files, err := BuildFiles(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{files.ISO, files.Kernel, files.Initrd} {
		t.Logf("%s: %.1f MiB", p, sizeMiB(t, p))
	}
	t.Logf("guest ready in %v", time.Since(start).Round(time.Millisecond))
	root, err := qemuroot.Ensure(ctx, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"e1000", "virtio-net-pci"} {
		t.Run(model, func(t *testing.T) { bootNet(t, ctx, root, files, model) })
	}
}

// bootNet is one boot of TestBootNet with a NIC of the given QEMU model.
func bootNet(t *testing.T, ctx context.Context, root *qemuroot.Root, files Files, model string) {
	dir := t.TempDir()
	disk := blankDisk(t, dir)
	port := freePort(t)
	const mac = "52:54:00:4c:53:07"
	log := filepath.Join(dir, "console.log")
	q := startQEMU(t, root.Command(ctx, guestArgs(log, disk,
		"-kernel", files.Kernel, "-initrd", files.Initrd, "-append", files.Cmdline+" lsguest.ip=10.0.2.15/24",
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:7", port),
		"-device", model+",netdev=n0,mac="+mac)...), log)
	defer q.kill()
	start := q.start

	cur := q.waitConsole(t, "a NET line", func(cur *seqlog.Boot) bool { return cur != nil && cur.Net != nil })
	b, _ := os.ReadFile(log)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, seqlog.Prefix+"NET ") {
			t.Logf("after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(l))
		}
	}
	if n := cur.Net; n.Addr.String() != "10.0.2.15/24" || n.MAC.String() != mac || n.Interface == "" {
		t.Errorf("NET %+v: want 10.0.2.15/24 on the NIC with MAC %s", n, mac)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// The forward accepts on the host before the guest listens, and then
	// closes the connection: retry until one echoes.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for until := time.Now().Add(30 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			if _, err = roundTrip(c, []byte("hello\n")); err == nil {
				conns = append(conns, c)
				break
			}
			c.Close()
		}
		if time.Now().After(until) {
			t.Fatalf("no echo from %s in 30 s: %v\n%s", addr, err, tail(log))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("echo on %s after %v", addr, time.Since(start).Round(time.Millisecond))
	for len(conns) < 4 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}

	// Every connection at once, for a few seconds; then a large message,
	// which the guest echoes while still receiving it.
	begin := time.Now()
	stop := begin.Add(5 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var trips int
	var slowest time.Duration
	for i, c := range conns {
		wg.Go(func() {
			for n := 0; ; n++ {
				msg := fmt.Appendf(nil, "conn %d message %d\n", i, n)
				rtt, err := roundTrip(c, msg)
				if err != nil {
					t.Errorf("connection %d, message %d: %v", i, n, err)
					return
				}
				mu.Lock()
				trips++
				slowest = max(slowest, rtt)
				mu.Unlock()
				if time.Now().After(stop) {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	bigRTT, err := roundTrip(conns[0], big)
	if err != nil {
		t.Errorf("256 KiB: %v", err)
	}
	t.Logf("echo: %d connections, %d round trips in %v (slowest %v); 256 KiB echoed in %v",
		len(conns), trips, elapsed.Round(time.Millisecond), slowest.Round(time.Millisecond), bigRTT.Round(time.Millisecond))

	b, _ = os.ReadFile(log)
	cur = seqlog.ParseConsole(b).Current()
	if cur.Seqs == 0 || len(cur.Errors) > 0 {
		t.Errorf("the writer beside the network: %d SEQ lines, errors %q\n%s", cur.Seqs, cur.Errors, tail(log))
	}
	t.Logf("boot %s: SEQ %d, TICK %d", cur.Short(), cur.Seq, cur.Tick)
}

// roundTrip writes msg, concurrently reads as many bytes back and checks
// that they are msg.
func roundTrip(c net.Conn, msg []byte) (time.Duration, error) {
	start := time.Now()
	c.SetDeadline(start.Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := c.Write(msg); werr <- err }()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	if err := <-werr; err != nil {
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(got, msg) {
		return 0, fmt.Errorf("sent %d bytes, got back others", len(msg))
	}
	return time.Since(start), nil
}

// freePort is a loopback TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
