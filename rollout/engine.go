package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/lock"
)

// Result is what a rollout did.
type Result struct {
	RolloutID   string
	Target      string
	Total       int
	Budget      int
	MaxFailures int
	// Peak is the most servers the engine counted unavailable at once (its own and any
	// others), at its admissions.
	Peak       int
	RolledBack bool     // a rollback ran
	Skipped    []string // already on the target and healthy
	Servers    []*ServerResult
}

// ServerResult is one server's work: a server rolled forward and back has two.
type ServerResult struct {
	ID, Name, Batch string
	Work            Work
	Image           string // the image it was moved onto
	RequestID       string // Nova's request id of the rebuild
	Started, Ended  time.Time
	Passed          bool
	Err             error
	Score           *float64
	Gates           []GateResult
}

// GateResult is one gate's outcome for a server: "active", "ssh", "tcp PORT", "score".
type GateResult struct {
	Gate     string
	Passed   bool
	Err      error
	Elapsed  time.Duration
	Attempts int
	Score    *float64
	Detail   string
}

// Run carries out a rollout: it reads the fleet, resumes whatever its marks say was left in
// flight, and rolls the rest in batches under the budget. It returns when every server is
// on the target and healthy (nil), or with an error wrapping one of the Err* values (or
// event.ErrHalted when a hook said Halt).
func Run(ctx context.Context, spec Spec, deps Deps, opts Options) (*Result, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	if deps.Cloud == nil || deps.Gate == nil {
		return nil, errors.New("rollout: a Cloud and a Gate are required")
	}
	opts.defaults()
	if d := spec.Upgrade.Deadline; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, ErrDeadline)
		defer cancel()
	}
	servers, err := deps.Cloud.ListFleet(ctx, spec.Tags)
	if err != nil {
		return nil, fmt.Errorf("%w: list fleet %s: %v", ErrUnknownFleet, spec.Fleet, err)
	}
	p := NewPlan(spec, servers, opts.NewID)
	e := &engine{spec: spec, deps: deps, opts: opts, gate: event.NewGate(deps.Hook), plan: p,
		inflight: map[string]bool{}, passed: map[string]bool{}, failed: map[string]string{},
		probeFailed: map[string]bool{}, suspect: map[string]bool{}, refused: map[string]Item{},
		res: &Result{RolloutID: p.RolloutID, Target: spec.Target, Total: p.Total, Budget: p.Budget, MaxFailures: p.MaxFailures}}
	for _, s := range p.Skipped {
		e.res.Skipped = append(e.res.Skipped, s.Name)
	}
	for _, b := range p.Batches {
		for _, it := range b.Items {
			if it.Marks.Phase == PhaseFailed {
				e.failed[it.Server.ID] = it.Server.Name
			}
		}
	}
	start := time.Now()
	action := "upgrade"
	if p.Rollback {
		action = "rollback"
	}
	e.gate.Send(event.Event{Kind: event.KindRollout, Address: spec.Fleet, Action: action, Phase: event.Start, Count: p.Servers(),
		Message: fmt.Sprintf("rollout %s onto %s: %d of %d servers to do, budget %d unavailable, canary %d, max failures %d",
			p.RolloutID, spec.Target, p.Servers(), p.Total, p.Budget, spec.Upgrade.Canary, p.MaxFailures)})
	for _, s := range p.Skipped {
		e.gate.Send(event.Event{Kind: event.KindServer, Address: s.Name, Action: "skip", Phase: event.Info, Status: "skipped",
			Message: "already on the target and healthy"})
	}
	err = e.run(ctx)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if c := context.Cause(ctx); errors.Is(c, ErrDeadline) && err != nil && !errors.Is(err, ErrDeadline) {
		err = fmt.Errorf("%w (%s): %v", ErrDeadline, spec.Upgrade.Deadline, err)
	}
	e.gate.Send(event.Event{Kind: event.KindRollout, Address: spec.Fleet, Action: action, Phase: event.End, Err: err,
		Elapsed: time.Since(start), Count: p.Servers()})
	return e.res, err
}

