package event

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Text prints events for people, one line each, on w (stderr in the CLI):
//
//	sample-app: create...
//	sample-app: create done (0.4s)
//	host app-1: scan failed (unreachable) after 12.0s: connect: ...
//	host app-2: scan skipped: not started
//
// Start events of kinds that finish fast are printed too, so a hung step shows what hangs.
type Text struct {
	W io.Writer
	// Verbose prints the start of every unit too (default: ends and infos only, and the
	// start of steps that may take long: image steps, boots, rebuilds, scans).
	Verbose bool

	mu sync.Mutex
}

// Event prints e.
func (p *Text) Event(e Event) Action {
	line := TextLine(e, p.Verbose)
	if line == "" {
		return Continue
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.W, line)
	return Continue
}

// TextLine is the line Text prints for e ("" for none).
func TextLine(e Event, verbose bool) string {
	what := e.Action
	if e.Count > 0 {
		what = fmt.Sprintf("%s (%d)", what, e.Count)
	}
	name := e.Address
	if e.Kind != "" && e.Kind != KindSecurityGroup {
		name = string(e.Kind) + " " + e.Address
	}
	switch e.Phase {
	case Start:
		if !verbose && !slowKinds[e.Kind] {
			return ""
		}
		return fmt.Sprintf("%s: %s...", name, what)
	case End:
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s", name, what)
		switch {
		case e.Err != nil:
			b.WriteString(" failed")
			if e.Status != "" {
				fmt.Fprintf(&b, " (%s)", e.Status)
			}
			fmt.Fprintf(&b, " after %s: %v", round(e.Elapsed), e.Err)
			return b.String()
		case e.Status != "":
			fmt.Fprintf(&b, " %s", e.Status)
		default:
			b.WriteString(" done")
		}
		if e.Score != nil {
			fmt.Fprintf(&b, ", score %.2f", *e.Score)
		}
		fmt.Fprintf(&b, " (%s)", round(e.Elapsed))
		return b.String()
	default:
		if e.Status != "" {
			return fmt.Sprintf("%s: %s %s: %s", name, what, e.Status, e.Message)
		}
		return fmt.Sprintf("%s: %s", name, e.Message)
	}
}

var slowKinds = map[Kind]bool{KindImage: true, KindServer: true, KindHost: true, KindRollout: true, KindBatch: true}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}

// JSONLine is the stable form of an event for machines: one object a line, these fields
// only, names never changed (new ones may be added).
type JSONLine struct {
	Time      string   `json:"time"` // RFC 3339, UTC, milliseconds
	Kind      Kind     `json:"kind"`
	Address   string   `json:"address"`
	Action    string   `json:"action"`
	Phase     Phase    `json:"phase"`
	Count     int      `json:"count,omitempty"`
	ElapsedMS *int64   `json:"elapsed_ms,omitempty"` // end only
	Status    string   `json:"status,omitempty"`
	Error     string   `json:"error,omitempty"`
	Score     *float64 `json:"score,omitempty"`
	Message   string   `json:"message,omitempty"`
}

// ToJSON is e in its stable form, stamped with t.
func ToJSON(e Event, t time.Time) JSONLine {
	l := JSONLine{Time: t.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Kind: e.Kind, Address: e.Address, Action: e.Action, Phase: e.Phase, Count: e.Count, Status: e.Status, Score: e.Score, Message: e.Message}
	if e.Phase == End {
		ms := e.Elapsed.Milliseconds()
		l.ElapsedMS = &ms
	}
	if e.Err != nil {
		l.Error = e.Err.Error()
	}
	return l
}

// JSON writes each event as one JSON object a line on w (stdout with -json).
type JSON struct {
	W io.Writer
	// Now stamps the events (default time.Now); tests pin it.
	Now func() time.Time

	mu sync.Mutex
}

// Event writes e.
func (p *JSON) Event(e Event) Action {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	b, err := json.Marshal(ToJSON(e, now()))
	if err != nil { // cannot happen: the fields are plain
		return Continue
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.W.Write(append(b, '\n'))
	return Continue
}
