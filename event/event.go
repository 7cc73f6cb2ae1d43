// Package event is the one progress vocabulary of every engine: apply, the image pipeline,
// the scanner, and the rollouts and schedule built on them. An engine reports each unit of
// work (a security group, a server, a build step, a host) with a typed Event before it starts
// and after it ends, to a Hook. The hook's answer can halt the run between units of work
// (Terraform's HookAction): an engine that is told Halt starts nothing new, lets the work in
// flight finish, and returns ErrHalted. The engines never print; the text printer, the
// JSON-lines printer and the terminal UI are subscribers.
//
// This package is at the bottom of the import graph: it imports nothing of ours.
package event

import (
	"errors"
	"sync"
	"time"
)

// Kind is the kind of resource an event is about.
type Kind string

const (
	KindSecurityGroup Kind = "security_group"
	KindServer        Kind = "server"
	KindImage         Kind = "image"    // an image build; Action is the pipeline step
	KindHost          Kind = "host"     // a scanned or hardened host
	KindRollout       Kind = "rollout"  // a fleet's rolling upgrade
	KindBatch         Kind = "batch"    // one batch of a rollout
	KindLock          Kind = "lock"     // the configuration's cloud lock
	KindSchedule      Kind = "schedule" // a scheduled run
	KindRule          Kind = "security_group_rule"
)

// Phase says whether an event opens or closes a unit of work.
type Phase string

const (
	Start Phase = "start"
	End   Phase = "end"
	// Info is a note about a resource that is no unit of work (a rollout's budget, a
	// skipped server, a flag read from the lock).
	Info Phase = "info"
)

// Event is one unit of work, reported at its start and at its end.
type Event struct {
	Kind Kind
	// Address names the resource the way plans and reports do: "sample-app" for a group,
	// "app-1" for a server, "debian12-node" for an image, a host's name or address.
	Address string
	// Action is what is done to it: "create", "update", "delete", "create rules",
	// "delete rules", "boot", "rebuild", "scan", "harden", or an image pipeline step's name.
	Action string
	Phase  Phase
	// Count is how many sub-resources the unit touches (rules in a bulk create), if any.
	Count int
	// Elapsed is the unit's duration (End only).
	Elapsed time.Duration
	// Err is the unit's error (End only; nil when it succeeded).
	Err error
	// Score is a host's compliance score (End of a scan), when it has one.
	Score *float64
	// Status is an outcome word when success or failure says too little: "passed",
	// "below-minimum", "skipped", "no-content" (hosts); "kept" (builders kept for debugging).
	Status string
	// Message is a human note (Info events; optional elsewhere).
	Message string
}

// Failed reports whether the unit of work ended with an error.
func (e Event) Failed() bool { return e.Phase == End && e.Err != nil }

// Action is a hook's answer: go on, or halt between units of work.
type Action int

const (
	Continue Action = iota
	Halt
)

// ErrHalted is returned (wrapped) by an engine that stopped because a hook said Halt.
var ErrHalted = errors.New("halted by a hook")

// Hook receives events. Calls may come from several goroutines at once; an implementation
// guards its own state.
type Hook interface {
	Event(Event) Action
}

// Func adapts a function to Hook.
type Func func(Event) Action

// Event calls f.
func (f Func) Event(e Event) Action { return f(e) }

// Observe adapts a function that never halts to Hook.
func Observe(f func(Event)) Hook {
	return Func(func(e Event) Action { f(e); return Continue })
}

// Nop is the default hook: it ignores every event and never halts.
var Nop Hook = Func(func(Event) Action { return Continue })

// OrNop returns h, or Nop when h is nil: engines call it on their options.
func OrNop(h Hook) Hook {
	if h == nil {
		return Nop
	}
	return h
}

// Multi sends each event to every hook, in order; it halts if any of them says Halt.
func Multi(hooks ...Hook) Hook {
	var hs []Hook
	for _, h := range hooks {
		if h != nil {
			hs = append(hs, h)
		}
	}
	return Func(func(e Event) Action {
		a := Continue
		for _, h := range hs {
			if h.Event(e) == Halt {
				a = Halt
			}
		}
		return a
	})
}

// Gate remembers a Halt: an engine sends every event through it and asks Halted before it
// starts a unit of work. It is safe for concurrent use.
type Gate struct {
	hook   Hook
	mu     sync.Mutex
	halted bool
}

// NewGate wraps h (nil: Nop).
func NewGate(h Hook) *Gate { return &Gate{hook: OrNop(h)} }

// Send reports e, records a Halt, and returns the hook's answer.
func (g *Gate) Send(e Event) Action {
	a := g.hook.Event(e)
	if a == Halt {
		g.mu.Lock()
		g.halted = true
		g.mu.Unlock()
	}
	return a
}

// Halted reports whether any hook said Halt so far.
func (g *Gate) Halted() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.halted
}

// Run reports the start of a unit, runs fn, and reports its end with fn's error and
// duration; the returned error is fn's. When a hook has halted the run, fn is not called and
// Run returns ErrHalted without an event; when the hook halts on this unit's own start, fn is
// not called either and the end is reported with Status "halted" and Err ErrHalted.
func (g *Gate) Run(e Event, fn func() error) error {
	if g.Halted() {
		return ErrHalted
	}
	e.Phase = Start
	if g.Send(e) == Halt {
		e.Phase, e.Status, e.Err = End, "halted", ErrHalted
		g.Send(e)
		return ErrHalted
	}
	start := time.Now()
	err := fn()
	e.Phase, e.Err, e.Elapsed = End, err, time.Since(start)
	g.Send(e)
	return err
}
