package rollout

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// The per-server marks in Nova metadata: what a rerun resumes from (keys and values at most
// 255 bytes, Nova's limit). They are sent in the rebuild request and updated once the gate
// has spoken.
const (
	MarkID        = "hardenctl_rollout"            // the rollout's id
	MarkFrom      = "hardenctl_rollout_from"       // the image the server ran before
	MarkTo        = "hardenctl_rollout_to"         // the image the rollout moves it onto
	MarkPhase     = "hardenctl_rollout_phase"      // a Phase
	MarkAt        = "hardenctl_rollout_at"         // when the rebuild (or rollback) was requested
	MarkHealthyAt = "hardenctl_rollout_healthy_at" // when its gate passed
	MarkScore     = "hardenctl_rollout_score"      // its compliance score at the gate

	markPrefix = "hardenctl_rollout"
	maxMark    = 255
)

// Phase is where a server is in a rollout.
type Phase string

const (
	PhaseRebuilding Phase = "rebuilding"  // rebuild onto To requested, gate not passed
	PhaseHealthy    Phase = "healthy"     // on To, gate passed
	PhaseFailed     Phase = "failed"      // on To, gate failed
	PhaseRollback   Phase = "rollback"    // rebuild back onto From requested, gate not passed
	PhaseRolledBack Phase = "rolled-back" // back on From, gate passed
)

// inFlight says whether the phase counts the server unavailable.
func (p Phase) unavailable() bool {
	return p == PhaseRebuilding || p == PhaseFailed || p == PhaseRollback
}

// Marks are a server's marks.
type Marks struct {
	ID, From, To string
	Phase        Phase
	At           time.Time
	HealthyAt    time.Time
	Score        *float64
}

// ReadMarks reads the marks of a server's metadata; ok is false when it has none.
func ReadMarks(md map[string]string) (m Marks, ok bool) {
	if md[MarkID] == "" {
		return Marks{}, false
	}
	m = Marks{ID: md[MarkID], From: md[MarkFrom], To: md[MarkTo], Phase: Phase(md[MarkPhase])}
	m.At, _ = time.Parse(time.RFC3339Nano, md[MarkAt])
	m.HealthyAt, _ = time.Parse(time.RFC3339Nano, md[MarkHealthyAt])
	if s, err := strconv.ParseFloat(md[MarkScore], 64); err == nil {
		m.Score = &s
	}
	return m, true
}

// Metadata renders the marks as metadata items.
func (m Marks) Metadata() map[string]string {
	md := map[string]string{MarkID: m.ID, MarkFrom: m.From, MarkTo: m.To, MarkPhase: string(m.Phase)}
	if !m.At.IsZero() {
		md[MarkAt] = m.At.UTC().Format(time.RFC3339Nano) // to the nanosecond: a rollback goes newest first
	}
	if !m.HealthyAt.IsZero() {
		md[MarkHealthyAt] = m.HealthyAt.UTC().Format(time.RFC3339Nano)
	}
	if m.Score != nil {
		md[MarkScore] = strconv.FormatFloat(*m.Score, 'f', -1, 64)
	}
	return md
}

// withMarks is existing with every earlier mark removed and m's set: the whole metadata a
// rebuild request carries (Nova's rebuild replaces the metadata).
func withMarks(existing map[string]string, m Marks) (map[string]string, error) {
	md := maps.Clone(existing)
	if md == nil {
		md = map[string]string{}
	}
	for k := range md {
		if strings.HasPrefix(k, markPrefix) {
			delete(md, k)
		}
	}
	maps.Copy(md, m.Metadata())
	return md, checkMetadata(md)
}

// checkMetadata enforces Nova's bounds on metadata items.
func checkMetadata(md map[string]string) error {
	for k, v := range md {
		if len(k) == 0 || len(k) > maxMark || len(v) > maxMark {
			return fmt.Errorf("metadata item %.40q: keys and values are at most %d bytes (key %d, value %d)", k, maxMark, len(k), len(v))
		}
	}
	return nil
}
