package api_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// scrape GETs /metrics and parses it with Prometheus' own parser.
func scrape(t *testing.T, e *env) (string, map[string]float64) {
	t.Helper()
	resp, b := e.do("GET", "/metrics", "basic:"+apitest.Password, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, b)
	}
	// Each sample by its name and labels, as "name{a=b,c=d}".
	got := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got[name+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return string(b), got
}

func TestMetrics(t *testing.T) {
	e := start(t, nil)
	text, got := scrape(t, e)
	golden.RequireEqual(t, []byte(text))
	for k, want := range map[string]float64{
		"lockstep_node_primary{node=node0}":                        1,
		"lockstep_node_healthy{node=node1}":                        0, // in maintenance
		"lockstep_vm_running{vm=web}":                              1,
		"lockstep_vm_memory_bytes{vm=db}":                          4 << 30,
		"lockstep_capacity_vcpus{kind=free}":                       -1, // filled below
		"lockstep_scrape_errors{}":                                 0,
		"lockstep_alerts{severity=critical}":                       -1,
		"lockstep_storage_group_free_bytes{group=fast,node=node1}": -1,
	} {
		v, ok := got[k]
		if !ok {
			t.Errorf("no sample %s", k)
		} else if want >= 0 && v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	// Unauthenticated scrapes are refused like any API call.
	if resp, _ := e.do("GET", "/metrics", "", nil); resp.StatusCode != 401 {
		t.Errorf("GET /metrics without a login: %d", resp.StatusCode)
	}
	// A part the backend cannot give is left out and counted; the rest
	// is still there.
	e.backend.SetErr(errors.New("VM service down"))
	_, got = scrape(t, e)
	if got["lockstep_scrape_errors{}"] == 0 {
		t.Errorf("scrape errors not counted: %v", got)
	}
}
