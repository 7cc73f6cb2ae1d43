package rollout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
)

func upgrade(maxUnavailable int) config.Upgrade {
	score := 80.0
	return config.Upgrade{Strategy: config.StrategyRebuild, MaxUnavailable: config.Amount{N: maxUnavailable}, Canary: 1,
		OnFailure: config.OnFailureRollback,
		Health:    config.Health{SSH: true, TCP: []int{8443}, MinScore: &score, Timeout: 300 * time.Millisecond}}
}

func spec(u config.Upgrade) Spec {
	return Spec{Config: "sample", Fleet: "app", Tags: []string{"managed-by:hardenctl", "hardenctl-fleet:app"}, Target: "img-B", Upgrade: u}
}

var fastOpts = Options{Poll: time.Millisecond, MarkRetries: 2}

// recorder keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
	onSend func(event.Event) event.Action
}

func (r *recorder) Event(e event.Event) event.Action {
	r.mu.Lock()
	r.events = append(r.events, e)
	f := r.onSend
	r.mu.Unlock()
	if f != nil {
		return f(e)
	}
	return event.Continue
}

func (r *recorder) find(kind event.Kind, action string, phase event.Phase) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	for _, e := range r.events {
		if e.Kind == kind && (action == "" || e.Action == action) && e.Phase == phase {
			out = append(out, e)
		}
	}
	return out
}

func run(t *testing.T, f *fakeNova, g Gate, u config.Upgrade, ctl Control, hook event.Hook) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c Control
	if ctl != nil {
		c = ctl
	}
	return Run(ctx, spec(u), Deps{Cloud: f, Gate: g, Control: c, Hook: hook}, fastOpts)
}

