package witness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// DefaultTimeout is how long a Client waits for an answer.
const DefaultTimeout = 300 * time.Millisecond

// ErrNoAnswer is returned when the witness did not answer in time.
var ErrNoAnswer = errors.New("no answer")

// Client asks one witness.
type Client struct {
	// Addr is the witness's host:port.
	Addr   string
	Secret []byte
	// Timeout bounds one Do call (DefaultTimeout if zero). Within it the
	// request is sent up to three times, each freshly stamped (the server
	// would drop a repeated nonce), so one lost datagram does not cost the
	// answer.
	Timeout time.Duration
	// Now and Rand default to time.Now and crypto/rand (tests replace them).
	Now  func() time.Time
	Rand io.Reader
}

const sendsPerCall = 3

// Do sends req and waits for the authenticated answer to it.
func (c *Client) Do(ctx context.Context, req Request) (Reply, error) {
	fail := func(err error) (Reply, error) { return Reply{}, fmt.Errorf("witness %s: %w", c.Addr, err) }
	if err := req.Validate(); err != nil {
		return fail(err)
	}
	if len(c.Secret) < MinSecret {
		return fail(fmt.Errorf("secret is %d bytes, need at least %d", len(c.Secret), MinSecret))
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "udp", c.Addr)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	// Cancelling ctx ends a blocked read at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	sent := map[string]bool{}
	buf := make([]byte, MaxDatagram+1)
	for n := 0; ; {
		if n < sendsPerCall {
			nonce, err := c.send(conn, req)
			if err != nil {
				return fail(err)
			}
			sent[nonce] = true
			n++
		}
		wait := deadline
		if n < sendsPerCall {
			if resend := time.Now().Add(timeout / sendsPerCall); resend.Before(wait) {
				wait = resend
			}
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		_ = conn.SetReadDeadline(wait)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					return fail(err) // e.g. ICMP port unreachable
				}
				break
			}
			rep, nonce, err := openReply(c.Secret, buf[:k])
			if err == nil && sent[nonce] {
				return rep, nil
			}
			// Forged, corrupt or an answer to someone else: keep waiting.
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if !time.Now().Before(deadline) {
			return fail(fmt.Errorf("%w within %v", ErrNoAnswer, timeout))
		}
	}
}

// send writes one freshly stamped copy of req and returns its nonce.
func (c *Client) send(conn net.Conn, req Request) (string, error) {
	nonce := make([]byte, nonceLen)
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, nonce); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	pkt, err := sealRequest(c.Secret, req, now(), nonce)
	if err != nil {
		return "", err
	}
	if _, err := conn.Write(pkt); err != nil {
		return "", err
	}
	return hex.EncodeToString(nonce), nil
}
