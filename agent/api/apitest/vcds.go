package apitest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

var vcdName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// seedVCDs gives the fake system the VCD that web has inserted, on both
// nodes.
func (b *Backend) seedVCDs() {
	sum := sha256.Sum256([]byte("debian-13.iso"))
	b.VCDList = []api.VCD{{Name: "debian-13.iso", SizeBytes: 783 << 20, SHA256: hex.EncodeToString(sum[:]), Nodes: []string{"node0", "node1"}}}
}

// checkVCD records call and refuses, as the agent does, a bad name or a
// VCD that a running VM has inserted.
func (b *Backend) checkVCD(call, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record(call + " " + name); err != nil {
		return err
	}
	if !vcdName.MatchString(name) {
		return &api.BadSpecError{Problems: []string{fmt.Sprintf("VCD name %q: use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit", name)}}
	}
	for _, vm := range b.VMList {
		if vm.CD == name && vm.State == api.VMRunning {
			return api.Conflict(fmt.Sprintf("VCD %s is inserted in VM %s, which is running", name, vm.Name))
		}
	}
	return nil
}

func (b *Backend) VCDs(context.Context) ([]api.VCD, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.VCDList), b.Err
}

// PutVCD keeps the size and SHA-256 of what it reads, on both nodes.
func (b *Backend) PutVCD(_ context.Context, name string, size int64, r io.Reader) (api.VCD, error) {
	if err := b.checkVCD("vcd put", name); err != nil {
		return api.VCD{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, r) // unlocked: an upload takes its time
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("VCD %s: got %d bytes of %d", name, n, size)
	}
	if err != nil {
		return api.VCD{}, err
	}
	v := api.VCD{Name: name, SizeBytes: n, SHA256: hex.EncodeToString(h.Sum(nil)), Nodes: []string{"node0", "node1"}}
	b.mu.Lock()
	defer b.mu.Unlock()
	i, found := slices.BinarySearchFunc(b.VCDList, name, func(v api.VCD, n string) int { return strings.Compare(v.Name, n) })
	if found {
		b.VCDList[i] = v
	} else {
		b.VCDList = slices.Insert(b.VCDList, i, v)
	}
	return v, nil
}

func (b *Backend) DeleteVCD(_ context.Context, name string) error {
	if err := b.checkVCD("vcd delete", name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.VCDList, func(v api.VCD) bool { return v.Name == name })
	if i < 0 {
		return fmt.Errorf("no VCD %q: %w", name, api.ErrNotFound)
	}
	b.VCDList = slices.Delete(b.VCDList, i, i+1)
	return nil
}
