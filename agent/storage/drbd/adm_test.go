package drbd

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/storage"
	"github.com/lockstep-ft/lockstep/agent/storage/storagetest"
)

const conf = "/run/lockstep/drbd/drbd.conf"

// admCalls are each Adm command and the command line it must run; the
// forms are the ones drbdadm-84 accepts (TestAdmAcceptedByDrbdadm84).
var admCalls = []struct {
	name string
	do   func(*Adm) error
	want string
}{
	{"CreateMD", func(a *Adm) error { return a.CreateMD(context.Background(), "vm-web") }, "drbdadm -c " + conf + " -- --force create-md vm-web"},
	{"Up", func(a *Adm) error { return a.Up(context.Background(), "vm-web") }, "drbdadm -c " + conf + " up vm-web"},
	{"Down", func(a *Adm) error { return a.Down(context.Background(), "vm-web") }, "drbdadm -c " + conf + " down vm-web"},
	{"Primary", func(a *Adm) error { return a.Primary(context.Background(), "vm-web", false) }, "drbdadm -c " + conf + " primary vm-web"},
	{"Primary force", func(a *Adm) error { return a.Primary(context.Background(), "vm-web", true) }, "drbdadm -c " + conf + " primary --force vm-web"},
	{"Secondary", func(a *Adm) error { return a.Secondary(context.Background(), "vm-web") }, "drbdadm -c " + conf + " secondary vm-web"},
	{"Connect", func(a *Adm) error { return a.Connect(context.Background(), "vm-web") }, "drbdadm -c " + conf + " connect vm-web"},
	{"Disconnect", func(a *Adm) error { return a.Disconnect(context.Background(), "vm-web") }, "drbdadm -c " + conf + " disconnect vm-web"},
	{"DropPeer", func(a *Adm) error { return a.DropPeer(context.Background(), "vm-web") }, "drbdadm -c " + conf + " disconnect --force vm-web"},
	{"Adjust", func(a *Adm) error { return a.Adjust(context.Background(), "vm-web") }, "drbdadm -c " + conf + " adjust vm-web"},
	{"Resize", func(a *Adm) error { return a.Resize(context.Background(), "vm-web") }, "drbdadm -c " + conf + " resize vm-web"},
	{"Invalidate", func(a *Adm) error { return a.Invalidate(context.Background(), "vm-web") }, "drbdadm -c " + conf + " invalidate vm-web"},
	{"InvalidateRemote", func(a *Adm) error { return a.InvalidateRemote(context.Background(), "vm-web") }, "drbdadm -c " + conf + " invalidate-remote vm-web"},
	{"NewCurrentUUID", func(a *Adm) error { return a.NewCurrentUUID(context.Background(), "vm-web", true) }, "drbdadm -c " + conf + " new-current-uuid --clear-bitmap vm-web/0"},
	{"AllowTwoPrimaries on", func(a *Adm) error { return a.AllowTwoPrimaries(context.Background(), "vm-web", true) }, "drbdadm -c " + conf + " net-options --allow-two-primaries=yes vm-web"},
	{"AllowTwoPrimaries off", func(a *Adm) error { return a.AllowTwoPrimaries(context.Background(), "vm-web", false) }, "drbdadm -c " + conf + " net-options --allow-two-primaries=no vm-web"},
}

func TestAdmCommands(t *testing.T) {
	for _, c := range admCalls {
		f := (&storagetest.Fake{}).On(c.want, storagetest.Result{})
		if err := c.do(&Adm{Runner: f, Config: conf}); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if got := f.Calls(); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s ran %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAdmRefusesBadName(t *testing.T) {
	f := &storagetest.Fake{}
	a := &Adm{Runner: f, Config: conf}
	for _, err := range []error{
		a.Up(context.Background(), "--force"),
		a.Primary(context.Background(), "all", true),
		a.NewCurrentUUID(context.Background(), "", true),
		func() error { _, err := a.Status(context.Background(), "a b"); return err }(),
	} {
		if err == nil {
			t.Error("Adm accepted a bad resource name")
		}
	}
	if len(f.Calls()) != 0 {
		t.Errorf("ran %q", f.Calls())
	}
}

func TestAdmErrorCarriesStderr(t *testing.T) {
	cause := errors.New("exit status 11")
	f := (&storagetest.Fake{}).On("drbdadm -c "+conf+" secondary vm-web", storagetest.Result{
		Stderr: "0: State change failed: (-12) Device is held open by someone\nCommand 'drbdsetup-84 secondary 0' terminated with exit code 11\n",
		Err:    cause,
	})
	err := (&Adm{Runner: f, Config: conf}).Secondary(context.Background(), "vm-web")
	var ce *storage.CmdError
	if !errors.As(err, &ce) || !errors.Is(err, cause) || !strings.Contains(err.Error(), "held open") {
		t.Errorf("Secondary = %v", err)
	}
}

func TestStatus(t *testing.T) {
	out, err := os.ReadFile("testdata/status-syncsource.txt")
	if err != nil {
		t.Fatal(err)
	}
	f := (&storagetest.Fake{}).On("drbdsetup events2 --now --statistics vm-web", storagetest.Result{Stdout: string(out)})
	st, err := (&Adm{Runner: f, Config: conf}).Status(context.Background(), "vm-web")
	if err != nil {
		t.Fatal(err)
	}
	want := State{
		Name: "vm-web", Role: RolePrimary, Disk: DiskUpToDate, PeerRole: RoleSecondary, PeerDisk: DiskInconsistent,
		Connection: ConnConnected, Replication: ReplSyncSource,
		SizeKiB: 10489496, OutOfSyncKiB: 4198200, SentKiB: 6291456,
	}
	if int(st.Done*100) != 5997 {
		t.Errorf("Done = %.2f, want 59.97", st.Done)
	}
	st.Done = 0
	if st != want {
		t.Errorf("Status =\n%+v\nwant\n%+v", st, want)
	}
}

func TestStatusNotUp(t *testing.T) {
	f := (&storagetest.Fake{}).On("drbdsetup events2 --now --statistics vm-web", storagetest.Result{Stdout: "exists -\n"})
	st, err := (&Adm{Runner: f, Config: conf}).Status(context.Background(), "vm-web")
	if err != nil || !reflect.DeepEqual(st, State{Name: "vm-web"}) {
		t.Errorf("Status = %+v, %v", st, err)
	}
}
