package witness

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultMaxSkew is how far a request's timestamp may be from the witness's
// clock. Nodes and witnesses are expected to run NTP (SPEC A17).
const DefaultMaxSkew = 30 * time.Second

// maxNonces bounds the replay cache; beyond it new requests are dropped
// until old nonces age out (a flood cannot grow memory without bound).
const maxNonces = 1 << 16

// Decision is one answered vote or release, for the daemon's log.
type Decision struct {
	From    net.Addr
	Request Request
	Reply   Reply
}

// Server answers witness requests on a datagram socket.
type Server struct {
	Ledger *Ledger
	Secret []byte
	// MaxSkew defaults to DefaultMaxSkew.
	MaxSkew time.Duration
	// NotBefore: requests stamped earlier are dropped (rule: a replay
	// recorded before a restart). Serve sets it to the start time if zero.
	NotBefore time.Time
	// Now defaults to time.Now.
	Now func() time.Time
	// OnDecision, if set, is called for every answered request.
	OnDecision func(Decision)
	// OnDrop, if set, is called for every dropped datagram with the reason.
	OnDrop func(from net.Addr, err error)

	mu   sync.Mutex
	seen map[string]time.Time // nonce → when it can be forgotten
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) skew() time.Duration {
	if s.MaxSkew > 0 {
		return s.MaxSkew
	}
	return DefaultMaxSkew
}

// Serve answers requests on pc until pc is closed (then it returns nil).
func (s *Server) Serve(pc net.PacketConn) error {
	if len(s.Secret) < MinSecret {
		return fmt.Errorf("witness secret is %d bytes, need at least %d", len(s.Secret), MinSecret)
	}
	if s.Ledger == nil {
		return errors.New("witness server has no ledger")
	}
	s.mu.Lock()
	if s.NotBefore.IsZero() {
		s.NotBefore = s.now()
	}
	s.mu.Unlock()
	buf := make([]byte, MaxDatagram+1)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("witness: read: %w", err)
		}
		out, err := s.Handle(buf[:n], from)
		if err != nil {
			if s.OnDrop != nil {
				s.OnDrop(from, err)
			}
			continue
		}
		if _, err := pc.WriteTo(out, from); err != nil && s.OnDrop != nil {
			s.OnDrop(from, fmt.Errorf("reply not sent: %w", err))
		}
	}
}

// Handle authenticates one request datagram and returns the reply datagram,
// or an error saying why the request is dropped unanswered.
func (s *Server) Handle(pkt []byte, from net.Addr) ([]byte, error) {
	if len(pkt) > MaxDatagram {
		return nil, fmt.Errorf("datagram of %d bytes is larger than %d", len(pkt), MaxDatagram)
	}
	req, ts, nonce, err := openRequest(s.Secret, pkt)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err := s.fresh(now, ts, nonce); err != nil {
		return nil, err
	}
	rep := s.Ledger.Decide(now, req)
	if s.OnDecision != nil {
		s.OnDecision(Decision{From: from, Request: req, Reply: rep})
	}
	return sealReply(s.Secret, nonce, rep)
}

// fresh rejects stale and replayed requests and remembers the nonce.
func (s *Server) fresh(now, ts time.Time, nonce string) error {
	skew := s.skew()
	if d := now.Sub(ts); d > skew || d < -skew {
		return fmt.Errorf("stale request: timestamp %v off the witness clock (max %v)", d.Round(time.Millisecond), skew)
	}
	if ts.Before(s.NotBefore) {
		return errors.New("request stamped before the witness started (possible replay)")
	}
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	if _, dup := s.seen[nonce]; dup {
		return errors.New("replayed request (nonce already seen)")
	}
	if len(s.seen) >= maxNonces {
		for n, until := range s.seen {
			if now.After(until) {
				delete(s.seen, n)
			}
		}
		if len(s.seen) >= maxNonces {
			return errors.New("replay cache full, request dropped")
		}
	}
	// A nonce needs remembering only while its timestamp is acceptable.
	s.seen[nonce] = ts.Add(skew)
	return nil
}
