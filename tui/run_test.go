package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
)

// syncBuf is a bytes.Buffer safe for the program's and the test's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// running is a UI started with Run on a pipe for its keys.
func running(t *testing.T, ctx context.Context, ctrl Controller, headless event.Hook) (*UI, *io.PipeWriter) {
	t.Helper()
	in, keys := io.Pipe()
	t.Cleanup(func() { keys.Close() })
	m := New("upgrade app", testPlan(t), ctrl, Options{Images: testImages, Headless: headless})
	ui := Run(ctx, in, io.Discard, m, tea.WithWindowSize(frameW, frameH), tea.WithColorProfile(colorprofile.NoTTY), tea.WithoutSignals())
	return ui, keys
}

func result(t *testing.T, ui *UI) Result {
	t.Helper()
	select {
	case r := <-ui.Done():
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the UI did not end")
	}
	return Result{}
}

func TestRunDetachGoesHeadless(t *testing.T) {
	var text syncBuf
	ui, keys := running(t, context.Background(), &fakeCtrl{}, &event.Text{W: &text})
	if a := ui.Event(event.Event{Kind: event.KindRollout, Address: "app", Action: "upgrade", Phase: event.Start, Count: 6}); a != event.Continue {
		t.Fatalf("the hook answered %v to the start", a)
	}
	fmt.Fprint(keys, "q")
	time.Sleep(50 * time.Millisecond) // the dialog is up
	fmt.Fprint(keys, "d")
	if r := result(t, ui); r.Quit != QuitDetach {
		t.Fatalf("result %+v, want detach", r)
	}
	if a := ui.Event(end(event.KindServer, "app-1", "rebuild", "", nil, 40*time.Second)); a != event.Continue {
		t.Errorf("after a detach the hook answered %v, want Continue: the rollout goes on", a)
	}
	if got := text.String(); got != "server app-1: rebuild done (40s)\n" {
		t.Errorf("headless text %q, want the event after the UI ended", got)
	}
}

func TestRunStopHalts(t *testing.T) {
	ctrl := &fakeCtrl{}
	ui, keys := running(t, context.Background(), ctrl, nil)
	ui.Event(event.Event{Kind: event.KindRollout, Address: "app", Action: "upgrade", Phase: event.Start, Count: 6})
	fmt.Fprint(keys, "q")
	time.Sleep(50 * time.Millisecond)
	fmt.Fprint(keys, "s")
	if r := result(t, ui); r.Quit != QuitStop || r.Err != nil {
		t.Fatalf("result %+v, want stop", r)
	}
	if got := ctrl.got(); len(got) != 1 || got[0] != rollout.Abort {
		t.Errorf("control requests %v, want one abort", got)
	}
	if a := ui.Event(start(event.KindServer, "app-2", "rebuild")); a != event.Halt {
		t.Errorf("after a stop the hook answered %v, want Halt", a)
	}
}

func TestRunFinishedThenQuit(t *testing.T) {
	ui, keys := running(t, context.Background(), &fakeCtrl{}, nil)
	ui.Finished(fmt.Errorf("%w: list fleet app: 503", rollout.ErrUnknownFleet))
	fmt.Fprint(keys, "q")
	if r := result(t, ui); r.Quit != QuitDone || !r.RolloutEnded {
		t.Fatalf("result %+v, want done", r)
	}
}

func TestRunContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ui, _ := running(t, ctx, nil, nil)
	cancel()
	r := result(t, ui)
	if r.Quit != QuitKilled || !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("result %+v, want killed by the context", r)
	}
	if a := ui.Event(start(event.KindServer, "app-2", "rebuild")); a != event.Continue {
		t.Errorf("after the UI died the hook answered %v, want Continue", a)
	}
}

