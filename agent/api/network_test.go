package api_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

var dmz = api.NetworkSpec{Name: "dmz", Ports: map[string]string{"node0": "enp11s0", "node1": "52:54:00:AA:BB:CC"}}

func TestNetworkCreateModifyDelete(t *testing.T) {
	e := start(t, nil)
	l := get[api.NetworkList](e, "/api/v1/networks")
	if len(l.Networks) != 2 || l.Networks[0].Name != "biz0" || fmt.Sprint(l.Networks[0].VMs) != "[db web]" ||
		l.Networks[1].State["node1"] != "port enp10s0 not found" || l.Networks[1].Bridge != "lsbr-biz1" {
		t.Fatalf("networks %+v", l)
	}
	resp, b := e.do("POST", "/api/v1/networks", "basic:"+apitest.Password, dmz)
	expect(t, resp, b, 201, "")
	if loc := resp.Header.Get("Location"); loc != "/api/v1/networks/dmz" {
		t.Errorf("Location %q", loc)
	}
	var n api.Network
	if err := json.Unmarshal(b, &n); err != nil || n.Ports["node1"] != "52:54:00:aa:bb:cc" || n.State["node0"] != api.NetworkOK || n.VMs == nil || len(n.VMs) != 0 {
		t.Errorf("created %s (%v)", b, err)
	}
	if n := get[api.Network](e, "/api/v1/networks/dmz"); n.Ports["node0"] != "enp11s0" {
		t.Errorf("GET dmz: %+v", n)
	}

	// A VM may use it now, and not a network that is not there.
	app := newVM
	app.NICs = []api.NICSpec{{Network: "dmz"}}
	resp, b = e.do("POST", "/api/v1/vms", "basic:"+apitest.Password, app)
	expect(t, resp, b, 201, "")
	bad := newVM
	bad.Name, bad.NICs = "bad", []api.NICSpec{{Network: "nope"}}
	e.check([]vmCase{
		{"POST", "/api/v1/vms", bad, 400, api.CodeBadParameter, `no business network "nope"`},
		{"PATCH", "/api/v1/vms/db", api.VMSpec{NICs: []api.NICSpec{{Network: "nope"}}}, 400, api.CodeBadParameter, `no business network "nope"`},
		{"POST", "/api/v1/networks", dmz, 409, api.CodeConflict, `network "dmz" exists`},
		{"POST", "/api/v1/networks", api.NetworkSpec{Name: "Way-too-long", Ports: dmz.Ports}, 400, api.CodeBadParameter, `network name "Way-too-long": use 1 to 10`},
		{"POST", "/api/v1/networks", api.NetworkSpec{Name: "lan", Ports: map[string]string{"node0": "ibiz0", "node1": "enp9s0"}}, 400, api.CodeBadParameter,
			"node0: port ibiz0: management, heartbeat and replication ports cannot carry guests; node1: port enp9s0 serves network biz0 already"},
		{"POST", "/api/v1/networks", api.NetworkSpec{Name: "lan", Ports: map[string]string{"node0": "enp12s0"}}, 400, api.CodeBadParameter, "node1: no port"},
		{"POST", "/api/v1/networks", raw(`{"name":"lan","port":{}}`), 400, api.CodeBadRequest, `unknown field "port"`},
		{"PUT", "/api/v1/networks/nope", api.NetworkSpec{Ports: map[string]string{"node0": "eth1"}}, 404, api.CodeNotFound, `network "nope": not found`},
		{"PUT", "/api/v1/networks/dmz", api.NetworkSpec{Name: "dmz2", Ports: map[string]string{"node0": "eth1"}}, 400, api.CodeBadParameter, "a network cannot be renamed"},
		{"PUT", "/api/v1/networks/dmz", api.NetworkSpec{}, 400, api.CodeBadParameter, "network dmz: give the port to change"},
		{"DELETE", "/api/v1/networks/dmz", nil, 409, api.CodeConflict, "network dmz is in use by VM app: move their NICs"},
		{"DELETE", "/api/v1/networks/biz0", nil, 409, api.CodeConflict, "in use by VM db, web"},
		{"DELETE", "/api/v1/networks/nope", nil, 404, api.CodeNotFound, `network "nope"`},
		{"GET", "/api/v1/networks/nope", nil, 404, api.CodeNotFound, `network "nope"`},
		{"PATCH", "/api/v1/networks/dmz", nil, 405, api.CodeMethodNotAllowed, "use GET, PUT or DELETE"},
		{"DELETE", "/api/v1/networks", nil, 405, api.CodeMethodNotAllowed, "use GET or POST"},
	})

	// Ports change while VMs use the network; the other node's stays.
	resp, b = e.do("PUT", "/api/v1/networks/dmz", "basic:"+apitest.Password, api.NetworkSpec{Ports: map[string]string{"node1": "enp13s0"}})
	expect(t, resp, b, 200, "")
	if err := json.Unmarshal(b, &n); err != nil || n.Ports["node0"] != "enp11s0" || n.Ports["node1"] != "enp13s0" || fmt.Sprint(n.VMs) != "[app]" {
		t.Errorf("modified %s (%v)", b, err)
	}
	resp, b = e.do("DELETE", "/api/v1/vms/app", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 204, "")
	resp, b = e.do("DELETE", "/api/v1/networks/dmz", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 204, "")
	e.check([]vmCase{{"GET", "/api/v1/networks/dmz", nil, 404, api.CodeNotFound, `network "dmz": not found`}})
	want := "[network create dmz vm create app vm create bad vm modify db network create dmz network create Way-too-long network create lan network create lan " +
		"network modify nope network modify dmz network modify dmz network delete dmz network delete biz0 network delete nope network modify dmz vm delete app network delete dmz]"
	if got := fmt.Sprint(e.backend.CallLog()); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}
}

