// Package join lets a node join an existing Lockstep system over priv0 (SPEC
// A1, I8): node1's first install ("Replace PM, join system"), a replaced
// board taking over a failed node's identity, or a recovered node.
//
// # Protocol
//
//  1. Discovery. The joiner knows no address: Discover sends a
//     "LOCKSTEP-DISCOVER v1" query to ff02::1 (all nodes) on priv0, and the
//     existing node's Responder answers from its link-local address with
//     the system name, id and join port. Link-local multicast on the
//     private cable needs no configuration on either side.
//  2. Hello, GET /join/v1/hello over HTTPS, trusting nothing yet: the
//     system name, id, CA certificate and the nodes' health. The joiner
//     computes the CA fingerprint and either compares it with the one
//     pinned in its answer file or shows it (with the system name) for the
//     operator to confirm. This is the only trust-on-first-use step, and
//     the fingerprint check is what makes it safe.
//  3. Request, POST /join/v1/request, over a new TLS connection that
//     verifies the server against the CA just accepted: whoever answers
//     now must hold a node key of that CA, so a man in the middle after
//     step 2 fails. The joiner sends a CSR (its public key, signed by it),
//     its host name, the node id it wants (or any), the action and a join
//     token if the system requires one. The server decides (Decide), signs
//     a node certificate and returns it with the system configuration.
//
// # Decisions
//
// A system has node0 and node1. The server refuses, with HTTP 409 and a
// JSON error, a join to a system that already has two healthy nodes, a
// recover of a node id the system does not know, and a replace or recover
// of a node that is healthy; a replace of a known node reuses its node id
// and management IP, which is how a replaced board comes back as itself.
// The existing node's state is behind the Registry interface and health
// comes from an injected function, so the agent backs both with its own
// state and membership view.
package join
