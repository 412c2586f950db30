package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// vmCase is one request of a table and what must come back.
type vmCase struct {
	method, path string
	body         any
	status       int
	code, msg    string // code "" for a success; msg a part of the error
}

func (e *env) check(cases []vmCase) {
	e.t.Helper()
	for _, c := range cases {
		resp, b := e.do(c.method, c.path, "basic:"+apitest.Password, c.body)
		expect(e.t, resp, b, c.status, c.code)
		if c.code != "" {
			var er api.Error
			_ = json.Unmarshal(b, &er)
			if !strings.Contains(er.Error, c.msg) {
				e.t.Errorf("%s %s: %q does not say %q", c.method, c.path, er.Error, c.msg)
			}
		}
	}
}

// get decodes a 200 answer into T.
func get[T any](e *env, path string) T {
	e.t.Helper()
	resp, b := e.do("GET", path, "basic:"+apitest.Password, nil)
	expect(e.t, resp, b, 200, "")
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return v
}

var newVM = api.VMSpec{Name: "app", Mode: api.ModeHA, VCPUs: 2, MemoryMiB: 2048,
	Volumes: []api.VolumeSpec{{Name: "app-sys", SizeMiB: 10240, Group: "fast"}}, NICs: []api.NICSpec{{Network: "biz0"}}}

func TestVMCreateModifyDelete(t *testing.T) {
	e := start(t, nil)
	if l := get[api.VMList](e, "/api/v1/vms"); len(l.VMs) != 2 || l.VMs[0].Name != "db" || l.VMs[1].State != api.VMRunning {
		t.Fatalf("vms %+v", l)
	}
	resp, b := e.do("POST", "/api/v1/vms", "basic:"+apitest.Password, newVM)
	expect(t, resp, b, 201, "")
	if loc := resp.Header.Get("Location"); loc != "/api/v1/vms/app" {
		t.Errorf("Location %q", loc)
	}
	var vm api.VM
	if err := json.Unmarshal(b, &vm); err != nil || vm.State != api.VMStopped || vm.NICs[0].MAC == "" || vm.Volumes[0].Sync != "in-sync" {
		t.Errorf("created %s (%v)", b, err)
	}
	if l := get[api.VMList](e, "/api/v1/vms"); len(l.VMs) != 3 {
		t.Errorf("%d VMs after create", len(l.VMs))
	}
	big := newVM
	big.Name, big.VCPUs, big.MemoryMiB = "big", 20, 200<<10
	e.check([]vmCase{
		{"POST", "/api/v1/vms", newVM, 409, api.CodeConflict, `a VM named "app" exists`},
		{"POST", "/api/v1/vms", big, 409, api.CodeNoCapacity, "vCPUs: 20 + 1 for HA = 21 needed, 8 free; memory: 204800 MiB"},
		{"POST", "/api/v1/vms", api.VMSpec{Name: "x y", Mode: "ft2", VCPUs: 21, MemoryMiB: 1}, 400, api.CodeBadParameter, `name "x y"`},
		{"POST", "/api/v1/vms", raw(`{"name":"a","vcpu":2}`), 400, api.CodeBadRequest, `unknown field "vcpu"`},
		{"POST", "/api/v1/vms", raw(`{"name":`), 400, api.CodeBadRequest, "body: unexpected EOF"},
		{"POST", "/api/v1/vms", raw(`{"name":"a","vcpus":"2"}`), 400, api.CodeBadRequest, "cannot unmarshal string"},
		{"POST", "/api/v1/vms", raw(`{"name":"a"} {}`), 400, api.CodeBadRequest, "data after the JSON object"},
		{"POST", "/api/v1/vms", raw(``), 400, api.CodeBadRequest, "empty body"},
		{"POST", "/api/v1/vms", raw(`{"name":"` + strings.Repeat("a", 70<<10) + `"}`), 413, api.CodeBadRequest, "body larger than 65536 bytes"},
		{"PATCH", "/api/v1/vms/web", api.VMSpec{VCPUs: 2}, 409, api.CodeConflict, "VM web is running: shut it down"},
		{"PATCH", "/api/v1/vms/nope", api.VMSpec{VCPUs: 2}, 404, api.CodeNotFound, `no VM "nope"`},
		{"PATCH", "/api/v1/vms/db", raw(`{"memory":4096}`), 400, api.CodeBadRequest, `unknown field "memory"`},
		{"PATCH", "/api/v1/vms/db", api.VMSpec{VCPUs: 30}, 400, api.CodeBadParameter, "vcpus 30: want 1 to 20"},
		{"PATCH", "/api/v1/vms/db", api.VMSpec{MemoryMiB: 100 << 10}, 409, api.CodeNoCapacity, "memory: 102400 MiB + 20 % = 122880 MiB needed, 51609 MiB free"},
		{"DELETE", "/api/v1/vms/web", nil, 409, api.CodeConflict, "VM web is running"},
		{"DELETE", "/api/v1/vms/nope", nil, 404, api.CodeNotFound, `no VM "nope"`},
		{"GET", "/api/v1/vms/", nil, 404, api.CodeNotFound, "no such endpoint"},
		{"GET", "/api/v1/vms/a%2Fb", nil, 404, api.CodeNotFound, `no VM "a/b"`}, // unescaped, to the backend
	})

	// The fields given change; the others keep their value.
	vm = get[api.VM](e, "/api/v1/vms/db")
	resp, b = e.do("PATCH", "/api/v1/vms/db", "basic:"+apitest.Password, raw(`{"vcpus": 4, "mode": "ft"}`))
	expect(t, resp, b, 200, "")
	var mod api.VM
	if err := json.Unmarshal(b, &mod); err != nil || mod.VCPUs != 4 || mod.Mode != api.ModeFT || mod.MemoryMiB != vm.MemoryMiB || len(mod.NICs) != 1 || mod.Node != "node1" {
		t.Errorf("modified %s (%v)", b, err)
	}
	resp, b = e.do("DELETE", "/api/v1/vms/app", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 204, "")
	if len(b) != 0 {
		t.Errorf("204 with a body %q", b)
	}
	e.check([]vmCase{{"GET", "/api/v1/vms/app", nil, 404, api.CodeNotFound, `no VM "app"`}})
	want := "[vm create app vm create app vm create big vm create x y vm modify web vm modify nope vm modify db vm modify db vm delete web vm delete nope vm modify db vm delete app]"
	if got := fmt.Sprint(e.backend.CallLog()); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}
}

