// Package drbd mirrors every VM volume to the peer node (SPEC A6, A10): one
// DRBD resource per volume, between the two nodes, over the first A-Link,
// replicated synchronously (protocol C), with internal metadata on the
// volume's backing LV.
//
// The nodes run the kernel's own DRBD, which is 8.4 (drivers/block/drbd,
// REL_VERSION "8.4.11", protocol 86–101), driven by drbd-utils 9: drbdadm
// and drbdsetup see an 8.4 driver (/proc/drbd, or modinfo when the module
// is not loaded yet) and exec /usr/lib/drbd/drbdadm-84 and drbdsetup-84.
// Everything here is 8.4: its configuration syntax, its drbdadm commands
// (no max-peers, no node-id, no connection sections) and drbdsetup-84's
// events2 lines.
//
// # Nodes are found by address
//
// Both nodes may have the same host name, so the configuration has no "on
// <hostname>" sections: each node is a "floating ipv4 <addr>:<port>"
// section, and drbdadm takes as its own the section whose address is
// configured on an interface that is up (drbdadm_parser.c,
// set_me_in_resource, have_ip). The A-Link must therefore keep its address
// and stay administratively up while its cable is out.
//
// # Dual primary only during live migration
//
// allow-two-primaries is off in the configuration and switched on with
// Adm.AllowTwoPrimaries only for a live migration (SPEC A9, A11), then off
// again. While it is off, a connected peer refuses a second primary, which
// is the last guard against a VM started on both nodes: the volumes carry
// no cluster file system, so two writers would corrupt them. Protocol ≥ 100
// (8.4 talks 101) lets net-options change it on a live connection, and the
// kernel refuses to switch it off while both sides are primary
// (ERR_NEED_ALLOW_TWO_PRI), so the order is: on, migrate, demote the
// source, off. An Adjust during the migration would switch it off and is
// refused the same way.
//
// # Split brain
//
// Every after-sb policy and rr-conflict is "disconnect": DRBD never
// discards a side's writes by itself. On reconnection after both sides
// wrote, 8.4 runs the split-brain helper and drops the connection to
// StandAlone; events2 shows "call helper … helper:split-brain", which sets
// State.SplitBrain. Resolving it (choosing the side whose writes are lost,
// "connect --discard-my-data" there) is an operator's decision, not this
// package's. The flag lives only in a Watch: a restarted events2 shows
// StandAlone but not why, so the agent records the split brain when it
// is first reported.
//
// # Promotion with --force
//
// With fencing left at dont-care, a disk whose metadata says it was up to
// date comes up UpToDate on attach (drbd_adm_attach), so a survivor whose
// peer is lost is promoted without --force. It also means that DRBD alone
// does not stop a node that was cut off, and so missed writes, from being
// promoted after the other node died: which node holds the newest data is
// the membership's knowledge (SPEC A2), not DRBD's.
//
// Primary's force is for two cases only: the first promotion of a new
// volume pair (both Inconsistent; a full initial sync follows, unless
// NewCurrentUUID skipped it), and a survivor whose own disk is not UpToDate
// (Outdated, Inconsistent) and whose peer is lost. The second makes stale
// or half-synced data the truth, so it needs an operator's consent.
//
// # State
//
// 8.4's drbdsetup implements events2 with --now and --statistics, on the
// kernel's DRBD_ADM_GET_INITIAL_STATE dump and "events" multicast group
// (mainline commit a29728463b25, "drbd: Backport the events2 command"), so
// /proc/drbd is not parsed. Two 8.4 quirks: the kernel sends an event only
// when a state changes, so resync progress does not stream (poll
// Adm.Status for it), and drbdsetup-84 prints a fixed "peer-node-id:0" and
// "conn-name:peer" (8.4 has neither).
package drbd