// Six servers, max_unavailable 2, canary 1: all move onto B in batches 1, 2, 2, 1, keep
// their ids and other metadata, and carry healthy marks with the score; the previous image
// was protected during the rollout and is released.
func TestRollsFleetInBatches(t *testing.T) {
	f := newFakeNova(t, 6, "img-A", 2)
	f.addImage("img-B")
	rec := &recorder{}
	var protectedDuring bool
	rec.onSend = func(e event.Event) event.Action {
		if e.Kind == event.KindBatch && e.Phase == event.Start {
			f.mu.Lock()
			protectedDuring = f.images["img-A"].protected
			f.mu.Unlock()
		}
		return event.Continue
	}
	res, err := run(t, f, newFakeGate(f), upgrade(2), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
	if !protectedDuring {
		t.Error("the previous image was not protected during the rollout")
	}
	var sizes []int
	for _, b := range rec.find(event.KindBatch, "batch", event.Start) {
		sizes = append(sizes, b.Count)
	}
	if !slices.Equal(sizes, []int{1, 2, 2, 1}) {
		t.Errorf("batch sizes %v, want [1 2 2 1] (canary, then by the budget)", sizes)
	}
	if res.Peak > 2 || f.peak > 2 || f.peak < 2 {
		t.Errorf("peak: engine %d, truth %d; want 2", res.Peak, f.peak)
	}
	for _, s := range f.servers {
		m, _ := ReadMarks(s.Metadata)
		if m.ID != res.RolloutID || m.From != "img-A" || m.To != "img-B" || m.Score == nil || *m.Score != 95 || m.HealthyAt.IsZero() || m.At.IsZero() {
			t.Errorf("marks of %s: %+v", s.Name, m)
		}
	}
	if len(res.Servers) != 6 {
		t.Fatalf("%d server results", len(res.Servers))
	}
	for _, sr := range res.Servers {
		var gates []string
		for _, g := range sr.Gates {
			gates = append(gates, g.Gate)
		}
		if !sr.Passed || sr.RequestID == "" || strings.Join(gates, ",") != "active,ssh,tcp 8443,score" {
			t.Errorf("server result %+v, gates %v", sr, gates)
		}
	}
	// Events: a rollout start and end, each server's rebuild with Nova's request id.
	if len(rec.find(event.KindRollout, "upgrade", event.Start)) != 1 || len(rec.find(event.KindRollout, "upgrade", event.End)) != 1 {
		t.Error("want one rollout start and one end event")
	}
	for _, e := range rec.find(event.KindServer, "rebuild", event.End) {
		if !strings.HasPrefix(e.Message, "request req-") {
			t.Errorf("rebuild event without the request id: %+v", e)
		}
	}
	// A second run has nothing to do.
	f.rebuilds = nil
	res2, err := run(t, f, newFakeGate(f), upgrade(2), nil, nil)
	if err != nil || len(f.rebuilds) != 0 || len(res2.Skipped) != 6 {
		t.Errorf("second run: %v, rebuilds %v, skipped %v", err, f.rebuilds, res2.Skipped)
	}
}

func TestBudget(t *testing.T) {
	for _, c := range []struct {
		a     config.Amount
		total int
		want  int
	}{
		{config.Amount{N: 25, Percent: true}, 6, 1},
		{config.Amount{N: 25, Percent: true}, 8, 2},
		{config.Amount{N: 10, Percent: true}, 3, 1}, // at least 1
		{config.Amount{N: 50, Percent: true}, 7, 3}, // rounds down
		{config.Amount{N: 2}, 6, 2},
	} {
		if got := Budget(c.a, c.total); got != c.want {
			t.Errorf("Budget(%s, %d) = %d, want %d", c.a, c.total, got, c.want)
		}
	}
}

// Many servers, rebuilds of random length, a server in ERROR before the start and another
// failing its probe: the budget holds at every rebuild, counting both.
func TestBudgetNeverExceeded(t *testing.T) {
	for round := range 5 {
		f := newFakeNova(t, 16, "img-A", 3)
		f.addImage("img-B")
		f.rebuildTime = func(string) time.Duration { return time.Duration(rand.IntN(15)) * time.Millisecond }
		f.servers["id-05"].Status = "ERROR"
		g := newFakeGate(f)
		g.probeFail["id-09"] = true
		u := upgrade(3)
		u.Canary = 2
		res, err := run(t, f, g, u, nil, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		f.check("", "")
		if res.Peak > 3 {
			t.Errorf("round %d: engine counted %d at once", round, res.Peak)
		}
		f.mu.Lock()
		if f.servers["id-05"].Status != "ACTIVE" || f.servers["id-05"].image != "img-B" {
			t.Errorf("the server in ERROR was not rebuilt: %+v", f.servers["id-05"])
		}
		f.mu.Unlock()
	}
}

// Percentages: 25% of 8 is 2 at once.
func TestBudgetPercentageRun(t *testing.T) {
	f := newFakeNova(t, 8, "img-A", 2)
	f.addImage("img-B")
	f.rebuildTime = func(string) time.Duration { return 5 * time.Millisecond }
	u := upgrade(0)
	u.MaxUnavailable = config.Amount{N: 25, Percent: true}
	if _, err := run(t, f, newFakeGate(f), u, nil, nil); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
	if f.peak != 2 {
		t.Errorf("peak %d, want 2", f.peak)
	}
}

// When the fleet cannot be read, nothing starts; the rollout gives up after the timeout.
func TestUnknownCountStartsNothing(t *testing.T) {
	f := newFakeNova(t, 4, "img-A", 1)
	f.addImage("img-B")
	f.listErr = func(n int) error {
		if n > 1 {
			return errors.New("503 service unavailable")
		}
		return nil
	}
	u := upgrade(1)
	u.Health.Timeout = 50 * time.Millisecond
	_, err := run(t, f, newFakeGate(f), u, nil, nil)
	if !errors.Is(err, ErrUnknownFleet) {
		t.Fatalf("err = %v, want ErrUnknownFleet", err)
	}
	if len(f.rebuilds) != 0 {
		t.Errorf("rebuilds started with the count unknown: %v", f.rebuilds)
	}
	// And at the very start: the first list fails.
	f.listErr = func(int) error { return errors.New("503") }
	if _, err := run(t, f, newFakeGate(f), u, nil, nil); !errors.Is(err, ErrUnknownFleet) {
		t.Errorf("err = %v", err)
	}
}

// List errors now and then delay the rollout but never let it start blind.
func TestListErrorsNeverExceed(t *testing.T) {
	f := newFakeNova(t, 8, "img-A", 2)
	f.addImage("img-B")
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	f.listErr = func(n int) error {
		mu.Lock()
		defer mu.Unlock()
		if n > 1 && rng.IntN(3) == 0 {
			return errors.New("500 internal error")
		}
		return nil
	}
	if _, err := run(t, f, newFakeGate(f), upgrade(2), nil, nil); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
}

// The canary fails its TCP gate on B: the fleet is rolled back onto A within the budget,
// the canary is the only server that moved, and the marks say rolled-back.
func TestCanaryFailsRollsBack(t *testing.T) {
	f := newFakeNova(t, 6, "img-A", 2)
	f.addImage("img-B")
	g := newFakeGate(f)
	g.setFail("img-B", "tcp")
	res, err := run(t, f, g, upgrade(2), nil, nil)
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("err = %v, want ErrRolledBack", err)
	}
	var fe *FailureError
	if !errors.As(err, &fe) || len(fe.Servers) != 1 {
		t.Errorf("err = %v, want a FailureError naming the canary", err)
	}
	if !res.RolledBack || !slices.Equal(f.rebuilds, []string{"app-01>img-B", "app-01>img-A"}) {
		t.Errorf("rebuilds %v, want the canary there and back", f.rebuilds)
	}
	f.check("", "")
	for _, s := range f.servers {
		if s.image != "img-A" || s.Status != "ACTIVE" {
			t.Errorf("%s on %s (%s)", s.Name, s.image, s.Status)
		}
	}
	if m, _ := ReadMarks(f.servers["id-01"].Metadata); m.Phase != PhaseRolledBack {
		t.Errorf("canary marks %+v", m)
	}
	if f.images["img-A"].protected || !f.images["img-A"].wasHeld {
		t.Errorf("image A: protected %v, was held %v; want held during and released after", f.images["img-A"].protected, f.images["img-A"].wasHeld)
	}
}

// A failure in a later batch rolls back every moved server, newest first, under the budget.
func TestRollbackNewestFirst(t *testing.T) {
	f := newFakeNova(t, 6, "img-A", 2)
	f.addImage("img-B")
	g := newFakeGate(f)
	g.failID["id-05"] = "score"
	f.rebuildTime = func(id string) time.Duration {
		if id == "id-04" {
			return 8 * time.Millisecond // app-04 ends after app-05 in its batch
		}
		return 2 * time.Millisecond
	}
	// the fleet as the rollback reads it (its marks are rewritten by the rollback)
	var listed []Server
	rec := &recorder{onSend: func(e event.Event) event.Action {
		if e.Kind == event.KindRollout && e.Action == "rollback" && e.Phase == event.Info {
			listed, _ = f.ListFleet(context.Background(), nil)
		}
		return event.Continue
	}}
	res, err := run(t, f, g, upgrade(2), nil, rec)
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("err = %v", err)
	}
	f.check("", "")
	var back []string
	for _, r := range f.rebuilds {
		if strings.HasSuffix(r, ">img-A") {
			back = append(back, strings.TrimSuffix(r, ">img-A"))
		}
	}
	// By batch of 2, newest decision first: app-05 (failed) and app-04, then app-03 and
	// app-02, then app-01, the canary. (Within a batch the rebuild calls go at once.)
	if len(back) != 5 || !sameSet(back[:2], "app-04", "app-05") || !sameSet(back[2:4], "app-02", "app-03") || back[4] != "app-01" {
		t.Errorf("rolled back in the order %v", back)
	}
	var order []string
	for _, it := range rollbackItems(listed, res.RolloutID) {
		order = append(order, it.Server.Name)
	}
	if !slices.Equal(order, []string{"app-05", "app-04", "app-03", "app-02", "app-01"}) {
		t.Errorf("rollback order from the marks %v", order)
	}
	for _, s := range f.servers {
		if s.image != "img-A" {
			t.Errorf("%s left on %s", s.Name, s.image)
		}
	}
}