func (s Spec) check() error {
	var missing []string
	for name, v := range map[string]string{"Fleet": s.Fleet, "Target": s.Target} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(s.Tags) == 0 {
		missing = append(missing, "Tags")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("rollout spec without %s", strings.Join(missing, ", "))
	}
	if s.Upgrade.Health.Timeout <= 0 {
		return errors.New("rollout spec: health timeout must be positive")
	}
	return nil
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.ProbeConcurrency <= 0 {
		o.ProbeConcurrency = 8
	}
	if o.MarkRetries <= 0 {
		o.MarkRetries = 3
	}
	if o.NewID == nil {
		o.NewID = NewID
	}
}

type engine struct {
	spec Spec
	deps Deps
	opts Options
	gate *event.Gate
	plan *Plan

	mu sync.Mutex
	// inflight: decided (rebuild or gate), gate not spoken yet.
	inflight map[string]bool
	// passed: gate passed after the server's latest rebuild in this run; overrides marks
	// that could not be updated.
	passed map[string]bool
	// failed: failed its gate (in this run, or marked so by the run before), still failed.
	failed map[string]string
	// probeFailed: a server outside the rollout's hands that failed its probe.
	probeFailed map[string]bool
	// suspect: a rebuild whose acceptance is unknown; counted unavailable for the run.
	suspect map[string]bool
	// refused: Nova refused its rebuild; a failure of the rollout, the server untouched.
	refused map[string]Item
	res     *Result
	stopReq *lock.Request // a pause, abort or rollback read and not yet obeyed
	lastUse int           // the count reported last (events on change)
}

// run protects the previous images and rolls forward, or continues a rollback.
func (e *engine) run(ctx context.Context) error {
	release, err := e.protect(ctx)
	defer release()
	if err != nil {
		return err
	}
	if e.plan.Rollback {
		return e.rollback(ctx, nil)
	}
	return e.forward(ctx)
}

// protect checks that every previous image exists (a rollback needs them; with on_failure
// = rollback a missing one refuses the rollout before anything starts) and protects them
// for the rollout's duration.
func (e *engine) protect(ctx context.Context) (release func(), err error) {
	needed := e.spec.Upgrade.OnFailure == "rollback" || e.plan.Rollback
	var held []string
	release = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, id := range held {
			if err := e.deps.Cloud.ReleaseImage(rctx, id, e.spec.holder()); err != nil {
				e.info(event.KindImage, id, "release", fmt.Sprintf("could not release the protection of image %s: %v", id, err))
			}
		}
	}
	if e.plan.Servers() == 0 {
		// Nothing to do; a killed run before may have left its holds: give them up.
		for id := range e.plan.Previous {
			held = append(held, id)
		}
		return release, nil
	}
	if needed && len(e.plan.NoPrevious) > 0 {
		return release, fmt.Errorf("%w: the previous image of %s is unknown (volume-backed without marks, or already on the target without them); set on_failure = \"pause\" or \"abort\"",
			ErrRollbackImpossible, strings.Join(e.plan.NoPrevious, ", "))
	}
	ids := make([]string, 0, len(e.plan.Previous))
	for id := range e.plan.Previous {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if id == e.spec.Target {
			continue
		}
		ok, err := e.deps.Cloud.ImageExists(ctx, id)
		switch {
		case err != nil && needed:
			return release, fmt.Errorf("check previous image %s: %w", id, err)
		case err == nil && !ok && needed:
			return release, fmt.Errorf("%w: image %s, the previous image of %s, is gone", ErrRollbackImpossible, id, strings.Join(e.plan.Previous[id], ", "))
		case err != nil || !ok:
			e.info(event.KindImage, id, "protect", fmt.Sprintf("previous image %s of %s is gone or unreadable (%v): no rollback onto it", id, strings.Join(e.plan.Previous[id], ", "), err))
			continue
		}
		if err := e.deps.Cloud.ProtectImage(ctx, id, e.spec.holder()); err != nil {
			if errors.Is(err, ErrImageNotOwned) {
				// Another project's image (a shared base image): not ours to protect. A rollback
				// onto it works while its owner keeps it.
				e.info(event.KindImage, id, "protect", fmt.Sprintf("image %s (previous image of %s) belongs to another project: left unprotected, a rollback onto it needs it to stay", id, strings.Join(e.plan.Previous[id], ", ")))
				continue
			}
			if needed {
				return release, fmt.Errorf("protect previous image %s for the rollback: %w", id, err)
			}
			e.info(event.KindImage, id, "protect", fmt.Sprintf("could not protect image %s: %v", id, err))
			continue
		}
		held = append(held, id)
		e.info(event.KindImage, id, "protect", "protected for the rollout: "+strings.Join(e.plan.Previous[id], ", "))
	}
	return release, nil
}