func TestVMActions(t *testing.T) {
	e := start(t, nil)
	for _, c := range []struct{ vm, action, state, on string }{
		{"db", "start", api.VMRunning, "node1"}, // its preferred node
		{"db", "migrate", api.VMRunning, "node0"},
		{"db", "shutdown", api.VMStopped, ""},
		{"web", "poweroff", api.VMStopped, ""},
	} {
		resp, b := e.do("POST", "/api/v1/vms/"+c.vm+"/"+c.action, "basic:"+apitest.Password, nil)
		expect(t, resp, b, 202, "")
		var r api.VMActionResult
		if err := json.Unmarshal(b, &r); err != nil || r != (api.VMActionResult{VM: c.vm, Action: c.action, Status: "accepted"}) {
			t.Errorf("%s %s: %s", c.action, c.vm, b)
		}
		if vm := get[api.VM](e, "/api/v1/vms/"+c.vm); vm.State != c.state || vm.RunningOn != c.on {
			t.Errorf("after %s: %s on %q, want %s on %q", c.action, vm.State, vm.RunningOn, c.state, c.on)
		}
	}
	e.backend.SetActionErr("vm start", api.NotSupported("VM start"))
	e.check([]vmCase{
		{"POST", "/api/v1/vms/db/shutdown", nil, 409, api.CodeConflict, "VM db is stopped"},
		{"POST", "/api/v1/vms/db/migrate", nil, 409, api.CodeConflict, "VM db is stopped"},
		{"POST", "/api/v1/vms/nope/poweroff", nil, 404, api.CodeNotFound, `no VM "nope"`},
		{"POST", "/api/v1/vms/db/start", nil, 501, api.CodeNotSupported, "not supported yet: VM start"},
		{"POST", "/api/v1/vms/db/explode", nil, 404, api.CodeNotFound, `no VM action "explode"; the actions are start, shutdown, poweroff, migrate (POST) and console (GET)`},
		{"GET", "/api/v1/vms/db/start", nil, 405, api.CodeMethodNotAllowed, "GET /api/v1/vms/db/start: use POST"},
		{"POST", "/api/v1/vms/db/console", nil, 405, api.CodeMethodNotAllowed, "use GET"},
		{"PUT", "/api/v1/vms/db", nil, 405, api.CodeMethodNotAllowed, "use GET, PATCH or DELETE"},
		{"DELETE", "/api/v1/vms", nil, 405, api.CodeMethodNotAllowed, "use GET or POST"},
		{"POST", "/api/v1/capacity", nil, 405, api.CodeMethodNotAllowed, "use GET"},
	})
	resp, _ := e.do("PUT", "/api/v1/vms/db", "basic:"+apitest.Password, nil)
	if a := resp.Header.Get("Allow"); a != "GET, PATCH, DELETE" {
		t.Errorf("Allow %q", a)
	}
	want := "[vm start db vm migrate db vm shutdown db vm poweroff web vm shutdown db vm migrate db vm poweroff nope vm start db]"
	if got := fmt.Sprint(e.backend.CallLog()); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}
}