// max_failures tolerates a failed server: the rollout completes, the failed one stays
// counted as unavailable (so the rest go one at a time with a budget of 2).
func TestMaxFailuresTolerated(t *testing.T) {
	f := newFakeNova(t, 5, "img-A", 2)
	f.addImage("img-B")
	g := newFakeGate(f)
	g.failID["id-02"] = "ssh"
	u := upgrade(2)
	u.MaxFailures = config.Amount{N: 1}
	res, err := run(t, f, g, u, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.check("", "")
	failed := 0
	for _, sr := range res.Servers {
		if !sr.Passed {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d failed results, want 1", failed)
	}
	if m, _ := ReadMarks(f.servers["id-02"].Metadata); m.Phase != PhaseFailed {
		t.Errorf("marks of the failed server: %+v", m)
	}
}

// on_failure = pause: the canary fails, the rollout waits; a resume gates the canary again
// (now fixed) and the rollout completes. No rebuild starts while paused.
func TestPauseOnFailureThenResume(t *testing.T) {
	f := newFakeNova(t, 4, "img-A", 1)
	f.addImage("img-B")
	g := newFakeGate(f)
	g.setFail("img-B", "tcp")
	ctl := &fakeControl{}
	rec := &recorder{}
	rec.onSend = func(e event.Event) event.Action {
		if e.Status == "paused" {
			go func() {
				time.Sleep(30 * time.Millisecond)
				f.mu.Lock()
				n := len(f.rebuilds)
				f.mu.Unlock()
				if n != 1 {
					t.Errorf("rebuilds while paused: %v", f.rebuilds)
				}
				g.setFail("img-B", "") // the operator opened the port
				ctl.send(Resume)
			}()
		}
		return event.Continue
	}
	u := upgrade(1)
	u.OnFailure = config.OnFailurePause
	if _, err := run(t, f, g, u, ctl, rec); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
	if !slices.Equal(ctl.obeyed, []string{Resume}) {
		t.Errorf("obeyed %v", ctl.obeyed)
	}
}

// on_failure = pause, then abort: the rollout stops, leaving the canary failed on B.
func TestPauseOnFailureThenAbort(t *testing.T) {
	f := newFakeNova(t, 4, "img-A", 1)
	f.addImage("img-B")
	g := newFakeGate(f)
	g.setFail("img-B", "ssh")
	ctl := &fakeControl{}
	rec := &recorder{onSend: func(e event.Event) event.Action {
		if e.Status == "paused" {
			ctl.send(Abort)
		}
		return event.Continue
	}}
	u := upgrade(1)
	u.OnFailure = config.OnFailurePause
	_, err := run(t, f, g, u, ctl, rec)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v", err)
	}
	f.check("", "")
	if len(f.rebuilds) != 1 {
		t.Errorf("rebuilds %v", f.rebuilds)
	}
}

// --pause from another terminal: the servers in flight finish their gate, then nothing
// starts until --resume.
func TestControlPauseResume(t *testing.T) {
	f := newFakeNova(t, 6, "img-A", 2)
	f.addImage("img-B")
	f.rebuildTime = func(string) time.Duration { return 10 * time.Millisecond }
	ctl := &fakeControl{}
	var once sync.Once
	var atPause int
	rec := &recorder{}
	rec.onSend = func(e event.Event) event.Action {
		if e.Kind == event.KindServer && e.Action == "rebuild" && e.Phase == event.Start {
			once.Do(func() { ctl.send(Pause) })
		}
		if e.Status == "paused" {
			f.mu.Lock()
			atPause = len(f.rebuilds)
			f.mu.Unlock()
			go func() {
				time.Sleep(40 * time.Millisecond)
				f.mu.Lock()
				if len(f.rebuilds) != atPause {
					t.Errorf("rebuilds started while paused: %v", f.rebuilds[atPause:])
				}
				for _, s := range f.servers {
					if s.Status == "REBUILD" {
						t.Errorf("%s still rebuilding while paused", s.Name)
					}
				}
				f.mu.Unlock()
				ctl.send(Resume)
			}()
		}
		return event.Continue
	}
	if _, err := run(t, f, newFakeGate(f), upgrade(2), ctl, rec); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
	if atPause != 1 || !slices.Equal(ctl.obeyed, []string{Pause, Resume}) {
		t.Errorf("paused after %d rebuilds (want the canary only), obeyed %v", atPause, ctl.obeyed)
	}
}

// --abort and --rollback from another terminal.
func TestControlAbortAndRollback(t *testing.T) {
	for _, kind := range []string{Abort, Rollback} {
		t.Run(kind, func(t *testing.T) {
			f := newFakeNova(t, 6, "img-A", 2)
			f.addImage("img-B")
			ctl := &fakeControl{}
			var once sync.Once
			rec := &recorder{onSend: func(e event.Event) event.Action {
				if e.Kind == event.KindBatch && e.Address == "batch 2" && e.Phase == event.Start {
					once.Do(func() { ctl.send(kind) })
				}
				return event.Continue
			}}
			_, err := run(t, f, newFakeGate(f), upgrade(2), ctl, rec)
			f.check("", "")
			switch kind {
			case Abort:
				if !errors.Is(err, ErrAborted) {
					t.Fatalf("err = %v", err)
				}
				on := 0
				for _, s := range f.servers {
					if s.image == "img-B" {
						on++
					}
				}
				if on < 1 || on > 3 {
					t.Errorf("%d servers on B after an abort in batch 2", on)
				}
			case Rollback:
				if !errors.Is(err, ErrRolledBack) {
					t.Fatalf("err = %v", err)
				}
				for _, s := range f.servers {
					if s.image != "img-A" {
						t.Errorf("%s on %s after the rollback", s.Name, s.image)
					}
				}
			}
		})
	}
}

// A hook that says Halt stops the rollout between units of work.
func TestHaltByHook(t *testing.T) {
	f := newFakeNova(t, 4, "img-A", 1)
	f.addImage("img-B")
	rec := &recorder{onSend: func(e event.Event) event.Action {
		if e.Kind == event.KindBatch && e.Phase == event.End {
			return event.Halt
		}
		return event.Continue
	}}
	_, err := run(t, f, newFakeGate(f), upgrade(1), nil, rec)
	if !errors.Is(err, event.ErrHalted) || len(f.rebuilds) != 1 {
		t.Errorf("err = %v, rebuilds %v; want halted after the canary", err, f.rebuilds)
	}
	f.check("", "")
}

// The deadline really stops the rollout: nothing starts after it, the servers in flight
// are left marked for the rerun, which completes.
func TestDeadline(t *testing.T) {
	f := newFakeNova(t, 6, "img-A", 1)
	f.addImage("img-B")
	f.rebuildTime = func(string) time.Duration { return 30 * time.Millisecond }
	u := upgrade(1)
	u.Deadline = 100 * time.Millisecond
	start := time.Now()
	_, err := run(t, f, newFakeGate(f), u, nil, nil)
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline", err)
	}
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Errorf("the rollout went on %v after a deadline of 100ms", el)
	}
	f.mu.Lock()
	n := len(f.rebuilds)
	f.mu.Unlock()
	if n == 0 || n == 6 {
		t.Errorf("%d rebuilds before the deadline", n)
	}
	time.Sleep(20 * time.Millisecond)
	f.mu.Lock()
	if len(f.rebuilds) != n {
		t.Errorf("rebuilds after the deadline: %v", f.rebuilds[n:])
	}
	f.mu.Unlock()
	u.Deadline = 0
	if _, err := run(t, f, newFakeGate(f), u, nil, nil); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
}