// The screen reads the real engine's events right: a rollout of the test fleet through
// rollout.Run against a fake cloud ends with every server healthy; one whose canary scores
// below the minimum ends rolled back.
func TestEngineEvents(t *testing.T) {
	for _, tc := range []struct {
		name      string
		scores    map[string]float64
		wantPhase string
		wantState string
	}{
		{"passes", nil, "✓ healthy", "DONE"},
		{"canary fails", map[string]float64{"app-1": 55}, "", "ROLLED BACK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud := &fakeCloud{servers: testServers()}
			var mu sync.Mutex
			var events []event.Event
			hook := event.Observe(func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
			spec := testSpec()
			_, err := rollout.Run(context.Background(), spec, rollout.Deps{Cloud: cloud, Gate: fakeGate{cloud: cloud, scores: tc.scores}, Hook: hook},
				rollout.Options{Poll: time.Millisecond, NewID: func() string { return rid }})
			m := New("upgrade app", testPlan(t), nil, Options{Images: testImages, Now: func() time.Time { return t0 }})
			for _, e := range events {
				next, _ := m.Update(eventMsg{e: e, at: t0})
				m = next.(Model)
			}
			next, _ := m.Update(finishedMsg{err: err})
			m = next.(Model)
			st := newStyles()
			if word, _, _ := m.state(st); word != tc.wantState {
				t.Errorf("state %s, want %s (rollout: %v)", word, tc.wantState, err)
			}
			for _, r := range m.rows {
				ph, _ := m.phaseText(st, r)
				want := tc.wantPhase
				if want == "" { // rolled back: the canary, the only server moved
					want = "- waiting"
					if r.name == "app-1" {
						want = "✓ rolled back"
					}
				}
				if ph != want {
					t.Errorf("%s: %s, want %s", r.name, ph, want)
				}
			}
			if tc.wantPhase != "" && !strings.Contains(m.progressLine(st), "6/6 upgraded") {
				t.Errorf("progress %q, want 6/6 upgraded", m.progressLine(st))
			}
		})
	}
}

type fakeCloud struct {
	mu      sync.Mutex
	servers []rollout.Server
}

func (c *fakeCloud) ListFleet(context.Context, []string) ([]rollout.Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]rollout.Server, len(c.servers))
	for i, s := range c.servers {
		s.Metadata = maps.Clone(s.Metadata)
		out[i] = s
	}
	return out, nil
}

func (c *fakeCloud) Rebuild(_ context.Context, id, image string, md map[string]string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.servers {
		if c.servers[i].ID == id {
			c.servers[i].ImageID, c.servers[i].Metadata = image, maps.Clone(md)
		}
	}
	return "req-" + id, nil
}

func (c *fakeCloud) WaitRebuild(context.Context, rollout.Server, string, string) error { return nil }

func (c *fakeCloud) SetMetadata(_ context.Context, id string, items map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.servers {
		if c.servers[i].ID == id {
			if c.servers[i].Metadata == nil {
				c.servers[i].Metadata = map[string]string{}
			}
			maps.Copy(c.servers[i].Metadata, items)
		}
	}
	return nil
}

func (c *fakeCloud) ImageExists(context.Context, string) (bool, error)  { return true, nil }
func (c *fakeCloud) ProtectImage(context.Context, string, string) error { return nil }
func (c *fakeCloud) ReleaseImage(context.Context, string, string) error { return nil }

// fakeGate passes every gate; a server's scan scores scores[name] when the cloud has it on
// the target (default 90).
type fakeGate struct {
	cloud  *fakeCloud
	scores map[string]float64
}

func (g fakeGate) Connect(ctx context.Context, s rollout.Server, _ time.Time) (rollout.Session, error) {
	list, _ := g.cloud.ListFleet(ctx, nil)
	sc, ok := g.scores[s.Name]
	for _, l := range list {
		if l.ID == s.ID && l.ImageID != imageB {
			ok = false
		}
	}
	if !ok {
		sc = 90
	}
	return fakeSession{score: sc}, nil
}

func (fakeGate) Probe(context.Context, rollout.Server, config.Health) error { return nil }

type fakeSession struct{ score float64 }

func (fakeSession) TCP(context.Context, int) error { return nil }
func (s fakeSession) Scan(context.Context) (rollout.Scan, error) {
	return rollout.Scan{Score: s.score, Detail: "standard"}, nil
}
func (fakeSession) Close() error { return nil }
