package rollout

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// PlanNotes are what the plan's text says beside the plan itself: names for people.
type PlanNotes struct {
	Image   string // the target image's name
	Profile string // the compliance gate's profile and content ("node, ssg-debian12-ds.xml")
	// Names maps image ids to names (the previous images), when known.
	Names map[string]string
}

// WritePlan renders the plan for people: the budget arithmetic, the gates in order, what is
// wiped, the batches with their servers (the volume-backed ones noted), and what a rollback
// would need. upgrade --dry-run and plan print it.
func WritePlan(w io.Writer, spec Spec, p *Plan, n PlanNotes) error {
	u := spec.Upgrade
	h := u.Health
	var b strings.Builder
	img := short(p.Target)
	if n.Image != "" {
		img = n.Image + " (" + short(p.Target) + ")"
	}
	verb := "Rollout"
	if p.Resumed {
		verb = "Rollout " + p.RolloutID + " (resumed from the servers' marks)"
		if p.Rollback {
			verb = "Rollback of rollout " + p.RolloutID + " (in progress, from the servers' marks)"
		}
	}
	fmt.Fprintf(&b, "%s of fleet %s onto image %s: %d of %d servers to do", verb, spec.Fleet, img, p.Servers(), p.Total)
	if len(p.Skipped) > 0 {
		fmt.Fprintf(&b, ", %d already on it and healthy", len(p.Skipped))
	}
	b.WriteString("\n")
	mu := u.MaxUnavailable
	arith := fmt.Sprintf("max_unavailable %s", mu)
	if mu.Percent {
		arith += fmt.Sprintf(" of %d servers = %d (rounded down)", p.Total, mu.Of(p.Total))
	}
	if mu.Of(p.Total) < 1 {
		arith += ", at least 1"
	}
	fmt.Fprintf(&b, "  budget: %s -> at most %d unavailable at once (rebuilding, not yet through its gate, failed, or not ACTIVE); max_failures %s -> %d; on_failure %s\n",
		arith, p.Budget, u.MaxFailures, p.MaxFailures, u.OnFailure)
	gates := []string{"active (ACTIVE on the image; for a volume-backed server, its rebuild's instance action)"}
	if h.Warmup > 0 {
		gates = append([]string{"warmup " + h.Warmup.String()}, gates...)
	}
	if h.SSH {
		gates = append(gates, "ssh through the bastion, verified against the new host key from the console")
		for _, port := range h.TCP {
			gates = append(gates, fmt.Sprintf("tcp %d (from inside, over ssh)", port))
		}
		if h.MinScore != nil {
			s := fmt.Sprintf("score >= %g", *h.MinScore)
			if n.Profile != "" {
				s += " (" + n.Profile + ")"
			}
			gates = append(gates, s)
		}
	}
	fmt.Fprintf(&b, "  gates, in order: %s; timeout %s per server", strings.Join(gates, ", "), h.Timeout)
	if h.Bake > 0 {
		fmt.Fprintf(&b, "; bake %s between batches", h.Bake)
	}
	if u.Deadline > 0 {
		fmt.Fprintf(&b, "; deadline %s for the whole rollout", u.Deadline)
	}
	b.WriteString("\n  wiped: each server's root disk (a rebuild keeps its id, ports, addresses and attached volumes)\n")
	var volume []string
	for _, bt := range p.Batches {
		var names []string
		for _, it := range bt.Items {
			name := it.Server.Name
			switch it.Work {
			case WorkGate:
				name += " (gate only)"
			case WorkRegate:
				name += " (rollback gate)"
			}
			if it.Server.VolumeBacked {
				volume = append(volume, it.Server.Name)
			}
			names = append(names, name)
		}
		label := bt.Name
		if bt.Canary && h.Bake > 0 {
			label += ", then bake"
		}
		fmt.Fprintf(&b, "  %-12s %d: %s\n", label, len(bt.Items), strings.Join(names, ", "))
	}
	if len(p.Skipped) > 0 {
		var names []string
		for _, s := range p.Skipped {
			names = append(names, s.Name)
		}
		fmt.Fprintf(&b, "  skipped: %s\n", strings.Join(names, ", "))
	}
	if len(volume) > 0 {
		fmt.Fprintf(&b, "  volume-backed (the rebuild needs compute API 2.93; Nova shows no image, the marks say): %s\n", strings.Join(volume, ", "))
	}
	if k := len(p.Batches); k > 0 {
		bound := time.Duration(k)*h.Timeout + time.Duration(k-1)*h.Bake
		fmt.Fprintf(&b, "  %d batch(es) one after another: about %d x the slowest server's rebuild and gates; at most %s (%d x the %s timeout, plus bakes)\n",
			k, k, bound, k, h.Timeout)
	}
	switch {
	case p.Servers() == 0:
	case len(p.NoPrevious) > 0 && u.OnFailure == "rollback":
		fmt.Fprintf(&b, "  rollback impossible: the previous image of %s is unknown; the rollout will refuse to start (set on_failure = \"pause\" or \"abort\")\n", strings.Join(p.NoPrevious, ", "))
	case len(p.Previous) > 0:
		var prev []string
		ids := make([]string, 0, len(p.Previous))
		for id := range p.Previous {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			name := short(id)
			if nm := n.Names[id]; nm != "" {
				name = nm + " (" + short(id) + ")"
			}
			prev = append(prev, fmt.Sprintf("%s for %d server(s)", name, len(p.Previous[id])))
		}
		fmt.Fprintf(&b, "  rollback onto: %s (protected in Glance while the rollout runs)\n", strings.Join(prev, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// WriteAudit renders the audit for people: per rollout (rebuilds close in time), when each
// server was down by Nova's records and the peak number down at once, against budget (0:
// not judged).
func WriteAudit(w io.Writer, fleet string, rs []AuditRollout, budget int) error {
	var b strings.Builder
	if len(rs) == 0 {
		fmt.Fprintf(&b, "Nova records no rebuild of fleet %s's servers.\n", fleet)
	}
	for i, r := range rs {
		fmt.Fprintf(&b, "Rollout %d of fleet %s (by Nova's instance actions): %s to %s (%s), %d rebuild(s), peak %d down at once at %s",
			i+1, fleet, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), r.End.Sub(r.Start).Round(time.Second),
			len(r.Downs), r.Peak, r.PeakAt.UTC().Format("15:04:05.000"))
		if budget > 0 {
			verdict := "within"
			if r.Peak > budget {
				verdict = "OVER"
			}
			fmt.Fprintf(&b, " (%s the budget of %d)", verdict, budget)
		}
		b.WriteString("\n")
		for _, d := range r.Downs {
			note := ""
			if d.Open {
				note = " (still running)"
			}
			if d.Failed {
				note += " (failed)"
			}
			fmt.Fprintf(&b, "  %-24s down +%-9s to +%-9s %8s  request %s%s\n", d.Server,
				d.Start.Sub(r.Start).Round(100*time.Millisecond), d.End.Sub(r.Start).Round(100*time.Millisecond),
				d.End.Sub(d.Start).Round(100*time.Millisecond), d.RequestID, note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
