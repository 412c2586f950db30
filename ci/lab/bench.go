package lab

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FailoverRun is one measured node loss.
type FailoverRun struct {
	Killed, Survivor string
	// Detection: power cut to the survivor's "peer-lost" console line.
	Detection time.Duration
	// IPMove: power cut to the first TLS handshake on the system IP that
	// the survivor answers (its node certificate).
	IPMove time.Duration
}

// BenchFailover cuts the power of the primary runs times, measures how
// long the survivor takes to declare the peer lost and to answer on the
// system IP, then powers the node on and waits until the system is formed
// again before the next run. The lab must be up and formed.
func (l *Lab) BenchFailover(ctx context.Context, runs int, logf func(string, ...any)) ([]FailoverRun, error) {
	var out []FailoverRun
	for i := range runs {
		o, err := l.Observe()
		if err != nil {
			return out, err
		}
		if ok, why := SystemFormed(o); !ok {
			return out, fmt.Errorf("lab: run %d: the system is not formed: %s", i+1, why)
		}
		victim, err := NodeByName(SystemIPHolder(o))
		if err != nil {
			return out, err
		}
		survivor := Nodes[1-victim.Index]
		r, err := l.failoverOnce(ctx, victim, survivor)
		if err != nil {
			return out, fmt.Errorf("lab: run %d: %w", i+1, err)
		}
		out = append(out, r)
		logf("run %d: %s off: detection %v, system IP from %s after %v", i+1, victim.Name,
			r.Detection.Round(time.Millisecond), survivor.Name, r.IPMove.Round(time.Millisecond))
		if err := l.PowerOn(victim.Name); err != nil {
			return out, err
		}
		if _, err := l.WaitReady(ctx, victim.Name, l.cfg.BootTimeout); err != nil {
			return out, err
		}
		if err := l.WaitSystemFormed(ctx, 3*time.Minute); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (l *Lab) failoverOnce(ctx context.Context, victim, survivor Node) (FailoverRun, error) {
	r := FailoverRun{Killed: victim.Name, Survivor: survivor.Name}
	console := NodeFiles(l.cfg.StateDir, survivor).Console
	mark := fileSize(console)
	lostLine := fmt.Sprintf("%snode%d peer-lost", memberLine, survivor.Index)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	type result struct {
		what string
		at   time.Time
		err  error
	}
	res := make(chan result, 2)
	ready := make(chan struct{})
	go func() {
		at, err := l.probeSystemIP(ctx, survivor.Name, ready)
		res <- result{"ip", at, err}
	}()
	<-ready
	go func() {
		for ctx.Err() == nil {
			if s, _ := readFrom(console, mark); strings.Contains(s, lostLine) {
				res <- result{"detect", time.Now(), nil}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		res <- result{"detect", time.Time{}, fmt.Errorf("%s never printed %q", survivor.Name, lostLine)}
	}()
	t0 := time.Now()
	if err := l.PowerOff(victim.Name); err != nil {
		return r, err
	}
	for range 2 {
		x := <-res
		if x.err != nil {
			return r, x.err
		}
		if x.what == "ip" {
			r.IPMove = x.at.Sub(t0)
		} else {
			r.Detection = x.at.Sub(t0)
		}
	}
	return r, nil
}

// probeSystemIP handshakes with the API on the system IP from inside the
// lab namespace every 20 ms until the node certificate is want's, and
// returns when that first happened. ready is closed once probing runs.
func (l *Lab) probeSystemIP(ctx context.Context, want string, ready chan<- struct{}) (time.Time, error) {
	// The socket must be made in the lab namespace: this goroutine's
	// thread enters it and is never given back (it ends with the goroutine).
	runtime.LockOSThread()
	fd, err := os.Open(filepath.Join(netnsDir, l.cfg.Namespace))
	if err != nil {
		close(ready)
		return time.Time{}, err
	}
	err = unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET)
	fd.Close()
	close(ready)
	if err != nil {
		return time.Time{}, fmt.Errorf("enter %s: %w", l.cfg.Namespace, err)
	}
	addr := net.JoinHostPort(SystemIP, "8443")
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // only the peer's name is read
			tc.SetDeadline(time.Now().Add(500 * time.Millisecond))
			err = tc.HandshakeContext(ctx)
			at := time.Now()
			if err == nil {
				cs := tc.ConnectionState()
				if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName == want {
					tc.Close()
					return at, nil
				}
			}
			tc.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("the system IP never answered from %s", want)
}

// PeerTimes is a peer's peer-loss time measured in the same run (median,
// max), e.g. Corosync's (ci/bench/corosync.sh).
type PeerTimes struct {
	Name        string
	Median, Max time.Duration
}

// WriteFailoverReport prints the runs with median and max and, when peer
// is set, the ratio of ours to the peer's.
func WriteFailoverReport(w io.Writer, runs []FailoverRun, peer *PeerTimes) {
	fmt.Fprintf(w, "Peer loss and system IP move after a power cut (lab: 2 nodes under QEMU TCG, witness on the lab host)\n")
	fmt.Fprintf(w, "%-4s %-8s %-9s %12s %14s\n", "run", "killed", "survivor", "detection", "system IP up")
	var det, mv []time.Duration
	for i, r := range runs {
		fmt.Fprintf(w, "%-4d %-8s %-9s %11.3fs %13.3fs\n", i+1, r.Killed, r.Survivor, r.Detection.Seconds(), r.IPMove.Seconds())
		det, mv = append(det, r.Detection), append(mv, r.IPMove)
	}
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "detection     median %.3fs max %.3fs (goal <= 1s)\n", median(det).Seconds(), slices.Max(det).Seconds())
	fmt.Fprintf(w, "system IP up  median %.3fs max %.3fs (goal <= 3s)\n", median(mv).Seconds(), slices.Max(mv).Seconds())
	if peer != nil {
		fmt.Fprintf(w, "%s, same run: a one-node membership after median %.3fs max %.3fs\n", peer.Name, peer.Median.Seconds(), peer.Max.Seconds())
		fmt.Fprintf(w, "ratio to %s: detection %.2fx, system IP up %.2fx\n", peer.Name,
			median(det).Seconds()/peer.Median.Seconds(), median(mv).Seconds()/peer.Median.Seconds())
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
