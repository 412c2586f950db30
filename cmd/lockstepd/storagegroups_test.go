package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
	"github.com/lockstep-ft/lockstep/agent/storage/storagetest"
)

// vgsCmd and pvsCmd are in storagedisks_test.go.

// vgsOut is vgs's report of volume groups given as "name:tags".
func vgsOut(vgs ...string) storagetest.Result {
	var rows []string
	for _, v := range vgs {
		name, tags, _ := strings.Cut(v, ":")
		rows = append(rows, fmt.Sprintf(`{"vg_name":%q,"vg_size":"107374182400","vg_free":"107374182400","vg_extent_size":"4194304","pv_count":"1","vg_tags":%q}`, name, tags))
	}
	return storagetest.Result{Stdout: `{"report":[{"vg":[` + strings.Join(rows, ",") + `]}]}`}
}

// pvsOut is pvs's report of physical volumes given as "device=vg".
func pvsOut(pvs ...string) storagetest.Result {
	var rows []string
	for _, p := range pvs {
		dev, vg, _ := strings.Cut(p, "=")
		rows = append(rows, fmt.Sprintf(`{"pv_name":%q,"vg_name":%q}`, dev, vg))
	}
	return storagetest.Result{Stdout: `{"report":[{"pv":[` + strings.Join(rows, ",") + `]}]}`}
}

// nodeTree is a node's fixture /dev (devTree's disks), /sys and /proc:
// vda is the system disk (STATE on vda5, storage0 on vda6), sdb has a
// partition mounted, sdd is held by a device-mapper device, dm-7 is a
// multipath device LVM is not set to use, and lvm-pv-uuid-… is udev's
// link to a partition.
func nodeTree(t *testing.T) (dev string, g *groupDisks, f *storagetest.Fake) {
	t.Helper()
	dev, r := devTree(t)
	root := filepath.Dir(dev)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(s), 0o644))
	}
	write(filepath.Join(dev, "dm-7"), "")
	must(os.Symlink("../../dm-7", filepath.Join(dev, "disk/by-id/dm-name-mpatha")))
	must(os.Symlink("../../sdb1", filepath.Join(dev, "disk/by-id/lvm-pv-uuid-Xq3b7c")))
	must(os.MkdirAll(filepath.Join(dev, "storage0"), 0o755)) // the group's /dev/<name>
	sys := filepath.Join(root, "sys")
	blk := filepath.Join(sys, "class/block")
	for _, d := range []string{"vda", "vdb", "sdb", "sdc", "sdd", "nvme0n1", "dm-7"} {
		must(os.MkdirAll(filepath.Join(blk, d, "holders"), 0o755))
	}
	for _, p := range []string{"vda/vda5", "vda/vda6", "sdb/sdb1"} {
		write(filepath.Join(blk, p, "partition"), p[len(p)-1:]+"\n")
		must(os.MkdirAll(filepath.Join(blk, p, "holders"), 0o755))
		must(os.Symlink(p, filepath.Join(blk, filepath.Base(p))))
	}
	must(os.MkdirAll(filepath.Join(blk, "sdd/holders/dm-3"), 0o755))
	must(os.MkdirAll(filepath.Join(blk, "vda/vda6/holders/dm-0"), 0o755))
	must(os.MkdirAll(filepath.Join(sys, "dev/block"), 0o755))
	must(os.Symlink("../../class/block/vda/vda5", filepath.Join(sys, "dev/block/252:5")))
	must(os.Symlink("../../class/block/sdb/sdb1", filepath.Join(sys, "dev/block/8:17")))
	proc := filepath.Join(root, "proc")
	write(filepath.Join(proc, "self/mountinfo"), "22 1 0:21 / / rw,relatime - tmpfs tmpfs rw\n"+
		"30 22 252:5 / /var/lib/lockstep rw,relatime - ext4 /dev/vda5 rw\n"+
		"31 22 8:17 / /srv/old\\040data rw,relatime - ext4 /dev/sdb1 rw\n"+
		"32 22 0:5 / /proc rw - proc proc rw\n")
	write(filepath.Join(proc, "swaps"), "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
	f = &storagetest.Fake{}
	g = &groupDisks{run: f, lvm: &lvm.Manager{Runner: f}, resolver: r, procRoot: proc, sysRoot: sys, devRoot: dev, logf: t.Logf}
	return dev, g, f
}

