// Package witness is the quorum service that breaks ties when the two nodes
// of a Lockstep system cannot see each other (SPEC A2).
//
// A node that has lost its peer asks every configured witness "vote for me"
// (system id, node id, term). The witness is the only party both nodes may
// still reach, so it is the one place where "who won" can be decided once.
//
// # Rules a witness enforces (Ledger.Decide)
//
//  1. One holder per system at a time. A grant is a lease: the witness
//     promises not to grant the system to the other node until the lease
//     has expired (or its holder released it). The holder renews it while
//     it still cannot see its peer.
//  2. At most one node per (system, term). Terms only grow: a vote for a
//     term lower than the last granted term is refused ("stale term"), a
//     vote by the other node for the term already granted is refused
//     ("term used"), even once that lease is over. The holder may renew
//     with the same or a higher term.
//  3. The grant is recorded before it is answered. With a state file the
//     record is written (atomically, fsynced) before the reply leaves; if it
//     cannot be written the vote is refused. A witness that starts without a
//     recorded state (no state file, or the file is missing) refuses every
//     vote for one maximum lease ("quarantine"): any lease it may have
//     granted before the restart has run out by then.
//  4. Leases are capped by the witness (MaxLease); the reply says how long
//     the lease really is. A node counts a grant only until
//     sent-time + 9/10 of the lease: it measures from before the witness
//     received the request, with a margin for clock-rate differences, so
//     the node gives the lease up before the witness can hand it on.
//
// # Wire protocol (UDP, one datagram each way)
//
//	datagram = "LSW1" | HMAC-SHA256(secret, "LSW1" | dir | body) | body
//
// dir is 'Q' for a request and 'R' for a reply, so a request can never be
// reflected as a reply. body is JSON. A request carries a timestamp and a
// random 16-byte nonce; the server drops requests whose MAC is wrong, whose
// timestamp is further than MaxSkew from its clock or older than the
// server's start (a replay recorded before a restart), and nonces it has
// already seen within the skew window. A reply echoes the request's nonce,
// so a client accepts only the answer to its own question. Dropped requests
// get no answer at all: an unauthenticated sender learns nothing.
package witness