// A previous image that is gone makes rollback impossible: said before anything starts.
func TestRollbackImpossible(t *testing.T) {
	f := newFakeNova(t, 3, "img-A", 1)
	f.addImage("img-B")
	if err := f.deleteImage("img-A"); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, f, newFakeGate(f), upgrade(1), nil, nil)
	if !errors.Is(err, ErrRollbackImpossible) || !strings.Contains(err.Error(), "img-A") {
		t.Fatalf("err = %v, want ErrRollbackImpossible naming img-A", err)
	}
	if len(f.rebuilds) != 0 {
		t.Errorf("rebuilds %v", f.rebuilds)
	}
	u := upgrade(1)
	u.OnFailure = config.OnFailureAbort
	if _, err := run(t, f, newFakeGate(f), u, nil, nil); err != nil {
		t.Errorf("with on_failure abort the rollout runs: %v", err)
	}
	f.check("img-B", PhaseHealthy)
}

// A previous image of another project (a shared base image) is not ours to protect: the
// rollout says so and goes on, with on_failure = rollback too.
func TestPreviousImageOfAnotherProject(t *testing.T) {
	f := newFakeNova(t, 3, "img-A", 1)
	f.addImage("img-B")
	f.foreign = map[string]bool{"img-A": true}
	var infos []string
	var mu sync.Mutex
	hook := event.Observe(func(e event.Event) {
		if e.Kind == event.KindImage && e.Action == "protect" {
			mu.Lock()
			infos = append(infos, e.Message)
			mu.Unlock()
		}
	})
	if _, err := run(t, f, newFakeGate(f), upgrade(1), nil, hook); err != nil {
		t.Fatalf("rollout off another project's image: %v", err)
	}
	f.check("img-B", PhaseHealthy)
	if len(infos) != 1 || !strings.Contains(infos[0], "belongs to another project: left unprotected") {
		t.Errorf("protect infos: %q", infos)
	}
	if f.images["img-A"].protected {
		t.Error("another project's image was protected")
	}
}

