package lab

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

func TestAnswersALinks(t *testing.T) {
	_, k, err := SegmentByName("alink0")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Nodes {
		t.Run(n.Name, func(t *testing.T) {
			b, err := Answers(repoRoot, n)
			if err != nil {
				t.Fatal(err)
			}
			a, err := answers.Parse(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if want := []string{n.MAC(k)}; !slices.Equal(a.Network.ALinks, want) {
				t.Errorf("alinks %q, want %q\n%s", a.Network.ALinks, want, b)
			}
			if errs := answers.ValidateField(a, Hardware(n), "network.alinks"); len(errs) > 0 {
				t.Errorf("the installer would refuse the lab's A-Links: %v", errs)
			}
		})
	}
	// The template's own A-Link MACs are not the lab's, so an A-Link left
	// as the template wrote it would not resolve on the lab's VM.
	raw, err := answers.Load(filepath.Join(repoRoot, Nodes[0].Template))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Network.ALinks) == 0 {
		t.Fatal("the template lists no A-Link: the substitution is not exercised")
	}
	if errs := answers.ValidateField(raw, Hardware(Nodes[0]), "network.alinks"); len(errs) == 0 {
		t.Error("the template's A-Links resolve on the lab's VM; the test proves nothing")
	}
}
