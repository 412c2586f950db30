package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// DRBD's fencing (resource-and-stonith, SPEC A6): when a primary loses its
// peer's connection, or a node is to become primary while its peer's state
// is unknown, DRBD freezes the volume's I/O and runs the fence-peer handler
// ("lockstepd fence-peer") until it answers. The handler asks the agent
// over fenceSocket, and the agent answers from the membership's decision,
// so that a copy of a volume is written on one node only:
//
//   - the peer is alive (the membership still connects the nodes; only the
//     replication link broke): its copy is marked Outdated over the peer
//     service, so that it can never be promoted with old data (exit 4);
//   - this node holds the system and the peer is lost: the membership has
//     fenced the peer, which stopped its VMs (exit 7, "peer fenced");
//   - this node lost the system (isolated): it reboots at once, before a
//     frozen write can reach its disk; DRBD's activity log makes the next
//     connect resync those blocks from the survivor.
//
// Without a decision in fenceWait the handler fails (exit 1): a promotion
// is refused, a frozen primary stays frozen.
const (
	fenceSocket = "/run/lockstep/fence.sock"
	fenceWait   = time.Minute
)

// DRBD 8.4 fence-peer handler exit codes.
const (
	fenceFailed   = 1
	fenceOutdated = 4
	fenceFenced   = 7
)

// fencePeerMain is `lockstepd fence-peer`, run by DRBD with the resource in
// $DRBD_RESOURCE: it exits with the agent's answer.
func fencePeerMain() int {
	res := os.Getenv("DRBD_RESOURCE")
	conn, err := net.Dial("unix", fenceSocket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lockstepd fence-peer %s: %v\n", res, err)
		return fenceFailed
	}
	defer conn.Close()
	fmt.Fprintln(conn, res)
	line, err := bufio.NewReader(conn).ReadString('\n')
	code, cerr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || cerr != nil {
		fmt.Fprintf(os.Stderr, "lockstepd fence-peer %s: no answer from the agent: %v\n", res, err)
		return fenceFailed
	}
	return code
}

// serveFence answers fence-peer handlers until ctx ends.
func (s *vmService) serveFence(ctx context.Context) error {
	os.Remove(fenceSocket)
	ln, err := net.Listen("unix", fenceSocket)
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				res, _ := bufio.NewReader(conn).ReadString('\n')
				res = strings.TrimSpace(res)
				code := s.fence(ctx, res)
				fmt.Fprintln(conn, code)
			}()
		}
	}()
	return nil
}

// fenceStep is what a fence-peer request does next, given the membership.
type fenceStep int

const (
	fenceWaitStep   fenceStep = iota // no decision yet
	fenceOutdate                     // the peer is up: outdate its copy
	fencePeerGone                    // the peer is lost and fenced
	fenceSelf                        // this node lost the system: reboot
)

// decideFence maps the membership's view to a fence step. primaryHere:
// this node holds the resource as primary.
func decideFence(st membership.Status, primaryHere bool) fenceStep {
	switch {
	case st.Connected:
		return fenceOutdate
	case st.State == membership.StatePrimary && st.PeerLost:
		return fencePeerGone
	case st.State == membership.StateIsolated && primaryHere:
		return fenceSelf
	}
	return fenceWaitStep
}

// fence decides a fence-peer request for resource res.
func (s *vmService) fence(ctx context.Context, res string) int {
	start := time.Now()
	s.c.vmLogf("storage: %s: DRBD asks to fence the peer; I/O waits for the membership", res)
	for time.Since(start) < fenceWait {
		switch decideFence(s.c.runner.Status(), s.hasPrimaryVolume(res)) {
		case fenceOutdate:
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := s.c.peerDo(octx, "POST", "/peer/v1/drbd/"+res+"/outdate", nil, nil, 2*time.Second)
			cancel()
			if err == nil {
				s.c.vmLogf("storage: %s: the peer is up but the replication link is not: its copy is outdated now (after %v)", res, time.Since(start).Round(time.Millisecond))
				return fenceOutdated
			}
			s.c.logf("storage: %s: outdating the peer's copy: %v", res, err)
		case fencePeerGone:
			s.c.vmLogf("storage: %s: the peer is lost and fenced by the membership; I/O goes on here (after %v)", res, time.Since(start).Round(time.Millisecond))
			return fenceFenced
		case fenceSelf:
			s.c.vmLogf("storage: %s: this node lost the system while writing a volume: rebooting now (the survivor has the volume)", res)
			selfFence()
		}
		select {
		case <-ctx.Done():
			return fenceFailed
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.c.vmLogf("storage: %s: no membership decision in %v; the fence fails", res, fenceWait)
	return fenceFailed
}

// hasPrimaryVolume: this node holds res as primary (a VM writes it here).
func (s *vmService) hasPrimaryVolume(res string) bool {
	for _, r := range s.mgr.Table().VMs {
		for _, v := range r.Volumes {
			if v.Resource() == res {
				return s.st.Status(v).Role == "Primary"
			}
		}
	}
	return false
}

// selfFence reboots the node at once, without syncing or unmounting:
// what the node wrote since it lost the system must not be the survivor's
// problem (DRBD resyncs it away), and a clean shutdown would take seconds
// in which the frozen volume's writes might be released.
func selfFence() {
	os.WriteFile("/proc/sys/kernel/sysrq", []byte("1"), 0o644)
	os.WriteFile("/proc/sysrq-trigger", []byte("b"), 0o200)
}
