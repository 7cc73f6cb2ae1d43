package tui

import (
	"context"
	"fmt"
	"time"

	"github.com/hardenctl/hardenctl/lock"
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

// LockController is the Controller of a rollout that holds lock Name (lock.UpgradeName of
// its configuration and fleet): each request is one lock.Send of the rollout's request kinds
// (rollout.Pause, Resume, Abort, Rollback), the same path `upgrade FLEET --pause` takes from
// another terminal.
type LockController struct {
	Store    lock.Store
	Controls lock.ControlStore
	Name     string // the lock the rollout holds
	By       string // who asks: user@host pid
	// Now stamps the requests (default time.Now).
	Now func() time.Time
}

var _ Controller = (*LockController)(nil)

func (c *LockController) send(ctx context.Context, kind string) error {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if _, _, err := lock.Send(ctx, c.Store, c.Controls, c.Name, kind, c.By, now()); err != nil {
		return fmt.Errorf("send %s to the rollout: %w", kind, err)
	}
	return nil
}

// Pause asks the rollout to pause after the servers in flight.
func (c *LockController) Pause(ctx context.Context) error { return c.send(ctx, rollout.Pause) }

// Resume asks a paused rollout to go on.
func (c *LockController) Resume(ctx context.Context) error { return c.send(ctx, rollout.Resume) }

// Abort asks the rollout to stop after the servers in flight, leaving the servers as they are.
func (c *LockController) Abort(ctx context.Context) error { return c.send(ctx, rollout.Abort) }

// Rollback asks the rollout to move the servers it moved back onto their previous images.
func (c *LockController) Rollback(ctx context.Context) error {
	return c.send(ctx, rollout.Rollback)
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
