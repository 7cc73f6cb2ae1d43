package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/health"
	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/rollout"
	"github.com/hardenctl/hardenctl/tui"
)

// rolloutWiring says how to wire one fleet's rollout (upgrade FLEET, and each fleet of a
// scheduled run).
type rolloutWiring struct {
	cfg       *config.Config
	cloud     *openstack.Client
	fleet     string
	target    string // the image id to move onto
	operation string // what the fleet's upgrade lock says its holder does
	// gateDir receives the gate's scan results ("": none are kept).
	gateDir     string
	lockTimeout time.Duration
	poll        time.Duration
}

// wireRollout is the one wiring of a rollout: it holds the fleet's upgrade lock
// (lock.UpgradeName) until release, makes the health gate (health.ForFleet: the ssh and bastion
// blocks, the fleet's image's profile, the pinned content), lists the fleet for the plan the
// views show, and returns the rollout ready to Start, under the returned context (cancelled
// if the lock is lost). Its control requests come through the lock's inbox, so
// upgrade FLEET -pause and the others reach it from anywhere; r.Controller sends them too.
func wireRollout(ctx context.Context, g *globals, w rolloutWiring) (context.Context, *upgradeRun, func(), error) {
	f := w.cfg.Fleet(w.fleet)
	if f == nil {
		return nil, nil, nil, fmt.Errorf("no fleet %q in the configuration", w.fleet)
	}
	name := lock.UpgradeName(w.cfg.Name, w.fleet)
	lctx, releaseLock, ul, err := holdNamedLock(ctx, g, w.cloud, name, w.operation, w.lockTimeout)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("upgrade %s: %w", w.fleet, err)
	}
	if w.gateDir != "" {
		if err := os.MkdirAll(w.gateDir, 0o750); err != nil {
			releaseLock()
			return nil, nil, nil, fmt.Errorf("create the report directory: %w", err)
		}
	}
	gate, closeGate, err := health.ForFleet(lctx, w.cfg, w.fleet, w.cloud, w.gateDir, g.logger)
	if err != nil {
		releaseLock()
		return nil, nil, nil, err
	}
	release := func() { closeGate(); releaseLock() }
	spec := rollout.Spec{Config: w.cfg.Name, Fleet: w.fleet, Tags: plan.FleetTags(w.cfg.Name, w.fleet), Target: w.target, Upgrade: f.Upgrade}
	servers, err := w.cloud.ListFleet(lctx, spec.Tags)
	if err != nil {
		release()
		return nil, nil, nil, fmt.Errorf("list fleet %s: %w", w.fleet, err)
	}
	p := rollout.NewPlan(spec, servers, nil)
	r := &upgradeRun{Spec: spec, Plan: p,
		deps: rollout.Deps{Cloud: w.cloud, Gate: gate, Control: ul.Inbox(w.cloud)},
		// the run's own plan gets this plan's id, so what a view shows (the TUI's table) is it
		opts: rollout.Options{Poll: w.poll, NewID: func() string { return p.RolloutID }},
		// a view's requests take the path upgrade FLEET -pause takes from another terminal
		Controller: &tui.LockController{Store: w.cloud, Controls: w.cloud, Name: name, By: holderName() + " (this rollout's view)"}}
	return lctx, r, release, nil
}
