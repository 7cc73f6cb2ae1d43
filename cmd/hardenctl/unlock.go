package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/lock"
)

// newForceUnlockCmd breaks the configuration's cloud lock, as terraform force-unlock does.
func newForceUnlockCmd(g *globals) *cobra.Command {
	var o struct {
		configFlags
		cloudFlags
		force bool
		fleet string
	}
	cmd := &cobra.Command{
		Use:   "force-unlock",
		Short: "Break the configuration's cloud lock, left by a command that was killed",
		Long: `Shows who holds the lock and, once you answer yes (or with -force), removes it. Only
do this when the holder is known to be dead: a live holder would go on working beside the
next one until its next renewal finds the lock gone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, cloud, err := loadConfigAndCloud(cmd.Context(), g, o.configFlags, o.cloudFlags)
			if err != nil {
				return err
			}
			name := cfg.Name
			if o.fleet != "" {
				if cfg.Fleet(o.fleet) == nil {
					return fmt.Errorf("no fleet %q in the configuration", o.fleet)
				}
				name = lock.UpgradeName(cfg.Name, o.fleet)
			}
			held, err := lock.Read(cmd.Context(), cloud, name, time.Now())
			if err != nil {
				return err
			}
			if held == nil {
				fmt.Fprintf(g.stdout, "The lock %s is not held.\n", name)
			} else {
				fmt.Fprintf(g.stdout, "The lock %s is held by %s (%s since %s, lease until %s).\n", name, held.Holder, held.Operation,
					held.Acquired.UTC().Format(time.RFC3339), held.Expires.UTC().Format(time.RFC3339))
			}
			if !o.force {
				ok, err := confirm(g, "Do you really want to break the lock? Only 'yes' breaks it.")
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("force-unlock cancelled: the lock was not touched")
				}
			}
			broken, err := lock.Break(cmd.Context(), cloud, name)
			for _, le := range broken {
				fmt.Fprintf(g.stdout, "Removed the claim of %s (%s).\n", le.Holder, le.Operation)
			}
			return err
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().BoolVar(&o.force, "force", false, "do not ask")
	cmd.Flags().StringVar(&o.fleet, "fleet", "", "break the upgrade lock of this fleet (left by a rollout that was killed) instead of the configuration's")
	return cmd
}
