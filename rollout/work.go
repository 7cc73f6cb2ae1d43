package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/hardenctl/hardenctl/event"
)

// work carries one admitted item through: the rebuild (unless a rebuild was already
// requested), its wait, and the gates, then the marks. The per-server timeout runs from
// the admission (decided: its marks' At, so that a rollback goes newest first by decision).
func (e *engine) work(ctx context.Context, batch string, it Item, decided time.Time) {
	h := e.spec.Upgrade.Health
	rec := &ServerResult{ID: it.Server.ID, Name: it.Server.Name, Batch: batch, Work: it.Work, Started: e.opts.Now()}
	e.mu.Lock()
	e.res.Servers = append(e.res.Servers, rec)
	e.mu.Unlock()
	image := e.spec.Target
	if it.rollback() {
		image = it.From
	}
	rec.Image = image
	tctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	marks := Marks{ID: e.plan.RolloutID, From: it.From, To: e.spec.Target, Phase: PhaseRebuilding, At: decided}
	if it.rollback() {
		marks.Phase = PhaseRollback
	}
	var since time.Time
	refused, err := e.rebuild(tctx, it, image, &marks, rec, &since)
	if err == nil {
		err = e.gates(tctx, it.Server, since, rec)
	}
	rec.Ended = e.opts.Now()
	interrupted := err != nil && ctx.Err() != nil
	rec.Passed, rec.Err = err == nil, err
	mctx := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		marks.Phase = PhaseHealthy
		if it.rollback() {
			marks.Phase = PhaseRolledBack
		}
		marks.HealthyAt, marks.Score = rec.Ended, rec.Score
		if merr := e.mark(mctx, it.Server, marks); merr != nil {
			e.gate.Send(event.Event{Kind: event.KindServer, Address: it.Server.Name, Action: "mark", Phase: event.Info, Err: merr,
				Message: "passed, but its marks still say " + string(PhaseRebuilding) + ": a rerun gates it again"})
		}
	case interrupted:
		// The rollout is stopping (deadline, kill): the marks say what is left to do.
	case refused:
		// Nova refused the rebuild: the server is as it was, the rollout has a failure.
	default:
		marks.Phase = PhaseFailed
		if it.rollback() {
			marks.Phase = PhaseRollback // still not back: a rerun continues the rollback
		}
		if merr := e.mark(mctx, it.Server, marks); merr != nil {
			e.gate.Send(event.Event{Kind: event.KindServer, Address: it.Server.Name, Action: "mark", Phase: event.Info, Err: merr})
		}
	}
	e.finish(it, outcomeOf(err, interrupted, refused))
}

type outcome int

const (
	outPassed      outcome = iota
	outFailed              // gate failed: the server counts as unavailable
	outRefused             // the rebuild was refused: the server is as it was
	outInterrupted         // the rollout is stopping
)

func outcomeOf(err error, interrupted, refused bool) outcome {
	switch {
	case err == nil:
		return outPassed
	case interrupted:
		return outInterrupted
	case refused:
		return outRefused
	}
	return outFailed
}

// rebuild requests the rebuild with the marks (unless the item only waits for one already
// requested) and waits until the server runs image: the "active" gate. refused says Nova
// answered the request with an error and did not take it (the server is untouched).
func (e *engine) rebuild(ctx context.Context, it Item, image string, marks *Marks, rec *ServerResult, since *time.Time) (refused bool, err error) {
	s := it.Server
	ev := event.Event{Kind: event.KindServer, Address: s.Name, Action: string(it.Work)}
	start := time.Now()
	if it.Work == WorkRebuild || it.Work == WorkRollback {
		md, err := withMarks(s.Metadata, *marks)
		if err != nil {
			return true, e.gateResult(rec, "active", start, 1, fmt.Errorf("marks for server %s: %w", s.Name, err))
		}
		*since = marks.At
		ev.Phase = event.Start
		e.gate.Send(ev)
		reqID, err := e.deps.Cloud.Rebuild(ctx, s.ID, image, md)
		if err != nil {
			err = fmt.Errorf("rebuild server %s onto %s: %w", s.Name, image, err)
			accepted, lerr := e.accepted(ctx, s, *marks)
			switch {
			case lerr != nil:
				// Whether Nova took it is unknown: it stays counted for the rest of the run.
				e.mu.Lock()
				e.suspect[s.ID] = true
				e.mu.Unlock()
				err = fmt.Errorf("%w (and whether Nova took it is unknown: %v)", err, lerr)
				e.endEvent(ev, start, err, "")
				return false, e.gateResult(rec, "active", start, 1, err)
			case !accepted:
				e.endEvent(ev, start, err, "")
				return true, e.gateResult(rec, "active", start, 1, err)
			}
			// Nova took it; its answer was lost.
		}
		rec.RequestID = reqID
	} else {
		// the marks as listed at the admission: the rebuild they tell of
		if cur, ok := ReadMarks(s.Metadata); ok && cur.ID == marks.ID {
			marks.At = cur.At
			if marks.From == "" {
				marks.From = cur.From
			}
		}
		*since = marks.At
		ev.Phase = event.Start
		e.gate.Send(ev)
	}
	err = e.deps.Cloud.WaitRebuild(ctx, s, image, rec.RequestID)
	e.endEvent(ev, start, err, rec.RequestID)
	return false, e.gateResult(rec, "active", start, 1, err)
}

