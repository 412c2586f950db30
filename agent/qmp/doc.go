// Package qmp is a typed client for the QEMU Machine Protocol, used by the
// agent to drive the QEMU processes of FT (COLO) VMs over their monitor
// sockets.
//
// # Protocol rules this client relies on
//
//   - The server speaks first: a greeting {"QMP":{"version":…,
//     "capabilities":[…]}}. Until the client sends qmp_capabilities the
//     monitor is in negotiation mode: every other command fails and no
//     events are sent, so New negotiates before returning.
//   - Every command carries an "id" that the server copies into its reply.
//     Replies are matched by id, never by order: out-of-band replies
//     overtake in-band ones, and an abandoned (cancelled) call's late reply
//     must not be taken for the next call's.
//   - "oob" is enabled whenever the server offers it. During a COLO
//     failover QEMU's main loop can be stuck in a checkpoint; in-band
//     commands then wait behind it, and only "exec-oob" commands that the
//     schema marks allow-oob (yank, migrate-pause, migrate-recover) run.
//   - The monitor stops reading its socket when 8 in-band requests are
//     queued, and then out-of-band requests cannot get in either. The
//     client therefore keeps at most 7 in-band requests outstanding
//     (counting ones whose caller gave up and whose reply has not come
//     back) and makes further Execute calls wait for a free slot.
//   - Events are asynchronous lines with an "event" key. They are never
//     replayed, so code that issues a command and then waits for the event
//     it causes must register the wait first (Expect) because QEMU often
//     emits the event before the command's reply.
package qmp
