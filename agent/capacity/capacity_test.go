package capacity

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// seedSystem is the worked example: node0 has 16 threads and 64 GiB,
// node1 12 threads and 48 GiB, so node1 sets both capacities: 12 vCPU and
// 49152 MiB, less the small reserve (2 vCPU, 2048 MiB) leaves 10 vCPU and
// 47104 MiB for VMs.
func seedSystem(ed Edition) System {
	return System{
		Nodes:   []Node{{"node0", 16, 65536}, {"node1", 12, 49152}},
		Edition: ed,
	}
}

// bigSystem has room for far more than 28 VMs, so only the running limit
// can refuse.
func bigSystem(ed Edition) System {
	return System{
		Nodes:   []Node{{"node0", 256, 4 << 20}, {"node1", 256, 4 << 20}},
		Edition: ed,
	}
}

func ha(name string, vcpus int, mib int64) VM {
	return VM{Name: name, Mode: ModeHA, VCPUs: vcpus, MemoryMiB: mib, NICs: 1, Volumes: 1}
}

func ft(name string, vcpus int, mib int64) VM {
	return VM{Name: name, Mode: ModeFT, VCPUs: vcpus, MemoryMiB: mib, NICs: 1, Volumes: 1}
}

func many(n int) []VM {
	vms := make([]VM, n)
	for i := range vms {
		vms[i] = ha(fmt.Sprintf("vm%02d", i), 1, 256)
	}
	return vms
}

// wantErr is what a check should return: nil, a *LimitError with exactly
// these problems, or a *Refusal with exactly these reasons.
type wantErr struct {
	limit  []string
	refuse []string
}

func checkErr(t *testing.T, err error, w wantErr) {
	t.Helper()
	var le *LimitError
	var re *Refusal
	switch {
	case w.limit == nil && w.refuse == nil:
		if err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	case w.limit != nil:
		if !errors.As(err, &le) {
			t.Fatalf("got %T %v, want *LimitError", err, err)
		}
		if !reflect.DeepEqual(le.Problems, w.limit) {
			t.Fatalf("problems:\n got %q\nwant %q", le.Problems, w.limit)
		}
	default:
		if !errors.As(err, &re) {
			t.Fatalf("got %T %v, want *Refusal", err, err)
		}
		if !reflect.DeepEqual(re.Reasons, w.refuse) {
			t.Fatalf("reasons:\n got %q\nwant %q", re.Reasons, w.refuse)
		}
	}
}

func TestCost(t *testing.T) {
	for _, tc := range []struct {
		vm        VM
		vcpus     int
		memoryMiB int64
	}{
		{ha("a", 4, 8192), 5, 9831},       // 8192 * 0.2 = 1638.4, rounded up
		{ft("a", 4, 8192), 6, 9831},       // FT costs one vCPU more, same memory
		{ft("a", 8, 16384), 10, 19661},    // 3276.8 -> 3277
		{ha("a", 1, 1000), 2, 1200},       // exact 20 %
		{ha("a", 1, 1001), 2, 1202},       // 200.2 -> 201
		{ha("a", 1, 256), 2, 308},         // smallest VM: 51.2 -> 52
		{ft("a", 20, 262144), 22, 314573}, // largest VM: 52428.8 -> 52429
		{VM{Mode: "xx", VCPUs: 3, MemoryMiB: 500}, 3, 600},
	} {
		c, m := Cost(tc.vm)
		if c != tc.vcpus || m != tc.memoryMiB {
			t.Errorf("Cost(%s %d vCPU %d MiB) = %d, %d; want %d, %d",
				tc.vm.Mode, tc.vm.VCPUs, tc.vm.MemoryMiB, c, m, tc.vcpus, tc.memoryMiB)
		}
	}
}

