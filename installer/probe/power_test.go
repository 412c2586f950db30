package probe

import (
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func TestPowerProfile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gov, epp  string
		none      bool
		want      string
		governors []string
	}{
		{name: "performance governor", gov: "performance", want: PowerPerformance, governors: []string{"performance"}},
		{name: "powersave with performance EPP", gov: "powersave", epp: "performance", want: PowerPerformance, governors: []string{"powersave"}},
		{name: "powersave balanced", gov: "powersave", epp: "balance_performance", want: PowerDynamic, governors: []string{"powersave"}},
		{name: "schedutil", gov: "schedutil", want: PowerDynamic, governors: []string{"schedutil"}},
		{name: "no cpufreq", none: true, want: PowerUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := probetest.New(t)
			if !tc.none {
				tr.Governor(4, tc.gov, tc.epp)
			}
			p := PowerProfile(tr.Sys)
			if p.Mode != tc.want || !reflect.DeepEqual(p.Governors, tc.governors) {
				t.Errorf("%+v, want mode %s governors %v", p, tc.want, tc.governors)
			}
			if !tc.none && (p.Driver != "intel_pstate" || p.PState != "active") {
				t.Errorf("driver %q pstate %q", p.Driver, p.PState)
			}
		})
	}
}

func TestPowerProfileMixedGovernorsIsDynamic(t *testing.T) {
	tr := probetest.New(t)
	tr.Governor(2, "performance", "")
	tr.SysFile("devices/system/cpu/cpufreq/policy1/scaling_governor", "powersave")
	if p := PowerProfile(tr.Sys); p.Mode != PowerDynamic {
		t.Errorf("%+v", p)
	}
}