// Volume-backed servers: Nova shows no image; the wait goes by the instance action and the
// rollout (and its resume) by the marks.
func TestVolumeBacked(t *testing.T) {
	f := newFakeNova(t, 4, "img-A", 2)
	f.addImage("img-B")
	for _, s := range f.servers {
		s.VolumeBacked = true
		s.volumeImage = true // the provider read it from the volume
	}
	// without the provider's help (no image known), a rollback would be impossible
	f2 := newFakeNova(t, 2, "img-A", 1)
	f2.addImage("img-B")
	for _, s := range f2.servers {
		s.VolumeBacked = true
	}
	lister := volumeLister{f2}
	if _, err := Run(context.Background(), spec(upgrade(1)), Deps{Cloud: lister, Gate: newFakeGate(f2)}, fastOpts); !errors.Is(err, ErrRollbackImpossible) {
		t.Errorf("volume-backed servers of unknown image: %v", err)
	}
	if _, err := run(t, f, newFakeGate(f), upgrade(2), nil, nil); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
	f.rebuilds = nil
	if _, err := run(t, f, newFakeGate(f), upgrade(2), nil, nil); err != nil || len(f.rebuilds) != 0 {
		t.Errorf("rerun: %v, rebuilds %v", err, f.rebuilds)
	}
}