func TestUsageSeedExample(t *testing.T) {
	u := seedSystem(Enterprise).Usage(nil)
	got := [...]any{u.CapacityVCPUs, u.CapacityMemoryMiB, u.VCPUNode, u.MemoryNode,
		u.ReserveVCPUs, u.ReserveMemoryMiB, u.UsedVCPUs, u.UsedMemoryMiB,
		u.FreeVCPUs, u.FreeMemoryMiB, u.Running, u.MaxRunning}
	want := [...]any{12, int64(49152), "node1", "node1",
		2, int64(2048), 0, int64(0),
		10, int64(47104), 0, 28}
	if got != want {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestUsageRunning(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sys        System
		running    []VM
		used       int
		usedMiB    int64
		free       int
		freeMiB    int64
		names      []string
		maxRunning int
	}{
		{"none", seedSystem(Enterprise), nil, 0, 0, 10, 47104, nil, 28},
		// 5 + 4 vCPU; 4916 + 9831 MiB; the second "a" is the same VM.
		{"ha and ft, a listed twice", seedSystem(Enterprise),
			[]VM{ha("a", 4, 4096), ft("b", 2, 8192), ha("a", 4, 4096)},
			9, 14747, 1, 32357, []string{"a", "b"}, 28},
		// Three VMs of 5 vCPU on 10: over-committed shows as negative.
		{"over-committed", seedSystem(Express),
			[]VM{ha("a", 4, 1024), ha("b", 4, 1024), ha("c", 4, 1024)},
			15, 3687, -5, 43417, []string{"a", "b", "c"}, 28},
		{"single-pvm", seedSystem(SinglePVM), []VM{ft("x", 1, 1024)},
			3, 1229, 7, 45875, []string{"x"}, 1},
		{"unknown edition runs nothing", seedSystem("gold"), nil, 0, 0, 10, 47104, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.sys.Usage(tc.running)
			if u.UsedVCPUs != tc.used || u.UsedMemoryMiB != tc.usedMiB ||
				u.FreeVCPUs != tc.free || u.FreeMemoryMiB != tc.freeMiB ||
				u.Running != len(tc.names) || !reflect.DeepEqual(u.RunningNames, tc.names) ||
				u.MaxRunning != tc.maxRunning {
				t.Fatalf("got used %d/%d free %d/%d running %d %v max %d",
					u.UsedVCPUs, u.UsedMemoryMiB, u.FreeVCPUs, u.FreeMemoryMiB, u.Running, u.RunningNames, u.MaxRunning)
			}
		})
	}
}

