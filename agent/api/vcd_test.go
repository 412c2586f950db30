package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// iso is an upload's body: a few KiB that are not all alike.
var iso = bytes.Repeat([]byte("CD001 lockstep test image\n"), 200)

// put uploads body as the VCD name with Content-Type ctype ("" for none).
func (e *env) put(name, ctype string, body io.Reader, size int64) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("PUT", e.url+"/api/v1/vcds/"+name, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = size
	req.SetBasicAuth("admin", apitest.Password)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

func TestVCDUploadListDelete(t *testing.T) {
	e := start(t, nil)
	if l := get[api.VCDList](e, "/api/v1/vcds"); len(l.VCDs) != 1 || l.VCDs[0].Name != "debian-13.iso" {
		t.Fatalf("vcds %+v", l)
	}
	sum := sha256.Sum256(iso)
	for _, ctype := range []string{"application/octet-stream", "application/x-iso9660-image", ""} {
		resp, b := e.put("alpine.iso", ctype, bytes.NewReader(iso), int64(len(iso)))
		expect(t, resp, b, 201, "")
		var v api.VCD
		if err := json.Unmarshal(b, &v); err != nil || v.Name != "alpine.iso" || v.SizeBytes != int64(len(iso)) || v.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Content-Type %q: %s (%v)", ctype, b, err)
		}
	}
	// Chunked, size unknown; it replaces the VCD of that name.
	resp, b := e.put("alpine.iso", "", io.MultiReader(bytes.NewReader(iso), strings.NewReader("more")), -1)
	expect(t, resp, b, 201, "")
	l := get[api.VCDList](e, "/api/v1/vcds")
	if len(l.VCDs) != 2 || l.VCDs[0].Name != "alpine.iso" || l.VCDs[0].SizeBytes != int64(len(iso))+4 || fmt.Sprint(l.VCDs[0].Nodes) != "[node0 node1]" {
		t.Errorf("vcds after upload %+v", l)
	}

	for _, ctype := range []string{"application/json", "text/plain; charset=utf-8", "bogus/"} {
		resp, b := e.put("x.iso", ctype, bytes.NewReader(iso), int64(len(iso)))
		expect(t, resp, b, 415, api.CodeBadRequest)
	}
	e.check([]vmCase{
		{"PUT", "/api/v1/vcds/a%20b.iso", raw("x"), 400, api.CodeBadParameter, `VCD name "a b.iso"`},
		{"PUT", "/api/v1/vcds/debian-13.iso", raw("x"), 409, api.CodeConflict, "VCD debian-13.iso is inserted in VM web, which is running"},
		{"PUT", "/api/v1/vcds/x.iso", nil, 400, api.CodeBadRequest, "empty body: want the ISO image"},
		{"DELETE", "/api/v1/vcds/debian-13.iso", nil, 409, api.CodeConflict, "inserted in VM web"},
		{"DELETE", "/api/v1/vcds/nope.iso", nil, 404, api.CodeNotFound, `no VCD "nope.iso"`},
		{"DELETE", "/api/v1/vcds/-x", nil, 400, api.CodeBadParameter, `VCD name "-x"`},
		{"GET", "/api/v1/vcds/alpine.iso", nil, 405, api.CodeMethodNotAllowed, "use PUT or DELETE"},
		{"POST", "/api/v1/vcds", nil, 405, api.CodeMethodNotAllowed, "use GET"},
		{"GET", "/api/v1/vcds/", nil, 404, api.CodeNotFound, "no such endpoint"},
	})

	// Too big is refused from the header, before the body is sent.
	c := &http.Client{Transport: e.client.Transport.(*http.Transport).Clone()}
	c.Transport.(*http.Transport).ExpectContinueTimeout = 10 * time.Second
	req, _ := http.NewRequest("PUT", e.url+"/api/v1/vcds/huge.iso", strings.NewReader("never sent"))
	req.ContentLength = api.MaxVCDBytes + 1
	req.Header.Set("Expect", "100-continue")
	req.SetBasicAuth("admin", apitest.Password)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 413 {
		t.Errorf("64 GiB + 1: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	resp, b = e.do("DELETE", "/api/v1/vcds/alpine.iso", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 204, "")
	if l := get[api.VCDList](e, "/api/v1/vcds"); len(l.VCDs) != 1 {
		t.Errorf("vcds after delete %+v", l)
	}
	want := "[vcd put alpine.iso vcd put alpine.iso vcd put alpine.iso vcd put alpine.iso vcd put a b.iso vcd put debian-13.iso vcd delete debian-13.iso vcd delete nope.iso vcd delete -x vcd delete alpine.iso]"
	if got := fmt.Sprint(e.backend.CallLog()); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}

	e.backend.SetErr(fmt.Errorf("vcds: %w", api.NotSupported("VCDs")))
	e.check([]vmCase{
		{"GET", "/api/v1/vcds", nil, 501, api.CodeNotSupported, "not supported yet: VCDs"},
		{"PUT", "/api/v1/vcds/x.iso", raw("x"), 501, api.CodeNotSupported, "VCDs"},
		{"DELETE", "/api/v1/vcds/x.iso", nil, 501, api.CodeNotSupported, "VCDs"},
	})
}

// TestVCDJSON pins the wire format of the VCD endpoints. Run with
// -update to rewrite testdata/.
func TestVCDJSON(t *testing.T) {
	e := start(t, nil)
	t.Run("vcd_put", func(t *testing.T) {
		_, b := e.put("alpine.iso", "application/x-iso9660-image", bytes.NewReader(iso), int64(len(iso)))
		golden.RequireEqual(t, b)
	})
	t.Run("vcds", func(t *testing.T) {
		_, b := e.do("GET", "/api/v1/vcds", "basic:"+apitest.Password, nil)
		golden.RequireEqual(t, b)
	})
	t.Run("bad_name", func(t *testing.T) {
		_, b := e.do("PUT", "/api/v1/vcds/.iso", "basic:"+apitest.Password, raw("x"))
		golden.RequireEqual(t, b)
	})
	t.Run("empty", func(t *testing.T) {
		e.backend.Edit(func(b *apitest.Backend) { b.VCDList = nil })
		_, b := e.do("GET", "/api/v1/vcds", "basic:"+apitest.Password, nil)
		golden.RequireEqual(t, b)
	})
}

// slowBackend takes its time after an upload, as the agent does while it
// copies the ISO to the peer, and fails if the request is cancelled
// meanwhile.
type slowBackend struct {
	*apitest.Backend
	after time.Duration
}

func (b slowBackend) PutVCD(ctx context.Context, name string, size int64, r io.Reader) (api.VCD, error) {
	v, err := b.Backend.PutVCD(ctx, name, size, r)
	select {
	case <-ctx.Done():
		return api.VCD{}, fmt.Errorf("cancelled while copying to the peer: %w", ctx.Err())
	case <-time.After(b.after):
	}
	return v, err
}

// trickle is a body of n chunks of iso, one every gap.
func trickle(n int, gap time.Duration) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for range n {
			time.Sleep(gap)
			if _, err := pw.Write(iso); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr
}

// TestUploadOutlivesServerTimeouts runs Serve with its timeouts cut
// short: an upload that takes longer than ReadTimeout to arrive, and is
// stored for longer than WriteTimeout, still succeeds, over HTTP/1.1 and
// HTTP/2; one that stalls is cut off.
func TestUploadOutlivesServerTimeouts(t *testing.T) {
	defer api.SetTimeouts(200*time.Millisecond, 200*time.Millisecond, 400*time.Millisecond)()
	p := apitest.NewPKI(t)
	s, err := api.New(api.Options{Backend: slowBackend{apitest.NewBackend(), 600 * time.Millisecond}, Verify: apitest.Verify, TLS: p.ServerTLS()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	e := &env{t: t, url: "https://" + ln.Addr().String()}
	for _, h2 := range []bool{false, true} {
		e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: h2}}
		resp, b := e.put("slow.iso", "application/octet-stream", trickle(5, 100*time.Millisecond), 5*int64(len(iso)))
		if resp.StatusCode != 201 || (resp.ProtoMajor == 2) != h2 {
			t.Errorf("%s: slow upload: %s %s", resp.Proto, resp.Status, b)
		}
		pr, pw := io.Pipe()
		go func() {
			pw.Write(iso)
			time.Sleep(time.Second)
			pw.Close()
		}()
		resp, b = e.put("stalled.iso", "application/octet-stream", pr, 2*int64(len(iso)))
		if resp.StatusCode != 408 || !strings.Contains(string(b), "the upload stalled: no data for 400ms") {
			t.Errorf("%s: stalled upload: %s %s", resp.Proto, resp.Status, b)
		}
	}
}
