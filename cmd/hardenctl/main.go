// Command hardenctl manages hardened infrastructure on OpenStack from one HCL configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenctl/hardenctl/provider/openstack"
)

// exitError carries an exit code other than 1 (for example -detailed-exitcode's 2).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// globals are the flags every command shares and the streams it writes to.
type globals struct {
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	verbose    bool
	noColor    bool
	logger     *slog.Logger
	configPath string // -C/--config: a directory of *.hcl files or one file
	// counter, when set (tests, benchmarks), counts the HTTP requests sent to the cloud.
	counter *openstack.CountingTransport
}

// color reports whether output to w may be coloured: a terminal, and no --no-color.
func (g *globals) color(w io.Writer) bool {
	return !g.noColor && os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "hardenctl",
		Short:         "Hardened infrastructure on OpenStack from one HCL configuration",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelWarn
			if g.verbose {
				level = slog.LevelDebug
			}
			g.logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log API and SSH activity to stderr")
	root.PersistentFlags().BoolVar(&g.noColor, "no-color", false, "never colour the output")
	root.PersistentFlags().StringVarP(&g.configPath, "config", "C", ".", "the configuration: a directory of *.hcl files, or one file")
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	return root
}

// commands are the subcommands, one constructor each (each in its own file).
var commands = []func(*globals) *cobra.Command{
	newValidateCmd,
	newForceUnlockCmd,
	newFmtCmd,
	newPlanCmd,
	newApplyCmd,
	newDestroyCmd,
	newImageCmd,
	newUpgradeCmd,
	newScanCmd, newHardenCmd,
	newScheduleCmd,
	newVersionCmd,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &globals{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	root := newRootCmd(g)
	root.SetArgs(terraformStyleArgs(root, os.Args[1:]))
	err := root.ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	}
	os.Exit(code)
}

// terraformStyleArgs lets long flags be written with one dash, as Terraform users do
// (-out FILE, -json, -auto-approve): "-name" and "-name=value" become "--name..." when name
// is a long flag of some command. Single letters stay shorthands; nothing after "--" changes.
func terraformStyleArgs(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && long[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
