package tui

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
)

// The fleet of the frames: app-1 to app-6 on image A, budget 2, canary 1: batches canary
// (app-1), batch 2 (app-2, app-3), batch 3 (app-4, app-5), batch 4 (app-6).
const (
	imageA = "0a0a0a0a-1111-4111-8111-aaaaaaaaaaaa"
	imageB = "0b0b0b0b-2222-4222-8222-bbbbbbbbbbbb"
	rid    = "20260301T100000Z-0c0d0e0f"

	frameW, frameH = 110, 32
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func testSpec() rollout.Spec {
	min := 80.0
	return rollout.Spec{Config: "sample", Fleet: "app", Tags: []string{"fleet:app"}, Target: imageB,
		Upgrade: config.Upgrade{MaxUnavailable: config.Amount{N: 2}, Canary: 1, OnFailure: config.OnFailureRollback,
			Health: config.Health{SSH: true, TCP: []int{443}, MinScore: &min, Timeout: time.Minute}}}
}

func testServers() []rollout.Server {
	var out []rollout.Server
	for i := 1; i <= 6; i++ {
		s := rollout.Server{ID: fmt.Sprintf("srv-%d", i), Name: fmt.Sprintf("app-%d", i), Address: fmt.Sprintf("10.20.0.%d", 10+i),
			Status: "ACTIVE", ImageID: imageA}
		out = append(out, s)
	}
	return out
}

func testPlan(t *testing.T) *rollout.Plan {
	t.Helper()
	p := rollout.NewPlan(testSpec(), testServers(), func() string { return rid })
	if got := len(p.Batches); got != 4 || p.Batches[0].Name != "canary" {
		t.Fatalf("plan has %d batches (first %q), want 4, the canary first", got, p.Batches[0].Name)
	}
	return p
}

var testImages = map[string]string{imageA: "node-2026-02", imageB: "node-2026-03"}

// script drives a model with events at a scripted clock.
type script struct {
	t   *testing.T
	m   Model
	now time.Time
}

func newScript(t *testing.T, ctrl Controller) *script {
	s := &script{t: t, now: t0}
	s.m = New("upgrade app onto node-2026-03", testPlan(t), ctrl, Options{Images: testImages, Now: func() time.Time { return s.now }})
	s.send(tea.WindowSizeMsg{Width: frameW, Height: frameH})
	return s
}

func (s *script) after(d time.Duration) *script { s.now = s.now.Add(d); return s }

func (s *script) send(msg tea.Msg) tea.Cmd {
	m, cmd := s.m.Update(msg)
	s.m = m.(Model)
	return cmd
}

func (s *script) ev(e event.Event) *script { s.send(eventMsg{e: e, at: s.now}); return s }

func (s *script) key(k string) tea.Cmd {
	switch k {
	case "down":
		return s.send(tea.KeyPressMsg{Code: tea.KeyDown})
	case "up":
		return s.send(tea.KeyPressMsg{Code: tea.KeyUp})
	case "enter":
		return s.send(tea.KeyPressMsg{Code: tea.KeyEnter})
	case "esc":
		return s.send(tea.KeyPressMsg{Code: tea.KeyEscape})
	}
	return s.send(tea.KeyPressMsg{Code: rune(k[0]), Text: k})
}

func info(kind event.Kind, addr, action, status, msg string) event.Event {
	return event.Event{Kind: kind, Address: addr, Action: action, Phase: event.Info, Status: status, Message: msg}
}

func start(kind event.Kind, addr, action string) event.Event {
	return event.Event{Kind: kind, Address: addr, Action: action, Phase: event.Start}
}

func end(kind event.Kind, addr, action, status string, err error, d time.Duration) event.Event {
	return event.Event{Kind: kind, Address: addr, Action: action, Phase: event.End, Status: status, Err: err, Elapsed: d}
}

func (s *script) rolloutStart() *script {
	return s.ev(event.Event{Kind: event.KindRollout, Address: "app", Action: "upgrade", Phase: event.Start, Count: 6,
		Message: "rollout " + rid + " onto " + imageB + ": 6 of 6 servers to do, budget 2 unavailable, canary 1, max failures 0"}).
		ev(info(event.KindImage, imageA, "protect", "", "protected for the rollout: app-1, app-2, app-3, app-4, app-5, app-6"))
}

func (s *script) budget(n int, full bool) *script {
	msg := fmt.Sprintf("%d/2 unavailable", n)
	if full {
		msg += ": at the budget, nothing starts"
	}
	return s.ev(event.Event{Kind: event.KindRollout, Address: "app", Action: "budget", Phase: event.Info, Count: n, Message: msg})
}

func (s *script) batchStart(name string, n int) *script {
	return s.ev(event.Event{Kind: event.KindBatch, Address: name, Action: "batch", Phase: event.Start, Count: n})
}

func (s *script) batchEnd(name string, n int, d time.Duration) *script {
	return s.ev(event.Event{Kind: event.KindBatch, Address: name, Action: "batch", Phase: event.End, Count: n, Elapsed: d})
}

// passes takes a server through its rebuild (work: rebuild or rollback) and every gate.
func (s *script) passes(name, work, req string, sc float64) *script {
	s.ev(start(event.KindServer, name, work)).after(40 * time.Second)
	e := end(event.KindServer, name, work, "", nil, 40*time.Second)
	e.Message = "request " + req
	s.ev(e)
	s.ev(start(event.KindServer, name, "gate ssh")).after(6 * time.Second)
	e = end(event.KindServer, name, "gate ssh", "passed", nil, 6*time.Second)
	e.Message = "2 attempts"
	s.ev(e)
	s.ev(start(event.KindServer, name, "gate tcp 443")).after(time.Second)
	s.ev(end(event.KindServer, name, "gate tcp 443", "passed", nil, time.Second))
	s.ev(start(event.KindServer, name, "gate score")).after(90 * time.Second)
	e = end(event.KindServer, name, "gate score", "passed", nil, 90*time.Second)
	e.Score = &sc
	return s.ev(e)
}

// canaryBaked: the canary app-1 passed and baked, batch 2 started app-2 (its rebuild done,
// the ssh gate running) and app-3 (rebuilding): 2/2 unavailable.
func (s *script) canaryBaked() *script {
	s.rolloutStart().batchStart("canary", 1).budget(1, false).passes("app-1", "rebuild", "req-0001", 92.5).batchEnd("canary", 1, 137*time.Second)
	s.ev(info(event.KindBatch, "canary", "bake", "", "bake 2m0s before the next batch")).after(2 * time.Minute)
	s.batchStart("batch 2", 2)
	s.ev(start(event.KindServer, "app-2", "rebuild")).budget(2, false).after(time.Second)
	s.ev(start(event.KindServer, "app-3", "rebuild")).after(39 * time.Second)
	e := end(event.KindServer, "app-2", "rebuild", "", nil, 40*time.Second)
	e.Message = "request req-0002"
	return s.ev(e).ev(start(event.KindServer, "app-2", "gate ssh")).after(12 * time.Second)
}

// frame is the model's view as a terminal without colour shows it (colour profile pinned
// to NoTTY: every escape sequence stripped, so the words alone must carry the meaning).
func frame(t *testing.T, m Model) []byte {
	t.Helper()
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.NoTTY}
	if _, err := w.Write([]byte(m.View().Content)); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func TestFrameInProgress(t *testing.T) {
	s := newScript(t, nil).canaryBaked()
	s.key("down") // app-2: its ssh gate runs
	s.send(tickMsg(s.now))
	golden.RequireEqual(t, frame(t, s.m))
}

func TestFrameFailedGateRollback(t *testing.T) {
	s := newScript(t, nil).canaryBaked()
	s.ev(start(event.KindServer, "app-3", "gate ssh"))
	s.after(20 * time.Second)
	sshErr := errors.New("gate ssh of app-2: context deadline exceeded (last: dial 10.20.0.12:22 through bastion: connection refused)")
	e := end(event.KindServer, "app-2", "gate ssh", "failed", sshErr, 60*time.Second)
	e.Message = "12 attempts"
	s.ev(e)
	s.ev(end(event.KindServer, "app-3", "gate ssh", "passed", nil, 20*time.Second)).
		ev(start(event.KindServer, "app-3", "gate tcp 443")).ev(end(event.KindServer, "app-3", "gate tcp 443", "passed", nil, 0)).
		ev(start(event.KindServer, "app-3", "gate score")).after(85 * time.Second)
	sc := 91.0
	e = end(event.KindServer, "app-3", "gate score", "passed", nil, 85*time.Second)
	e.Score = &sc
	s.ev(e).batchEnd("batch 2", 2, 3*time.Minute)
	ferr := &rollout.FailureError{Servers: []string{"app-2"}, Limit: 0}
	s.ev(event.Event{Kind: event.KindRollout, Address: "app", Action: "rollback", Phase: event.Info, Count: 3,
		Message: "rolling 3 server(s) back: " + ferr.Error()})
	s.batchStart("rollback 1", 2)
	s.ev(start(event.KindServer, "app-2", "rollback")).after(time.Second).
		ev(start(event.KindServer, "app-3", "rollback")).budget(2, false).after(35 * time.Second)
	e = end(event.KindServer, "app-2", "rollback", "", nil, 36*time.Second)
	e.Message = "request req-0004"
	s.ev(e).ev(start(event.KindServer, "app-2", "gate ssh")).after(4 * time.Second)
	s.key("down")
	s.send(tickMsg(s.now))
	golden.RequireEqual(t, frame(t, s.m))
}

func TestFramePaused(t *testing.T) {
	s := newScript(t, nil)
	s.rolloutStart().batchStart("canary", 1).budget(1, false).passes("app-1", "rebuild", "req-0001", 92.5).batchEnd("canary", 1, 137*time.Second)
	s.ev(info(event.KindBatch, "canary", "bake", "", "bake 2m0s before the next batch")).after(2 * time.Minute)
	s.ev(info(event.KindRollout, "app", "pause", "paused", "paused by ops@laptop 4242")).after(3 * time.Minute)
	s.send(tickMsg(s.now))
	golden.RequireEqual(t, frame(t, s.m))
}

func TestFrameDone(t *testing.T) {
	s := newScript(t, nil)
	s.rolloutStart().batchStart("canary", 1).budget(1, false).passes("app-1", "rebuild", "req-0001", 92.5).batchEnd("canary", 1, 137*time.Second)
	for i, b := range [][]string{{"app-2", "app-3"}, {"app-4", "app-5"}, {"app-6"}} {
		name := fmt.Sprintf("batch %d", i+2)
		s.batchStart(name, len(b))
		for j, srv := range b {
			s.passes(srv, "rebuild", fmt.Sprintf("req-%d%d", i, j), 90+float64(j))
		}
		s.batchEnd(name, len(b), 4*time.Minute)
	}
	s.ev(event.Event{Kind: event.KindRollout, Address: "app", Action: "upgrade", Phase: event.End, Count: 6, Elapsed: 16 * time.Minute})
	s.key("enter") // the details of app-1
	golden.RequireEqual(t, frame(t, s.m))
}

// A narrow terminal: the images give way first, nothing is wider than the screen.
func TestFrameNarrow(t *testing.T) {
	s := newScript(t, nil).canaryBaked()
	s.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	out := frame(t, s.m)
	for i, l := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		if w := len([]rune(string(l))); w > 80 {
			t.Errorf("line %d is %d wide: %s", i+1, w, l)
		}
	}
	if n := bytes.Count(out, []byte("\n")); n != 24 {
		t.Errorf("frame has %d lines, want 24", n)
	}
	golden.RequireEqual(t, out)
}
