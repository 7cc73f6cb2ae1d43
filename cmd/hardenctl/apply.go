package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/apply"
	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/provider/openstack"
)

type applyOptions struct {
	configFlags
	cloudFlags
	autoApprove       bool
	concurrency       int
	serverConcurrency int
	allowRebuild      bool
	destroy           bool
	lockTimeout       time.Duration
	// json streams the events as JSON lines on stdout, and nothing else.
	json bool
	// now is the clock of the events and their durations (nil: time.Now); tests pin it.
	now func() time.Time
}

func newApplyCmd(g *globals) *cobra.Command {
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the cloud match the configuration, or carry out a saved plan",
		Long: `Without PLANFILE, apply plans, shows the plan and asks before changing anything
(unless -auto-approve). With PLANFILE (from plan -out), it carries out exactly that plan,
and refuses it when the cloud changed since the plan was made (a stale plan).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			planFile := ""
			if len(args) == 1 {
				planFile = args[0]
			}
			return runApply(cmd.Context(), g, o, planFile)
		},
	}
	o.register(cmd)
	return cmd
}

func newDestroyCmd(g *globals) *cobra.Command {
	o := applyOptions{destroy: true}
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete everything this configuration owns (and nothing else)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd.Context(), g, o, "")
		},
	}
	o.register(cmd)
	return cmd
}

func (o *applyOptions) register(cmd *cobra.Command) {
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "do not ask before changing the cloud")
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 4, "security groups worked on at once")
	cmd.Flags().IntVar(&o.serverConcurrency, "server-concurrency", 4, "servers booted, rebuilt or deleted at once")
	cmd.Flags().BoolVar(&o.allowRebuild, "allow-rebuild", false, "rebuild servers onto a new image (wipes their root disks) as planned, all at once and ungated; hardenctl upgrade FLEET rolls them in gated batches")
	cmd.Flags().BoolVar(&o.json, "json", false, "stream the progress on stdout as JSON lines, one event a line and nothing else (needs -auto-approve or a PLANFILE)")
	cmd.Flags().DurationVar(&o.lockTimeout, "lock-timeout", 0, "wait this long for the configuration's cloud lock when another apply, destroy or rollout holds it")
}

// holdLock takes the configuration's cloud lock for operation; the returned context is
// cancelled when the lock is lost. Release it when done.
func holdLock(ctx context.Context, g *globals, cloud lock.Store, cfg *config.Config, operation string, wait time.Duration) (context.Context, func(), error) {
	lctx, release, _, err := holdNamedLock(ctx, g, cloud, cfg.Name, operation, wait)
	return lctx, release, err
}

// holdNamedLock takes the cloud lock name (the configuration's, or a fleet's upgrade lock)
// for operation; the returned context is cancelled when the lock is lost. Release it when
// done.
func holdNamedLock(ctx context.Context, g *globals, cloud lock.Store, name, operation string, wait time.Duration) (context.Context, func(), *lock.Lock, error) {
	l, err := lock.Acquire(ctx, cloud, name, lock.Options{Holder: holderName(), Operation: operation, Wait: wait})
	if err != nil {
		return nil, nil, nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.Lost():
			fmt.Fprintf(g.stderr, "Error: %v: stopping\n", l.Err())
			cancel()
		case <-lctx.Done():
		}
	}()
	release := func() {
		cancel()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer rcancel()
		if err := l.Release(rctx); err != nil {
			fmt.Fprintf(g.stderr, "Warning: %v (the lease expires by itself)\n", err)
		}
	}
	return lctx, release, l, nil
}

// holderName says who holds a lock: user@host pid N.
func holderName() string {
	user := os.Getenv("USER")
	if user == "" {
		user = strconv.Itoa(os.Getuid())
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", user, host, os.Getpid())
}

// applyCloud is what apply and destroy need of the cloud: what plans observe, what apply
// changes, and the lock's store. *openstack.Client satisfies it; tests pass fakes.
type applyCloud interface {
	plan.Observer
	plan.FleetObserver
	apply.Cloud
	lock.Store
}

var _ applyCloud = (*openstack.Client)(nil)

// runApply is apply and destroy: the flags' configuration and cloud, then applyWith.
func runApply(ctx context.Context, g *globals, o applyOptions, planFile string) error {
	if o.json && planFile == "" && !o.autoApprove {
		return errors.New("-json streams only the events on stdout, so it cannot show the plan and ask: give -auto-approve, or a plan file from plan -out")
	}
	cfg, cloud, err := loadConfigAndCloud(ctx, g, o.configFlags, o.cloudFlags)
	if err != nil {
		return err
	}
	return applyWith(ctx, g, o, cfg, cloud, planFile)
}

// applyWith carries out the plan file, or a plan made now (shown and approved unless
// -auto-approve), under the configuration's cloud lock.
func applyWith(ctx context.Context, g *globals, o applyOptions, cfg *config.Config, cloud applyCloud, planFile string) error {
	op := "apply"
	if o.destroy {
		op = "destroy"
	}
	ctx, release, err := holdLock(ctx, g, cloud, cfg, op, o.lockTimeout)
	if err != nil {
		return err
	}
	defer release()
	var p *plan.Plan
	if planFile != "" {
		if p, err = plan.LoadSaved(ctx, cfg, cloud, planFile); err != nil {
			return err
		}
	} else {
		if p, err = plan.Make(ctx, cfg, cloud, plan.Options{Destroy: o.destroy}); err != nil {
			return err
		}
		if !o.json {
			if err := plan.WriteText(g.stdout, p, g.color(g.stdout)); err != nil {
				return err
			}
		}
		if !p.HasChanges() {
			return nil
		}
		if !o.autoApprove {
			q := "Do you want to perform these actions?"
			if o.destroy {
				q = fmt.Sprintf("Do you really want to destroy everything configuration %q owns?", cfg.Name)
			}
			ok, err := confirm(g, q)
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("apply cancelled: nothing was changed")
			}
			// The cloud may have changed while the question waited (tags removed by hand,
			// groups added): what was approved is carried out only if it still holds.
			if err := plan.Recheck(ctx, cfg, cloud, p); err != nil {
				return fmt.Errorf("the cloud changed while the plan waited for approval; nothing was changed: %w", err)
			}
		}
	}
	if err := refuseRebuildsUnderUpgrade(ctx, cloud, cfg, p, o.allowRebuild); err != nil {
		return err
	}
	return execute(ctx, g, o, p, cloud)
}

// refuseRebuildsUnderUpgrade refuses a plan that would rebuild servers of a fleet whose
// rollout is running (its upgrade lock is held): the rollout owns those rebuilds. An upgrade
// takes the configuration's lock to start, and apply holds it from here on, so no rollout can
// start between this check and the rebuilds.
func refuseRebuildsUnderUpgrade(ctx context.Context, store lock.Store, cfg *config.Config, p *plan.Plan, allowRebuild bool) error {
	seen := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action != plan.Rebuild || c.Server == nil || !(allowRebuild || c.Server.Rebuild) || seen[c.Server.Fleet] {
			continue
		}
		seen[c.Server.Fleet] = true
		le, err := lock.Read(ctx, store, lock.UpgradeName(cfg.Name, c.Server.Fleet), time.Now())
		if err != nil {
			return fmt.Errorf("read the upgrade lock of fleet %s: %w", c.Server.Fleet, err)
		}
		if le != nil {
			return fmt.Errorf("fleet %s is being upgraded by %s (%s since %s): apply does not rebuild its servers meanwhile; nothing was changed. Wait for the rollout (hardenctl upgrade %s -audit shows it), or apply without -allow-rebuild",
				c.Server.Fleet, le.Holder, le.Operation, le.Acquired.UTC().Format(time.RFC3339), c.Server.Fleet)
		}
	}
	return nil
}

// execute carries out p, printing its progress: event.Text on stderr, or with -json the events
// as JSON lines on stdout (and the outcome on stderr).
func execute(ctx context.Context, g *globals, o applyOptions, p *plan.Plan, cloud apply.Cloud) error {
	opts := apply.Options{Concurrency: o.concurrency, ServerConcurrency: o.serverConcurrency, AllowRebuild: o.allowRebuild, Now: o.now}
	out := g.stdout
	if o.json {
		opts.Hook = &event.JSON{W: g.stdout, Now: o.now}
		out = g.stderr
	} else {
		opts.Hook = &event.Text{W: g.stderr, Verbose: g.verbose}
	}
	res, err := apply.Apply(ctx, p, cloud, opts)
	if err != nil {
		fmt.Fprintf(out, "\nApply failed part-way: %d added, %d changed, %d destroyed. Run plan to see what is left; apply again converges.\n", res.Added, res.Changed, res.Destroyed)
		return err
	}
	verb := "Apply"
	if p.Destroy {
		verb = "Destroy"
	}
	fmt.Fprintf(out, "\n%s complete! Resources: %d added, %d changed, %d destroyed.\n", verb, res.Added, res.Changed, res.Destroyed)
	if n := len(res.SkippedRebuilds); n > 0 {
		fmt.Fprintf(out, "%d planned rebuild%s skipped (%v): rebuilding wipes root disks; hardenctl upgrade FLEET rolls them in gated batches (or apply with -allow-rebuild, or set allow_rebuild = true on the fleet, to rebuild them all at once).\n", n, plural(n), res.SkippedRebuilds)
	}
	return nil
}
