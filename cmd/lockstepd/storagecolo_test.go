package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/storage/storagetest"
)

const lvsOfLsv3 = `{"report":[{"lv":[{"lv_name":"lsv3","lv_size":"71303168","lv_tags":""}]}]}`

func TestFTVolumesSkipDRBD(t *testing.T) {
	v := ha.Volume{Name: "root", Group: "storage0", Minor: 3, SizeMiB: 64, Replication: ha.ReplicationCOLO}
	f := (&storagetest.Fake{}).
		On("drbdsetup events2 --now --statistics lsv3", storagetest.Result{}).
		On("lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags storage0", storagetest.Result{Stdout: lvsOfLsv3}).
		On("blkdiscard --zeroout --offset 67108864 --length 4194304 /dev/storage0/lsv3", storagetest.Result{}).
		On("lvremove -y storage0/lsv3", storagetest.Result{})
	s := testStorage(f)
	s.confDir = t.TempDir()
	ctx := context.Background()
	for i := 0; i < 2; i++ { // the second Ensure has nothing to do
		if err := s.Ensure(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Promote(ctx, v, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AllowTwoPrimaries(ctx, v, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Demote(ctx, v); err != nil {
		t.Fatal(err)
	}
	if got := s.Status(v); got != (volumeState{}) {
		t.Errorf("status %+v", got)
	}
	want := []string{"drbdsetup events2 --now --statistics lsv3",
		"lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags storage0",
		"blkdiscard --zeroout --offset 67108864 --length 4194304 /dev/storage0/lsv3"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q\nwant  %q", got, want)
	}
	if err := s.Remove(ctx, v); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "drbdadm") {
			t.Errorf("an FT volume ran %q", c)
		}
	}
	if !slices.Contains(f.Calls(), "lvremove -y storage0/lsv3") {
		t.Errorf("calls %q: the logical volume stays", f.Calls())
	}
}

func TestFTVolumeFromHATakesDRBDDownFirst(t *testing.T) {
	v := ha.Volume{Name: "root", Group: "storage0", Minor: 3, SizeMiB: 64, Replication: ha.ReplicationCOLO,
		GuestBytes: 67108864 + 1048576} // DRBD gave the HA guest a little more
	f := (&storagetest.Fake{}).
		On("drbdsetup events2 --now --statistics lsv3", storagetest.Result{Stdout: connectedToPrimaryPeer}).
		On("drbdadm -c /c down lsv3", storagetest.Result{}).
		On("lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags storage0", storagetest.Result{Stdout: lvsOfLsv3}).
		On("blkdiscard --zeroout --offset 68157440 --length 3145728 /dev/storage0/lsv3", storagetest.Result{})
	s := testStorage(f)
	s.confDir = t.TempDir()
	if err := s.Ensure(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if d, z := slices.Index(calls, "drbdadm -c /c down lsv3"), slices.Index(calls, "blkdiscard --zeroout --offset 68157440 --length 3145728 /dev/storage0/lsv3"); d < 0 || z < d {
		t.Errorf("calls %q: want DRBD down, then its metadata zeroed (beyond the guest's bytes)", calls)
	}
}

func TestFirstSyncOfAnFTVolumeChangedToHAComesFromItsCurrentCopy(t *testing.T) {
	v := ha.Volume{Name: "root", Group: "storage0", Minor: 3, SizeMiB: 64, Current: "node1"}
	f := (&storagetest.Fake{}).
		On("drbdsetup events2 --now --statistics lsv3", storagetest.Result{Stdout: "exists resource name:lsv3 role:Secondary suspended:no\n" +
			"exists device name:lsv3 volume:0 minor:3 disk:Inconsistent\nexists -\n"}).
		On("drbdadm -c /c primary lsv3", storagetest.Result{Err: errors.New("refused")}).
		On("drbdadm -c /c get-gi lsv3", storagetest.Result{Stdout: justCreated + ":0000000000000000:0000000000000000:0000000000000000:0:0:0:0:0:0\n"})
	s := testStorage(f) // node0
	err := s.Promote(context.Background(), v, false)
	if err == nil || !strings.Contains(err.Error(), "only node1 has its current data") {
		t.Fatalf("err %v", err)
	}
	if slices.Contains(f.Calls(), "drbdadm -c /c primary --force lsv3") {
		t.Errorf("forced a stale copy: %q", f.Calls())
	}
}

func TestDeviceBytesReadsSysfs(t *testing.T) {
	s := testStorage(&storagetest.Fake{})
	s.sysRoot = t.TempDir()
	dir := filepath.Join(s.sysRoot, "block", "drbd3")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "size"), []byte("133120\n"), 0o644)
	if b, err := s.DeviceBytes(ha.Volume{Minor: 3}); err != nil || b != 133120*512 {
		t.Errorf("%d %v", b, err)
	}
}
