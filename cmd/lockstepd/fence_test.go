package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/vm"
)

type fakeFence struct {
	running    []string
	listErr    error
	destroyErr map[string]error
	ipErr      error

	destroyed []string
	released  bool
}

func (f *fakeFence) RunningDomains() ([]string, error) { return f.running, f.listErr }
func (f *fakeFence) DestroyDomain(name string) error {
	if err := f.destroyErr[name]; err != nil {
		return err
	}
	f.destroyed = append(f.destroyed, name)
	return nil
}
func (f *fakeFence) ReleaseSystemIP() error {
	f.released = true
	return f.ipErr
}

func TestFenceStopsTheSystemsVMsAndReleasesTheSystemIP(t *testing.T) {
	table := &ha.Table{VMs: map[string]*ha.Record{"web": {}, "db": {}, "stopped": {}}}
	f := &fakeFence{running: []string{"db", "other", "web"}}
	if err := fence(table, f, t.Logf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.destroyed, []string{"db", "web"}) || !f.released {
		t.Errorf("destroyed %q, released the system IP %v: want db and web (not the domain outside the table), and the IP", f.destroyed, f.released)
	}
}

func TestFenceDoesWhatItCanAndReportsTheRest(t *testing.T) {
	table := &ha.Table{VMs: map[string]*ha.Record{"web": {}, "db": {}}}
	f := &fakeFence{running: []string{"db", "web"}, destroyErr: map[string]error{"db": errors.New("libvirt: busy")},
		ipErr: errors.New("netlink: permission denied")}
	err := fence(table, f, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "vm db: libvirt: busy") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error %v: want db's failure and the IP's", err)
	}
	if !slices.Equal(f.destroyed, []string{"web"}) || !f.released {
		t.Errorf("destroyed %q, released %v: one failure must not stop the rest", f.destroyed, f.released)
	}
	f = &fakeFence{listErr: errors.New("libvirt: no connection")}
	if err := fence(table, f, t.Logf); err == nil || !f.released {
		t.Errorf("listing failed: error %v, released %v: want the error and the IP released anyway", err, f.released)
	}
}

// The node's targets against libvirt's test driver (its predefined
// domain "test" runs): the fence lists and destroys it through libvirt.
func TestNodeFenceDestroysThroughLibvirt(t *testing.T) {
	lv, err := vm.Open("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Close()
	table := &ha.Table{VMs: map[string]*ha.Record{"test": {}}}
	if err := fence(table, nodeFence{lv: lv}, t.Logf); err != nil {
		t.Fatal(err)
	}
	running, err := nodeFence{lv: lv}.RunningDomains()
	if err != nil || slices.Contains(running, "test") {
		t.Errorf("running after the fence: %q %v", running, err)
	}
}