func TestVMConsole(t *testing.T) {
	e := start(t, nil)
	auth := "basic:" + apitest.Password
	for path, want := range map[string]string{
		"/api/v1/vms/web/console":         "Debian GNU/Linux 13 web ttyS0\n\nweb login: ",
		"/api/v1/vms/web/console?bytes=7": "login: ",
		"/api/v1/vms/db/console":          "",
	} {
		resp, b := e.do("GET", path, auth, nil)
		if resp.StatusCode != 200 || string(b) != want || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: %s %q %q", path, resp.Status, resp.Header.Get("Content-Type"), b)
		}
	}
	// The bound holds even if the backend gives more than asked.
	e.backend.Edit(func(b *apitest.Backend) { b.Consoles["db"] = strings.Repeat("x", api.MaxConsoleBytes+10) })
	if _, b := e.do("GET", "/api/v1/vms/db/console?bytes=1048576", auth, nil); len(b) != api.MaxConsoleBytes {
		t.Errorf("%d bytes", len(b))
	}
	e.check([]vmCase{
		{"GET", "/api/v1/vms/web/console?bytes=0", nil, 400, api.CodeBadParameter, `parameter "bytes": "0" is not a number from 1 to 1048576`},
		{"GET", "/api/v1/vms/web/console?bytes=1048577", nil, 400, api.CodeBadParameter, `parameter "bytes"`},
		{"GET", "/api/v1/vms/web/console?bytes=1&bytes=2", nil, 400, api.CodeBadParameter, `"bytes" given 2 times`},
		{"GET", "/api/v1/vms/web/console?lines=5", nil, 400, api.CodeBadParameter, `unknown parameter "lines"`},
		{"GET", "/api/v1/vms/nope/console", nil, 404, api.CodeNotFound, `no VM "nope"`},
	})
}

func TestVMBackendErrors(t *testing.T) {
	e := start(t, nil)
	e.backend.SetErr(fmt.Errorf("vms: %w", api.NotSupported("vms")))
	var cases []vmCase
	for _, p := range []string{"/api/v1/vms", "/api/v1/vms/web", "/api/v1/storage", "/api/v1/capacity"} {
		cases = append(cases, vmCase{"GET", p, nil, 501, api.CodeNotSupported, "not supported yet: vms"})
	}
	e.check(append(cases,
		vmCase{"POST", "/api/v1/vms", newVM, 501, api.CodeNotSupported, "not supported yet: vms"},
		vmCase{"PATCH", "/api/v1/vms/db", api.VMSpec{VCPUs: 1}, 501, api.CodeNotSupported, "vms"},
		vmCase{"DELETE", "/api/v1/vms/db", nil, 501, api.CodeNotSupported, "vms"},
		vmCase{"GET", "/api/v1/vms/web/console", nil, 501, api.CodeNotSupported, "vms"},
	))
	// A wrapped typed error keeps its status, code and reasons.
	e.backend.SetErr(fmt.Errorf("create: %w", &api.CapacityError{Reasons: []string{"vCPUs: 1 short", "memory: 2 MiB short"}}))
	resp, b := e.do("POST", "/api/v1/vms", "basic:"+apitest.Password, newVM)
	expect(t, resp, b, 409, api.CodeNoCapacity)
	var er api.Error
	if err := json.Unmarshal(b, &er); err != nil || er.Error != "vCPUs: 1 short; memory: 2 MiB short" || len(er.Reasons) != 2 {
		t.Errorf("%s", b)
	}
}

// TestVMJSON pins the wire format of the VM, storage and capacity
// endpoints. Run with -update to rewrite testdata/.
func TestVMJSON(t *testing.T) {
	e := start(t, nil)
	auth := "basic:" + apitest.Password
	big := newVM
	big.Name, big.MemoryMiB = "big", 64<<10
	big.Volumes = []api.VolumeSpec{{Name: "big-sys", SizeMiB: 1 << 20, Group: "fast"}}
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"vms", "GET", "/api/v1/vms", nil},
		{"vm", "GET", "/api/v1/vms/db", nil},
		{"vm_create", "POST", "/api/v1/vms", newVM},
		{"vm_start", "POST", "/api/v1/vms/db/start", nil},
		{"storage", "GET", "/api/v1/storage", nil},
		{"capacity", "GET", "/api/v1/capacity", nil},
		{"no_capacity", "POST", "/api/v1/vms", big},
		{"bad_spec", "POST", "/api/v1/vms", api.VMSpec{Name: "-x", Mode: "ft", VCPUs: 2, MemoryMiB: 1024, NICs: []api.NICSpec{{}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, b := e.do(c.method, c.path, auth, c.body)
			golden.RequireEqual(t, b)
		})
	}
	t.Run("empty", func(t *testing.T) {
		e.backend.Edit(func(b *apitest.Backend) { b.VMList, b.Groups = nil, nil })
		_, b := e.do("GET", "/api/v1/vms", auth, nil)
		_, b2 := e.do("GET", "/api/v1/storage", auth, nil)
		golden.RequireEqual(t, append(b, b2...))
	})
}
