package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/rollout"
)

type planOptions struct {
	configFlags
	cloudFlags
	out              string
	json             bool
	detailedExitcode bool
	destroy          bool
	// now is the plan's creation time (zero: the clock); tests pin it.
	now time.Time
}

func newPlanCmd(g *globals) *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change in the cloud, and why",
		Long: `Reads the cloud (one list call per resource type), compares it with the configuration and
prints every change with its reason: new in config, drift, removed from config.

Exit codes with -detailed-exitcode: 0 no changes, 2 changes, 1 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd.Context(), g, o)
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().StringVar(&o.out, "out", "", "save the plan to FILE for `apply FILE`")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&o.detailedExitcode, "detailed-exitcode", false, "exit 2 when there are changes, 0 when none")
	cmd.Flags().BoolVar(&o.destroy, "destroy", false, "plan the removal of everything this configuration owns")
	return cmd
}

func runPlan(ctx context.Context, g *globals, o planOptions) error {
	cfg, cloud, err := loadConfigAndCloud(ctx, g, o.configFlags, o.cloudFlags)
	if err != nil {
		return err
	}
	return makePlan(ctx, g, o, cfg, cloud)
}

// makePlan plans cfg against what obs observes, prints the plan (text, or -json) and saves it
// (-out).
func makePlan(ctx context.Context, g *globals, o planOptions, cfg *config.Config, obs plan.Observer) error {
	p, err := plan.Make(ctx, cfg, obs, plan.Options{Destroy: o.destroy, Now: o.now})
	if err != nil {
		return err
	}
	if o.json {
		err = plan.WriteJSON(g.stdout, p)
	} else {
		err = plan.WriteText(g.stdout, p, g.color(g.stdout))
		if l, ok := obs.(fleetLister); ok && err == nil {
			err = writeRollouts(ctx, g.stdout, cfg, p, l)
		}
	}
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := plan.WriteFile(o.out, p); err != nil {
			return err
		}
		if !o.json {
			fmt.Fprintf(g.stdout, "\nSaved the plan to %s. To make exactly these changes, run:\n    hardenctl apply %s\n", o.out, o.out)
		}
	}
	if o.detailedExitcode && p.HasChanges() {
		return &exitError{code: 2}
	}
	return nil
}

// fleetLister lists a fleet's servers with their marks, as rollouts see them (the provider).
type fleetLister interface {
	ListFleet(ctx context.Context, tags []string) ([]rollout.Server, error)
}

// writeRollouts shows each fleet's planned image change as the rollout upgrade would run
// (rollout.NewPlan from the fleet as listed now, with its marks): batches with their servers,
// the budget arithmetic, the gates, what is wiped, the volume-backed servers.
func writeRollouts(ctx context.Context, w io.Writer, cfg *config.Config, p *plan.Plan, l fleetLister) error {
	var fleets []string
	target := map[string]string{}
	for _, c := range p.Changes {
		if c.Action == plan.Rebuild && c.Server != nil && target[c.Server.Fleet] == "" {
			fleets = append(fleets, c.Server.Fleet)
			target[c.Server.Fleet] = c.Server.ImageID
		}
	}
	for _, name := range fleets {
		f := cfg.Fleet(name)
		if f == nil {
			continue
		}
		tags := plan.FleetTags(cfg.Name, name)
		servers, err := l.ListFleet(ctx, tags)
		if err != nil {
			return fmt.Errorf("list fleet %s: %w", name, err)
		}
		spec := rollout.Spec{Config: cfg.Name, Fleet: name, Tags: tags, Target: target[name], Upgrade: f.Upgrade}
		fmt.Fprintf(w, "\nFleet %s's image change as a rollout (hardenctl upgrade %s; apply -allow-rebuild would rebuild them all at once, ungated):\n", name, name)
		if err := rollout.WritePlan(w, spec, rollout.NewPlan(spec, servers, nil), rollout.PlanNotes{Image: f.Image.Name, Profile: gateProfile(cfg, f)}); err != nil {
			return err
		}
	}
	return nil
}
