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
	"syscall"

	"github.com/spf13/cobra"
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
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	verbose   bool
	noColor   bool
	logger    *slog.Logger
	chdirPath string
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
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	return root
}

// commands are the subcommands, one constructor each (each in its own file).
var commands = []func(*globals) *cobra.Command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &globals{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	err := newRootCmd(g).ExecuteContext(ctx)
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