func (e *engine) info(kind event.Kind, addr, action, msg string) {
	e.gate.Send(event.Event{Kind: kind, Address: addr, Action: action, Phase: event.Info, Message: msg})
}

// forward runs the plan's batches, then deals with failures per on_failure.
func (e *engine) forward(ctx context.Context) error {
	batches := e.plan.Batches
	for i := 0; i < len(batches); i++ {
		b := batches[i]
		if kind, err := e.between(ctx); err != nil {
			return err
		} else if kind == Rollback {
			return e.rollback(ctx, errors.New("rollback requested"))
		} else if kind == Abort {
			return fmt.Errorf("%w by request", ErrAborted)
		}
		berr := e.runBatch(ctx, b)
		if berr != nil && !errors.Is(berr, errFailuresBlock) {
			return berr
		}
		if n := e.failures(); n > e.plan.MaxFailures || berr != nil {
			ferr := &FailureError{Servers: e.failedNames(), Limit: e.plan.MaxFailures}
			switch e.spec.Upgrade.OnFailure {
			case "pause":
				kind, err := e.pause(ctx, ferr.Error())
				if err != nil {
					return err
				}
				switch kind {
				case Abort:
					return fmt.Errorf("%w after %v", ErrAborted, ferr)
				case Rollback:
					return e.rollback(ctx, ferr)
				}
				// Resumed: the failed servers are gated again before the rest.
				if retry := e.retryBatch(); len(retry.Items) > 0 {
					batches = append(append(batches[:i+1:i+1], retry), batches[i+1:]...)
				}
				continue
			case "abort":
				return fmt.Errorf("%w: %v", ErrAborted, ferr)
			default:
				return e.rollback(ctx, ferr)
			}
		}
		if bake := e.spec.Upgrade.Health.Bake; bake > 0 && i < len(batches)-1 {
			e.gate.Send(event.Event{Kind: event.KindBatch, Address: b.Name, Action: "bake", Phase: event.Info,
				Message: fmt.Sprintf("bake %s before the next batch", bake)})
			if err := sleep(ctx, bake); err != nil {
				return stopped(ctx)
			}
		}
	}
	if kind, err := e.between(ctx); err != nil {
		return err
	} else if kind == Rollback {
		return e.rollback(ctx, errors.New("rollback requested"))
	}
	if n := e.failures(); n > 0 {
		e.info(event.KindRollout, e.spec.Fleet, "done", fmt.Sprintf("%d server(s) failed their gate, within max_failures %d: %s", n, e.plan.MaxFailures, strings.Join(e.failedNames(), ", ")))
	}
	return nil
}

// retryBatch gates again the servers that failed, and requests again the rebuilds that
// were refused.
func (e *engine) retryBatch() Batch {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := Batch{Name: "retry"}
	for _, bb := range e.plan.Batches {
		for _, it := range bb.Items {
			if e.failed[it.Server.ID] != "" && !it.rollback() {
				b.Items = append(b.Items, Item{Server: it.Server, Work: WorkGate, From: it.From, Marks: it.Marks})
			}
		}
	}
	ids := make([]string, 0, len(e.refused))
	for id := range e.refused {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b.Items = append(b.Items, e.refused[id])
		delete(e.refused, id)
	}
	return b
}

