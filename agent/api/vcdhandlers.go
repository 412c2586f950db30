package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"time"
)

// MaxVCDBytes bounds an upload, PUT /api/v1/vcds/{name}: a DVD image is
// under 10 GiB, and a runaway client must not fill STATE.
const MaxVCDBytes = 64 << 30

// VCD names, like VM names, go to the backend as they are.

func (s *Server) vcds(w http.ResponseWriter, r *http.Request) {
	vcds, err := s.backend.VCDs(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if vcds == nil {
		vcds = []VCD{}
	}
	s.writeJSON(w, http.StatusOK, VCDList{VCDs: vcds})
}

// putVCD takes the ISO image itself as the body. No Content-Type (curl
// -T) is taken as raw bytes too; JSON or a form is refused, so that the
// mistake is not stored as an ISO.
func (s *Server) putVCD(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/octet-stream" && mt != "application/x-iso9660-image" {
			s.writeError(w, http.StatusUnsupportedMediaType, CodeBadRequest, fmt.Sprintf(
				"Content-Type %q: send the ISO image itself, as application/octet-stream or application/x-iso9660-image", ct))
			return
		}
	}
	switch {
	case r.ContentLength == 0:
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "empty body: want the ISO image")
		return
	case r.ContentLength > MaxVCDBytes:
		s.writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("body larger than %d bytes", int64(MaxVCDBytes)))
		return
	}
	// The server's ReadTimeout and WriteTimeout bound a whole request;
	// an ISO takes minutes to arrive and more to reach the peer.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	body := &uploadBody{r: http.MaxBytesReader(w, r.Body, MaxVCDBytes), rc: rc, stall: uploadStall}
	name := r.PathValue("name")
	v, err := s.backend.PutVCD(r.Context(), name, r.ContentLength, body)
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(body.err, &tooBig):
		s.writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("body larger than %d bytes", int64(MaxVCDBytes)))
	case errors.Is(body.err, os.ErrDeadlineExceeded):
		s.writeError(w, http.StatusRequestTimeout, CodeBadRequest, fmt.Sprintf("the upload stalled: no data for %v", uploadStall))
	case err != nil:
		s.backendError(w, r, err)
	default:
		s.log.Printf("api: VCD %s (%d bytes) uploaded from %s", v.Name, v.SizeBytes, clientIP(r))
		s.writeJSON(w, http.StatusCreated, v)
	}
}

// uploadBody is a request body that may take as long as it needs: each
// read pushes the read deadline on, so that only a client that stops
// sending is cut off. The end of the body lifts it: over HTTP/1.1 the
// server then watches the connection for the client going away, and a
// deadline firing there while the backend is still at work (copying to
// the peer) would cancel the request's context.
type uploadBody struct {
	r     io.Reader
	rc    *http.ResponseController
	stall time.Duration
	renew time.Time // when to push the deadline on again
	err   error     // the first read error but io.EOF
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.After(b.renew) {
		_ = b.rc.SetReadDeadline(now.Add(b.stall))
		b.renew = now.Add(b.stall / 4)
	}
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && b.err == nil:
		b.err = err // the deadline stays: the rest of the body is not waited for
	}
	return n, err
}

func (s *Server) deleteVCD(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.backend.DeleteVCD(r.Context(), name); err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: VCD %s deleted from %s", name, clientIP(r))
	w.WriteHeader(http.StatusNoContent)
}
