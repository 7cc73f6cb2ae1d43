package rollout

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Action is one of Nova's instance actions on a server (os-instance-actions), as the cloud
// returns it: Nova's own record, independent of hardenctl's.
type Action struct {
	ServerID, Server string
	Action           string // "rebuild", "reboot", "stop", ...
	RequestID        string
	Start            time.Time
	Finish           time.Time // the last of its events' finish times; zero while it runs
	Failed           bool      // an event of it ended in error
}

// AuditSource is what the audit reads: the fleet and each server's instance actions.
type AuditSource interface {
	ListFleet(ctx context.Context, tags []string) ([]Server, error)
	InstanceActions(ctx context.Context, serverID string) ([]Action, error)
}

// Down is one server out of service by Nova's record: a rebuild, from its request to its
// end. (A rollout counts a server unavailable until its gate passed, later: Nova's record
// is the part of that anyone can check.)
type Down struct {
	ServerID, Server, RequestID string
	Start, End                  time.Time
	Open                        bool // not finished: End is the audit's now
	Failed                      bool
}

// AuditRollout is a run of rebuilds close in time: one rollout (with its reruns after a
// crash).
type AuditRollout struct {
	Start, End time.Time
	Downs      []Down // by start
	Peak       int    // most servers down at once
	PeakAt     time.Time
}

// Audit groups the rebuild actions into rollouts (a rebuild starting more than gap after
// every earlier one ended begins a new rollout) and computes for each when each server was
// down and the peak number down at once. Unfinished rebuilds are down until now. It is a
// pure function of its arguments.
func Audit(actions []Action, gap time.Duration, now time.Time) []AuditRollout {
	var downs []Down
	for _, a := range actions {
		if a.Action != "rebuild" || a.Start.IsZero() {
			continue
		}
		d := Down{ServerID: a.ServerID, Server: a.Server, RequestID: a.RequestID, Start: a.Start, End: a.Finish, Failed: a.Failed}
		if d.End.IsZero() || d.End.Before(d.Start) {
			d.End, d.Open = now, true
		}
		downs = append(downs, d)
	}
	sort.SliceStable(downs, func(i, j int) bool {
		if !downs[i].Start.Equal(downs[j].Start) {
			return downs[i].Start.Before(downs[j].Start)
		}
		return downs[i].Server < downs[j].Server
	})
	var out []AuditRollout
	for _, d := range downs {
		if n := len(out); n > 0 && !d.Start.After(out[n-1].End.Add(gap)) {
			r := &out[n-1]
			r.Downs = append(r.Downs, d)
			if d.End.After(r.End) {
				r.End = d.End
			}
			continue
		}
		out = append(out, AuditRollout{Start: d.Start, End: d.End, Downs: []Down{d}})
	}
	for i := range out {
		out[i].Peak, out[i].PeakAt = peak(out[i].Downs)
	}
	return out
}

// peak sweeps the intervals: an end and a start at the same instant do not overlap. Two
// rebuilds of one server never count it twice.
func peak(downs []Down) (int, time.Time) {
	type edge struct {
		at     time.Time
		delta  int
		server string
	}
	var edges []edge
	for _, d := range downs {
		key := d.ServerID
		if key == "" {
			key = d.Server
		}
		edges = append(edges, edge{d.Start, +1, key}, edge{d.End, -1, key})
	}
	sort.SliceStable(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	down := map[string]int{}
	best, at, cur := 0, time.Time{}, 0
	for _, e := range edges {
		before := down[e.server]
		down[e.server] += e.delta
		switch {
		case before == 0 && down[e.server] > 0:
			cur++
		case before > 0 && down[e.server] == 0:
			cur--
		}
		if cur > best {
			best, at = cur, e.at
		}
	}
	return best, at
}

// ReadAudit reads the fleet's instance actions (one list, then one read per server) and
// audits them.
func ReadAudit(ctx context.Context, src AuditSource, tags []string, gap time.Duration, now time.Time) ([]AuditRollout, error) {
	servers, err := src.ListFleet(ctx, tags)
	if err != nil {
		return nil, fmt.Errorf("list fleet for the audit: %w", err)
	}
	var all []Action
	for _, s := range servers {
		acts, err := src.InstanceActions(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("read the instance actions of %s: %w", s.Name, err)
		}
		for _, a := range acts {
			if a.Server == "" {
				a.Server = s.Name
			}
			if a.ServerID == "" {
				a.ServerID = s.ID
			}
			all = append(all, a)
		}
	}
	return Audit(all, gap, now), nil
}