// rollback moves the servers of this rollout back onto their previous images, newest
// first, from a fresh listing of their marks, under the same budget and gates.
func (e *engine) rollback(ctx context.Context, cause error) error {
	e.res.RolledBack = true
	servers, err := e.deps.Cloud.ListFleet(ctx, e.spec.Tags)
	if err != nil {
		return fmt.Errorf("%w: %w: list fleet %s for the rollback: %v", ErrRollbackFailed, ErrUnknownFleet, e.spec.Fleet, err)
	}
	batches := chunk(rollbackItems(servers, e.plan.RolloutID), e.plan.Budget, "rollback")
	n := 0
	for _, b := range batches {
		n += len(b.Items)
	}
	msg := fmt.Sprintf("rolling %d server(s) back", n)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	e.gate.Send(event.Event{Kind: event.KindRollout, Address: e.spec.Fleet, Action: "rollback", Phase: event.Info, Count: n, Message: msg})
	// The servers that failed going forward stay counted as failed (and unavailable) until
	// their rollback passes; refused rebuilds left their servers as they were.
	e.mu.Lock()
	e.refused = map[string]Item{}
	e.mu.Unlock()
	for _, b := range batches {
		if kind, err := e.between(ctx); err != nil {
			return errors.Join(fmt.Errorf("%w", ErrRollbackFailed), err)
		} else if kind == Abort {
			return fmt.Errorf("%w: %w during the rollback", ErrRollbackFailed, ErrAborted)
		}
		if err := e.runBatch(ctx, b); err != nil && !errors.Is(err, errFailuresBlock) {
			return fmt.Errorf("%w: %w", ErrRollbackFailed, err)
		}
	}
	if names := e.failedNames(); len(names) > 0 {
		return fmt.Errorf("%w: %s failed their gate on the previous image", ErrRollbackFailed, strings.Join(names, ", "))
	}
	if cause == nil {
		return ErrRolledBack
	}
	return fmt.Errorf("%w: %w", ErrRolledBack, cause)
}

func (e *engine) failures() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.failed) + len(e.refused)
}

func (e *engine) failedNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []string
	for _, n := range e.failed {
		names = append(names, n)
	}
	for _, it := range e.refused {
		names = append(names, it.Server.Name+" (rebuild refused)")
	}
	sort.Strings(names)
	return names
}

// between is the point between batches: a hook's halt, the deadline, and the control
// requests (a pause waits here) are obeyed. It returns Abort or Rollback when asked.
func (e *engine) between(ctx context.Context) (string, error) {
	if e.gate.Halted() {
		return "", event.ErrHalted
	}
	if err := ctx.Err(); err != nil {
		return "", stopped(ctx)
	}
	e.readControl(ctx)
	r := e.stopReq
	if r == nil {
		return "", nil
	}
	e.stopReq = nil
	e.obey(ctx, *r)
	switch r.Kind {
	case Pause:
		return e.pause(ctx, "paused by "+r.By)
	case Abort, Rollback:
		e.info(event.KindRollout, e.spec.Fleet, r.Kind, r.Kind+" requested by "+r.By)
		return r.Kind, nil
	}
	return "", nil
}

// pause waits for resume, abort or rollback.
func (e *engine) pause(ctx context.Context, why string) (string, error) {
	e.gate.Send(event.Event{Kind: event.KindRollout, Address: e.spec.Fleet, Action: "pause", Phase: event.Info, Status: "paused", Message: why})
	for {
		if e.gate.Halted() {
			return "", event.ErrHalted
		}
		if e.deps.Control != nil {
			reqs, err := e.deps.Control.Requests(ctx)
			if err == nil {
				for _, r := range reqs {
					e.obey(ctx, r)
					switch r.Kind {
					case Resume:
						e.gate.Send(event.Event{Kind: event.KindRollout, Address: e.spec.Fleet, Action: "resume", Phase: event.Info, Status: "resumed", Message: "resumed by " + r.By})
						return Resume, nil
					case Abort, Rollback:
						e.info(event.KindRollout, e.spec.Fleet, r.Kind, r.Kind+" requested by "+r.By)
						return r.Kind, nil
					}
				}
			}
		}
		if err := sleep(ctx, e.opts.Poll); err != nil {
			return "", stopped(ctx)
		}
	}
}

// readControl reads the requests: a resume with nothing paused is obeyed at once (there is
// nothing to do), the first pause, abort or rollback is kept for between.
func (e *engine) readControl(ctx context.Context) {
	if e.deps.Control == nil || e.stopReq != nil {
		return
	}
	reqs, err := e.deps.Control.Requests(ctx)
	if err != nil {
		return
	}
	for _, r := range reqs {
		switch r.Kind {
		case Pause, Abort, Rollback:
			e.stopReq = &r
			return
		default:
			e.obey(ctx, r)
		}
	}
}

func (e *engine) obey(ctx context.Context, r lock.Request) {
	if err := e.deps.Control.Obeyed(ctx, r); err != nil {
		e.info(event.KindLock, e.spec.Fleet, "obey", fmt.Sprintf("could not remove the %s request %s: %v", r.Kind, r.ID, err))
	}
}

// stopped is the error for a context that ended.
func stopped(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil && c != ctx.Err() {
		return c
	}
	return ctx.Err()
}

