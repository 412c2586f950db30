package ha

import (
	"context"
	"slices"
	"testing"
)

// recordHypervisor is a RecordHypervisor: it says which start it got.
type recordHypervisor struct{ *fakes }

func (h recordHypervisor) StartRecord(_ context.Context, r *Record, def string) error {
	if err := h.do("start-record " + r.Spec.Name + " " + r.Spec.Mode + " def=" + def); err != nil {
		return err
	}
	h.running = append(h.running, r.Spec.Name)
	return nil
}

func TestStartGivesARecordHypervisorTheRecord(t *testing.T) {
	m, f := newManager(t)
	m.o.Hypervisor = recordHypervisor{f}
	if err := m.Start(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	want := []string{"ensure lsv0", "promote lsv0 force=false", "ensure lsv1", "promote lsv1 force=false", "start-record web ha def=web"}
	if !slices.Equal(f.log, want) {
		t.Errorf("calls %q, want %q", f.log, want)
	}
}
