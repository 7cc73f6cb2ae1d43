package rollout

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/hardenctl/hardenctl/config"
)

// Work is what the engine does to one server.
type Work string

const (
	WorkRebuild  Work = "rebuild"  // rebuild onto the target, then gate
	WorkGate     Work = "gate"     // wait for a rebuild already requested (a crashed run's), or gate a server already on the target, or gate a failed one again
	WorkRollback Work = "rollback" // rebuild back onto the previous image, then gate
	WorkRegate   Work = "rollback-gate"
)

// Item is one server's work in a batch.
type Item struct {
	Server Server
	Work   Work
	// From is the image the server ran before the rollout ("" when nobody knows: a
	// volume-backed server without marks, or one found on the target without them).
	From  string
	Marks Marks // its marks as listed (zero when none)
}

func (it Item) rollback() bool { return it.Work == WorkRollback || it.Work == WorkRegate }

// Batch is a group of servers rolled together: the next batch starts when every server of
// this one has passed or failed its gate.
type Batch struct {
	Name   string // "resume", "canary", "batch 2", "rollback 1", "retry"
	Canary bool   // a bake follows before the rest
	Items  []Item
}

// Plan is what a rollout will do, derived from one listing of the fleet and its marks: the
// dry run prints it, Run carries it out.
type Plan struct {
	RolloutID string
	Resumed   bool // RolloutID came from the marks of a run that did not finish
	// Rollback says the marks show a rollback of RolloutID in progress: Run continues it.
	Rollback    bool
	Target      string
	Total       int // servers in the fleet
	Budget      int // max_unavailable for this fleet: at least 1
	MaxFailures int
	Skipped     []Server // already on the target and healthy
	Batches     []Batch
	// Previous maps each image the rollout moves servers off to the names of those servers:
	// the images a rollback needs.
	Previous map[string][]string
	// NoPrevious names the servers whose previous image is unknown: they cannot be rolled
	// back.
	NoPrevious []string
}

// Budget is max_unavailable for a fleet of total servers: a percentage rounds down, and it
// is at least 1.
func Budget(a config.Amount, total int) int { return max(1, a.Of(total)) }

// NewPlan derives the plan from the fleet as listed. newID makes the id of a new rollout.
func NewPlan(spec Spec, servers []Server, newID func() string) *Plan {
	if newID == nil {
		newID = NewID
	}
	servers = append([]Server(nil), servers...)
	sort.Slice(servers, func(i, j int) bool {
		return servers[i].Name < servers[j].Name || servers[i].Name == servers[j].Name && servers[i].ID < servers[j].ID
	})
	p := &Plan{Target: spec.Target, Total: len(servers), Budget: Budget(spec.Upgrade.MaxUnavailable, len(servers)),
		MaxFailures: spec.Upgrade.MaxFailures.Of(len(servers)), Previous: map[string][]string{}}

	// The rollout in progress is the newest one whose marks name this target.
	for _, s := range servers {
		if m, ok := ReadMarks(s.Metadata); ok && m.To == spec.Target && m.ID > p.RolloutID {
			p.RolloutID = m.ID
		}
	}
	if p.RolloutID != "" {
		p.Resumed = true
		p.Rollback = rollbackInProgress(servers, p.RolloutID)
	} else {
		p.RolloutID = newID()
	}
	if p.Rollback {
		p.Batches = chunk(rollbackItems(servers, p.RolloutID), p.Budget, "rollback")
		for _, b := range p.Batches {
			for _, it := range b.Items {
				p.previous(it)
			}
		}
		return p
	}

	var resume, pending []Item
	healthy := false
	for _, s := range servers {
		m, has := ReadMarks(s.Metadata)
		ours := has && m.To == spec.Target
		cur := currentImage(s, m, has)
		switch {
		case ours && m.Phase == PhaseHealthy && cur == spec.Target:
			p.Skipped = append(p.Skipped, s)
			healthy = true
			if m.ID == p.RolloutID && m.From != "" {
				// moved by this rollout: a rollback would move it back too
				p.Previous[m.From] = append(p.Previous[m.From], s.Name)
			}
		case ours && (m.Phase == PhaseRebuilding || m.Phase == PhaseFailed):
			resume = append(resume, Item{Server: s, Work: WorkGate, From: m.From, Marks: m})
		case cur == spec.Target:
			from := ""
			if ours {
				from = m.From
			}
			resume = append(resume, Item{Server: s, Work: WorkGate, From: from, Marks: m})
		default:
			pending = append(pending, Item{Server: s, Work: WorkRebuild, From: cur, Marks: m})
		}
	}
	for _, it := range append(append([]Item(nil), resume...), pending...) {
		p.previous(it)
	}
	if len(resume) > 0 {
		// A crashed run's servers are finished first; if none had passed yet, they are
		// the canary.
		p.Batches = append(p.Batches, Batch{Name: "resume", Canary: !healthy, Items: resume})
		healthy = true
	}
	if c := spec.Upgrade.Canary; c > 0 && !healthy && len(pending) > 0 {
		c = min(c, len(pending))
		p.Batches = append(p.Batches, Batch{Name: "canary", Canary: true, Items: pending[:c]})
		pending = pending[c:]
	}
	p.Batches = append(p.Batches, chunk(pending, p.Budget, "batch")...)
	for i := range p.Batches {
		if p.Batches[i].Name == "batch" {
			p.Batches[i].Name = fmt.Sprintf("batch %d", i+1)
		}
	}
	return p
}