var errFailuresBlock = errors.New("the budget is taken by servers that failed their gate")

// runBatch starts each item when the budget allows (re-reading the fleet before each), and
// returns when every started item has passed or failed. A halt, a control request or the
// deadline stop the starts; the servers in flight finish their gates.
func (e *engine) runBatch(ctx context.Context, b Batch) error {
	e.gate.Send(event.Event{Kind: event.KindBatch, Address: b.Name, Action: "batch", Phase: event.Start, Count: len(b.Items)})
	start := time.Now()
	e.probe(ctx)
	done := make(chan struct{}, len(b.Items))
	pending := append([]Item(nil), b.Items...)
	running := 0
	var blockedSince, unknownSince time.Time
	var err error
	for len(pending) > 0 || running > 0 {
		if len(pending) > 0 && err == nil {
			e.readControl(ctx)
			switch {
			case e.gate.Halted():
				err = event.ErrHalted
			case ctx.Err() != nil:
				err = stopped(ctx)
			case e.stopReq != nil:
				err = errStopRequested
			}
		}
		if err != nil {
			pending = nil
		}
		if len(pending) > 0 {
			srv, ok, use, aerr := e.admit(ctx, pending[0])
			switch {
			case aerr != nil && errors.Is(aerr, errGone):
				e.gate.Send(event.Event{Kind: event.KindServer, Address: pending[0].Server.Name, Action: string(pending[0].Work), Phase: event.Info, Status: "skipped", Message: aerr.Error()})
				pending = pending[1:]
				continue
			case aerr != nil:
				if unknownSince.IsZero() {
					unknownSince = time.Now()
					e.info(event.KindRollout, e.spec.Fleet, "budget", fmt.Sprintf("fleet unreadable, nothing starts: %v", aerr))
				} else if time.Since(unknownSince) > e.spec.Upgrade.Health.Timeout && running == 0 {
					err = fmt.Errorf("%w: %v", ErrUnknownFleet, aerr)
					continue
				}
			case ok:
				unknownSince, blockedSince = time.Time{}, time.Time{}
				it := pending[0]
				it.Server = srv
				pending = pending[1:]
				running++
				decided := e.opts.Now().UTC()
				go func() { e.work(ctx, b.Name, it, decided); done <- struct{}{} }()
				continue
			default:
				unknownSince = time.Time{}
				if running == 0 {
					if blockedSince.IsZero() {
						blockedSince = time.Now()
					}
					if e.ownFailuresBlock(use) {
						err = errFailuresBlock
						continue
					}
					if time.Since(blockedSince) > e.spec.Upgrade.Health.Timeout {
						err = fmt.Errorf("%w: %s", ErrBlocked, describe(use))
						continue
					}
					e.probe(ctx) // a server that recovers frees its place
				}
			}
		}
		if running == 0 && len(pending) == 0 {
			break
		}
		t := time.NewTimer(e.opts.Poll)
		select {
		case <-done:
			running--
		case <-t.C:
		}
		t.Stop()
	}
	if errors.Is(err, errStopRequested) {
		err = nil // between obeys it
	}
	e.gate.Send(event.Event{Kind: event.KindBatch, Address: b.Name, Action: "batch", Phase: event.End, Count: len(b.Items), Elapsed: time.Since(start), Err: err})
	return err
}

var (
	errStopRequested = errors.New("stop requested")
	errGone          = errors.New("the server is no longer in the fleet")
)

