package qmp_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/agent/qmp/qmptest"
)

// Each wrapper must send exactly the command and arguments of QEMU's QAPI
// schema (and the COLO-FT guide): compared as decoded JSON.
func TestWrappersSendSchemaJSON(t *testing.T) {
	tests := []struct {
		name string
		call func(context.Context, *qmp.Client) error
		cmd  string
		args string // "" for no "arguments" member
		oob  bool
	}{
		{"Cont", func(ctx context.Context, c *qmp.Client) error { return c.Cont(ctx) }, "cont", "", false},
		{"Stop", func(ctx context.Context, c *qmp.Client) error { return c.Stop(ctx) }, "stop", "", false},
		{"Quit", func(ctx context.Context, c *qmp.Client) error { return c.Quit(ctx) }, "quit", "", false},
		{"QueryStatus", func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryStatus(ctx); return err }, "query-status", "", false},
		{"QueryVersion", func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryVersion(ctx); return err }, "query-version", "", false},
		{"MigrateSetCapabilities", func(ctx context.Context, c *qmp.Client) error {
			return c.MigrateSetCapabilities(ctx, map[string]bool{"x-colo": true, "events": true, "auto-converge": false})
		}, "migrate-set-capabilities", `{"capabilities":[
			{"capability":"auto-converge","state":false},
			{"capability":"events","state":true},
			{"capability":"x-colo","state":true}]}`, false},
		{"MigrateSetParameters", func(ctx context.Context, c *qmp.Client) error {
			return c.MigrateSetParameters(ctx, qmp.MigrationParameters{
				XCheckpointDelay: new(uint32(2000)), MaxBandwidth: new(uint64(0)), DowntimeLimit: new(uint64(300)),
			})
		}, "migrate-set-parameters", `{"x-checkpoint-delay":2000,"max-bandwidth":0,"downtime-limit":300}`, false},
		{"MigrateSetParametersPartial", func(ctx context.Context, c *qmp.Client) error {
			return c.MigrateSetParameters(ctx, qmp.MigrationParameters{XCheckpointDelay: new(uint32(100))})
		}, "migrate-set-parameters", `{"x-checkpoint-delay":100}`, false},
		{"Migrate", func(ctx context.Context, c *qmp.Client) error { return c.Migrate(ctx, "tcp:10.0.0.2:9998") },
			"migrate", `{"uri":"tcp:10.0.0.2:9998"}`, false},
		{"MigrateIncoming", func(ctx context.Context, c *qmp.Client) error { return c.MigrateIncoming(ctx, "tcp:0.0.0.0:9998") },
			"migrate-incoming", `{"uri":"tcp:0.0.0.0:9998"}`, false},
		{"MigrateCancel", func(ctx context.Context, c *qmp.Client) error { return c.MigrateCancel(ctx) }, "migrate_cancel", "", false},
		{"QueryMigrate", func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryMigrate(ctx); return err }, "query-migrate", "", false},
		{"QueryColoStatus", func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryColoStatus(ctx); return err }, "query-colo-status", "", false},
		{"XColoLostHeartbeat", func(ctx context.Context, c *qmp.Client) error { return c.XColoLostHeartbeat(ctx) }, "x-colo-lost-heartbeat", "", false},
		{"NBDServerStart", func(ctx context.Context, c *qmp.Client) error { return c.NBDServerStart(ctx, "10.0.0.2", "9999") },
			"nbd-server-start", `{"addr":{"type":"inet","data":{"host":"10.0.0.2","port":"9999"}}}`, false},
		{"NBDServerAdd", func(ctx context.Context, c *qmp.Client) error { return c.NBDServerAdd(ctx, "parent0", true) },
			"nbd-server-add", `{"device":"parent0","writable":true}`, false},
		{"BlockExportAddNBD", func(ctx context.Context, c *qmp.Client) error {
			return c.BlockExportAddNBD(ctx, "exp0", "parent0", true)
		},
			"block-export-add", `{"type":"nbd","id":"exp0","node-name":"parent0","writable":true}`, false},
		{"BlockExportDel", func(ctx context.Context, c *qmp.Client) error { return c.BlockExportDel(ctx, "exp0") },
			"block-export-del", `{"id":"exp0"}`, false},
		{"NBDServerStop", func(ctx context.Context, c *qmp.Client) error { return c.NBDServerStop(ctx) }, "nbd-server-stop", "", false},
		{"BlockdevAdd", func(ctx context.Context, c *qmp.Client) error {
			return c.BlockdevAdd(ctx, map[string]any{"driver": "qcow2", "node-name": "hidden0",
				"file": map[string]any{"driver": "file", "filename": "/run/h.qcow2"}})
		}, "blockdev-add", `{"driver":"qcow2","node-name":"hidden0","file":{"driver":"file","filename":"/run/h.qcow2"}}`, false},
		{"BlockdevDel", func(ctx context.Context, c *qmp.Client) error { return c.BlockdevDel(ctx, "hidden0") },
			"blockdev-del", `{"node-name":"hidden0"}`, false},
		{"XBlockdevChangeAdd", func(ctx context.Context, c *qmp.Client) error {
			return c.XBlockdevChange(ctx, "colo-disk0", "", "replication0")
		},
			"x-blockdev-change", `{"parent":"colo-disk0","node":"replication0"}`, false},
		{"XBlockdevChangeRemove", func(ctx context.Context, c *qmp.Client) error {
			return c.XBlockdevChange(ctx, "colo-disk0", "children.1", "")
		},
			"x-blockdev-change", `{"parent":"colo-disk0","child":"children.1"}`, false},
		{"DriveMirror", func(ctx context.Context, c *qmp.Client) error {
			return c.DriveMirror(ctx, qmp.DriveMirrorOptions{JobID: "resync", Device: "colo-disk0",
				Target: "nbd://10.0.0.2:9999/parent0", Mode: "existing", Format: "raw", Sync: "full"})
		}, "drive-mirror", `{"job-id":"resync","device":"colo-disk0","target":"nbd://10.0.0.2:9999/parent0","mode":"existing","format":"raw","sync":"full"}`, false},
		{"BlockdevMirror", func(ctx context.Context, c *qmp.Client) error {
			return c.BlockdevMirror(ctx, qmp.BlockdevMirrorOptions{JobID: "resync", Device: "colo-disk0", Target: "nbd0", Sync: "full"})
		}, "blockdev-mirror", `{"job-id":"resync","device":"colo-disk0","target":"nbd0","sync":"full"}`, false},
		{"QueryBlockJobs", func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryBlockJobs(ctx); return err }, "query-block-jobs", "", false},
		{"BlockJobCancel", func(ctx context.Context, c *qmp.Client) error { return c.BlockJobCancel(ctx, "resync", false) },
			"block-job-cancel", `{"device":"resync"}`, false},
		{"BlockJobCancelForce", func(ctx context.Context, c *qmp.Client) error { return c.BlockJobCancel(ctx, "resync", true) },
			"block-job-cancel", `{"device":"resync","force":true}`, false},
		{"BlockJobComplete", func(ctx context.Context, c *qmp.Client) error { return c.BlockJobComplete(ctx, "resync") },
			"block-job-complete", `{"device":"resync"}`, false},
		{"Yank", func(ctx context.Context, c *qmp.Client) error {
			return c.Yank(ctx, []qmp.YankInstance{qmp.YankMigration(), qmp.YankBlockNode("nbd0"), qmp.YankChardev("red0")})
		}, "yank", `{"instances":[{"type":"migration"},{"type":"block-node","node-name":"nbd0"},{"type":"chardev","id":"red0"}]}`, true},
		{"YankNone", func(ctx context.Context, c *qmp.Client) error { return c.Yank(ctx, nil) }, "yank", `{"instances":[]}`, true},
		{"QueryYank", func(ctx context.Context, c *qmp.Client) error { _, err := c.QueryYank(ctx); return err }, "query-yank", "", true},
		{"ObjectAdd", func(ctx context.Context, c *qmp.Client) error {
			return c.ObjectAdd(ctx, "colo-compare", "comp0", map[string]any{
				"primary_in": "compare0-0", "secondary_in": "compare1", "outdev": "compare_out0", "iothread": "iothread1"})
		}, "object-add", `{"qom-type":"colo-compare","id":"comp0","primary_in":"compare0-0","secondary_in":"compare1","outdev":"compare_out0","iothread":"iothread1"}`, false},
		{"ObjectAddNoProps", func(ctx context.Context, c *qmp.Client) error { return c.ObjectAdd(ctx, "iothread", "iothread1", nil) },
			"object-add", `{"qom-type":"iothread","id":"iothread1"}`, false},
		{"ObjectDel", func(ctx context.Context, c *qmp.Client) error { return c.ObjectDel(ctx, "comp0") }, "object-del", `{"id":"comp0"}`, false},
		{"ChardevRemove", func(ctx context.Context, c *qmp.Client) error { return c.ChardevRemove(ctx, "red0") }, "chardev-remove", `{"id":"red0"}`, false},
		{"HumanMonitorCommand", func(ctx context.Context, c *qmp.Client) error {
			_, err := c.HumanMonitorCommand(ctx, "drive_del replication0")
			return err
		}, "human-monitor-command", `{"command-line":"drive_del replication0"}`, false},
	}
	srv := qmptest.New(t)
	srv.Return("human-monitor-command", "")
	srv.Return("query-block-jobs", []any{})
	srv.Return("query-yank", []any{})
	c := srv.Client()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Commands())
			if err := tt.call(testCtx(t), c); err != nil {
				t.Fatal(err)
			}
			cmds := srv.Commands()[before:]
			if len(cmds) != 1 {
				t.Fatalf("sent %d commands, want 1: %+v", len(cmds), cmds)
			}
			got := cmds[0]
			if got.Name != tt.cmd || got.OOB != tt.oob {
				t.Errorf("sent %q (oob %v), want %q (oob %v)", got.Name, got.OOB, tt.cmd, tt.oob)
			}
			if tt.args == "" {
				if got.RawArgs != nil {
					t.Errorf("sent arguments %s, want none", got.RawArgs)
				}
				return
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.args), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Args, want) {
				t.Errorf("arguments\n got %s\nwant %s", got.RawArgs, tt.args)
			}
		})
	}
}

