package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/rollout"
	"github.com/hardenctl/hardenctl/tui"
)

// Exit codes of upgrade (documented in its help).
const (
	exitUpgradeNotObeyed   = 2 // a control request was not obeyed within --wait; an audited rollout exceeded the budget
	exitUpgradeFailed      = 3 // the rollout failed and was not rolled back (blocked, fleet unreadable, deadline, on_failure without rollback)
	exitUpgradeRolledBack  = 4 // the rollout failed (or a rollback was asked for) and the fleet is back on its previous images
	exitUpgradeAborted     = 5 // aborted by request, or by on_failure = "abort"
	exitUpgradeRollbackBad = 6 // the rollback did not complete
)

type upgradeOptions struct {
	configFlags
	cloudFlags
	dryRun      bool
	audit       bool
	auditGap    time.Duration
	json        bool
	image       string
	lockTimeout time.Duration
	wait        time.Duration
	control     string // pause, resume, abort or rollback: a request to the running rollout
	poll        time.Duration
	tui         bool // the terminal UI (package tui) instead of the text view
}

func newUpgradeCmd(g *globals) *cobra.Command {
	var o upgradeOptions
	var pause, resume, abort, rollback bool
	cmd := &cobra.Command{
		Use:   "upgrade FLEET",
		Short: "Move a fleet onto its newest image in gated batches (rolling rebuild)",
		Long: `Rebuilds the fleet's servers onto the newest image of its image block (a managed image
built by image build, or the newest Glance image of a plain name; -image NAME picks another)
in batches, never more than the upgrade block's max_unavailable out of service: a canary
first, then batches; each server is gated (ACTIVE on the image, SSH through the bastion
verified against the new host key from its console, the health block's TCP ports probed
from inside, the compliance score of the fleet's image's profile at or above min_score).
Rebuilding keeps each server's id, ports and addresses and wipes its root disk. Failures
beyond max_failures apply on_failure (rollback, pause or abort). The progress goes to
stderr (-json: JSON lines on stdout), the outcome to stdout.

No state file: each server's marks in Nova metadata say where it is, so after a crash
running upgrade FLEET again continues where the marks say (after a kill -9 the dead run's
lease holds the fleet's upgrade lock until it expires: wait for it with -lock-timeout, or
break it with force-unlock -fleet FLEET).

Locks: the rollout holds the fleet's upgrade lock (<config>.upgrade.<fleet>) throughout, so
a second upgrade of the fleet is refused naming the holder. It takes the configuration's
lock only to start, so it is refused while apply, destroy or an image build holds it;
apply in turn refuses to rebuild a fleet whose upgrade lock is held.

From another terminal: -pause (after the servers in flight finish their gates), -resume,
-abort (stop, leaving the servers as they are), -rollback (move the servers of the rollout
back); these wait up to -wait for the running rollout to obey. -dry-run prints the batches
and the budget arithmetic; -audit prints, from Nova's instance actions, each rollout's
servers' down intervals and the peak number down at once.

Exit codes: 0 the fleet is on the image and every server passed its gate (a dry run, an
audit within budget, a request obeyed); 1 an error (configuration, cloud, a lock held,
rollback impossible before starting); 2 a request not obeyed within -wait, or an audited
rollout over the budget; 3 the rollout failed and was not rolled back; 4 it failed and the
fleet was rolled back (also after -rollback); 5 aborted; 6 the rollback did not complete.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for kind, set := range map[string]bool{rollout.Pause: pause, rollout.Resume: resume, rollout.Abort: abort, rollout.Rollback: rollback} {
				if set {
					o.control = kind
					n++
				}
			}
			if n > 1 || n == 1 && (o.dryRun || o.audit) || o.dryRun && o.audit {
				return errors.New("give at most one of -pause, -resume, -abort, -rollback, -dry-run, -audit")
			}
			if o.tui && o.json {
				return errors.New("-tui and -json are two views of the same rollout: give one")
			}
			return runUpgrade(cmd.Context(), g, o, args[0], viewFor(o))
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "print the batches the rollout would run, with the budget arithmetic and the gates, and change nothing")
	f.BoolVar(&o.audit, "audit", false, "print, from Nova's instance actions, when each server was down in each rollout and the peak down at once")
	f.DurationVar(&o.auditGap, "audit-gap", 10*time.Minute, "with -audit: rebuilds further apart than this belong to different rollouts")
	f.BoolVar(&pause, "pause", false, "ask the running rollout to pause after the servers in flight")
	f.BoolVar(&resume, "resume", false, "ask a paused rollout to go on")
	f.BoolVar(&abort, "abort", false, "ask the running rollout to stop after the servers in flight, leaving the servers as they are")
	f.BoolVar(&rollback, "rollback", false, "ask the running rollout to move its servers back onto their previous images")
	f.DurationVar(&o.wait, "wait", 10*time.Minute, "with -pause, -resume, -abort, -rollback: how long to wait for the rollout to obey (0: do not wait)")
	f.BoolVar(&o.tui, "tui", false, "run the rollout under the terminal UI (keys: p pause/resume, a abort, r rollback, enter details, q quit); without a terminal, the text view")
	f.BoolVar(&o.json, "json", false, "stream the progress on stdout as JSON lines, one event a line and nothing else (with -dry-run, -audit: the plan or audit as JSON)")
	f.StringVar(&o.image, "image", "", "move onto the newest active Glance image of this name instead of the fleet's image")
	f.DurationVar(&o.lockTimeout, "lock-timeout", 0, "wait this long for the configuration's lock and the fleet's upgrade lock")
	f.DurationVar(&o.poll, "poll", 0, "how often a waiting rollout reads the fleet and the requests again (default 5s)")
	return cmd
}

// upgradeRun is one rollout wired and ready to start: the seam between the rollout and the
// views that show it. The text view (event.Text on stderr) and the JSON view (event.JSON on
// stdout) call Start with their printer as the hook; a terminal UI (upgrade --tui, package
// tui) calls Start with its program's hook, and Controller for its keys (pause, resume,
// abort, rollback), which reach the rollout through the fleet's lock like the flags of
// another terminal do.
type upgradeRun struct {
	Spec       rollout.Spec
	Plan       *rollout.Plan // the fleet as listed just before the start
	Notes      rollout.PlanNotes
	Controller tui.Controller // control requests to this rollout, through its lock

	deps rollout.Deps
	opts rollout.Options
}

// Start runs the rollout, reporting to hook, and returns what it did.
func (r *upgradeRun) Start(ctx context.Context, hook event.Hook) (*rollout.Result, error) {
	deps := r.deps
	deps.Hook = hook
	return rollout.Run(ctx, r.Spec, deps, r.opts)
}

// upgradeView shows a rollout while it runs: it calls r.Start with its hook and returns its
// outcome.
type upgradeView struct {
	run func(ctx context.Context, g *globals, r *upgradeRun) (*rollout.Result, error)
	// json: stdout carries the events only; the plan before and the outcome after go to
	// stderr.
	json bool
}

// viewFor picks the view: text, -json, or -tui (upgrade_tui.go).
func viewFor(o upgradeOptions) upgradeView {
	switch {
	case o.json:
		return upgradeView{json: true, run: func(ctx context.Context, g *globals, r *upgradeRun) (*rollout.Result, error) {
			return r.Start(ctx, &event.JSON{W: g.stdout})
		}}
	case o.tui:
		return tuiView(o)
	}
	return textView(o)
}

// textView prints the events for people on stderr (event.Text).
func textView(upgradeOptions) upgradeView {
	return upgradeView{run: func(ctx context.Context, g *globals, r *upgradeRun) (*rollout.Result, error) {
		return r.Start(ctx, &event.Text{W: g.stderr, Verbose: g.verbose})
	}}
}

func runUpgrade(ctx context.Context, g *globals, o upgradeOptions, fleet string, view upgradeView) error {
	cfg, cloud, err := loadConfigAndCloud(ctx, g, o.configFlags, o.cloudFlags)
	if err != nil {
		return err
	}
	f := cfg.Fleet(fleet)
	if f == nil {
		return fmt.Errorf("no fleet %q in the configuration", fleet)
	}
	tags := plan.FleetTags(cfg.Name, fleet)
	switch {
	case o.control != "":
		return sendControl(ctx, g, o, cloud, lock.UpgradeName(cfg.Name, fleet))
	case o.audit:
		return printAudit(ctx, g, o, cloud, f, tags)
	}
	target, name, err := upgradeTarget(ctx, cloud, cfg, f, o.image)
	if err != nil {
		return err
	}
	spec := rollout.Spec{Config: cfg.Name, Fleet: fleet, Tags: tags, Target: target, Upgrade: f.Upgrade}
	notes := rollout.PlanNotes{Image: name, Profile: gateProfile(cfg, f)}
	if o.dryRun {
		servers, err := cloud.ListFleet(ctx, tags)
		if err != nil {
			return fmt.Errorf("list fleet %s: %w", fleet, err)
		}
		p := rollout.NewPlan(spec, servers, nil)
		if o.json {
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		}
		return rollout.WritePlan(g.stdout, spec, p, notes)
	}

	// The configuration's lock only to start (refused while apply, destroy or an image build
	// holds it), the fleet's upgrade lock for the whole rollout: once this holds it, apply
	// refuses to rebuild the fleet.
	cfgLock, err := lock.Acquire(ctx, cloud, cfg.Name, lock.Options{Holder: holderName(), Operation: "upgrade " + fleet + " (starting)", Wait: o.lockTimeout})
	if err != nil {
		return fmt.Errorf("upgrade %s: %w", fleet, err)
	}
	gateDir := ""
	if f.Upgrade.Health.MinScore != nil && cfg.Compliance.ReportDir != "" {
		gateDir = filepath.Join(cfg.Compliance.ReportDir, "upgrade-"+fleet+"-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	lctx, r, release, err := wireRollout(ctx, g, rolloutWiring{cfg: cfg, cloud: cloud, fleet: fleet, target: target,
		operation: "upgrade " + fleet, gateDir: gateDir, lockTimeout: o.lockTimeout, poll: o.poll})
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	if rerr := cfgLock.Release(rctx); rerr != nil {
		fmt.Fprintf(g.stderr, "Warning: %v (the lease expires by itself)\n", rerr)
	}
	rcancel()
	if err != nil {
		return err
	}
	defer release()
	ctx = lctx
	r.Notes = notes
	out := g.stdout
	if view.json {
		out = g.stderr
	}
	if err := rollout.WritePlan(out, spec, r.Plan, notes); err != nil {
		return err
	}
	fmt.Fprintln(out)
	res, err := view.run(ctx, g, r)
	writeUpgradeResult(out, res, err)
	return upgradeExit(err)
}

// upgradeTarget is the image the fleet moves onto: the newest active image of the fleet's
// image block (managed, or a plain Glance name), or of -image's name.
func upgradeTarget(ctx context.Context, cloud *openstack.Client, cfg *config.Config, f *config.Fleet, image string) (id, name string, err error) {
	name, managed := f.Image.Name, f.Image.Managed
	if image != "" {
		name, managed = image, false
	}
	id, err = cloud.ResolveImage(ctx, cfg.Name, name, managed)
	if err != nil {
		return "", "", fmt.Errorf("the image of fleet %s: %w", f.Name, err)
	}
	if id == "" {
		return "", "", fmt.Errorf("image %s of fleet %s has not been built yet (hardenctl image build %s)", name, f.Name, name)
	}
	return id, name, nil
}

// gateProfile names the profile the compliance gate scans with ("" without a min_score).
func gateProfile(cfg *config.Config, f *config.Fleet) string {
	if f.Upgrade.Health.MinScore == nil {
		return ""
	}
	c, err := profiles.ForRun(cfg, "", []string{f.Name})
	if err != nil {
		return ""
	}
	s := "profile " + c.Name + " " + c.Source
	if c.Datastream != "" {
		s += ", datastream " + c.Datastream
	}
	return s
}

// sendControl makes a control request to the running rollout and waits for it to be obeyed.
func sendControl(ctx context.Context, g *globals, o upgradeOptions, cloud *openstack.Client, name string) error {
	r, le, err := lock.Send(ctx, cloud, cloud, name, o.control, holderName(), time.Now())
	if err != nil {
		if errors.Is(err, lock.ErrNotHeld) {
			return fmt.Errorf("no rollout of this fleet is running (lock %s is free): nothing to %s", name, o.control)
		}
		return err
	}
	fmt.Fprintf(g.stdout, "Sent %s to the rollout held by %s (%s).\n", o.control, le.Holder, le.Operation)
	if o.wait <= 0 {
		fmt.Fprintln(g.stdout, "Not waiting for it to be obeyed (-wait 0).")
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	start := time.Now()
	if err := lock.WaitGone(wctx, cloud, name, r, 2*time.Second); err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			fmt.Fprintf(g.stdout, "Not obeyed within %s: the request stays pending; the rollout obeys it between batches, after the servers in flight.\n", o.wait)
			return &exitError{code: exitUpgradeNotObeyed}
		}
		return err
	}
	fmt.Fprintf(g.stdout, "Obeyed after %s.\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// printAudit reads the fleet's instance actions and prints each rollout's down intervals
// and peak against the fleet's budget.
func printAudit(ctx context.Context, g *globals, o upgradeOptions, cloud *openstack.Client, f *config.Fleet, tags []string) error {
	rs, err := rollout.ReadAudit(ctx, cloud, tags, o.auditGap, time.Now())
	if err != nil {
		return err
	}
	servers, err := cloud.ListFleet(ctx, tags)
	if err != nil {
		return fmt.Errorf("list fleet %s: %w", f.Name, err)
	}
	budget := rollout.Budget(f.Upgrade.MaxUnavailable, len(servers))
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Fleet    string                 `json:"fleet"`
			Budget   int                    `json:"budget"`
			Rollouts []rollout.AuditRollout `json:"rollouts"`
		}{f.Name, budget, rs}); err != nil {
			return err
		}
	} else if err := rollout.WriteAudit(g.stdout, f.Name, rs, budget); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Peak > budget {
			return &exitError{code: exitUpgradeNotObeyed, err: fmt.Errorf("a rollout of fleet %s had %d servers down at once, over its budget of %d", f.Name, r.Peak, budget)}
		}
	}
	return nil
}

// writeUpgradeResult prints what the rollout did: each server's work and gates, the peak.
func writeUpgradeResult(w io.Writer, res *rollout.Result, err error) {
	if res == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nRollout %s onto %s: ", res.RolloutID, res.Target)
	passed := 0
	for _, s := range res.Servers {
		if s.Passed {
			passed++
		}
	}
	fmt.Fprintf(&b, "%d server run(s), %d passed, %d skipped (already healthy); peak %d of budget %d unavailable (the engine's count at its admissions)\n",
		len(res.Servers), passed, len(res.Skipped), res.Peak, res.Budget)
	for _, s := range res.Servers {
		status := "passed"
		if !s.Passed {
			status = "FAILED"
		}
		var gates []string
		for _, gr := range s.Gates {
			gs := fmt.Sprintf("%s %s", gr.Gate, gr.Elapsed.Round(100*time.Millisecond))
			if gr.Score != nil {
				gs += fmt.Sprintf(" (%.2f)", *gr.Score)
			}
			if !gr.Passed {
				gs += " failed"
			}
			gates = append(gates, gs)
		}
		fmt.Fprintf(&b, "  %-22s %-13s %-9s %-7s %6s  %s\n", s.Name, s.Work, s.Batch, status, s.Ended.Sub(s.Started).Round(100*time.Millisecond), strings.Join(gates, ", "))
		if s.Err != nil {
			fmt.Fprintf(&b, "    %v\n", s.Err)
		}
	}
	switch {
	case err == nil:
		b.WriteString("Upgrade complete: every server is on the image and passed its gate.\n")
	case res.RolledBack && errors.Is(err, rollout.ErrRolledBack):
		b.WriteString("Upgrade failed; the fleet was rolled back onto its previous images.\n")
	}
	fmt.Fprint(w, b.String())
}

// upgradeExit maps the rollout's error to the exit code.
func upgradeExit(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rollout.ErrRollbackFailed):
		return &exitError{code: exitUpgradeRollbackBad, err: err}
	case errors.Is(err, rollout.ErrRolledBack):
		return &exitError{code: exitUpgradeRolledBack, err: err}
	case errors.Is(err, rollout.ErrAborted):
		return &exitError{code: exitUpgradeAborted, err: err}
	case errors.Is(err, rollout.ErrRollbackImpossible):
		return err
	case errors.Is(err, rollout.ErrFailed), errors.Is(err, rollout.ErrBlocked), errors.Is(err, rollout.ErrUnknownFleet),
		errors.Is(err, rollout.ErrDeadline), errors.Is(err, event.ErrHalted):
		return &exitError{code: exitUpgradeFailed, err: err}
	}
	var fe *rollout.FailureError
	if errors.As(err, &fe) {
		return &exitError{code: exitUpgradeFailed, err: err}
	}
	return err
}