func describe(use map[string]string) string {
	var parts []string
	for name, why := range use {
		parts = append(parts, name+" ("+why+")")
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// ownFailuresBlock: the count is at the budget with nothing in flight, and servers that
// failed their gate in this rollout are among those counted.
func (e *engine) ownFailuresBlock(use map[string]string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range e.failed {
		if _, ok := use[name]; ok {
			return true
		}
	}
	return false
}

// admit reads the fleet (one list call) and, if starting it keeps the count of unavailable
// servers within the budget, records the item in flight and returns the server as listed.
// use is the count's servers (name: why). Admissions are serialized, so the count always
// includes every decision before it.
func (e *engine) admit(ctx context.Context, it Item) (srv Server, ok bool, use map[string]string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	list, err := e.deps.Cloud.ListFleet(ctx, e.spec.Tags)
	if err != nil {
		return Server{}, false, nil, err
	}
	found := false
	for _, s := range list {
		if s.ID == it.Server.ID {
			srv, found = s, true
		}
	}
	if !found {
		return Server{}, false, nil, fmt.Errorf("%w: %s", errGone, it.Server.Name)
	}
	use = e.countLocked(list)
	cost := 1
	if _, down := use[srv.Name]; down {
		cost = 0
	}
	n := len(use) + cost
	if n > e.plan.Budget {
		e.reportUse(len(use), false)
		return srv, false, use, nil
	}
	e.inflight[srv.ID] = true
	delete(e.passed, srv.ID)
	e.res.Peak = max(e.res.Peak, n)
	e.reportUse(n, true)
	return srv, true, use, nil
}

// reportUse reports the count when it changed.
func (e *engine) reportUse(n int, admitted bool) {
	if n == e.lastUse {
		return
	}
	e.lastUse = n
	msg := fmt.Sprintf("%d/%d unavailable", n, e.plan.Budget)
	if !admitted {
		msg += ": at the budget, nothing starts"
	}
	e.gate.Send(event.Event{Kind: event.KindRollout, Address: e.spec.Fleet, Action: "budget", Phase: event.Info, Count: n, Message: msg})
}

// countLocked names the unavailable servers of list (and of the engine's own, listed or
// not), with the reason.
func (e *engine) countLocked(list []Server) map[string]string {
	use := map[string]string{}
	seen := map[string]bool{}
	for _, s := range list {
		seen[s.ID] = true
		m, has := ReadMarks(s.Metadata)
		why := ""
		switch {
		case e.inflight[s.ID]:
			why = "in flight"
		case s.Status != "ACTIVE":
			why = "status " + s.Status
		case e.failed[s.ID] != "":
			why = "failed its gate"
		case e.probeFailed[s.ID]:
			why = "failed its probe"
		case e.suspect[s.ID]:
			why = "rebuild unconfirmed"
		case has && m.Phase.unavailable() && !e.passed[s.ID]:
			why = "marked " + string(m.Phase)
		}
		if why != "" {
			use[s.Name] = why
		}
	}
	for id := range e.inflight {
		if !seen[id] {
			use[id] = "in flight, not listed"
		}
	}
	for id := range e.suspect {
		if !seen[id] {
			use[id] = "rebuild unconfirmed, not listed"
		}
	}
	return use
}

// probe checks the servers outside the rollout's hands (not in flight, not failed, ACTIVE):
// one that fails counts as unavailable until a later probe passes.
func (e *engine) probe(ctx context.Context) {
	list, err := e.deps.Cloud.ListFleet(ctx, e.spec.Tags)
	if err != nil {
		return // the admission's own list says the count is unknown
	}
	e.mu.Lock()
	var todo []Server
	for _, s := range list {
		if !e.inflight[s.ID] && e.failed[s.ID] == "" && s.Status == "ACTIVE" {
			todo = append(todo, s)
		}
	}
	e.mu.Unlock()
	results := make([]error, len(todo))
	sem := make(chan struct{}, e.opts.ProbeConcurrency)
	var wg sync.WaitGroup
	for i, s := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, e.spec.Upgrade.Health.Timeout)
			defer cancel()
			results[i] = e.deps.Gate.Probe(pctx, s, e.spec.Upgrade.Health)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, s := range todo {
		was := e.probeFailed[s.ID]
		if results[i] != nil {
			e.probeFailed[s.ID] = true
			if !was {
				e.gate.Send(event.Event{Kind: event.KindServer, Address: s.Name, Action: "probe", Phase: event.Info, Status: "failed",
					Err: results[i], Message: fmt.Sprintf("counts as unavailable: %v", results[i])})
			}
		} else {
			delete(e.probeFailed, s.ID)
		}
	}
}

// finish records an item's outcome: out of flight, passed, failed or refused.
func (e *engine) finish(it Item, o outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := it.Server.ID
	delete(e.inflight, id)
	switch o {
	case outPassed:
		e.passed[id] = true
		delete(e.failed, id)
		delete(e.refused, id)
		delete(e.probeFailed, id)
	case outInterrupted:
		e.suspect[id] = true // the run is stopping; whatever it is, it stays counted
	case outRefused:
		if e.failed[id] == "" {
			e.refused[id] = it
		}
	default:
		e.failed[id] = it.Server.Name
		delete(e.refused, id)
	}
}