// scriptNode answers a node's reads: storage0 (on vda6) and fast (on the
// NVMe drive) are its storage groups, debian-vg a volume group of
// another install; vdb is blank and sdc has a GPT.
func scriptNode(f *storagetest.Fake, dev string) {
	f.On(vgsCmd, vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep")).
		On(pvsCmd, pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast")).
		On("wipefs -n -p "+dev+"/vdb", storagetest.Result{}).
		On("wipefs -n -p "+dev+"/sdc", storagetest.Result{Stdout: "0x200,,,gpt\n0x3fffe00,,,gpt\n0x1fe,,,PMBR\n"})
}

// writes are the commands that change something, in order.
func writes(f *storagetest.Fake) []string {
	var out []string
	for _, c := range f.Calls() {
		if !strings.HasPrefix(c, "vgs ") && !strings.HasPrefix(c, "pvs ") && !strings.HasPrefix(c, "lvs ") && !strings.HasPrefix(c, "wipefs -n ") {
			out = append(out, c)
		}
	}
	return out
}

func TestStorageGroupChecks(t *testing.T) {
	dev, g, f := nodeTree(t)
	scriptNode(f, dev)
	ctx := context.Background()
	c, err := g.Check(ctx, groupSide{Group: "big", Disks: []string{
		"serial:lockstep-sys",      // vda: the system disk
		"serial:S45NNA0M1234",      // sdb: a partition mounted
		"ata-CHEAP_DISK_B_DUP0001", // sdd: held by dm-3
		"wwn:eui.0025388b71b2d5a1", // nvme0n1: in storage group fast
		"ata-CHEAP_DISK_A_DUP0001", // sdc: a GPT on it
		"dm-name-mpatha",           // not a device LVM may use
		"lvm-pv-uuid-Xq3b7c",       // a partition
		"serial:nope",
		"serial:lockstep-data",  // vdb: blank
		"path:pci-0000:00:03.0", // vdb again
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf(`disk "serial:lockstep-sys" (%s/vda) is the system disk (it holds /var/lib/lockstep)`, dev),
		fmt.Sprintf(`disk "serial:S45NNA0M1234" (%s/sdb) is in use: sdb1 is mounted at /srv/old data`, dev),
		fmt.Sprintf(`disk "ata-CHEAP_DISK_B_DUP0001" (%s/sdd) is in use: held by dm-3`, dev),
		fmt.Sprintf(`disk "wwn:eui.0025388b71b2d5a1" (%s/nvme0n1) is in storage group "fast" already`, dev),
		fmt.Sprintf(`disk "ata-CHEAP_DISK_A_DUP0001" (%s/sdc) is not blank: gpt partition table, PMBR partition table; to use it, erase it (--erase)`, dev),
		fmt.Sprintf(`disk "dm-name-mpatha" (%s/dm-7): LVM here uses sd*, vd*, hd*, xvd*, nvme*, md* and cciss* devices only`, dev),
		fmt.Sprintf(`disk "lvm-pv-uuid-Xq3b7c" (%s/sdb1) is a partition: give a whole disk`, dev),
		fmt.Sprintf(`storage disk "serial:nope": no such disk under %s/disk/by-id or %s/disk/by-path`, dev, dev),
		fmt.Sprintf(`disks "serial:lockstep-data" and "path:pci-0000:00:03.0" are both %s/vdb`, dev),
	}
	if !slices.Equal(c.Problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(c.Problems, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Disks) != 1 || c.Disks[0].ID != "serial:lockstep-data" || c.Disks[0].Device != dev+"/vdb" || c.Disks[0].Found != nil {
		t.Errorf("disks that passed: %+v", c.Disks)
	}
	// Only the blank disk and the one with a GPT were read by wipefs.
	var read []string
	for _, cmd := range f.Calls() {
		if strings.HasPrefix(cmd, "wipefs") {
			read = append(read, strings.TrimPrefix(cmd, "wipefs -n -p "+dev+"/"))
		}
	}
	if !slices.Equal(read, []string{"sdc", "vdb"}) {
		t.Errorf("wipefs read %q", read)
	}
	if w := writes(f); len(w) != 0 {
		t.Errorf("a check wrote: %q", w)
	}

	// With erase the GPT is what would be wiped; a disk in use stays
	// refused.
	c, err = g.Check(ctx, groupSide{Group: "big", Erase: true, Disks: []string{"ata-CHEAP_DISK_A_DUP0001", "serial:S45NNA0M1234"}})
	if err != nil || len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "is in use") ||
		len(c.Disks) != 1 || !slices.Equal(c.Disks[0].Found, []string{"gpt partition table", "PMBR partition table"}) {
		t.Errorf("erase: %+v, %v", c, err)
	}

	// The group's name.
	for group, want := range map[string]string{
		"storage0":  `storage group "storage0" exists; add disks to it with extend`,
		"debian-vg": `a volume group named "debian-vg" exists here (not a storage group); choose another name`,
		"sdb":       fmt.Sprintf("%s/sdb exists: a storage group's /dev/<name> must not be taken; choose another name", dev),
		"../etc":    `storage group name "../etc": use 1 to 32 lower-case letters, digits and '-', starting with a letter`,
	} {
		c, err := g.Check(ctx, groupSide{Group: group, Disks: []string{"serial:lockstep-data"}})
		if err != nil || !slices.Equal(c.Problems, []string{want}) {
			t.Errorf("create %s: %q, %v; want %q", group, c.Problems, err, want)
		}
	}
	for group, want := range map[string]string{"storage0": "", "debian-vg": `no storage group "debian-vg" here`, "new": `no storage group "new" here`} {
		c, err := g.Check(ctx, groupSide{Group: group, Extend: true, Disks: []string{"serial:lockstep-data"}})
		if err != nil || strings.Join(c.Problems, "") != want {
			t.Errorf("extend %s: %q, %v; want %q", group, c.Problems, err, want)
		}
	}
}

// httpPeer is node1's part through its peer routes, as the primary calls
// them (without the mutual TLS).
type httpPeer struct{ url string }

func (p httpPeer) do(ctx context.Context, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, "POST", p.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodePeer(resp, out)
}

func (p httpPeer) check(ctx context.Context, side groupSide) (out sideCheck, err error) {
	return out, p.do(ctx, "/peer/v1/storage/check", side, &out)
}

func (p httpPeer) apply(ctx context.Context, side groupSide) (out groupInfo, err error) {
	return out, p.do(ctx, "/peer/v1/storage/apply", side, &out)
}

func (p httpPeer) groups(ctx context.Context) ([]groupInfo, error) {
	return nil, errors.New("not asked in these tests")
}

// twoNodes is node0 (the primary, run here) and node1 behind its peer
// routes; script scripts each node's fake given its /dev.
func twoNodes(t *testing.T, script func(node int, f *storagetest.Fake, dev string)) (v groupVerb, f0, f1 *storagetest.Fake, dev0, dev1 string) {
	t.Helper()
	dev0, g0, f0 := nodeTree(t)
	dev1, g1, f1 := nodeTree(t)
	script(0, f0, dev0)
	script(1, f1, dev1)
	mux := http.NewServeMux()
	storagePeerRoutes(mux, g1)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return groupVerb{self: "node0", peer: "node1", local: g0, remote: httpPeer{url: srv.URL}, logf: t.Logf}, f0, f1, dev0, dev1
}

func TestStorageGroupCreateOnBothNodes(t *testing.T) {
	v, f0, f1, dev0, dev1 := twoNodes(t, func(_ int, f *storagetest.Fake, dev string) {
		scriptNode(f, dev)
		before := vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep")
		f.On(vgsCmd, before, before, before, vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep", "big:lockstep"))
		pvs := pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast")
		f.On(pvsCmd, pvs, pvs, pvs, pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast", dev+"/vdb=big"))
		f.On("pvcreate "+dev+"/vdb", storagetest.Result{}).On("vgcreate --addtag lockstep big "+dev+"/vdb", storagetest.Result{})
	})
	spec := api.StorageGroupSpec{Name: "big", Disks: map[string][]string{"node0": {"serial:lockstep-data"}, "node1": {"path:pci-0000:00:03.0"}}}
	if err := v.run(context.Background(), spec, false); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		f   *storagetest.Fake
		dev string
	}{{f0, dev0}, {f1, dev1}} {
		want := []string{"pvcreate " + c.dev + "/vdb", "vgcreate --addtag lockstep big " + c.dev + "/vdb"}
		if got := writes(c.f); !slices.Equal(got, want) {
			t.Errorf("node%d wrote %q, want %q", i, got, want)
		}
	}
}

func TestStorageGroupEraseOnlyWhenAsked(t *testing.T) {
	script := func(node int, f *storagetest.Fake, dev string) {
		scriptNode(f, dev)
		disk := map[int]string{0: "sdc", 1: "vdb"}[node]
		before := vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep")
		f.On(vgsCmd, before, before, before, vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep", "big:lockstep"))
		pvs := pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast")
		f.On(pvsCmd, pvs, pvs, pvs, pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast", dev+"/"+disk+"=big"))
		f.On("wipefs -a "+dev+"/sdc", storagetest.Result{}).
			On("pvcreate "+dev+"/sdc", storagetest.Result{}).
			On("vgcreate --addtag lockstep big "+dev+"/sdc", storagetest.Result{}).
			On("pvcreate "+dev+"/vdb", storagetest.Result{}).
			On("vgcreate --addtag lockstep big "+dev+"/vdb", storagetest.Result{})
	}
	spec := api.StorageGroupSpec{Name: "big", Disks: map[string][]string{"node0": {"ata-CHEAP_DISK_A_DUP0001"}, "node1": {"serial:lockstep-data"}}}

	// Without erase: refused, with what was found, and nothing written on
	// either node.
	v, f0, f1, dev0, _ := twoNodes(t, script)
	err := v.run(context.Background(), spec, false)
	var bs *api.BadSpecError
	want := fmt.Sprintf(`node0: disk "ata-CHEAP_DISK_A_DUP0001" (%s/sdc) is not blank: gpt partition table, PMBR partition table; to use it, erase it (--erase)`, dev0)
	if !errors.As(err, &bs) || !slices.Equal(bs.Problems, []string{want}) {
		t.Fatalf("without erase: %v", err)
	}
	if len(writes(f0))+len(writes(f1)) != 0 {
		t.Errorf("a refused request wrote: %q %q", writes(f0), writes(f1))
	}
	// node1 checked its side too before the refusal.
	if !slices.Contains(f1.Calls(), pvsCmd) {
		t.Errorf("node1 was not asked to check: %q", f1.Calls())
	}

	// With erase: the GPT is wiped before pvcreate; the blank disk on
	// node1 is not wiped.
	v, f0, f1, dev0, dev1 := twoNodes(t, script)
	spec.Erase = true
	if err := v.run(context.Background(), spec, false); err != nil {
		t.Fatal(err)
	}
	if got, want := writes(f0), []string{"wipefs -a " + dev0 + "/sdc", "pvcreate " + dev0 + "/sdc", "vgcreate --addtag lockstep big " + dev0 + "/sdc"}; !slices.Equal(got, want) {
		t.Errorf("node0 wrote %q, want %q", got, want)
	}
	if got, want := writes(f1), []string{"pvcreate " + dev1 + "/vdb", "vgcreate --addtag lockstep big " + dev1 + "/vdb"}; !slices.Equal(got, want) {
		t.Errorf("node1 wrote %q, want %q", got, want)
	}
}

func TestStorageGroupCreateUndoneWhenThePeerFails(t *testing.T) {
	v, f0, f1, dev0, dev1 := twoNodes(t, func(node int, f *storagetest.Fake, dev string) {
		scriptNode(f, dev)
		before := vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep")
		pvs := pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast")
		f.On("pvcreate "+dev+"/vdb", storagetest.Result{})
		if node == 0 {
			f.On(vgsCmd, before, before, before, vgsOut("debian-vg:", "fast:lockstep", "storage0:lockstep", "big:lockstep"))
			f.On(pvsCmd, pvs, pvs, pvs, pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast", dev+"/vdb=big"))
			f.On("vgcreate --addtag lockstep big "+dev+"/vdb", storagetest.Result{}).
				On("lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags big", storagetest.Result{Stdout: `{"report":[{"lv":[]}]}`}).
				On("vgremove big", storagetest.Result{}).
				On("pvremove "+dev+"/vdb", storagetest.Result{})
		} else {
			// vgcreate fails; pvs then shows the disk as a PV in no group.
			f.On(pvsCmd, pvs, pvs, pvs, pvsOut(dev+"/vda6=storage0", dev+"/nvme0n1=fast", dev+"/vdb="))
			f.On("vgcreate --addtag lockstep big "+dev+"/vdb", storagetest.Result{Stderr: "  Device " + dev + "/vdb excluded by a filter.", Err: errors.New("exit status 5")}).
				On("pvremove "+dev+"/vdb", storagetest.Result{})
		}
	})
	spec := api.StorageGroupSpec{Name: "big", Disks: map[string][]string{"node0": {"serial:lockstep-data"}, "node1": {"serial:lockstep-data"}}}
	err := v.run(context.Background(), spec, false)
	want := fmt.Sprintf("node1: vgcreate --addtag lockstep big %s/vdb: exit status 5: Device %s/vdb excluded by a filter.; node0's side was undone (storage group big removed again)", dev1, dev1)
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if got, want := writes(f0), []string{"pvcreate " + dev0 + "/vdb", "vgcreate --addtag lockstep big " + dev0 + "/vdb", "vgremove big", "pvremove " + dev0 + "/vdb"}; !slices.Equal(got, want) {
		t.Errorf("node0 wrote %q, want %q", got, want)
	}
	// node1 took its own half-made physical volume back.
	if got, want := writes(f1), []string{"pvcreate " + dev1 + "/vdb", "vgcreate --addtag lockstep big " + dev1 + "/vdb", "pvremove " + dev1 + "/vdb"}; !slices.Equal(got, want) {
		t.Errorf("node1 wrote %q, want %q", got, want)
	}
}

func TestStorageGroupExtendUndoneWhenThePeerFails(t *testing.T) {
	v, f0, f1, dev0, dev1 := twoNodes(t, func(node int, f *storagetest.Fake, dev string) {
		scriptNode(f, dev)
		f.On("pvcreate "+dev+"/vdb", storagetest.Result{})
		if node == 0 {
			f.On("vgextend storage0 "+dev+"/vdb", storagetest.Result{}).
				On("vgreduce storage0 "+dev+"/vdb", storagetest.Result{}).
				On("pvremove "+dev+"/vdb", storagetest.Result{})
		} else {
			f.On("vgextend storage0 "+dev+"/vdb", storagetest.Result{Err: errors.New("exit status 5")}).
				On("pvremove "+dev+"/vdb", storagetest.Result{})
		}
	})
	spec := api.StorageGroupSpec{Name: "storage0", Disks: map[string][]string{"node0": {"serial:lockstep-data"}, "node1": {"serial:lockstep-data"}}}
	err := v.run(context.Background(), spec, true)
	if err == nil || !strings.HasPrefix(err.Error(), "node1: vgextend storage0 "+dev1+"/vdb: exit status 5") ||
		!strings.HasSuffix(err.Error(), "node0's side was undone (its disks taken out of storage0 again)") {
		t.Errorf("error: %v", err)
	}
	if got, want := writes(f0), []string{"pvcreate " + dev0 + "/vdb", "vgextend storage0 " + dev0 + "/vdb", "vgreduce storage0 " + dev0 + "/vdb", "pvremove " + dev0 + "/vdb"}; !slices.Equal(got, want) {
		t.Errorf("node0 wrote %q, want %q", got, want)
	}
	if w := writes(f1); len(w) != 2 || w[1] != "vgextend storage0 "+dev1+"/vdb" {
		t.Errorf("node1 wrote %q", w)
	}
}

// silentPeer passes its check and never answers its apply.
type silentPeer struct {
	dev    string
	has    []groupInfo
	hasErr error
}

func (p silentPeer) check(context.Context, groupSide) (sideCheck, error) {
	return sideCheck{Disks: []diskCheck{{ID: "serial:x", Device: p.dev}}}, nil
}
func (p silentPeer) apply(context.Context, groupSide) (groupInfo, error) {
	return groupInfo{}, errors.New("context deadline exceeded")
}
func (p silentPeer) groups(context.Context) ([]groupInfo, error) { return p.has, p.hasErr }

func TestStorageGroupPeerWithoutAnswer(t *testing.T) {
	spec := api.StorageGroupSpec{Name: "big", Disks: map[string][]string{"node0": {"serial:lockstep-data"}, "node1": {"serial:x"}}}
	for _, c := range []struct {
		name   string
		peer   silentPeer
		errHas string // "" success
	}{
		// The peer made its side all the same: nothing to undo.
		{"made", silentPeer{dev: "/dev/sdx", has: []groupInfo{{Name: "big", GroupSpace: api.GroupSpace{Devices: []string{"/dev/sdx"}}}}}, ""},
		// It cannot be asked: this node's side is kept, and the error says so.
		{"unknown", silentPeer{dev: "/dev/sdx", hasErr: errors.New("no route to host")}, "node1 did not answer (context deadline exceeded), nor after (no route to host): whether it has its side of storage group big is not known, and node0's side is kept"},
		// It has not: undone as for a refusal.
		{"not made", silentPeer{dev: "/dev/sdx"}, "node1: context deadline exceeded; node0's side was undone (storage group big removed again)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev, g, f := nodeTree(t)
			scriptNode(f, dev)
			before := vgsOut("storage0:lockstep")
			f.On(vgsCmd, before, before, before, vgsOut("storage0:lockstep", "big:lockstep"))
			pvs := pvsOut(dev + "/vda6=storage0")
			f.On(pvsCmd, pvs, pvs, pvs, pvsOut(dev+"/vda6=storage0", dev+"/vdb=big"))
			f.On("pvcreate "+dev+"/vdb", storagetest.Result{}).On("vgcreate --addtag lockstep big "+dev+"/vdb", storagetest.Result{}).
				On("lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags big", storagetest.Result{Stdout: `{"report":[{"lv":[]}]}`}).
				On("vgremove big", storagetest.Result{}).On("pvremove "+dev+"/vdb", storagetest.Result{})
			v := groupVerb{self: "node0", peer: "node1", local: g, remote: c.peer, logf: t.Logf}
			err := v.run(context.Background(), spec, false)
			if c.errHas == "" && err != nil || c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)) {
				t.Errorf("run: %v; want %q", err, c.errHas)
			}
			undone := slices.Contains(writes(f), "vgremove big")
			if undone != (c.name == "not made") {
				t.Errorf("wrote %q", writes(f))
			}
		})
	}
}

func TestStorageVerbRefusal(t *testing.T) {
	ok := api.StorageGroupSpec{Name: "big", Disks: map[string][]string{"node0": {"serial:a"}, "node1": {"serial:b"}}}
	up := verbState{primary: true, connected: true, systemIP: "192.0.2.100", peer: "node1",
		groups: []api.StorageGroup{{Name: "fast"}, {Name: "storage0"}}}
	away := up
	away.connected = false
	secondary := up
	secondary.primary = false
	for _, c := range []struct {
		st     verbState
		spec   api.StorageGroupSpec
		extend bool
		want   string
	}{
		{up, ok, false, ""},
		{away, ok, false, "node1 is not connected: a storage group is on both nodes, so both must be up to make or extend one; nothing was changed"},
		{secondary, ok, false, "this node is not the primary: send storage changes to the system IP 192.0.2.100"},
		{up, api.StorageGroupSpec{Name: "Big_1", Disks: map[string][]string{"node0": {"a", "a"}, "node2": {"b"}}}, false,
			`storage group name "Big_1": use 1 to 32 lower-case letters, digits and '-', starting with a letter; ` +
				`disks of "node2": the nodes are node0 and node1; node0: disk "a" is given twice; ` +
				`node1: no disks: a storage group needs disks on both nodes (--disk node1=<id>)`},
		{up, ok, true, `no storage group "big"; the storage groups are fast, storage0`},
		{up, api.StorageGroupSpec{Name: "fast", Disks: ok.Disks}, true, ""},
		{away, api.StorageGroupSpec{Name: "fast", Disks: ok.Disks}, true, "node1 is not connected"},
	} {
		err := storageVerbRefusal(c.st, c.spec, c.extend)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)) {
			t.Errorf("%+v %+v extend %t: %v; want %q", c.st, c.spec, c.extend, err, c.want)
		}
	}
	var cf *api.ConflictError
	if !errors.As(storageVerbRefusal(away, ok, false), &cf) {
		t.Error("the peer away is not a conflict")
	}
}

func TestSignatures(t *testing.T) {
	f := (&storagetest.Fake{}).On("wipefs -n -p /dev/sdx", storagetest.Result{Stdout: "# offset,uuid,label,type\n" +
		"0x438,e81e0d04-d024-492c-a02a-4f4b5e67084a,,ext4\n0x218,Xq3b7c-8a,,LVM2_member\n0x1000,5f0c2a9e:8d7b4c13,lab:0,linux_raid_member\n" +
		"0x3ffff000,,,drbd\n0x0,,data\\x2c old,xfs\n0x0,,,isw_raid_member\n0x0,,,weird\n"})
	g := &groupDisks{run: f}
	got, err := g.signatures(context.Background(), "/dev/sdx")
	want := []string{"ext4 file system (UUID e81e0d04-d024-492c-a02a-4f4b5e67084a)", "LVM physical volume (UUID Xq3b7c-8a)",
		`md RAID metadata (label "lab:0")`, "DRBD metadata", `xfs file system (label "data\\x2c old")`, "isw RAID metadata", "weird signature"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("signatures:\n%q\nwant\n%q (%v)", got, want, err)
	}
}

func TestPickGroup(t *testing.T) {
	res := func(groups ...[]string) map[string]nodeResources {
		out := map[string]nodeResources{}
		for i, gs := range groups {
			var r nodeResources
			for _, g := range gs {
				r.Groups = append(r.Groups, groupInfo{Name: g})
			}
			out[nodeName(i)] = r
		}
		return out
	}
	for _, c := range []struct {
		name      string
		res       map[string]nodeResources
		want, bad string
	}{
		{"", res([]string{"fast", "storage0"}, []string{"fast", "storage0"}), "storage0", ""}, // the install's group, not the first by name
		{"", res([]string{"fast", "slow"}, []string{"slow", "fast"}), "fast", ""},
		{"fast", res([]string{"fast", "storage0"}, []string{"storage0", "fast"}), "fast", ""},
		{"nope", res([]string{"fast", "storage0"}, []string{"fast", "storage0"}), "nope", `no storage group "nope"; the storage groups are fast, storage0`},
		{"big", res([]string{"big", "storage0"}, []string{"storage0"}), "big", `storage group "big" is on node0 only, not on node1; the storage groups are storage0`},
		{"", res([]string{"big"}, []string{"storage0"}), "", "the nodes share no storage group"},
		{"", res([]string{}), "", "node0 has no storage group"},
		{"fast", res([]string{"fast"}), "fast", ""}, // the peer away: this node's view
	} {
		g, p := pickGroup(c.name, c.res)
		if g != c.want || p != c.bad {
			t.Errorf("pickGroup(%q) = %q, %q; want %q, %q", c.name, g, p, c.want, c.bad)
		}
	}
}

func TestGroupSpaceProblems(t *testing.T) {
	const mib = 1 << 20
	res := map[string]nodeResources{
		"node0": {Groups: []groupInfo{{Name: "fast", GroupSpace: api.GroupSpace{FreeBytes: 900 * mib}}, {Name: "storage0", GroupSpace: api.GroupSpace{FreeBytes: 100 << 30}}}},
		"node1": {Groups: []groupInfo{{Name: "fast", GroupSpace: api.GroupSpace{FreeBytes: 2000 * mib}}, {Name: "storage0", GroupSpace: api.GroupSpace{FreeBytes: 5000 * mib}}}},
	}
	// fast's usable space is node0's; storage0's is node1's.
	got := groupSpaceProblems(map[string]int64{"storage0": 6000, "fast": 1000}, res)
	want := []string{"storage group fast on node0 has 900 MiB free; the volumes need 1000 MiB",
		"storage group storage0 on node1 has 5000 MiB free; the volumes need 6000 MiB"}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q\nwant %q", got, want)
	}
	if got := groupSpaceProblems(map[string]int64{"storage0": 4000, "fast": 800}, res); len(got) != 0 {
		t.Errorf("problems %q", got)
	}
}

// A VM's volume names its group with VolumeSpec.Group: the record keeps
// it, an unknown group is refused with the list, and its space is
// checked per group.
func TestVMVolumesInStorageGroups(t *testing.T) {
	s := testVMService(t, node1Links())
	tab := s.mgr.Table()
	const gib = 1 << 30
	res := map[string]nodeResources{
		"node0": {Groups: []groupInfo{{Name: "fast", GroupSpace: api.GroupSpace{FreeBytes: 10 * gib}}, {Name: "storage0", GroupSpace: api.GroupSpace{FreeBytes: 500 * gib}}}},
		"node1": {Groups: []groupInfo{{Name: "fast", GroupSpace: api.GroupSpace{FreeBytes: 20 * gib}}, {Name: "storage0", GroupSpace: api.GroupSpace{FreeBytes: 500 * gib}}}},
	}
	spec := api.VMSpec{Name: "web", Mode: api.ModeHA, VCPUs: 1, MemoryMiB: 512,
		Volumes: []api.VolumeSpec{{Name: "sys", SizeMiB: 8 << 10, Group: "fast"}, {Name: "data", SizeMiB: 100 << 10}}}
	r, err := s.newRecord(spec, tab, res)
	if err != nil {
		t.Fatal(err)
	}
	if r.Volumes[0].Group != "fast" || r.Volumes[1].Group != "storage0" || r.Spec.Volumes[1].Group != "storage0" {
		t.Errorf("volumes %+v, spec %+v", r.Volumes, r.Spec.Volumes)
	}
	spec.Volumes = []api.VolumeSpec{{Name: "sys", SizeMiB: 12 << 10, Group: "fast"}, {Name: "data", SizeMiB: 1 << 10, Group: "slow"}}
	_, err = s.newRecord(spec, tab, res)
	var bs *api.BadSpecError
	want := []string{`volume "data": no storage group "slow"; the storage groups are fast, storage0`,
		"storage group fast on node0 has 10240 MiB free; the volumes need 12288 MiB"}
	if !errors.As(err, &bs) || !slices.Equal(bs.Problems, want) {
		t.Errorf("problems %v\nwant %q", err, want)
	}
}
