package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration without talking to the cloud",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g, f)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "The configuration %q is valid: %d zones, bastion: %t.\n", cfg.Name, len(cfg.Zones), cfg.Bastion != nil)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
