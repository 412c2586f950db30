// Package membership decides, for one node of a Lockstep pair, whether the
// peer is alive, which node is primary (holds the system IP) and which node
// runs which resources (SPEC A2, A3). It is a pure state machine: events
// (heartbeats, ticks, witness answers, admin start/stop) go in through
// Machine.Step with the time, actions (send, ask, become primary, step
// down, take over, release, alerts) come out. It starts no goroutines,
// reads no clock and does no I/O, so every scenario replays exactly
// (package sim drives two machines and their witnesses in virtual time).
//
// # Links and loss
//
// A heartbeat goes out on every link (priv0 and each A-Link) every
// HeartbeatInterval (200 ms), and at once whenever the sender's term, role,
// "peer lost"/"disconnected" flags or resource lists change.
//
//   - Each link is up while heartbeats arrive on it and down after
//     PeerTimeout (1 s) of silence. A link that changes state FlapThreshold
//     (4) times within FlapWindow (10 s) is flapping: its up/down alerts
//     are replaced by one flapping alert until it has been quiet a window.
//     A single link down (or flapping) is only an alert, never a failover.
//   - L1: the peer is LOST when every link is down, i.e. nothing has been
//     heard on any link for PeerTimeout. The driver ticks at Machine.Next,
//     so loss is declared exactly PeerTimeout after the last heartbeat:
//     detection takes at most 1 s after the peer dies.
//   - L2: the nodes are CONNECTED when each hears the other: this node
//     hears the peer and the peer's latest heartbeat does not say it lost
//     this node (so a one-way cut disconnects both sides).
//   - A node that has not heard its peer within PeerTimeout of its start
//     counts the peer as lost too.
//   - L3: the two nodes may find themselves disconnected up to
//     S = PeerTimeout + HeartbeatInterval (1.2 s) apart, not just an
//     interval: a node's heartbeats say it hears the peer until it declares
//     the peer lost. If the links fail one way and then, within
//     PeerTimeout, the other way too (before that "lost" report gets
//     through), the node that went on hearing its peer notices only
//     PeerTimeout after the last of those heartbeats — up to S after the
//     peer did (latency stays below an interval). Every delay below covers S.
//
// # Terms
//
// A term numbers each claim of the primary role; it is persisted
// (SaveTerm) and passed back in Start.
//
//   - T1: a claim takes a term above every term this node has seen (its
//     own, the peer's, any a witness reported).
//   - T2: when both nodes claim primary, the higher term wins and a tie
//     goes to node0; the loser steps down as soon as it hears the winner,
//     on any link, even while disconnected. A node adopts any higher term
//     it hears.
//   - T3: heartbeats of an older incarnation (a delayed heartbeat from
//     before the peer restarted) are ignored, and within one incarnation a
//     heartbeat with a sequence number not above the last one only proves
//     that its link works.
//
// # Election while connected
//
//   - E1: a node that hears a primary peer is secondary. A joining node
//     becomes secondary only under a primary.
//   - E2: when neither is primary, the node of higher rank claims
//     (running > joining > stopped); equal ranks: node0 claims. A node
//     claims only once the peer's heartbeat says the peer is connected
//     again too, so that a vote in flight on the peer's side cannot make
//     a second primary. Simultaneous start therefore ends with node0
//     primary; a node that restarts while its peer runs rejoins as
//     secondary (no flip-flop).
//   - E3: nor does a node claim on a heartbeat that reached it within two
//     intervals of its start or of its leaving "joining" (the only times
//     a rank rises), unless that heartbeat says the peer is stopped. Each
//     node claims on the other's latest heartbeat, so when they cross
//     both may claim: the peer on one this node sent at its lower rank
//     (two "joining": node0 claims), this node on one the peer sent
//     before that one arrived (node1, isolated by its start timeout: "node0
//     is only joining"). Both take the same term, one above the terms
//     both have seen (T1), and T2 settles it only when the claims arrive:
//     two primaries meanwhile. Latency stays below an interval, so a
//     heartbeat that arrives two intervals after the rise was sent after
//     the peer had every heartbeat of the lower rank, and shows its claim
//     if it made one (a node claims only on receiving a heartbeat). A
//     stopped peer claims nothing; when it starts, its own start holds
//     it back. The cost: an election right after a start (or a start
//     timeout) comes 2 to 3 intervals later.
//
// # Disconnected: the split-brain rules
//
// An episode begins at L, the moment the nodes stop being connected (this
// node declares the peer lost, or hears the peer report it lost); by rule
// L3 the peer's L may come up to S later. Let I = HeartbeatInterval,
// WT = WitnessTimeout, D0 = WT+S (1.5 s), D1 = D0+I (1.7 s),
// F = D1+WT+S (3.2 s).
//
// With witnesses (1 or 2 configured), a node holds the primary role or the
// peer's resources during an episode only while it holds a majority:
//
//   - Q1: each witness grants at most one node per (system, term) and holds
//     the system for that node for a lease (3 s, renewed every third of it
//     while the episode lasts; package witness).
//   - Q2: a node WINS when it holds live grants from more than half of the
//     configured witnesses; with two witnesses, one grant (exactly half)
//     wins for node0 only. Two winners would need grants from disjoint
//     witness sets summing to more than the witnesses there are, so at most
//     one node wins at any time — even when each node reaches a different
//     witness. Unreachable witnesses count against: "a majority of
//     reachable witnesses" could let both sides win.
//   - Q3: a grant counts from the moment the request was sent, for 9/10 of
//     the granted lease, so it runs out here before it runs out at the
//     witness.
//   - P1: the incumbent primary asks at L and stays primary only if it wins
//     by L+WT; otherwise it fences (below).
//   - P2: a node that is not primary asks at L+D0 (node0) or L+D1 (node1),
//     and while it cannot see the peer never sooner than D0 (D1) after it
//     last declared the peer lost, whatever began the episode: until then
//     its heartbeats said it heard the peer, so a primary peer may have gone
//     on hearing them, unaware of any cut and without a lease (one that
//     hears this node again ends its episode and gives its lease back), and
//     notices up to S later (L3). By that time the incumbent has either won
//     or stepped down. If it wins it becomes primary; if it has not won WT
//     later it fences. A node that has not won asks again every
//     RetryInterval (1 s; node1 every 1.5 s), under the same clock, and wins
//     when a lease held by the other side has run out.
//   - P2a: if at L+D0 (D1) the peer is out of sight but was declared lost
//     less than D0 (D1) ago — it reported this node lost, then fell silent:
//     it noticed first and, if it wins, takes this node's resources on its
//     own clock — the node concedes as under P4 and asks only at the later
//     time.
//   - Q4: a winner that cannot renew fences as soon as its grants run out.
//   - P4: a node that is not primary asks nothing while it hears a peer
//     whose heartbeat says it is primary: that peer holds the system and
//     either hears this node soon (a start, a heartbeat in flight) or keeps
//     its own lease. An incumbent gives its lease back when the episode
//     ends on its side, so a vote from the side that has not yet seen the
//     end would win against a primary it can see. At its ask time it
//     concedes instead: it stops its resources, as a refused vote would.
//   - FENCE: a node without a majority steps down, stops all its resources
//     and gives back partial grants: it cannot know whether the other side
//     won. A partition during which no node reaches a witness majority
//     therefore stops everything until a link or a witness returns — the
//     price of never running anything twice.
//   - P3: a winner starts the peer's resources (those the peer ran at L)
//     at L+F, when the peer — had it lost — has fenced (a loser has stopped
//     them by D1+WT after its own L, which comes at most S after ours),
//     and never those a still-visible peer reports running.
//
// Without witnesses (rule W0, the explicit rule of SPEC A2):
//
//   - node0 is preferred: at L+D0 (and, while it cannot see node1, D0 after
//     it last declared node1 lost: node1 steps down only at its own L, rule
//     L3) node0 becomes primary, and at L+F it starts the resources node1
//     ran at L (minus any node1 is visibly still reporting).
//   - node1 never takes over: at L it gives up the system IP if it held it,
//     never claims it while disconnected, and never starts a resource node0
//     was running when it was lost; it keeps what it already ran. If node1
//     still hears node0 and node0 reports it lost (one-way cut) for two
//     intervals, node1 stops its resources, since node0 is alive and takes
//     them.
//   - The cost, stated plainly: in a full partition with both nodes alive,
//     node1's resources run on both sides until the nodes reconnect (then
//     node1 stops its copies, rule R1, and raises a resource-conflict
//     alert), and while node0 is down the system has no system IP.
//     Configure a witness to avoid both.
//
// # Assumptions
//
// Heartbeat latency stays well below one heartbeat interval (priv0 and the
// A-Links are direct cables; the simulator's random faults use up to
// 150 ms): S counts one interval for it. Each node's clock runs at nearly the witness's rate (leases are
// measured on both sides; the 1/10 margin of Q3 absorbs the difference);
// absolute time matters only for request authentication (package witness).
//
// # Resources
//
//   - R1: when connected, a resource both nodes report running stays on the
//     primary (node0 if neither is) and the other stops it.
//   - R2: resources stopped by a fence are listed in the heartbeat as
//     "fenced"; once connected, the primary restarts those that run nowhere.
//   - R3: when the peer comes back with a new incarnation, what its previous
//     incarnation ran has stopped with it; the primary restarts it.
//   - S1: Stop stops this node's resources, gives up the system IP and sends
//     a last heartbeat listing the resources as fenced: the peer restarts
//     them at once and (with a witness, or if it is node0) claims the
//     system without waiting for PeerTimeout.
package membership