func TestNetworkBackendErrors(t *testing.T) {
	e := start(t, nil)
	e.backend.SetErr(fmt.Errorf("networks: %w", api.Conflict("node1 cannot run VMs: no libvirt")))
	e.check([]vmCase{
		{"GET", "/api/v1/networks", nil, 409, api.CodeConflict, "node1 cannot run VMs: no libvirt"},
		{"GET", "/api/v1/networks/biz0", nil, 409, api.CodeConflict, "no libvirt"},
		{"POST", "/api/v1/networks", dmz, 409, api.CodeConflict, "no libvirt"},
		{"PUT", "/api/v1/networks/biz0", api.NetworkSpec{Ports: map[string]string{"node0": "eth1"}}, 409, api.CodeConflict, "no libvirt"},
		{"DELETE", "/api/v1/networks/biz0", nil, 409, api.CodeConflict, "no libvirt"},
	})
	e.backend.SetErr(nil)
	// Unauthenticated, nothing is said about networks.
	resp, b := e.do("GET", "/api/v1/networks", "", nil)
	expect(t, resp, b, 401, api.CodeAuthRequired)
}

// TestNetworkJSON pins the wire format of the network endpoints. Run
// with -update to rewrite testdata/.
func TestNetworkJSON(t *testing.T) {
	e := start(t, nil)
	auth := "basic:" + apitest.Password
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"networks", "GET", "/api/v1/networks", nil},
		{"network_create", "POST", "/api/v1/networks", dmz},
		{"network_modify", "PUT", "/api/v1/networks/biz1", api.NetworkSpec{Ports: map[string]string{"node1": "enp12s0"}}},
		{"bad_network", "POST", "/api/v1/networks", api.NetworkSpec{Name: "x", Ports: map[string]string{"node0": "alink0"}}},
		{"in_use", "DELETE", "/api/v1/networks/biz0", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, b := e.do(c.method, c.path, auth, c.body)
			golden.RequireEqual(t, b)
		})
	}
	t.Run("empty", func(t *testing.T) {
		e.backend.Edit(func(b *apitest.Backend) { b.NetworkList = nil })
		_, b := e.do("GET", "/api/v1/networks", auth, nil)
		golden.RequireEqual(t, b)
	})
}
