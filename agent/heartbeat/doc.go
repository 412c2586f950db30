// Package heartbeat carries the membership heartbeats of a Lockstep pair
// (cluster/membership) over the wire: one UDP socket per link (priv0 and
// every A-Link), IPv6 link-local only, every datagram authenticated with
// the system's key.
//
// # Datagram (version 1, big-endian)
//
//	"LSHB" | version=1 | flags | from | state | boot u64 | seq u64 |
//	sent i64 (unix ns) | term u64 | len u8, system id | len u8, link name |
//	count u16, (len u8, name)… owned | count u16, (len u8, name)… fenced |
//	HMAC-SHA256(key, every byte before it)
//
// flags: bit 0 PeerLost, bit 1 Disconnected; boot is the membership
// heartbeat's Incarnation and seq its Seq. The encoding is canonical (one
// byte string per message; unknown flag bits, trailing bytes, node ids
// other than 0 and 1 and unknown states are malformed), so a datagram that
// decodes re-encodes to the same bytes.
//
// # Rules a receiver applies (in this order)
//
//  1. The source must be an IPv6 link-local address: the links are direct
//     cables, nothing on them is routed.
//  2. Size, magic and version; then the MAC, before any field is parsed:
//     an unauthenticated sender only ever reaches the framing code. The
//     key is per system (32 bytes), so another system's heartbeats already
//     fail here; the system id is checked as well (next rule), in case two
//     systems were given the same key.
//  3. The system id must be this system's.
//  4. The sender must be the peer: this node's own datagrams (looped back
//     multicast) and node ids other than the peer's are dropped.
//  5. The link named inside the datagram must be the link it arrived on.
//     A datagram captured on priv0 and replayed on an A-Link would
//     otherwise keep the A-Link "up" with heartbeats that never crossed it.
//  6. Freshness: the send time may lie at most MaxAge in the past and
//     MaxFuture in the future of the receiver's clock. This bounds what a
//     recorded stream can do after the receiver lost its replay state (a
//     restart); the two nodes' clocks must agree within these bounds or
//     every heartbeat is dropped (counted as "stale"/"future", so the
//     cause is visible).
//  7. Replay, per (sender, link): a boot older than the newest seen on the
//     link is dropped (a delayed datagram of a previous incarnation);
//     a newer boot starts a new window; within a boot a sequence number is
//     accepted once, and only within 64 of the highest seen. A replayed
//     heartbeat would otherwise prove a dead peer alive. The window is per
//     link because the same heartbeat (same seq) goes out on every link
//     and the links need not deliver in the same order. A datagram that
//     fails any rule leaves no trace in the window.
//
// Only a datagram that passed every rule is delivered, and only its source
// address is learned as the peer's: sends on a link go to that link-local
// address while the peer is steadily heard on it, and to ff02::1 on the
// link (all nodes) otherwise — before it has been heard for PeerForget,
// after PeerForget of silence, after a failed send — so a replaced NIC
// (new MAC, new link-local address) is found again by itself and a link
// whose cable returns is back at once (DefaultPeerForget says why).
//
// # Sockets
//
// Each link has its own socket on UDP port 7400 (DefaultPort), bound to
// the unspecified address so that both unicast and ff02::1 arrive, and to
// the interface with SO_BINDTODEVICE: a datagram is delivered on the link
// it came in on and a send leaves by its link, whatever the routing table
// says. Destinations carry the interface as zone; the real socket turns it
// into the scope id of its own interface index (looked up when the socket
// was made, in the socket's network namespace). Multicast loopback is off.
package heartbeat
