package drbd

import (
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The testdata event streams are in drbdsetup-84's events2 --statistics
// format (user/v84/drbdsetup.c: print_notifications, event_key and the
// print_*_statistics functions), with the state sequences the 8.4 kernel
// goes through: connection states as drbd_conn_str9 prints them,
// replication as drbd_repl_str9, the split brain as drbd_sync_handshake
// runs its helpers before dropping the connection.

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Event
	}{
		{"exists resource name:r0 role:Primary suspended:no write-ordering:flush",
			Event{Action: Exists, Object: ObjResource, Resource: "r0", Volume: -1, Minor: -1,
				Props: map[string]string{"role": "Primary", "suspended": "no", "write-ordering": "flush"}}},
		{"exists device name:r0 volume:0 minor:1 disk:UpToDate size:31455260 read:2088 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no",
			Event{Action: Exists, Object: ObjDevice, Resource: "r0", Volume: 0, Minor: 1,
				Props: map[string]string{"disk": "UpToDate", "size": "31455260", "read": "2088", "written": "0", "al-writes": "0",
					"bm-writes": "0", "upper-pending": "0", "lower-pending": "0", "al-suspended": "no", "blocked": "no"}}},
		{"change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:SyncTarget peer-disk:UpToDate received:42 sent:0 out-of-sync:1024 pending:0 unacked:3",
			Event{Action: Change, Object: ObjPeerDevice, Resource: "r0", Volume: 0, Minor: -1,
				Props: map[string]string{"replication": "SyncTarget", "peer-disk": "UpToDate", "received": "42", "sent": "0",
					"out-of-sync": "1024", "pending": "0", "unacked": "3"}}},
		{"change connection name:r0 peer-node-id:0 connection:StandAlone",
			Event{Action: Change, Object: ObjConnection, Resource: "r0", Volume: -1, Minor: -1,
				Props: map[string]string{"connection": "StandAlone"}}},
		{"response helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 helper:split-brain status:0",
			Event{Action: Response, Object: ObjHelper, Resource: "r0", Volume: 0, Minor: 0,
				Props: map[string]string{"helper": "split-brain", "status": "0"}}},
		{"destroy resource name:r0",
			Event{Action: Destroy, Object: ObjResource, Resource: "r0", Volume: -1, Minor: -1, Props: map[string]string{}}},
		{"exists -", Event{Action: Exists, Volume: -1, Minor: -1}},
	} {
		got, err := ParseEvent(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseEvent(%q) =\n%+v, %v\nwant\n%+v", tc.line, got, err, tc.want)
		}
	}
	if e, _ := ParseEvent("exists -"); !e.InitialStateDone() {
		t.Error(`"exists -" is not the end of the initial state`)
	}
}

func TestParseEventErrors(t *testing.T) {
	if _, err := ParseEvent("- skipped 3"); !errors.Is(err, ErrEventsLost) {
		t.Errorf(`ParseEvent("- skipped 3") = %v, want ErrEventsLost`, err)
	}
	for _, line := range []string{
		"exists",
		"happens resource name:r0",
		"change -",
		"exists - extra",
		"change resource role:Primary",
		"change resource name:r0 role",
		"change device name:r0 volume:x",
		"change peer-device name:r0 volume:0 out-of-sync:many",
		"2026-01-02T03:04:05.000000+00:00 exists resource name:r0",
	} {
		if _, err := ParseEvent(line); err == nil || errors.Is(err, ErrEventsLost) {
			t.Errorf("ParseEvent(%q) = %v, want a parse error", line, err)
		}
	}
}