func (p *Plan) previous(it Item) {
	if it.From == "" {
		p.NoPrevious = append(p.NoPrevious, it.Server.Name)
		return
	}
	p.Previous[it.From] = append(p.Previous[it.From], it.Server.Name)
}

// Servers counts the servers the plan will touch.
func (p *Plan) Servers() int {
	n := 0
	for _, b := range p.Batches {
		n += len(b.Items)
	}
	return n
}

func chunk(items []Item, size int, name string) []Batch {
	var out []Batch
	for len(items) > 0 {
		n := min(size, len(items))
		b := Batch{Name: name, Items: items[:n]}
		if name == "rollback" {
			b.Name = fmt.Sprintf("rollback %d", len(out)+1)
		}
		out = append(out, b)
		items = items[n:]
	}
	return out
}

// currentImage is the image the server runs: Nova's, or for a volume-backed server (whose
// image Nova does not show) what its marks say.
func currentImage(s Server, m Marks, has bool) string {
	if s.ImageID != "" || !s.VolumeBacked || !has {
		return s.ImageID
	}
	if m.Phase == PhaseRollback || m.Phase == PhaseRolledBack {
		return m.From
	}
	return m.To
}

// rollbackInProgress: a server of rollout id is being rolled back, or one is back while
// another is still on the target.
func rollbackInProgress(servers []Server, id string) bool {
	back, onTarget := false, false
	for _, s := range servers {
		m, ok := ReadMarks(s.Metadata)
		if !ok || m.ID != id {
			continue
		}
		switch m.Phase {
		case PhaseRollback:
			return true
		case PhaseRolledBack:
			back = true
		case PhaseRebuilding, PhaseHealthy, PhaseFailed:
			onTarget = true
		}
	}
	return back && onTarget
}

// rollbackItems are the servers of rollout id to move back, newest first: those whose
// rollback was already requested, then those not yet healthy, then the healthy ones by
// when they were rebuilt.
func rollbackItems(servers []Server, id string) []Item {
	var items []Item
	for _, s := range servers {
		m, ok := ReadMarks(s.Metadata)
		if !ok || m.ID != id {
			continue
		}
		switch m.Phase {
		case PhaseRollback:
			items = append(items, Item{Server: s, Work: WorkRegate, From: m.From, Marks: m})
		case PhaseRebuilding, PhaseHealthy, PhaseFailed:
			items = append(items, Item{Server: s, Work: WorkRollback, From: m.From, Marks: m})
		}
	}
	rank := func(it Item) int {
		switch {
		case it.Work == WorkRegate:
			return 0
		case it.Marks.Phase != PhaseHealthy:
			return 1
		}
		return 2
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		return a.Marks.At.After(b.Marks.At)
	})
	return items
}

// NewID makes a rollout id: the time (so that ids sort by age) and 4 random bytes.
func NewID() string {
	var b [4]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
