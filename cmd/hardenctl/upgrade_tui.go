package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/rollout"
	"github.com/hardenctl/hardenctl/tui"
)

// tuiView is upgrade --tui: the rollout runs under the terminal UI (package tui), which only
// receives the rollout's events and sends control requests (p pause/resume, a abort,
// r rollback) through the fleet's lock, as -pause and the others do from another terminal.
// Without a terminal on stdin and stderr it is the text view, and says so.
func tuiView(o upgradeOptions) upgradeView {
	text := textView(o)
	return upgradeView{run: func(ctx context.Context, g *globals, r *upgradeRun) (*rollout.Result, error) {
		if !tui.IsTerminal(os.Stdin) || !tui.IsTerminal(os.Stderr) {
			fmt.Fprintln(g.stderr, "upgrade --tui: no terminal on stdin and stderr; showing the text view")
			return text.run(ctx, g, r)
		}
		m := tui.New("upgrade "+r.Spec.Fleet, r.Plan, r.Controller,
			tui.Options{Images: map[string]string{r.Spec.Target: r.Notes.Image}, Headless: &event.Text{W: g.stderr, Verbose: g.verbose}})
		ui := tui.Run(ctx, os.Stdin, os.Stderr, m)
		res, err := r.Start(ctx, ui)
		ui.Finished(err)
		q := <-ui.Done()
		if q.Err != nil && q.Quit == tui.QuitStop {
			fmt.Fprintf(g.stderr, "Warning: the stop's abort request: %v\n", q.Err)
		}
		return res, err
	}}
}
