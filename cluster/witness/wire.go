package witness

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const (
	magic = "LSW1"
	// MaxDatagram is the largest datagram either side sends or accepts.
	MaxDatagram = 1400
	// MinSecret is the shortest shared secret accepted.
	MinSecret = 16
	nonceLen  = 16
	dirReq    = 'Q'
	dirReply  = 'R'
)

var (
	// ErrBadMAC means the datagram was not made with our secret (or was altered).
	ErrBadMAC = errors.New("bad MAC: wrong secret or altered datagram")
	// ErrMalformed means the datagram is not a witness message at all.
	ErrMalformed = errors.New("not a witness datagram")
)

type wireRequest struct {
	Kind    Kind   `json:"kind"`
	System  string `json:"system"`
	Node    uint8  `json:"node"`
	Term    uint64 `json:"term,omitempty"`
	LeaseMS int64  `json:"lease_ms,omitempty"`
	TS      int64  `json:"ts"` // unix nanoseconds
	Nonce   string `json:"nonce"`
}

type wireReply struct {
	Nonce   string `json:"nonce"`
	Result  Result `json:"result"`
	Term    uint64 `json:"term"`
	Holder  uint8  `json:"holder"`
	Held    bool   `json:"held"`
	LeaseMS int64  `json:"lease_ms,omitempty"`
	Reason  Reason `json:"reason,omitempty"`
}

func mac(secret []byte, dir byte, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(magic))
	h.Write([]byte{dir})
	h.Write(body)
	return h.Sum(nil)
}

func seal(secret []byte, dir byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	pkt := make([]byte, 0, len(magic)+sha256.Size+len(body))
	pkt = append(pkt, magic...)
	pkt = append(pkt, mac(secret, dir, body)...)
	pkt = append(pkt, body...)
	if len(pkt) > MaxDatagram {
		return nil, fmt.Errorf("witness message is %d bytes, more than %d", len(pkt), MaxDatagram)
	}
	return pkt, nil
}

func open(secret []byte, dir byte, pkt []byte, v any) error {
	if len(pkt) < len(magic)+sha256.Size || !bytes.HasPrefix(pkt, []byte(magic)) {
		return ErrMalformed
	}
	sum := pkt[len(magic) : len(magic)+sha256.Size]
	body := pkt[len(magic)+sha256.Size:]
	if !hmac.Equal(sum, mac(secret, dir, body)) {
		return ErrBadMAC
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// sealRequest encodes req, stamped with ts and nonce.
func sealRequest(secret []byte, req Request, ts time.Time, nonce []byte) ([]byte, error) {
	return seal(secret, dirReq, wireRequest{
		Kind: req.Kind, System: req.System, Node: req.Node, Term: req.Term,
		LeaseMS: req.Lease.Milliseconds(), TS: ts.UnixNano(), Nonce: hex.EncodeToString(nonce),
	})
}

// openRequest authenticates and decodes a request datagram.
func openRequest(secret, pkt []byte) (req Request, ts time.Time, nonce string, err error) {
	var w wireRequest
	if err := open(secret, dirReq, pkt, &w); err != nil {
		return Request{}, time.Time{}, "", err
	}
	if n, err := hex.DecodeString(w.Nonce); err != nil || len(n) != nonceLen {
		return Request{}, time.Time{}, "", fmt.Errorf("%w: nonce must be %d hex bytes", ErrMalformed, nonceLen)
	}
	req = Request{Kind: w.Kind, System: w.System, Node: w.Node, Term: w.Term, Lease: time.Duration(w.LeaseMS) * time.Millisecond}
	return req, time.Unix(0, w.TS), w.Nonce, nil
}

func sealReply(secret []byte, nonce string, r Reply) ([]byte, error) {
	return seal(secret, dirReply, wireReply{
		Nonce: nonce, Result: r.Result, Term: r.Term, Holder: r.Holder, Held: r.Held,
		LeaseMS: r.Lease.Milliseconds(), Reason: r.Reason,
	})
}

// openReply authenticates a reply datagram and returns it with the nonce it
// answers.
func openReply(secret, pkt []byte) (Reply, string, error) {
	var w wireReply
	if err := open(secret, dirReply, pkt, &w); err != nil {
		return Reply{}, "", err
	}
	return Reply{
		Result: w.Result, Term: w.Term, Holder: w.Holder, Held: w.Held,
		Lease: time.Duration(w.LeaseMS) * time.Millisecond, Reason: w.Reason,
	}, w.Nonce, nil
}