// volumeLister shows volume-backed servers without any image (Nova's view).
type volumeLister struct{ *fakeNova }

func (v volumeLister) ListFleet(ctx context.Context, tags []string) ([]Server, error) {
	out, err := v.fakeNova.ListFleet(ctx, tags)
	for i := range out {
		out[i].ImageID = ""
	}
	return out, err
}

// Marks that do not fit Nova's 255 bytes are refused before the rebuild.
func TestMarksBounds(t *testing.T) {
	if _, err := withMarks(map[string]string{"x": strings.Repeat("v", 256)}, Marks{ID: "r", Phase: PhaseRebuilding}); err == nil {
		t.Error("a value of 256 bytes passed")
	}
	md, err := withMarks(map[string]string{"keep": "1", MarkScore: "12", MarkHealthyAt: "2020-01-01T00:00:00Z"},
		Marks{ID: "r1", From: "a", To: "b", Phase: PhaseRebuilding, At: time.Unix(1_800_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := ReadMarks(md)
	if !ok || md["keep"] != "1" || m.Score != nil || !m.HealthyAt.IsZero() || m.ID != "r1" || m.At.Unix() != 1_800_000_000 {
		t.Errorf("merged marks %v: an earlier score or healthy-at must go, other metadata stay", md)
	}
	if len(NewID()) > maxMark {
		t.Error("id too long")
	}
}

// The dry run: batches from one listing, the canary first, skipped servers, the images a
// rollback needs.
func TestPlanBatches(t *testing.T) {
	f := newFakeNova(t, 7, "img-A", 3)
	servers, _ := f.ListFleet(context.Background(), nil)
	servers[2].ImageID = "img-B"
	servers[2].Metadata = Marks{ID: "old", From: "img-A", To: "img-B", Phase: PhaseHealthy}.Metadata()
	servers[2].Metadata["hardenctl_fleet"] = "app"
	u := upgrade(3)
	p := NewPlan(spec(u), servers, func() string { return "new" })
	var got []string
	for _, b := range p.Batches {
		var names []string
		for _, it := range b.Items {
			names = append(names, it.Server.Name)
		}
		got = append(got, b.Name+":"+strings.Join(names, ","))
	}
	// a server is already healthy on B: the canary is not needed again
	want := []string{"batch 1:app-01,app-02,app-04", "batch 2:app-05,app-06,app-07"}
	if !slices.Equal(got, want) || len(p.Skipped) != 1 || p.Budget != 3 || p.RolloutID != "old" || !p.Resumed {
		t.Errorf("plan %v (skipped %d, budget %d, id %s), want %v", got, len(p.Skipped), p.Budget, p.RolloutID, want)
	}
	servers[2].Metadata = nil
	servers[2].ImageID = "img-A"
	p = NewPlan(spec(u), servers, func() string { return "new" })
	if p.Batches[0].Name != "canary" || len(p.Batches[0].Items) != 1 || p.RolloutID != "new" || len(p.Previous["img-A"]) != 7 {
		t.Errorf("plan %+v", p.Batches[0])
	}
}

// kill -9 at every step of a rollout (every call to the cloud or the gate, the call at the
// kill reaching Nova or not), then a rerun: it converges to every server on B and healthy,
// and the budget was never exceeded, also while the killed run's servers were in flight.
func TestCrashAtEveryStepThenResume(t *testing.T) {
	for _, failing := range []bool{false, true} {
		for k := int32(1); ; k++ {
			f := newFakeNova(t, 5, "img-A", 2)
			f.addImage("img-B")
			g := newFakeGate(f)
			if failing {
				g.setFail("img-B", "tcp") // the canary fails: the kill lands in the rollback too
			}
			u := upgrade(2)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			c := &crashing{Cloud: f, gate: g, after: k, cancel: cancel, rng: rand.New(rand.NewPCG(uint64(k), 7))}
			_, err := Run(ctx, spec(u), Deps{Cloud: c, Gate: c}, fastOpts)
			cancel()
			if !c.crashed() {
				// the run finished before the k-th call: every step has been a kill point
				if k < 20 {
					t.Fatalf("only %d steps: %v", k, err)
				}
				break
			}
			if err == nil {
				t.Fatalf("kill at step %d: the run says it succeeded", k)
			}
			// the rerun, after the killed run's in-flight rebuilds went on in Nova
			time.Sleep(3 * time.Millisecond)
			_, err = run(t, f, g, u, nil, nil)
			if failing {
				if !errors.Is(err, ErrRolledBack) {
					t.Fatalf("kill at step %d, failing B: rerun %v", k, err)
				}
				f.check("", "")
				for _, s := range f.servers {
					if s.image != "img-A" || s.Status != "ACTIVE" {
						t.Errorf("kill at step %d: %s on %s after the rollback", k, s.Name, s.image)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("kill at step %d: rerun: %v", k, err)
				}
				f.check("img-B", PhaseHealthy)
			}
			if t.Failed() {
				t.Fatalf("kill at step %d (failing %v)", k, failing)
			}
		}
	}
}

// Several kills in a row at random points, each rerun killed again, then one that finishes.
func TestCrashSoak(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	for round := range 20 {
		f := newFakeNova(t, 6, "img-A", 2)
		f.addImage("img-B")
		f.rebuildTime = func(string) time.Duration { return time.Duration(1+rng.IntN(8)) * time.Millisecond }
		g := newFakeGate(f)
		for kill := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			c := &crashing{Cloud: f, gate: g, after: int32(1 + rng.IntN(60)), cancel: cancel, rng: rand.New(rand.NewPCG(uint64(round), uint64(kill)))}
			Run(ctx, spec(upgrade(2)), Deps{Cloud: c, Gate: c}, fastOpts)
			cancel()
			time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
		}
		if _, err := run(t, f, g, upgrade(2), nil, nil); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		f.check("img-B", PhaseHealthy)
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
}

// A rebuild whose answer is lost but which Nova took is recognised by its marks; one that
// Nova refused leaves the server as it was and is a failure.
func TestRebuildAnswerLost(t *testing.T) {
	f := newFakeNova(t, 3, "img-A", 1)
	f.addImage("img-B")
	lossy := &lossyRebuild{fakeNova: f, lose: map[string]bool{"id-02": true}}
	if _, err := Run(context.Background(), spec(upgrade(1)), Deps{Cloud: lossy, Gate: newFakeGate(f)}, fastOpts); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)

	f = newFakeNova(t, 3, "img-A", 1)
	f.addImage("img-B")
	refusing := &lossyRebuild{fakeNova: f, refuse: map[string]bool{"id-01": true}}
	u := upgrade(1)
	u.OnFailure = config.OnFailureAbort
	_, err := Run(context.Background(), spec(u), Deps{Cloud: refusing, Gate: newFakeGate(f)}, fastOpts)
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "rebuild refused") {
		t.Errorf("err = %v", err)
	}
	if len(f.rebuilds) != 0 {
		t.Errorf("rebuilds %v", f.rebuilds)
	}
}

type lossyRebuild struct {
	*fakeNova
	lose, refuse map[string]bool
}

func (l *lossyRebuild) Rebuild(ctx context.Context, id, image string, md map[string]string) (string, error) {
	if l.refuse[id] {
		return "", errors.New("403 policy does not allow rebuild")
	}
	req, err := l.fakeNova.Rebuild(ctx, id, image, md)
	if l.lose[id] {
		return "", fmt.Errorf("read response: connection reset")
	}
	return req, err
}

// A mark that cannot be written after a passed gate does not fail the rollout; the server's
// marks still say rebuilding, so a rerun gates it again without rebuilding it.
func TestMarkWriteFails(t *testing.T) {
	f := newFakeNova(t, 3, "img-A", 3)
	f.addImage("img-B")
	f.setMetaErr = func(id string) error {
		if id == "id-03" {
			return errors.New("500")
		}
		return nil
	}
	u := upgrade(3)
	u.Canary = 0
	if _, err := run(t, f, newFakeGate(f), u, nil, nil); err != nil {
		t.Fatal(err)
	}
	f.setMetaErr = nil
	f.rebuilds = nil
	if _, err := run(t, f, newFakeGate(f), u, nil, nil); err != nil {
		t.Fatal(err)
	}
	f.check("img-B", PhaseHealthy)
	if len(f.rebuilds) != 0 {
		t.Errorf("rebuilt again: %v", f.rebuilds)
	}
}

func sameSet(got []string, want ...string) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
