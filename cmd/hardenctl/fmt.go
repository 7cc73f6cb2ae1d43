package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
)

func newFmtCmd(g *globals) *cobra.Command {
	var opts config.FormatOptions
	cmd := &cobra.Command{
		Use:   "fmt [PATH]",
		Short: "Rewrite the configuration files in canonical style",
		Long: `Rewrites every *.hcl file of the configuration directory (or PATH) in canonical style and
lists the files it changed. With -check nothing is written and the exit code is 3 when a
file is not canonical, as terraform fmt -check does.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.configPath
			if len(args) == 1 {
				path = args[0]
			}
			l := config.NewLoader()
			opts.List = true
			changed, diags := l.FormatFiles(path, opts, g.stdout)
			if len(diags) > 0 {
				l.WriteDiagnostics(g.stderr, diags, g.color(g.stderr))
			}
			if diags.HasErrors() {
				return fmt.Errorf("some files of %s could not be formatted", path)
			}
			if opts.Check && len(changed) > 0 {
				return &exitError{code: 3}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Check, "check", false, "only check: exit 3 when a file is not canonical")
	cmd.Flags().BoolVar(&opts.Diff, "diff", false, "show the changes as a diff")
	return cmd
}
