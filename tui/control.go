package tui

import (
	"context"
	"fmt"

	"github.com/hardenctl/hardenctl/rollout"
)

// Controller sends control requests to the running rollout. The UI calls it from a tea.Cmd
// (never from Update or View), one request at a time, with a context bounded by
// Options.ControlTimeout. A request is asked for, not obeyed yet: the rollout obeys it
// between units of work, and the UI shows it obeyed only when the rollout's own event says
// so (pause, resume, abort, rollback).
type Controller interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	Abort(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// request calls the Controller method for kind.
func request(ctx context.Context, c Controller, kind string) error {
	switch kind {
	case rollout.Pause:
		return c.Pause(ctx)
	case rollout.Resume:
		return c.Resume(ctx)
	case rollout.Abort:
		return c.Abort(ctx)
	case rollout.Rollback:
		return c.Rollback(ctx)
	}
	return fmt.Errorf("unknown control request %q", kind)
}
