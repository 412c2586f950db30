package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// VCDs (virtual CDs, SPEC A7) are ISO files kept on both nodes' STATE, so
// that a VM finds its CD on whichever node it starts. An upload is taken
// by one node and copied to the other before it is reported done.

var vcdNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (c *clusterd) vcdDir() string             { return filepath.Join(c.stateDir, "vcd") }
func (c *clusterd) vcdPath(name string) string { return filepath.Join(c.vcdDir(), name) }

func checkVCDName(name string) error {
	if !vcdNameRE.MatchString(name) || strings.HasSuffix(name, ".part") {
		return &api.BadSpecError{Problems: []string{fmt.Sprintf("VCD name %q: use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit", name)}}
	}
	return nil
}

// storeVCD writes r to the VCD name on this node: into a temporary file
// that replaces the VCD only once complete, so that a cut-off upload never
// leaves a half ISO that a VM would boot from. It refuses an upload that
// would leave STATE with less than a quarter of it free.
func (c *clusterd) storeVCD(name string, size int64, r io.Reader) (api.VCD, error) {
	if err := os.MkdirAll(c.vcdDir(), 0o755); err != nil {
		return api.VCD{}, err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(c.vcdDir(), &fs); err == nil && size > 0 {
		free, total := int64(fs.Bavail)*fs.Bsize, int64(fs.Blocks)*fs.Bsize
		if free-size < total/4 {
			return api.VCD{}, api.Conflict(fmt.Sprintf("VCD %s: %d MiB does not fit: STATE has %d MiB free and keeps a quarter of its %d MiB free", name, size>>20, free>>20, total>>20))
		}
	}
	tmp := c.vcdPath(name) + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return api.VCD{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil && n == 0 {
		err = fmt.Errorf("VCD %s: the upload is empty", name)
	}
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("VCD %s: got %d bytes of %d", name, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.vcdPath(name))
	}
	if err != nil {
		os.Remove(tmp)
		return api.VCD{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	os.WriteFile(c.vcdPath(name)+".sha256", []byte(sum+"\n"), 0o644)
	return api.VCD{Name: name, SizeBytes: n, SHA256: sum}, nil
}

// localVCDs lists this node's VCDs.
func (c *clusterd) localVCDs() ([]api.VCD, error) {
	ents, err := os.ReadDir(c.vcdDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []api.VCD
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".part") || strings.HasSuffix(n, ".sha256") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		sum, _ := os.ReadFile(c.vcdPath(n) + ".sha256")
		out = append(out, api.VCD{Name: n, SizeBytes: info.Size(), SHA256: strings.TrimSpace(string(sum))})
	}
	return out, nil
}

func (b *clusterBackend) VCDs(ctx context.Context) ([]api.VCD, error) {
	c := b.c
	own, err := c.localVCDs()
	if err != nil {
		return nil, err
	}
	self, peer := nodeName(c.id.NodeID), nodeName(1-c.id.NodeID)
	byName := map[string]*api.VCD{}
	for i := range own {
		own[i].Nodes = []string{self}
		byName[own[i].Name] = &own[i]
	}
	var theirs []api.VCD
	if c.runner.Status().Connected {
		c.peerDo(ctx, "GET", "/peer/v1/vcds", nil, &theirs, 5*time.Second)
	}
	out := own
	for _, v := range theirs {
		if o, ok := byName[v.Name]; ok && o.SHA256 == v.SHA256 {
			o.Nodes = append(o.Nodes, peer)
			continue
		}
		v.Nodes = []string{peer}
		out = append(out, v)
	}
	slices.SortFunc(out, func(x, y api.VCD) int { return strings.Compare(x.Name, y.Name) })
	if out == nil {
		out = []api.VCD{}
	}
	return out, nil
}

func (b *clusterBackend) PutVCD(ctx context.Context, name string, size int64, r io.Reader) (api.VCD, error) {
	c := b.c
	if err := checkVCDName(name); err != nil {
		return api.VCD{}, err
	}
	if c.vms != nil && slices.Contains(c.vms.usingCD(), name) {
		return api.VCD{}, api.Conflict(fmt.Sprintf("VCD %s is inserted in a running VM", name))
	}
	v, err := c.storeVCD(name, size, r)
	if err != nil {
		return api.VCD{}, err
	}
	v.Nodes = []string{nodeName(c.id.NodeID)}
	if c.runner.Status().Connected {
		if err := c.copyVCDToPeer(ctx, name); err != nil {
			return v, fmt.Errorf("VCD %s is on %s but copying it to the peer failed: %w", name, v.Nodes[0], err)
		}
		v.Nodes = append(v.Nodes, nodeName(1-c.id.NodeID))
	}
	c.logf("vcd: %s stored (%d bytes, sha256 %s) on %v", name, v.SizeBytes, v.SHA256, v.Nodes)
	return v, nil
}

func (b *clusterBackend) DeleteVCD(ctx context.Context, name string) error {
	c := b.c
	if err := checkVCDName(name); err != nil {
		return err
	}
	if c.vms != nil && slices.Contains(c.vms.usingCD(), name) {
		return api.Conflict(fmt.Sprintf("VCD %s is used by a VM", name))
	}
	err := os.Remove(c.vcdPath(name))
	os.Remove(c.vcdPath(name) + ".sha256")
	if c.runner.Status().Connected {
		if perr := c.peerDo(ctx, "DELETE", "/peer/v1/vcds/"+name, nil, nil, 10*time.Second); perr == nil {
			err = nil
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("VCD %q: %w", name, api.ErrNotFound)
	}
	return err
}

// copyVCDToPeer streams a stored VCD to the peer service.
func (c *clusterd) copyVCDToPeer(ctx context.Context, name string) error {
	f, err := os.Open(c.vcdPath(name))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return c.peerRaw(ctx, "PUT", "/peer/v1/vcds/"+name, f, st.Size(), nil, 30*time.Minute)
}

// vcdPeerRoutes take and list VCDs for the other node.
func (c *clusterd) vcdPeerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /peer/v1/vcds", func(w http.ResponseWriter, r *http.Request) {
		v, err := c.localVCDs()
		if err != nil {
			writePeer(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
			return
		}
		writePeer(w, http.StatusOK, v)
	})
	mux.HandleFunc("PUT /peer/v1/vcds/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := checkVCDName(name); err != nil {
			writePeer(w, http.StatusBadRequest, api.Error{Error: err.Error(), Code: api.CodeBadParameter})
			return
		}
		if _, err := c.storeVCD(name, r.ContentLength, r.Body); err != nil {
			writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
			return
		}
		writePeer(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("DELETE /peer/v1/vcds/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := checkVCDName(name); err != nil {
			writePeer(w, http.StatusBadRequest, api.Error{Error: err.Error(), Code: api.CodeBadParameter})
			return
		}
		os.Remove(c.vcdPath(name))
		os.Remove(c.vcdPath(name) + ".sha256")
		writePeer(w, http.StatusOK, struct{}{})
	})
}

// syncVCDs copies to the peer the VCDs it lacks or holds another copy of
// (uploaded while it was away).
func (c *clusterd) syncVCDs(ctx context.Context) error {
	own, err := c.localVCDs()
	if err != nil || len(own) == 0 {
		return err
	}
	var theirs []api.VCD
	if err := c.peerDo(ctx, "GET", "/peer/v1/vcds", nil, &theirs, 10*time.Second); err != nil {
		return err
	}
	var errs []error
	for _, v := range own {
		if slices.ContainsFunc(theirs, func(p api.VCD) bool { return p.Name == v.Name && p.SHA256 == v.SHA256 }) {
			continue
		}
		if err := c.copyVCDToPeer(ctx, v.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
			continue
		}
		c.vmLogf("vcd: copied %s to the peer", v.Name)
	}
	return errors.Join(errs...)
}
