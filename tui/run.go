package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"github.com/hardenctl/hardenctl/event"
)

// Result is how the UI ended.
type Result struct {
	Quit Quit
	// Err is why a UI ended by itself (QuitKilled), or the error of the abort request a stop
	// sent (QuitStop); nil otherwise.
	Err error
	// RolloutEnded says the UI had seen the rollout end.
	RolloutEnded bool
}

// UI is a running screen. It is the event.Hook to pass into rollout.Deps.Hook: each event is
// handed to the program by p.Send (it never blocks the engine for longer than the program
// takes to receive it, and not at all once the program ended). Once the UI ended, events go
// to Options.Headless, and after a stop the hook answers event.Halt.
type UI struct {
	p     *tea.Program
	opts  Options
	done  chan Result
	ended atomic.Bool
	halt  atomic.Bool
}

var _ event.Hook = (*UI)(nil)

// Run starts the program of m on in and out (a terminal: see IsTerminal) and returns at
// once. The UI ends when the user leaves (Result.Quit says how), or when ctx ends; Done then
// yields its Result, once. progOpts are added to the program's options (tests pin the
// window size and the colour profile with them).
func Run(ctx context.Context, in io.Reader, out io.Writer, m Model, progOpts ...tea.ProgramOption) *UI {
	m.ctx = ctx
	opts := append([]tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out)}, progOpts...)
	u := &UI{p: tea.NewProgram(m, opts...), opts: m.opts, done: make(chan Result, 1)}
	go func() {
		final, err := u.p.Run()
		res := Result{Quit: QuitKilled, Err: err}
		if fm, ok := final.(Model); ok && err == nil {
			res = fm.Result()
		}
		if res.Quit == QuitNone {
			res.Quit = QuitKilled
		}
		if res.Quit == QuitKilled && res.Err == nil {
			res.Err = errors.New("the UI ended by itself")
		}
		u.halt.Store(res.Quit == QuitStop)
		u.ended.Store(true)
		u.done <- res
	}()
	return u
}

// Event hands e to the UI, or, once the UI ended, to Options.Headless. It answers Halt once
// the user chose to stop the rollout.
func (u *UI) Event(e event.Event) event.Action {
	if !u.ended.Load() {
		u.p.Send(eventMsg{e: e, at: u.opts.Now()})
	} else if u.opts.Headless != nil {
		u.opts.Headless.Event(e)
	}
	if u.halt.Load() {
		return event.Halt
	}
	return event.Continue
}

// Finished tells the UI that rollout.Run returned err: the screen shows the outcome (also
// when the rollout failed before its first event) and q then leaves without asking.
func (u *UI) Finished(err error) { u.p.Send(finishedMsg{err: err}) }

// Done yields the UI's Result once it ended.
func (u *UI) Done() <-chan Result { return u.done }

// IsTerminal says whether f is a terminal. The UI needs one for its input and its output
// (the CLI checks os.Stdin and os.Stderr, and falls back to event.Text otherwise).
func IsTerminal(f *os.File) bool { return f != nil && term.IsTerminal(f.Fd()) }