func TestCapacityAndReserve(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    []Node
		reserve  Reserve
		cap      int
		capMiB   int64
		vcpuNode string
		memNode  string
		resv     int
		resvMiB  int64
	}{
		{"seed", []Node{{"node0", 16, 65536}, {"node1", 12, 49152}}, Reserve{}, 12, 49152, "node1", "node1", 2, 2048},
		{"large pair", []Node{{"node0", 32, 131072}, {"node1", 16, 65536}}, Reserve{}, 16, 65536, "node1", "node1", 4, 4096},
		{"just under the large reserve", []Node{{"node0", 15, 65535}, {"node1", 64, 1 << 20}}, Reserve{}, 15, 65535, "node0", "node0", 2, 2048},
		// Threads and memory are each the lesser; here from different nodes.
		{"mixed lesser", []Node{{"node0", 8, 131072}, {"node1", 32, 32768}}, Reserve{}, 8, 32768, "node0", "node1", 2, 2048},
		{"mixed large", []Node{{"node0", 16, 262144}, {"node1", 32, 65536}}, Reserve{}, 16, 65536, "node0", "node1", 4, 4096},
		// The peer not joined or lost: the known node alone.
		{"one node", []Node{{"node0", 16, 65536}}, Reserve{}, 16, 65536, "node0", "node0", 4, 4096},
		{"override vCPU only", []Node{{"node0", 32, 131072}, {"node1", 32, 131072}}, Reserve{VCPUs: 3}, 32, 131072, "node0", "node0", 3, 4096},
		{"override memory only", []Node{{"node0", 32, 131072}, {"node1", 32, 131072}}, Reserve{MemoryMiB: 3072}, 32, 131072, "node0", "node0", 4, 3072},
		{"override both up", []Node{{"node0", 8, 16384}}, Reserve{4, 4096}, 8, 16384, "node0", "node0", 4, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := System{Nodes: tc.nodes, Edition: Enterprise, Reserve: tc.reserve}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			u := s.Usage(nil)
			got := [...]any{u.CapacityVCPUs, u.CapacityMemoryMiB, u.VCPUNode, u.MemoryNode, u.ReserveVCPUs, u.ReserveMemoryMiB}
			want := [...]any{tc.cap, tc.capMiB, tc.vcpuNode, tc.memNode, tc.resv, tc.resvMiB}
			if got != want {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
			if u.FreeVCPUs != tc.cap-tc.resv || u.FreeMemoryMiB != tc.capMiB-tc.resvMiB {
				t.Fatalf("free %d/%d", u.FreeVCPUs, u.FreeMemoryMiB)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := seedSystem(Enterprise)
	for _, tc := range []struct {
		name string
		sys  System
		want []string // substrings of the error; nil = valid
	}{
		{"seed enterprise", ok, nil},
		{"express", seedSystem(Express), nil},
		{"single-pvm", seedSystem(SinglePVM), nil},
		{"one node", System{Nodes: ok.Nodes[:1], Edition: Enterprise}, nil},
		{"reserve at the bounds", System{Nodes: ok.Nodes, Edition: Enterprise, Reserve: Reserve{2, 4096}}, nil},
		{"reserve at the other bounds", System{Nodes: ok.Nodes, Edition: Enterprise, Reserve: Reserve{4, 2048}}, nil},
		{"unknown edition", seedSystem("gold"), []string{`edition "gold" is unknown (want enterprise, express or single-pvm)`}},
		{"empty edition", seedSystem(""), []string{`edition "" is unknown`}},
		{"no nodes", System{Edition: Enterprise}, []string{"a system has 1 or 2 nodes, not 0"}},
		{"three nodes", System{Nodes: []Node{{"a", 1, 1}, {"b", 1, 1}, {"c", 1, 1}}, Edition: Enterprise},
			[]string{"a system has 1 or 2 nodes, not 3"}},
		{"unnamed node", System{Nodes: []Node{{"", 8, 8192}}, Edition: Enterprise}, []string{"node 0 has no name"}},
		{"node twice", System{Nodes: []Node{{"node0", 8, 8192}, {"node0", 8, 8192}}, Edition: Enterprise},
			[]string{"node node0 is listed twice"}},
		{"empty node", System{Nodes: []Node{{"node0", 0, 8192}}, Edition: Enterprise},
			[]string{"node node0 has 0 threads and 8192 MiB memory; both must be positive"}},
		{"reserve 1 vCPU", System{Nodes: ok.Nodes, Edition: Enterprise, Reserve: Reserve{VCPUs: 1}},
			[]string{"a reserve of 1 vCPU is outside 2..4"}},
		{"reserve 5 vCPU", System{Nodes: ok.Nodes, Edition: Enterprise, Reserve: Reserve{VCPUs: 5}},
			[]string{"a reserve of 5 vCPU is outside 2..4"}},
		{"reserve 1 GiB", System{Nodes: ok.Nodes, Edition: Enterprise, Reserve: Reserve{MemoryMiB: 1024}},
			[]string{"a reserve of 1024 MiB memory is outside 2048..4096 MiB"}},
		{"reserve 8 GiB", System{Nodes: ok.Nodes, Edition: Enterprise, Reserve: Reserve{MemoryMiB: 8192}},
			[]string{"a reserve of 8192 MiB memory is outside 2048..4096 MiB"}},
		{"everything at once", System{Edition: "x", Reserve: Reserve{-1, -1}},
			[]string{"not 0", `edition "x" is unknown`, "-1 vCPU", "-1 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sys.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		vm   VM
		ed   Edition
		want []string // nil = within limits
	}{
		{"small HA", ha("db", 1, 256), Enterprise, nil},
		{"all maxima", VM{"db", ModeFT, 20, 262144, 20, 12}, Enterprise, nil},
		{"no NICs or volumes", VM{"db", ModeHA, 1, 1024, 0, 0}, Enterprise, nil},
		{"21 vCPU", ha("db", 21, 4096), Enterprise, []string{"21 vCPUs is more than the 20 a VM may have"}},
		{"21 vCPU FT", ft("db", 21, 4096), Enterprise, []string{"21 vCPUs is more than the 20 a VM may have"}},
		{"24 vCPU", ha("db", 24, 4096), Enterprise, []string{"24 vCPUs is more than the 20 a VM may have"}},
		{"0 vCPU", ha("db", 0, 4096), Enterprise, []string{"0 vCPUs is fewer than the 1 a VM needs"}},
		{"300 GiB", ha("db", 4, 300*1024), Enterprise,
			[]string{"307200 MiB memory is more than the 262144 MiB (256 GiB) a VM may have"}},
		{"256 GiB + 1 MiB", ha("db", 4, 262145), Enterprise,
			[]string{"262145 MiB memory is more than the 262144 MiB (256 GiB) a VM may have"}},
		{"128 MiB", ha("db", 1, 128), Enterprise, []string{"128 MiB memory is less than the 256 MiB a VM needs"}},
		{"21 NICs", VM{"db", ModeHA, 2, 4096, 21, 1}, Enterprise, []string{"21 NICs is more than the 20 a VM may have"}},
		{"13 volumes", VM{"db", ModeHA, 2, 4096, 1, 13}, Enterprise, []string{"13 volumes is more than the 12 a VM may have"}},
		{"negative counts", VM{"db", ModeHA, 2, 4096, -1, -2}, Enterprise,
			[]string{"-1 NICs is not a count", "-2 volumes is not a count"}},
		{"bad mode", VM{"db", "FT", 2, 4096, 1, 1}, Enterprise, []string{`mode "FT" is neither "ft" nor "ha"`}},
		{"no name", ha("", 2, 4096), Enterprise, []string{"a VM needs a name"}},
		{"express HA", ha("db", 4, 4096), Express, nil},
		{"express FT", ft("db", 4, 4096), Express, []string{`edition express runs HA VMs only; "db" is FT`}},
		{"single-pvm FT", ft("db", 4, 4096), SinglePVM, nil},
		{"single-pvm HA", ha("db", 4, 4096), SinglePVM, nil},
		{"unknown edition", ha("db", 4, 4096), "gold",
			[]string{`edition "gold" is unknown (want enterprise, express or single-pvm)`}},
		{"all problems at once", VM{"db", ModeFT, 21, 300 * 1024, 21, 13}, Express, []string{
			"21 vCPUs is more than the 20 a VM may have",
			"307200 MiB memory is more than the 262144 MiB (256 GiB) a VM may have",
			"21 NICs is more than the 20 a VM may have",
			"13 volumes is more than the 12 a VM may have",
			`edition express runs HA VMs only; "db" is FT`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, CheckLimits(tc.vm, tc.ed), wantErr{limit: tc.want})
		})
	}
}

func TestCheckCreate(t *testing.T) {
	seed := seedSystem(Enterprise)
	for _, tc := range []struct {
		name string
		sys  System
		vm   VM
		want wantErr
	}{
		{"HA 9 vCPU fills the 10 free", seed, ha("db", 9, 4096), wantErr{}},
		{"FT 8 vCPU fills the 10 free", seed, ft("db", 8, 4096), wantErr{}},
		{"HA 10 vCPU", seed, ha("db", 10, 4096), wantErr{refuse: []string{
			"needs 11 vCPU (10 + 1 HA overhead) but at most 10 can ever be free (capacity 12 on the lesser node node1 minus 2 reserved)"}}},
		{"FT 9 vCPU", seed, ft("db", 9, 4096), wantErr{refuse: []string{
			"needs 11 vCPU (9 + 2 FT overhead) but at most 10 can ever be free (capacity 12 on the lesser node node1 minus 2 reserved)"}}},
		{"40000 MiB", seed, ha("db", 1, 40000), wantErr{refuse: []string{
			"needs 48000 MiB memory (40000 + 8000 overhead) but at most 47104 MiB can ever be free (capacity 49152 MiB on the lesser node node1 minus 2048 reserved)"}}},
		{"largest VM: both short", seed, ft("db", 20, 262144), wantErr{refuse: []string{
			"needs 22 vCPU (20 + 2 FT overhead) but at most 10 can ever be free (capacity 12 on the lesser node node1 minus 2 reserved)",
			"needs 314573 MiB memory (262144 + 52429 overhead) but at most 47104 MiB can ever be free (capacity 49152 MiB on the lesser node node1 minus 2048 reserved)"}}},
		{"limit error first", seed, ha("db", 24, 300*1024), wantErr{limit: []string{
			"24 vCPUs is more than the 20 a VM may have",
			"307200 MiB memory is more than the 262144 MiB (256 GiB) a VM may have"}}},
		{"express refuses FT as a limit", seedSystem(Express), ft("db", 1, 1024), wantErr{limit: []string{
			`edition express runs HA VMs only; "db" is FT`}}},
		// With node1 lost, node0 alone (16 threads, 64 GiB) counts, with
		// its own, larger reserve.
		{"one node fits", System{Nodes: seed.Nodes[:1], Edition: Enterprise}, ha("db", 11, 4096), wantErr{}},
		{"one node refuses", System{Nodes: seed.Nodes[:1], Edition: Enterprise}, ha("db", 12, 4096), wantErr{refuse: []string{
			"needs 13 vCPU (12 + 1 HA overhead) but at most 12 can ever be free (capacity 16 on node0 alone minus 4 reserved)"}}},
		{"equal nodes", System{Nodes: []Node{{"node0", 12, 49152}, {"node1", 12, 49152}}, Edition: Enterprise},
			ha("db", 10, 4096), wantErr{refuse: []string{
				"needs 11 vCPU (10 + 1 HA overhead) but at most 10 can ever be free (capacity 12 on each node minus 2 reserved)"}}},
		{"lesser threads and memory on different nodes",
			System{Nodes: []Node{{"node0", 8, 131072}, {"node1", 32, 32768}}, Edition: Enterprise},
			ha("db", 8, 30000), wantErr{refuse: []string{
				"needs 9 vCPU (8 + 1 HA overhead) but at most 6 can ever be free (capacity 8 on the lesser node node0 minus 2 reserved)",
				"needs 36000 MiB memory (30000 + 6000 overhead) but at most 30720 MiB can ever be free (capacity 32768 MiB on the lesser node node1 minus 2048 reserved)"}}},
		{"raised reserve", System{Nodes: seed.Nodes, Edition: Enterprise, Reserve: Reserve{4, 4096}},
			ha("db", 8, 4096), wantErr{refuse: []string{
				"needs 9 vCPU (8 + 1 HA overhead) but at most 8 can ever be free (capacity 12 on the lesser node node1 minus 4 reserved)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.sys.CheckCreate(tc.vm), tc.want)
		})
	}
}

func TestCheckStartSeed(t *testing.T) {
	seed := seedSystem(Enterprise)
	a4, b4 := ha("a", 4, 4096), ha("b", 4, 4096)
	for _, tc := range []struct {
		name    string
		running []VM
		vm      VM
		want    wantErr
	}{
		{"first HA 4 vCPU", nil, a4, wantErr{}},
		{"second HA 4 vCPU: 5 + 5 = 10", []VM{a4}, b4, wantErr{}},
		{"third HA 1 vCPU: needs 2, 0 free", []VM{a4, b4}, ha("c", 1, 1024), wantErr{refuse: []string{
			"needs 2 vCPU (1 + 1 HA overhead) but 0 of 10 are free (10 used by 2 running VMs: a, b; capacity 12 on the lesser node node1 minus 2 reserved)"}}},
		{"FT 8 vCPU alone: 10 of 10", nil, ft("big", 8, 8192), wantErr{}},
		{"FT 8 vCPU beside a small HA", []VM{ha("a", 1, 1024)}, ft("big", 8, 8192), wantErr{refuse: []string{
			"needs 10 vCPU (8 + 2 FT overhead) but 8 of 10 are free (2 used by 1 running VM: a; capacity 12 on the lesser node node1 minus 2 reserved)"}}},
		{"short of both", []VM{ha("a", 3, 16384), ha("b", 3, 16384)}, ha("db", 4, 8192), wantErr{refuse: []string{
			"needs 5 vCPU (4 + 1 HA overhead) but 2 of 10 are free (8 used by 2 running VMs: a, b; capacity 12 on the lesser node node1 minus 2 reserved)",
			"needs 9831 MiB memory (8192 + 1639 overhead) but 7782 of 47104 MiB are free (39322 used by 2 running VMs: a, b; capacity 49152 MiB on the lesser node node1 minus 2048 reserved)"}}},
		{"short of memory only", []VM{ha("big", 1, 32768)}, ha("db", 1, 8192), wantErr{refuse: []string{
			"needs 9831 MiB memory (8192 + 1639 overhead) but 7782 of 47104 MiB are free (39322 used by 1 running VM: big; capacity 49152 MiB on the lesser node node1 minus 2048 reserved)"}}},
		{"memory exactly fits: 39253 + 7851 = 47104", nil, ha("m", 1, 39253), wantErr{}},
		{"memory 1 MiB over", nil, ha("m", 1, 39254), wantErr{refuse: []string{
			"needs 47105 MiB memory (39254 + 7851 overhead) but 47104 of 47104 MiB are free (capacity 49152 MiB on the lesser node node1 minus 2048 reserved)"}}},
		{"itself in running is not counted twice", []VM{ha("db", 4, 4096), a4}, ha("db", 4, 4096), wantErr{}},
		{"limit error before refusal", []VM{a4, b4}, ha("c", 21, 1024), wantErr{limit: []string{
			"21 vCPUs is more than the 20 a VM may have"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, seed.CheckStart(tc.running, tc.vm), tc.want)
		})
	}
}

func TestCheckStartEditions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sys     System
		running []VM
		vm      VM
		want    wantErr
	}{
		{"enterprise 28th", bigSystem(Enterprise), many(27), ft("new", 4, 4096), wantErr{}},
		{"enterprise 29th", bigSystem(Enterprise), many(28), ha("new", 1, 256), wantErr{refuse: []string{
			"edition enterprise runs at most 28 VMs at a time; 28 are running"}}},
		{"enterprise restart of one of 28", bigSystem(Enterprise), many(28), ha("vm05", 1, 256), wantErr{}},
		{"express 28th", bigSystem(Express), many(27), ha("new", 1, 256), wantErr{}},
		{"express 29th", bigSystem(Express), many(28), ha("new", 1, 256), wantErr{refuse: []string{
			"edition express runs at most 28 VMs at a time; 28 are running"}}},
		{"express FT", bigSystem(Express), nil, ft("db", 1, 256), wantErr{limit: []string{
			`edition express runs HA VMs only; "db" is FT`}}},
		{"single-pvm first FT", seedSystem(SinglePVM), nil, ft("x", 4, 4096), wantErr{}},
		{"single-pvm second", seedSystem(SinglePVM), []VM{ft("x", 1, 1024)}, ha("y", 1, 1024), wantErr{refuse: []string{
			`edition single-pvm runs 1 VM at a time; "x" is running`}}},
		{"single-pvm restart", seedSystem(SinglePVM), []VM{ft("x", 1, 1024)}, ft("x", 1, 1024), wantErr{}},
		{"single-pvm: every reason", seedSystem(SinglePVM), []VM{ha("x", 9, 1024)}, ha("y", 1, 1024), wantErr{refuse: []string{
			"needs 2 vCPU (1 + 1 HA overhead) but 0 of 10 are free (10 used by 1 running VM: x; capacity 12 on the lesser node node1 minus 2 reserved)",
			`edition single-pvm runs 1 VM at a time; "x" is running`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.sys.CheckStart(tc.running, tc.vm), tc.want)
		})
	}
}

// An invalid system is neither the VM's fault nor a lack of room.
func TestCheckInvalidSystem(t *testing.T) {
	s := seedSystem("gold")
	for name, err := range map[string]error{
		"create": s.CheckCreate(ha("db", 1, 1024)),
		"start":  s.CheckStart(nil, ha("db", 1, 1024)),
	} {
		var le *LimitError
		var re *Refusal
		if err == nil || errors.As(err, &le) || errors.As(err, &re) {
			t.Errorf("%s: got %T %v, want a plain validation error", name, err, err)
		}
	}
}

func TestErrorStrings(t *testing.T) {
	seed := seedSystem(Enterprise)
	err := seed.CheckStart([]VM{ha("a", 3, 16384), ha("b", 3, 16384)}, ha("db", 4, 8192))
	want := `vm "db": needs 5 vCPU (4 + 1 HA overhead) but 2 of 10 are free (8 used by 2 running VMs: a, b; capacity 12 on the lesser node node1 minus 2 reserved); ` +
		`needs 9831 MiB memory (8192 + 1639 overhead) but 7782 of 47104 MiB are free (39322 used by 2 running VMs: a, b; capacity 49152 MiB on the lesser node node1 minus 2048 reserved)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	err = seed.CheckCreate(VM{"db", ModeHA, 24, 4096, 21, 1})
	want = `vm "db": 24 vCPUs is more than the 20 a VM may have; 21 NICs is more than the 20 a VM may have`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
