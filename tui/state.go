package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
)

// phase is where a server is, as the events tell it.
type phase int

const (
	phWaiting    phase = iota // not started in this rollout
	phUpToDate                // already on the target and healthy (skipped)
	phRebuilding              // its rebuild (or rollback) runs: the "active" gate
	phGating                  // a gate runs, or one passed and the next is not reported yet
	phHealthy                 // on the target, its batch ended with every gate passed
	phRolledBack              // back on its previous image, gates passed
	phFailed                  // a gate (or the rebuild) failed
	phGone                    // no longer in the fleet
)

// row is one server of the table.
type row struct {
	id, name, address string
	batch             string
	seq               int    // the batch (in order of start) that worked on it last
	prev, target      string // the image before the rollout, and the rollout's target
	back              bool   // its work is a rollback: target -> prev
	phase             phase
	gate              string // the gate running or reported last: "active", "ssh", "tcp 22", "score"
	gateRunning       bool
	probeFailed       bool // failed the probe at a batch's start: counts as unavailable
	score             *float64
	started, ended    time.Time
	lines             []string // its events, one line each, oldest first
}

const maxLines = 200 // per server, and of the rollout's log

func (m *Model) row(name string) *row {
	if i, ok := m.index[name]; ok {
		return m.rows[i]
	}
	r := &row{name: name, target: m.target}
	m.index[name] = len(m.rows)
	m.rows = append(m.rows, r)
	return r
}

func (m *Model) logLine(s string) {
	if s == "" {
		return
	}
	m.log = append(m.log, s)
	if len(m.log) > maxLines {
		m.log = m.log[len(m.log)-maxLines:]
	}
}

// apply updates the screen's state with one event.
func (m *Model) apply(e event.Event, at time.Time) {
	switch e.Kind {
	case event.KindRollout:
		m.rolloutEvent(e, at)
	case event.KindBatch:
		m.batchEvent(e, at)
	case event.KindServer:
		m.serverEvent(e, at)
	default: // images protected and released, the lock's inbox
		m.logLine(event.TextLine(e, false))
	}
}

func (m *Model) rolloutEvent(e event.Event, at time.Time) {
	switch {
	case e.Phase == event.Start:
		m.running, m.started, m.startMsg, m.todo = true, at, e.Message, e.Count
		if e.Action == rollout.Rollback {
			m.rollingBack, m.backTotal = true, e.Count
		}
		m.logLine(e.Message)
		return
	case e.Phase == event.End:
		m.ended, m.endedAt, m.err = true, at, e.Err
		m.asked, m.paused, m.baking, m.batch, m.atBudget = "", false, "", "", false
	case e.Action == "budget":
		var n, b int
		if _, err := fmt.Sscanf(e.Message, "%d/%d unavailable", &n, &b); err == nil {
			m.use, m.budget, m.useKnown, m.peak = n, b, true, max(m.peak, n)
			m.atBudget = strings.Contains(e.Message, "at the budget")
		}
	case e.Action == rollout.Pause && e.Status == "paused":
		m.paused, m.pauseWhy, m.baking = true, e.Message, ""
		if m.asked == rollout.Pause {
			m.asked = ""
		}
	case e.Action == rollout.Resume:
		m.paused = false
		if m.asked == rollout.Resume {
			m.asked = ""
		}
	case e.Action == rollout.Rollback && strings.HasPrefix(e.Message, "rolling "):
		m.rollingBack, m.backTotal, m.backWhy, m.paused = true, e.Count, e.Message, false
		if m.asked == rollout.Rollback {
			m.asked = ""
		}
	case e.Action == rollout.Abort:
		if m.asked == rollout.Abort {
			m.asked = ""
		}
	}
	m.logLine(event.TextLine(e, false))
}

func (m *Model) batchEvent(e event.Event, at time.Time) {
	switch {
	case e.Phase == event.Start:
		m.batchSeq++
		m.batch, m.batchCount, m.baking, m.atBudget = e.Address, e.Count, "", false
	case e.Phase == event.End:
		m.finishBatch(at)
		m.batch = ""
		if e.Err != nil {
			m.logLine(event.TextLine(e, false))
		}
	case e.Action == "bake":
		m.baking = e.Message
		m.logLine(e.Message)
	default:
		m.logLine(event.TextLine(e, false))
	}
}

// finishBatch: every server of the batch that ended has passed or failed its gates (the
// engine waits for them); one with no failure passed.
func (m *Model) finishBatch(at time.Time) {
	for _, r := range m.rows {
		if r.seq != m.batchSeq || r.phase != phGating || r.gateRunning {
			continue
		}
		r.phase = phHealthy
		if r.back {
			r.phase = phRolledBack
		}
		if r.ended.IsZero() {
			r.ended = at
		}
	}
}

func isWork(action string) bool {
	switch rollout.Work(action) {
	case rollout.WorkRebuild, rollout.WorkGate, rollout.WorkRollback, rollout.WorkRegate:
		return true
	}
	return false
}

func (m *Model) serverEvent(e event.Event, at time.Time) {
	r := m.row(e.Address)
	line := strings.TrimPrefix(event.TextLine(e, true), "server "+e.Address+": ")
	if e.Phase == event.Info { // the Err of an info event too (a failed probe, a mark not written)
		line = e.Action
		if e.Status != "" {
			line += " " + e.Status
		}
		for _, s := range []string{e.Message, errText(e.Err)} {
			if s != "" {
				line += ": " + s
			}
		}
	}
	r.lines = append(r.lines, at.Format("15:04:05")+" "+line)
	if len(r.lines) > maxLines {
		r.lines = r.lines[len(r.lines)-maxLines:]
	}
	switch {
	case isWork(e.Action) && e.Phase == event.Start:
		w := rollout.Work(e.Action)
		r.back = w == rollout.WorkRollback || w == rollout.WorkRegate
		if r.target == "" {
			r.target = m.target
		}
		r.batch, r.seq = m.batch, m.batchSeq
		r.started, r.ended = at, time.Time{}
		r.phase, r.gate, r.gateRunning, r.probeFailed, r.score = phRebuilding, "active", true, false, nil
	case isWork(e.Action) && e.Phase == event.End:
		r.gateRunning = false
		r.phase = phGating
		if e.Err != nil {
			r.phase, r.ended = phFailed, at
		}
	case isWork(e.Action) && e.Status == "skipped":
		r.phase = phGone
	case strings.HasPrefix(e.Action, "gate ") && e.Phase == event.Start:
		r.phase, r.gate, r.gateRunning = phGating, strings.TrimPrefix(e.Action, "gate "), true
	case strings.HasPrefix(e.Action, "gate ") && e.Phase == event.End:
		r.gate, r.gateRunning = strings.TrimPrefix(e.Action, "gate "), false
		if e.Score != nil {
			r.score = e.Score
		}
		if e.Err != nil {
			r.phase, r.ended = phFailed, at
		}
	case e.Action == "skip":
		r.phase = phUpToDate
	case e.Action == "probe" && e.Status == "failed":
		r.probeFailed = true
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