// watch runs Watch over a testdata stream and returns every state it
// reported.
func watch(t *testing.T, file string, extra ...string) []State {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	in := string(b) + strings.Join(extra, "\n")
	var got []State
	if err := Watch(context.Background(), strings.NewReader(in), func(s State) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWatchInitialSync(t *testing.T) {
	got := watch(t, "events-initial-sync.txt")
	if len(got) != 6 {
		t.Fatalf("%d states, want the initial one and 5 changes: %+v", len(got), got)
	}
	first := State{Name: "vm-web", Role: RoleSecondary, Disk: DiskInconsistent, PeerRole: RoleSecondary, PeerDisk: DiskInconsistent,
		Connection: ConnConnected, Replication: ReplEstablished, SizeKiB: 10489496, Done: 100}
	if got[0] != first {
		t.Errorf("initial state\n%+v\nwant\n%+v", got[0], first)
	}
	syncing := got[4]
	if syncing.Role != RolePrimary || syncing.Disk != DiskUpToDate || syncing.Replication != ReplSyncSource ||
		!syncing.Replication.Syncing() || syncing.OutOfSyncKiB != 10489496 || syncing.Done != 0 {
		t.Errorf("syncing: %+v", syncing)
	}
	done := got[5]
	if done.Replication != ReplEstablished || done.PeerDisk != DiskUpToDate || done.OutOfSyncKiB != 0 ||
		done.SentKiB != 10489496 || done.Done != 100 {
		t.Errorf("synced: %+v", done)
	}
}

func TestWatchPeerLoss(t *testing.T) {
	got := watch(t, "events-peer-loss.txt")
	last := got[len(got)-1]
	want := State{Name: "vm-web", Role: RolePrimary, Disk: DiskUpToDate, PeerRole: RoleUnknown, PeerDisk: DiskUnknown,
		Connection: ConnConnecting, Replication: ReplOff, SizeKiB: 10489496, SentKiB: 1048576, Done: 100}
	if last != want {
		t.Errorf("after peer loss\n%+v\nwant\n%+v", last, want)
	}
	if got[1].Connection != "NetworkFailure" || got[1].PeerRole != RoleUnknown {
		t.Errorf("first change: %+v", got[1])
	}
}

func TestWatchReconnectPartialResync(t *testing.T) {
	got := watch(t, "events-reconnect.txt")
	if got[0].OutOfSyncKiB != 20480 || got[0].Replication != ReplOff {
		t.Errorf("initial: %+v", got[0])
	}
	var sync State
	for _, s := range got {
		if s.Replication == ReplSyncSource {
			sync = s
		}
	}
	// Only what was written while apart is resynced: 20 MiB of 10 GiB.
	if sync.PeerDisk != DiskInconsistent || sync.OutOfSyncKiB != 20480 || sync.Done < 99.8 || sync.Done >= 100 {
		t.Errorf("resync: %+v", sync)
	}
	last := got[len(got)-1]
	if last.Connection != ConnConnected || last.PeerRole != RoleSecondary || last.Replication != ReplEstablished ||
		last.PeerDisk != DiskUpToDate || last.Done != 100 {
		t.Errorf("after resync: %+v", last)
	}
}

func TestWatchSplitBrain(t *testing.T) {
	got := watch(t, "events-split-brain.txt")
	for _, s := range got[:2] {
		if s.SplitBrain {
			t.Errorf("split brain before the helper ran: %+v", s)
		}
	}
	last := got[len(got)-1]
	if !last.SplitBrain || last.Connection != ConnStandAlone || last.Role != RolePrimary || last.Disk != DiskUpToDate {
		t.Errorf("after split brain: %+v", last)
	}

	// The flag stays through reconnection attempts, and clears only once
	// the nodes replicate again (an operator discarded one side).
	got = watch(t, "events-split-brain.txt",
		"change connection name:vm-web peer-node-id:0 conn-name:peer connection:Connecting",
		"change connection name:vm-web peer-node-id:0 conn-name:peer connection:Connected role:Secondary",
		"change peer-device name:vm-web peer-node-id:0 conn-name:peer volume:0 replication:SyncSource peer-disk:Inconsistent received:0 sent:0 out-of-sync:16384 pending:0 unacked:0",
	)
	if n := len(got); !got[n-3].SplitBrain || !got[n-2].SplitBrain || got[n-1].SplitBrain {
		t.Errorf("split brain flag through resolution: %v %v %v", got[n-3].SplitBrain, got[n-2].SplitBrain, got[n-1].SplitBrain)
	}
}

func TestWatchDown(t *testing.T) {
	got := watch(t, "events-peer-loss.txt",
		"destroy peer-device name:vm-web peer-node-id:0 conn-name:peer volume:0",
		"destroy connection name:vm-web peer-node-id:0 conn-name:peer",
		"destroy device name:vm-web volume:0 minor:0",
		"destroy resource name:vm-web",
	)
	if last := got[len(got)-1]; last != (State{Name: "vm-web"}) {
		t.Errorf("after down: %+v", last)
	}
}

func TestWatchSeveralResources(t *testing.T) {
	var names []string
	b, _ := os.ReadFile("testdata/status-syncsource.txt")
	err := Watch(context.Background(), strings.NewReader(string(b)), func(s State) { names = append(names, s.Name) })
	if err != nil || strings.Join(names, " ") != "vm-db vm-web" {
		t.Errorf("Watch reported %v, %v", names, err)
	}
}

func TestWatchEventsLost(t *testing.T) {
	in := "exists resource name:r0 role:Secondary suspended:no\nexists -\n- skipped 2\nchange resource name:r0 role:Primary\n"
	n := 0
	err := Watch(context.Background(), strings.NewReader(in), func(State) { n++ })
	if !errors.Is(err, ErrEventsLost) || n != 1 {
		t.Errorf("Watch = %v after %d states, want ErrEventsLost after 1", err, n)
	}
}

func TestWatchCancel(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Watch(ctx, r, func(State) {}) }()
	if _, err := io.WriteString(w, "exists resource name:r0 role:Secondary suspended:no\n"); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
}
