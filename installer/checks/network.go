package checks

import (
	"fmt"
	"strings"
)

// Network checks the ports (SPEC I4): "nics".
func Network(f Facts) []Result {
	r := Result{ID: "nics", Title: "Network ports"}
	var ports []string
	tenG := 0
	for _, n := range f.NICs {
		link := "no link"
		if n.Link {
			link = "link up"
			if n.Speed > 0 {
				link = fmt.Sprintf("%d Mb/s", n.Speed)
			}
		}
		if n.Speed >= 10000 {
			tenG++
		}
		ports = append(ports, fmt.Sprintf("%s %s %s", n.Name, n.Driver, link))
	}
	need := "Lockstep needs at least two ports: priv0 (a direct cable to the peer) and ibiz0 (management)"
	switch len(f.NICs) {
	case 0:
		r.Status = Fail
		r.Detail = "no network port found; " + need
		r.Fix = "Fit a network adapter or enable the onboard NICs in the BIOS setup (Integrated Devices / Embedded NIC)."
		return []Result{r}
	case 1:
		r.Status = Warn
		r.Detail = fmt.Sprintf("one port (%s); %s; %s", ports[0], need, RecommendedText)
		r.Fix = "Enable the other onboard ports in the BIOS setup (Integrated Devices / Embedded NIC) or fit a second network adapter."
		return []Result{r}
	}
	r.Detail = fmt.Sprintf("%d ports: %s", len(f.NICs), strings.Join(ports, ", "))
	if len(f.NICs) < RecommendedNICs || tenG < 2 {
		r.Detail += "; " + RecommendedText
	}
	return []Result{r}
}