func TestYankInBandWithoutOOB(t *testing.T) {
	srv := qmptest.New(t, qmptest.WithoutOOB())
	c := srv.Client()
	if err := c.Yank(testCtx(t), []qmp.YankInstance{qmp.YankMigration()}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Named("yank"); len(got) != 1 || got[0].OOB {
		t.Errorf("yank = %+v, want one in-band", got)
	}
}

func TestObjectAddRejectsReservedProps(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	if err := c.ObjectAdd(testCtx(t), "iothread", "io0", map[string]any{"id": "other"}); err == nil {
		t.Error("ObjectAdd accepted an id property that would override its id")
	}
	if got := srv.Named("object-add"); len(got) != 0 {
		t.Errorf("sent %+v", got)
	}
}

func TestWrappersDecodeReplies(t *testing.T) {
	srv := qmptest.New(t)
	srv.Return("query-status", map[string]any{"running": false, "status": "inmigrate"})
	srv.Return("query-version", map[string]any{"qemu": map[string]int{"major": 11, "minor": 1, "micro": 3}, "package": "Debian 1:11.1.3"})
	srv.Return("query-migrate", json.RawMessage(`{"status":"colo","total-time":1234,"setup-time":5,
		"ram":{"transferred":100,"remaining":0,"total":2048,"mbps":9.5,"dirty-sync-count":7,"page-size":4096},
		"x-future-field":true}`))
	srv.Return("query-colo-status", map[string]string{"mode": "none", "last-mode": "secondary", "reason": "request"})
	srv.Return("query-block-jobs", json.RawMessage(`[{"type":"mirror","device":"resync","len":10,"offset":10,
		"busy":false,"paused":false,"speed":0,"io-status":"ok","ready":true,"status":"ready",
		"auto-finalize":true,"auto-dismiss":true}]`))
	srv.Return("query-yank", json.RawMessage(`[{"type":"block-node","node-name":"nbd0"},{"type":"migration"}]`))
	srv.Return("human-monitor-command", "OK\r\n")
	c := srv.Client()
	ctx := testCtx(t)

	if s, err := c.QueryStatus(ctx); err != nil || s != (qmp.Status{Running: false, Status: "inmigrate"}) {
		t.Errorf("QueryStatus = %+v, %v", s, err)
	}
	if v, err := c.QueryVersion(ctx); err != nil || v != (qmp.Version{Major: 11, Minor: 1, Micro: 3, Package: "Debian 1:11.1.3"}) {
		t.Errorf("QueryVersion = %+v, %v", v, err)
	}
	mi, err := c.QueryMigrate(ctx)
	if err != nil || mi.Status != qmp.MigrationColo || mi.TotalTime != 1234 || mi.RAM == nil ||
		mi.RAM.Total != 2048 || mi.RAM.Mbps != 9.5 || mi.RAM.PageSize != 4096 {
		t.Errorf("QueryMigrate = %+v (ram %+v), %v", mi, mi.RAM, err)
	}
	var raw map[string]any
	if json.Unmarshal(mi.Raw, &raw) != nil || raw["x-future-field"] != true {
		t.Errorf("QueryMigrate Raw lost fields: %s", mi.Raw)
	}
	if cs, err := c.QueryColoStatus(ctx); err != nil || cs != (qmp.ColoStatus{Mode: "none", LastMode: "secondary", Reason: "request"}) {
		t.Errorf("QueryColoStatus = %+v, %v", cs, err)
	}
	jobs, err := c.QueryBlockJobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].Device != "resync" || !jobs[0].Ready || jobs[0].Status != "ready" || jobs[0].IOStatus != "ok" {
		t.Errorf("QueryBlockJobs = %+v, %v", jobs, err)
	}
	yanks, err := c.QueryYank(ctx)
	if err != nil || !reflect.DeepEqual(yanks, []qmp.YankInstance{qmp.YankBlockNode("nbd0"), qmp.YankMigration()}) {
		t.Errorf("QueryYank = %+v, %v", yanks, err)
	}
	if out, err := c.HumanMonitorCommand(ctx, "info status"); err != nil || out != "OK\r\n" {
		t.Errorf("HumanMonitorCommand = %q, %v", out, err)
	}
}

func TestQuitToleratesExit(t *testing.T) {
	srv := qmptest.New(t)
	srv.Handle("quit", func(ctx context.Context, _ qmptest.Command) (any, error) {
		srv.CloseConnections() // QEMU exiting before the reply reached us
		return nil, nil
	})
	c := srv.Client()
	if err := c.Quit(testCtx(t)); err != nil {
		t.Errorf("Quit = %v, want nil when QEMU exits", err)
	}
}

func TestQuitOnDeadConnectionFails(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	srv.CloseConnections()
	<-c.Done()
	if err := c.Quit(testCtx(t)); err == nil {
		t.Error("Quit on a connection lost beforehand = nil")
	}
}
