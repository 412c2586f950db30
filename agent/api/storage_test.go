package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

var newGroup = api.StorageGroupSpec{Name: "big", Disks: map[string][]string{
	"node0": {"serial:S5GXNF0R100001"}, "node1": {"serial:S5GXNF0R200001"}}}

func TestStorageCreateExtend(t *testing.T) {
	e := start(t, nil)
	resp, b := e.do("POST", "/api/v1/storage", "basic:"+apitest.Password, newGroup)
	expect(t, resp, b, 201, "")
	var g api.StorageGroup
	if err := json.Unmarshal(b, &g); err != nil || g.Name != "big" || !slices.Equal(g.Nodes["node1"].Devices, []string{"/dev/sdd"}) || g.SizeBytes == 0 {
		t.Errorf("created %s (%v)", b, err)
	}
	if l := get[api.StorageList](e, "/api/v1/storage"); len(l.Groups) != 3 {
		t.Errorf("%d groups after create", len(l.Groups))
	}
	ext := api.StorageGroupSpec{Disks: map[string][]string{"node0": {"wwn:naa.5002538e4a1b2c3d"}, "node1": {"wwn:naa.5002538e4a1b9f00"}}, Erase: true}
	resp, b = e.do("POST", "/api/v1/storage/fast/disks", "basic:"+apitest.Password, ext)
	expect(t, resp, b, 200, "")
	if err := json.Unmarshal(b, &g); err != nil || g.Name != "fast" || len(g.Nodes["node0"].Devices) != 2 {
		t.Errorf("extended %s (%v)", b, err)
	}
	named := ext
	named.Name = "fast"
	e.check([]vmCase{
		{"POST", "/api/v1/storage", newGroup, 400, api.CodeBadParameter, `storage group "big" exists`},
		{"POST", "/api/v1/storage", api.StorageGroupSpec{Name: "x", Disks: map[string][]string{"node0": {"serial:nope"}}}, 400, api.CodeBadParameter,
			`node0: storage disk "serial:nope": no such disk`},
		{"POST", "/api/v1/storage", raw(`{"name":"x","disk":{}}`), 400, api.CodeBadRequest, `unknown field "disk"`},
		{"POST", "/api/v1/storage", raw(`{"name":"x","disks":{"node0":"a"}}`), 400, api.CodeBadRequest, "cannot unmarshal string"},
		{"POST", "/api/v1/storage/fast/disks", named, 400, api.CodeBadParameter, "no such disk"}, // the same name is fine
		{"POST", "/api/v1/storage/fast/disks", api.StorageGroupSpec{Name: "sg0"}, 400, api.CodeBadParameter, `name "sg0" is not the path's group "fast": leave it out`},
		{"POST", "/api/v1/storage/nope/disks", ext, 400, api.CodeBadParameter, `no storage group "nope"; the storage groups are sg0, fast, big`},
		{"GET", "/api/v1/storage/fast/disks", nil, 405, api.CodeMethodNotAllowed, "GET /api/v1/storage/fast/disks: use POST"},
		{"DELETE", "/api/v1/storage", nil, 405, api.CodeMethodNotAllowed, "use GET or POST"},
		{"GET", "/api/v1/storage/fast", nil, 404, api.CodeNotFound, "no such endpoint"},
	})
	// The peer away, or a node's side that failed, as the agent says it.
	e.backend.SetActionErr("storage create", api.Conflict("node1 is not connected: a storage group is on both nodes"))
	e.backend.SetActionErr("storage extend", fmt.Errorf("node1: vgextend fast /dev/sde: exit status 5; node0's side was undone (its disks taken out of fast again)"))
	e.check([]vmCase{
		{"POST", "/api/v1/storage", newGroup, 409, api.CodeConflict, "node1 is not connected"},
		{"POST", "/api/v1/storage/fast/disks", ext, 500, api.CodeInternal, "node0's side was undone"},
	})
	want := "[storage create big storage extend fast storage create big storage create x storage extend fast storage extend nope storage create big storage extend fast]"
	if got := fmt.Sprint(e.backend.CallLog()); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}
}

// TestStorageJSON pins the wire format of the storage-group verbs. Run
// with -update to rewrite testdata/.
func TestStorageJSON(t *testing.T) {
	e := start(t, nil)
	auth := "basic:" + apitest.Password
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"storage_create", "POST", "/api/v1/storage", newGroup},
		{"storage_extend", "POST", "/api/v1/storage/sg0/disks", api.StorageGroupSpec{
			Disks: map[string][]string{"node0": {"wwn:naa.5002538e4a1b2c3d"}, "node1": {"wwn:naa.5002538e4a1b9f00"}}, Erase: true}},
		{"storage_refused", "POST", "/api/v1/storage", api.StorageGroupSpec{Name: "new", Disks: map[string][]string{
			"node0": {"wwn:naa.5002538e4a1b2c3d"}, "node1": {"wwn:naa.5002538e4a1b9f00"}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "storage_refused" {
				e.backend.Edit(func(b *apitest.Backend) {
					b.Disks["node0"]["wwn:naa.5002538e4a1b2c3d"] = apitest.Disk{Device: "/dev/sde", Found: "gpt partition table, PMBR partition table"}
					b.Disks["node1"]["wwn:naa.5002538e4a1b9f00"] = apitest.Disk{Device: "/dev/sde", Found: `ext4 file system (label "old")`}
				})
			}
			_, b := e.do(c.method, c.path, auth, c.body)
			golden.RequireEqual(t, b)
		})
	}
}

func TestStorageBackendErrors(t *testing.T) {
	e := start(t, nil)
	e.backend.SetErr(fmt.Errorf("storage: %w", api.NotSupported("storage groups")))
	e.check([]vmCase{
		{"POST", "/api/v1/storage", newGroup, 501, api.CodeNotSupported, "not supported yet: storage groups"},
		{"POST", "/api/v1/storage/sg0/disks", newGroup, 400, api.CodeBadParameter, `name "big" is not the path's group "sg0"`},
		{"POST", "/api/v1/storage/sg0/disks", api.StorageGroupSpec{Disks: newGroup.Disks}, 501, api.CodeNotSupported, "storage groups"},
	})
}
