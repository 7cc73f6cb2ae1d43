package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
)

// fakeCtrl records the control requests; err fails them.
type fakeCtrl struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (c *fakeCtrl) do(kind string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, kind)
	return c.err
}

func (c *fakeCtrl) Pause(context.Context) error    { return c.do(rollout.Pause) }
func (c *fakeCtrl) Resume(context.Context) error   { return c.do(rollout.Resume) }
func (c *fakeCtrl) Abort(context.Context) error    { return c.do(rollout.Abort) }
func (c *fakeCtrl) Rollback(context.Context) error { return c.do(rollout.Rollback) }

func (c *fakeCtrl) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// flow is a teatest program of the rollout's screen, its events sent as the hook sends them.
type flow struct {
	t    *testing.T
	tm   *teatest.TestModel
	ctrl *fakeCtrl
}

func newFlow(t *testing.T) *flow {
	t.Helper()
	ctrl := &fakeCtrl{}
	m := New("upgrade app onto node-2026-03", testPlan(t), ctrl, Options{Images: testImages, Now: func() time.Time { return t0 }})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(frameW, frameH),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.NoTTY)))
	f := &flow{t: t, tm: tm, ctrl: ctrl}
	f.ev(event.Event{Kind: event.KindRollout, Address: "app", Action: "upgrade", Phase: event.Start, Count: 6, Message: "rollout " + rid + " onto " + imageB})
	f.ev(event.Event{Kind: event.KindBatch, Address: "canary", Action: "batch", Phase: event.Start, Count: 1})
	f.ev(start(event.KindServer, "app-1", "rebuild"))
	f.waitFor("RUNNING")
	return f
}

func (f *flow) ev(e event.Event) { f.tm.Send(eventMsg{e: e, at: t0}) }

// waitFor waits until the screen shows all of want.
func (f *flow) waitFor(want ...string) {
	f.t.Helper()
	teatest.WaitFor(f.t, f.tm.Output(), func(b []byte) bool {
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// waitCalls waits until the controller got want.
func (f *flow) waitCalls(want ...string) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(f.ctrl.got(), want) {
		if time.Now().After(deadline) {
			f.t.Fatalf("control requests %v, want %v", f.ctrl.got(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *flow) result() Result {
	f.t.Helper()
	return f.tm.FinalModel(f.t, teatest.WithFinalTimeout(5*time.Second)).(Model).Result()
}

func TestKeysPauseResume(t *testing.T) {
	f := newFlow(t)
	f.tm.Type("p")
	f.waitCalls(rollout.Pause)
	f.waitFor("pause requested")
	f.ev(info(event.KindRollout, "app", "pause", "paused", "paused by ops@laptop 4242"))
	f.waitFor("PAUSED", "p resume")
	f.tm.Type("p")
	f.waitCalls(rollout.Pause, rollout.Resume)
	f.waitFor("resume requested")
	f.ev(info(event.KindRollout, "app", "resume", "resumed", "resumed by ops@laptop 4242"))
	f.tm.Type("q")
	f.waitFor("Leave the UI while the rollout runs?", "[d/ctrl+c] detach", "[s] stop")
	f.tm.Type("d")
	if r := f.result(); r.Quit != QuitDetach || r.Err != nil || r.RolloutEnded {
		t.Errorf("result %+v, want a detach while the rollout runs", r)
	}
	f.waitCalls(rollout.Pause, rollout.Resume) // nothing more was sent
}

func TestKeysAbortConfirm(t *testing.T) {
	f := newFlow(t)
	f.tm.Type("a")
	f.waitFor("Abort the rollout?", "[y] abort", "[n/esc] cancel")
	f.tm.Type("n")
	f.waitFor("abort canceled: nothing was sent")
	f.tm.Send(tea.KeyPressMsg{Code: 'r', Text: "r"})
	f.waitFor("Roll back?")
	f.tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
	f.waitFor("rollback canceled")
	if got := f.ctrl.got(); len(got) != 0 {
		t.Fatalf("canceled confirmations sent %v", got)
	}
	f.tm.Type("a")
	f.waitFor("Abort the rollout?")
	f.tm.Type("y")
	f.waitCalls(rollout.Abort)
	f.waitFor("abort requested")
	f.ev(info(event.KindRollout, "app", "abort", "", "abort requested by ops@laptop 4242"))
	f.ev(event.Event{Kind: event.KindRollout, Address: "app", Action: "upgrade", Phase: event.End, Err: fmt.Errorf("%w by request", rollout.ErrAborted)})
	f.waitFor("ABORTED")
	f.tm.Type("q") // the rollout is over: q leaves without asking
	if r := f.result(); r.Quit != QuitDone || !r.RolloutEnded {
		t.Errorf("result %+v, want done", r)
	}
}

func TestKeysQuitStop(t *testing.T) {
	f := newFlow(t)
	f.tm.Type("q")
	f.waitFor("Leave the UI while the rollout runs?")
	f.tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape}) // stay
	f.tm.Type("j")
	f.tm.Type("q")
	f.tm.Type("s")
	if r := f.result(); r.Quit != QuitStop || r.Err != nil {
		t.Errorf("result %+v, want a stop", r)
	}
	f.waitCalls(rollout.Abort)
}

func TestKeysQuitStopAbortFails(t *testing.T) {
	f := newFlow(t)
	f.ctrl.err = errors.New("nobody holds the lock")
	f.tm.Type("q")
	f.tm.Type("s")
	r := f.result()
	if r.Quit != QuitStop || r.Err == nil || !strings.Contains(r.Err.Error(), "nobody holds the lock") {
		t.Errorf("result %+v, want a stop with the abort's error", r)
	}
}

// A request that fails says so, and the rollout's state is unchanged.
func TestKeysRequestFails(t *testing.T) {
	f := newFlow(t)
	f.ctrl.err = errors.New("lock sample.upgrade.app: nobody holds the lock")
	f.tm.Type("p")
	f.waitFor("pause not sent: lock sample.upgrade.app: nobody holds the lock")
	f.tm.Type("q")
	f.tm.Type("d")
	if r := f.result(); r.Quit != QuitDetach {
		t.Errorf("result %+v, want detach", r)
	}
}