func (e *engine) endEvent(ev event.Event, start time.Time, err error, reqID string) {
	ev.Phase, ev.Err, ev.Elapsed = event.End, err, time.Since(start)
	if reqID != "" {
		ev.Message = "request " + reqID
	}
	e.gate.Send(ev)
}

// accepted reads the fleet to learn whether a rebuild whose answer was an error was taken
// after all (its marks are there).
func (e *engine) accepted(ctx context.Context, s Server, marks Marks) (bool, error) {
	list, err := e.deps.Cloud.ListFleet(ctx, e.spec.Tags)
	if err != nil {
		return false, err
	}
	for _, l := range list {
		if l.ID == s.ID {
			m, ok := ReadMarks(l.Metadata)
			return ok && m.ID == marks.ID && m.Phase == marks.Phase && m.At.Equal(marks.At), nil
		}
	}
	return false, nil
}

func (e *engine) gateResult(rec *ServerResult, gate string, start time.Time, attempts int, err error) error {
	rec.Gates = append(rec.Gates, GateResult{Gate: gate, Passed: err == nil, Err: err, Elapsed: time.Since(start), Attempts: attempts})
	return err
}

// gates runs the health gates in order after the warmup: SSH through the bastion with the
// new host key, the TCP ports from inside, the compliance score. SSH and the ports are tried
// again until they answer or the server's timeout ends; the scan runs once.
func (e *engine) gates(ctx context.Context, s Server, since time.Time, rec *ServerResult) error {
	h := e.spec.Upgrade.Health
	if h.Warmup > 0 {
		if err := sleep(ctx, h.Warmup); err != nil {
			return fmt.Errorf("warmup of %s: %w", s.Name, err)
		}
	}
	if !h.SSH {
		return nil
	}
	var sess Session
	err := e.retried(ctx, s, rec, "ssh", func() error {
		var err error
		sess, err = e.deps.Gate.Connect(ctx, s, since)
		return err
	})
	if err != nil {
		return err
	}
	defer sess.Close()
	for _, port := range h.TCP {
		if err := e.retried(ctx, s, rec, fmt.Sprintf("tcp %d", port), func() error { return sess.TCP(ctx, port) }); err != nil {
			return err
		}
	}
	if h.MinScore == nil {
		return nil
	}
	ev := event.Event{Kind: event.KindServer, Address: s.Name, Action: "gate score", Phase: event.Start}
	e.gate.Send(ev)
	start := time.Now()
	scan, err := sess.Scan(ctx)
	g := GateResult{Gate: "score", Attempts: 1, Detail: scan.Detail}
	if err == nil {
		sc := scan.Score
		g.Score, rec.Score = &sc, &sc
		if sc < *h.MinScore {
			err = fmt.Errorf("server %s scores %.2f, below min_score %.2f", s.Name, sc, *h.MinScore)
		}
	} else {
		err = fmt.Errorf("scan server %s: %w", s.Name, err)
	}
	g.Passed, g.Err, g.Elapsed = err == nil, err, time.Since(start)
	rec.Gates = append(rec.Gates, g)
	ev.Phase, ev.Err, ev.Elapsed, ev.Score = event.End, err, g.Elapsed, g.Score
	ev.Status = "passed"
	if err != nil {
		ev.Status = "below-minimum"
		if g.Score == nil {
			ev.Status = "failed"
		}
	}
	e.gate.Send(ev)
	return err
}

// retried runs one gate until it passes or ctx ends, reporting it as one unit.
func (e *engine) retried(ctx context.Context, s Server, rec *ServerResult, gate string, fn func() error) error {
	ev := event.Event{Kind: event.KindServer, Address: s.Name, Action: "gate " + gate, Phase: event.Start}
	e.gate.Send(ev)
	start := time.Now()
	attempts := 0
	var err error
	for {
		attempts++
		if err = fn(); err == nil {
			break
		}
		if serr := sleep(ctx, min(e.opts.Poll, 5*time.Second)); serr != nil {
			err = fmt.Errorf("gate %s of %s: %w (last: %w)", gate, s.Name, serr, err)
			break
		}
	}
	rec.Gates = append(rec.Gates, GateResult{Gate: gate, Passed: err == nil, Err: err, Elapsed: time.Since(start), Attempts: attempts})
	ev.Phase, ev.Err, ev.Elapsed = event.End, err, time.Since(start)
	ev.Status = "passed"
	if err != nil {
		ev.Status = "failed"
	}
	if attempts > 1 {
		ev.Message = fmt.Sprintf("%d attempts", attempts)
	}
	e.gate.Send(ev)
	return err
}

// mark updates a server's marks after its gate, retried a few times.
func (e *engine) mark(ctx context.Context, s Server, m Marks) error {
	md := m.Metadata()
	if err := checkMetadata(md); err != nil {
		return err
	}
	var err error
	for i := range e.opts.MarkRetries {
		mctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = e.deps.Cloud.SetMetadata(mctx, s.ID, md)
		cancel()
		if err == nil {
			return nil
		}
		if i < e.opts.MarkRetries-1 {
			sleep(ctx, time.Duration(i+1)*min(e.opts.Poll, time.Second))
		}
	}
	return fmt.Errorf("mark server %s %s: %w", s.Name, m.Phase, err)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
