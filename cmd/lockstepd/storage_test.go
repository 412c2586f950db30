package main

import (
	"net/netip"

	"context"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"slices"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/storage/drbd"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
	"github.com/lockstep-ft/lockstep/agent/storage/storagetest"
)

// connectedToPrimaryPeer is drbdsetup's view on the survivor right after a
// power cut of the node running the VM: DRBD has not noticed yet.
const connectedToPrimaryPeer = "exists resource name:lsv3 role:Secondary suspended:no\n" +
	"exists connection name:lsv3 peer-node-id:0 conn-name:peer connection:Connected role:Primary\n" +
	"exists device name:lsv3 volume:0 minor:3 disk:UpToDate\n" +
	"exists peer-device name:lsv3 peer-node-id:0 conn-name:peer volume:0 replication:Established peer-disk:UpToDate\n" +
	"exists -\n"

func testStorage(f *storagetest.Fake) *drbdStorage {
	return &drbdStorage{run: f, lvm: &lvm.Manager{Runner: f}, adm: &drbd.Adm{Runner: f, Config: "/c"},
		rep:  netcfg.Replication{Link: "alink0", Local: netip.MustParsePrefix("169.254.100.1/24"), Peer: netip.MustParseAddr("169.254.100.2")},
		logf: func(string, ...any) {}, res: map[string]drbd.Resource{}, applied: map[string]drbd.Resource{}, states: map[string]drbd.State{}, resync: map[string]int64{}}
}

func TestPromoteAfterPeerLossDropsTheConnectionFirst(t *testing.T) {
	f := (&storagetest.Fake{}).
		On("drbdsetup events2 --now --statistics lsv3", storagetest.Result{Stdout: connectedToPrimaryPeer}).
		On("drbdadm -c /c disconnect --force lsv3", storagetest.Result{}).
		On("drbdadm -c /c primary lsv3", storagetest.Result{})
	v := ha.Volume{Name: "root", Minor: 3}
	if err := testStorage(f).Promote(context.Background(), v, true); err != nil {
		t.Fatal(err)
	}
	want := []string{"drbdsetup events2 --now --statistics lsv3", "drbdadm -c /c disconnect --force lsv3", "drbdadm -c /c primary lsv3"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("take-over ran %q, want %q", got, want)
	}

	// A plain start (the peer is there) never drops the connection.
	f = (&storagetest.Fake{}).
		On("drbdsetup events2 --now --statistics lsv3", storagetest.Result{Stdout: connectedToPrimaryPeer}).
		On("drbdadm -c /c primary lsv3", storagetest.Result{})
	if err := testStorage(f).Promote(context.Background(), v, false); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(f.Calls(), "drbdadm -c /c disconnect --force lsv3") {
		t.Errorf("a start with the peer present disconnected: %q", f.Calls())
	}
}

func TestEnsureOfAnAppliedResourceOnlyReadsItsState(t *testing.T) {
	v := ha.Volume{Name: "root", Group: "storage0", Minor: 3, SizeMiB: 64}
	f := (&storagetest.Fake{}).
		On("lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags storage0", storagetest.Result{Stdout: `{"report":[{"lv":[{"lv_name":"lsv3","lv_size":"71303168","lv_tags":"lockstep"}]}]}`}).
		On("drbdsetup events2 --now --statistics lsv3", storagetest.Result{Stdout: connectedToPrimaryPeer}).
		On("drbdadm -c /c adjust lsv3", storagetest.Result{})
	s := testStorage(f)
	s.confDir = t.TempDir()
	ctx := context.Background()
	if err := s.Ensure(ctx, v); err != nil {
		t.Fatal(err)
	}
	first := len(f.Calls())
	if !slices.Contains(f.Calls(), "drbdadm -c /c adjust lsv3") {
		t.Fatalf("the first Ensure of an up resource did not adjust it: %q", f.Calls())
	}
	if err := s.Ensure(ctx, v); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls()[first:]; !slices.Equal(got, []string{"drbdsetup events2 --now --statistics lsv3"}) {
		t.Errorf("the second Ensure ran %q, want only the state read", got)
	}
}
