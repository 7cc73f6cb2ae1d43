package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/provider/openstack"
)

// configFlags are the flags of every command that reads the configuration.
type configFlags struct {
	vars     []string
	varFiles []string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: -var 'name=value' (repeatable)")
	cmd.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "read variable values from a file (repeatable)")
}

// cloudFlags choose the cloud; they override the configuration's cloud block.
type cloudFlags struct {
	cloud  string
	region string
}

func (f *cloudFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cloud, "cloud", "", "clouds.yaml entry to use (default: the config's cloud block, OS_CLOUD, or the OS_* variables)")
	cmd.Flags().StringVar(&f.region, "region", "", "region (default: the config's cloud block, the clouds.yaml entry, or OS_REGION_NAME)")
}

// loadConfig loads the configuration at g.configPath; on errors it renders every
// diagnostic with its source snippet on stderr and returns a short error.
func loadConfig(g *globals, f configFlags) (*config.Config, error) {
	l := config.NewLoader()
	cfg, diags := l.Load(g.configPath, config.LoadOptions{Vars: f.vars, VarFiles: f.varFiles, Environ: os.Environ()})
	if len(diags) > 0 {
		if err := l.WriteDiagnostics(g.stderr, diags, g.color(g.stderr)); err != nil {
			return nil, err
		}
	}
	if diags.HasErrors() {
		n := 0
		for _, d := range diags {
			if d.Severity == 1 { // hcl.DiagError
				n++
			}
		}
		return nil, fmt.Errorf("the configuration in %s has %d error%s", g.configPath, n, map[bool]string{true: "", false: "s"}[n == 1])
	}
	return cfg, nil
}

// newCloud connects to the cloud the flags, or else the configuration, name.
func newCloud(ctx context.Context, g *globals, cfg *config.Config, f cloudFlags) (*openstack.Client, error) {
	opts := openstack.Options{Cloud: cfg.Cloud.Cloud, Region: cfg.Cloud.Region, Logger: g.logger, Counter: g.counter}
	if f.cloud != "" {
		opts.Cloud = f.cloud
	}
	if f.region != "" {
		opts.Region = f.region
	}
	return openstack.New(ctx, opts)
}

// loadConfigAndCloud loads the configuration and connects to its cloud: what every command
// that talks to the cloud does first.
func loadConfigAndCloud(ctx context.Context, g *globals, cf configFlags, f cloudFlags) (*config.Config, *openstack.Client, error) {
	cfg, err := loadConfig(g, cf)
	if err != nil {
		return nil, nil, err
	}
	cloud, err := newCloud(ctx, g, cfg, f)
	if err != nil {
		return nil, nil, err
	}
	return cfg, cloud, nil
}

// confirm asks on stdout and reads one line; only "yes" approves.
func confirm(g *globals, question string) (bool, error) {
	fmt.Fprintf(g.stdout, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read answer: %w", err)
	}
	fmt.Fprintln(g.stdout)
	return strings.TrimSpace(line) == "yes", nil
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
