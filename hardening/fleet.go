package hardening

import (
	"context"
	"errors"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/internal/fanout"
)

// DefaultConcurrency is how many hosts run at once unless told otherwise: enough to keep a
// fleet moving, few enough for one bastion connection's channels and the bastion's sshd
// MaxStartups (10:30:100 by default).
const DefaultConcurrency = 10

// Fleet runs the scanner on every host, pipelined: at most concurrency hosts run oscap at
// once, and up to SSHConcurrency more (default: concurrency) connect and upload ahead, so a
// host that finishes hands its slot to one that is ready to start. Each host's outcome is its
// own; results come back in the order of hosts.
//
// Each host is reported to hook (nil: none) as Kind host, Address its name, Action "scan" or
// "harden": a start when it begins to connect, an end with its Score and a Status ("passed",
// "below-minimum" against the profile's MinScore, or the host's status: "unreachable",
// "hostkey", "timeout", "error", "no-oscap", "no-content", "canceled", with Err). A Halt
// answer starts no new host and no new oscap run: a host connected ahead ends "skipped"
// without running oscap, the hosts never started come back with StatusSkipped too (and an
// info event each); that is no failure of theirs. Once ctx is cancelled, the hosts not
// started come back as StatusCanceled. Fleet returns when every host it started is done.
func (s *Scanner) Fleet(ctx context.Context, hosts []Host, concurrency int, hook event.Hook) []HostResult {
	if concurrency < 1 {
		concurrency = DefaultConcurrency
	}
	connect := s.SSHConcurrency
	if connect < 1 {
		connect = concurrency
	}
	sl := &slots{prepare: make(chan struct{}, connect), run: make(chan struct{}, concurrency)}
	gate := event.NewGate(hook)
	action := "scan"
	if s.Remediate {
		action = "harden"
	}
	results := make([]HostResult, len(hosts))
	notStarted := func(i int) {
		results[i] = unstarted(ctx, hosts[i])
		gate.Send(hostEvent(action, s.Profile.MinScore, results[i], false))
	}
	// A host waits for a worker here, then for a connect slot in runHost: the Halt and the
	// cancellation are looked at after both waits.
	fanout.Each(len(hosts), concurrency+connect, func(i int) bool {
		if ctx.Err() != nil || gate.Halted() {
			notStarted(i)
			return false
		}
		return true
	}, func(i int) error {
		began := false
		results[i] = s.runHost(ctx, hosts[i], sl, &fleetHooks{
			halted: gate.Halted,
			began: func() {
				began = true
				gate.Send(event.Event{Kind: event.KindHost, Address: nameOf(hosts[i]), Action: action, Phase: event.Start})
			},
			ended: func(r HostResult) { gate.Send(hostEvent(action, s.Profile.MinScore, r, true)) },
		})
		if !began { // halted, or cancelled, while it waited for a connect slot
			if results[i].Status != StatusCanceled {
				results[i] = unstarted(ctx, hosts[i])
			}
			gate.Send(hostEvent(action, s.Profile.MinScore, results[i], false))
		}
		return nil
	})
	return results
}

// fleetHooks are how runHost tells a fleet that a host began to connect and that it ended
// (before its slots are released, so that a Halt the end brings is seen by the next host),
// and asks it, at the connect slot and at the run slot, whether the run was halted meanwhile.
type fleetHooks struct {
	halted func() bool
	began  func()
	ended  func(HostResult)
}

// unstarted is the result of a host the run never started: canceled with the run, or
// skipped after a Halt.
func unstarted(ctx context.Context, h Host) HostResult {
	r := HostResult{Host: nameOf(h), Address: h.Address, Status: StatusSkipped, Notes: []string{"not started: the run was halted"}}
	if ctx.Err() != nil {
		r.Status, r.Error, r.Notes = StatusCanceled, ctx.Err().Error(), nil
	}
	return r
}

// hostEvent is the event of a host's end (began) or of a host never started (an info event).
func hostEvent(action string, minScore float64, r HostResult, began bool) event.Event {
	e := event.Event{Kind: event.KindHost, Address: r.Host, Action: action, Phase: event.End, Elapsed: r.Duration, Status: string(r.Status)}
	if !began {
		e.Phase, e.Elapsed = event.Info, 0
		e.Message = "not started"
		if r.Error != "" {
			e.Message += ": " + r.Error
		}
		return e
	}
	switch {
	case r.Status.Ran() && r.Result != nil:
		score := r.Result.Score
		e.Score, e.Status = &score, "passed"
		if score < minScore {
			e.Status = "below-minimum"
		}
	case r.Error != "":
		e.Err = errors.New(r.Error)
	}
	return e
}

func nameOf(h Host) string {
	if h.Name != "" {
		return h.Name
	}
	return h.Address
}

// hostKeyProblem is satisfied by the SSH layer's host key errors (unknown host, changed key).
type hostKeyProblem interface {
	error
	HostKeyProblem() bool
}

// isHostKeyError reports whether err is a host key verification failure (the SSH layer
// marks every one of them, unknown, changed or revoked).
func isHostKeyError(err error) bool {
	var hk hostKeyProblem
	return errors.As(err, &hk) && hk.HostKeyProblem()
}
