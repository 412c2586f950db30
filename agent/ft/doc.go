// Package ft runs a fault-tolerant (FT) VM as a COLO pair: a primary QEMU
// on the VM's preferred node and a secondary QEMU on the peer, kept in
// lock-step by QEMU's COarse-grained LOck-stepping (docs/COLO-FT.txt in
// QEMU's tree). libvirt has no COLO support, so the agent runs these QEMU
// processes itself (Process) and drives them over QMP (package qmp).
//
// # Life of an FT VM
//
// The guest starts on one node, unprotected (simplex): its QEMU runs
// PrimaryArgs, a plain machine whose disk is a one-child quorum. Protect
// then brings in a secondary QEMU on the peer (SecondaryArgs): it copies
// the primary's disk into the secondary's image and migrates (x-colo) the
// guest's memory while the guest runs; where the migration stops the guest
// for its last round (pause-before-switchover) it adds COLO's block and
// net plumbing to the primary, and COLO resumes the guest after the first
// checkpoint (QEMU's "resume replication", with a shorter pause). The
// guest never boots under COLO.
//
// When a side is lost, the survivor's own agent runs FailoverPrimaryOn or
// FailoverSecondaryOn with its own monitor only. The survivor then runs
// simplex and is a primary for the next Protect, whichever role it had:
// Spec.Swap is the next protection's spec after the secondary took over.
// Pair does all of this for an agent that holds both monitors (the
// secondary's over Side.QMPAddr), tells State: protected, syncing or
// simplex, with a reason, and closes Lost when a protection ends.
//
// # The topology of one protected VM
//
// Both sides run the same machine: same devices in the same order, same
// NIC MAC, same kernel, CD or boot disk, same disk size. What differs:
//
//   - Network: the primary's NIC carries the VM's traffic. A filter-mirror
//     (m0) copies every packet arriving for the guest to the secondary,
//     whose filter-redirector f1 injects it into the secondary guest; both
//     guests' output goes to colo-compare (comp0) on the primary, the
//     primary's through redirector redire1, the secondary's through its
//     redirector f2. A packet leaves (redirector redire0, back into the
//     primary's netdev) once both guests produced it; when they differ,
//     or after x-checkpoint-delay, QEMU takes a checkpoint. filter-rewriter
//     rew0 on the secondary shifts TCP sequence numbers of connections the
//     two guests opened with different initial numbers since the last
//     checkpoint. The primary's chardevs, filters and colo-compare exist
//     only while protected (Protect adds them, a primary failover removes
//     them): colo-compare holds the guest's output until a checkpoint,
//     which a simplex primary never takes.
//   - Disk: the primary's disk is a quorum (colo-disk0) of its local image
//     and, once protected, a replication node (replication0, mode=primary)
//     writing through NBD to the secondary's disk image (parent0). The
//     secondary's guest writes to an active qcow2 layered on a hidden qcow2
//     layered on parent0 (replication, mode=secondary): a checkpoint drops
//     what the secondary wrote since the last one, failover commits it.
//     A former secondary keeps that graph as primary: its quorum gets the
//     replication child like any primary's.
//   - Migration: the secondary waits (-incoming defer, then
//     migrate-incoming) for the primary's migrate; with capability x-colo
//     the migration never completes but turns into periodic checkpoints.
//
// # Channels on the replication link
//
// The primary listens for the secondary's two filter connections (mirror
// and compare ports); the secondary listens for the migration stream and
// serves NBD. The two chardev pairs that connect colo-compare with the
// primary's own redirectors never leave the primary and are unix sockets
// in its work directory, so that several FT VMs on one node need no
// loopback ports.
//
// # QEMU quirks this package follows
//
//   - QEMU 11.1's COLO needs migration capabilities x-colo and return-path
//     set on both sides, before migrate and migrate-incoming.
//   - A replication node in mode primary fails every write until COLO
//     starts it, and the quorum (vote-threshold=1) hides that: it is added
//     only with the guest stopped, after the disk copy, at the migration's
//     pre-switchover.
//   - block-job-cancel of a READY mirror leaves the target a copy of the
//     source as of the cancel: with the guest stopped, an exact one.
//   - A quorum names an added child children.<n> with a counter that only
//     a removal of the last-added child takes back: Protect's replication
//     child is always children.1.
//   - Client socket chardevs take reconnect-ms since QEMU 9.2; the old
//     reconnect (seconds) is gone.
//   - QEMU 11.1 deprecates -mon: the monitor is -object monitor-qmp.
//   - block-export-add finds the node to export by node name only, not by
//     a -drive id: the secondary's disk image (parent0) is a -blockdev
//     node, where QEMU's guide has a -drive.
//   - The default checkpoint delay (x-checkpoint-delay) is 20 s.
//   - When the peer is gone, COLO's threads can be blocked on its sockets;
//     yank (out-of-band) cuts them so that failover can proceed. A peer
//     whose process died closed them already: the secondary then often
//     leaves COLO by itself (COLO_EXIT, reason error) and still accepts
//     x-colo-lost-heartbeat, which it needs to resume the guest's network
//     (query-colo-status then says reason "request").
//   - The secondary's network output stays with colo-compare on the dead
//     primary until its failover has run and its redirectors are removed:
//     a client sees a pause, not a reset, and TCP retransmits into the new
//     side once announce-self has told the switch where the MAC lives.
//   - Under TCG (tests only; FT VMs run under KVM) the secondary can run
//     stale translated code after a checkpoint: see ci/colo.
package ft
