package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
)

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Build hardened images gated on compliance, and list them"}
	cmd.AddCommand(newImageBuildCmd(g), newImageListCmd(g), newImageGCCmd(g))
	return cmd
}

type imageBuildOptions struct {
	configFlags
	cloudFlags
	keepBuilder bool
	json        bool
	lockTimeout time.Duration
}

func newImageBuildCmd(g *globals) *cobra.Command {
	var o imageBuildOptions
	cmd := &cobra.Command{
		Use:   "build NAME",
		Short: "Build the image block NAME: boot, mirror, update, harden, scan, gate, snapshot",
		Long: `Boots a builder from the image's source, points it at the configured mirrors and
registries only, updates it, hardens it with its profile and scans it. Below min_score
nothing is published and the failed rules are listed. Otherwise the builder is cleaned,
snapshotted, and the image gets its score and profile as properties. The builder, its key
pair and its security group are deleted in every case (Ctrl-C included) unless
-keep-builder is given and the build fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageBuild(cmd.Context(), g, o, args[0])
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().BoolVar(&o.keepBuilder, "keep-builder", false, "keep the builder, key pair, group and the private key to reach it when the build fails (debugging; image gc removes them)")
	cmd.Flags().BoolVar(&o.json, "json", false, "stream the build's events as JSON lines on stdout (one object a line: time, kind, address, action, phase, elapsed_ms, status, error, score, message)")
	cmd.Flags().DurationVar(&o.lockTimeout, "lock-timeout", 0, "wait this long for the configuration's cloud lock when another command holds it")
	return cmd
}

func newImageGCCmd(g *globals) *cobra.Command {
	var o struct {
		configFlags
		cloudFlags
		lockTimeout time.Duration
	}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove what killed image builds of this configuration left: builders, groups, key pairs, snapshots, private keys",
		Long: `Every image build does this first; gc does it alone. It takes the configuration's
cloud lock, so it never removes the builder of a build that is running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, cloud, err := loadConfigAndCloud(cmd.Context(), g, o.configFlags, o.cloudFlags)
			if err != nil {
				return err
			}
			ctx, release, err := holdLock(cmd.Context(), g, cloud, cfg, "image gc", o.lockTimeout)
			if err != nil {
				return err
			}
			defer release()
			removed, err := (&images.Pipeline{Cloud: cloud, Logger: g.logger}).GC(ctx, cfg.Name)
			for _, r := range removed {
				fmt.Fprintf(g.stdout, "removed %s\n", r)
			}
			if err == nil && len(removed) == 0 {
				fmt.Fprintln(g.stdout, "Nothing to remove: no build of this configuration left anything.")
			}
			return err
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().DurationVar(&o.lockTimeout, "lock-timeout", 0, "wait this long for the configuration's cloud lock")
	return cmd
}

func runImageBuild(ctx context.Context, g *globals, o imageBuildOptions, name string) error {
	cfg, err := loadConfig(g, o.configFlags)
	if err != nil {
		return err
	}
	spec, err := images.SpecFor(cfg, name)
	if err != nil {
		return err
	}
	spec.KeepBuilderOnFailure = spec.KeepBuilderOnFailure || o.keepBuilder
	cloud, err := newCloud(ctx, g, cfg, o.cloudFlags)
	if err != nil {
		return err
	}
	// Under the configuration's lock: the build first removes what earlier builds left.
	ctx, release, err := holdLock(ctx, g, cloud, cfg, "image build "+name, o.lockTimeout)
	if err != nil {
		return err
	}
	defer release()
	runDir := filepath.Join(cfg.Compliance.ReportDir, "image-"+name+"-"+hardening.NewRunID(time.Now()))
	p := &images.Pipeline{Cloud: cloud, SSH: buildSSH{cfg: cfg, user: spec.SSHUser, logger: g.logger}, RunDir: runDir, Logger: g.logger}
	return buildImage(ctx, g, p, spec, buildOutput{json: o.json, hint: func(k *images.KeptBuilder) string { return keptHint(cfg, spec, k) }})
}

// buildOutput is how image build reports.
type buildOutput struct {
	json bool                             // stream the events as JSON lines on stdout
	now  func() time.Time                 // stamps the JSON lines (nil: time.Now; tests pin it)
	hint func(*images.KeptBuilder) string // the command that reaches a kept builder
}

// buildImage runs the build. Progress goes to stderr as text (event.Text); with -json the
// events are streamed on stdout as JSON lines (event.JSON) and nothing else is written
// there; else stdout gets the steps' times and the outcome.
func buildImage(ctx context.Context, g *globals, p *images.Pipeline, spec images.Spec, out buildOutput) error {
	hooks := []event.Hook{&event.Text{W: g.stderr, Verbose: g.verbose}}
	if out.json {
		hooks = append(hooks, &event.JSON{W: g.stdout, Now: out.now})
	}
	p.Hook = event.Multi(hooks...)
	res, err := p.Build(ctx, spec)
	if !out.json {
		hint := ""
		if out.hint != nil {
			hint = out.hint(res.Kept)
		}
		writeBuildText(g, spec.Name, res, hint)
	}
	return err
}

// keptHint is the command that reaches a builder kept for debugging.
func keptHint(cfg *config.Config, spec images.Spec, k *images.KeptBuilder) string {
	if k == nil || k.Address == "" {
		return ""
	}
	user := spec.SSHUser
	if user == "" {
		user = "root"
	}
	jump := ""
	if cfg.Bastion != nil && cfg.Bastion.Address != "" {
		jump = " -J " + cfg.Bastion.Address
		if cfg.Bastion.User != "" {
			jump = " -J " + cfg.Bastion.User + "@" + cfg.Bastion.Address
		}
	}
	return fmt.Sprintf("ssh -i %s -o UserKnownHostsFile=%s%s %s@%s", k.KeyFile, k.KnownHosts, jump, user, k.Address)
}

func writeBuildText(g *globals, name string, res *images.Result, hint string) {
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STEP\tTIME\n")
	for _, t := range res.Timings {
		fmt.Fprintf(tw, "%s\t%s\n", t.Step, t.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "total\t%s\n", res.Duration.Round(time.Millisecond))
	tw.Flush()
	switch {
	case res.Image.ID != "":
		fmt.Fprintf(g.stdout, "\nPublished image %s (%s) from %s, score %.2f, build %s.\n", name, res.Image.ID, res.Source.Name, res.Score, res.BuildID)
		if len(res.Retired) > 0 {
			fmt.Fprintf(g.stdout, "Retired older images: %s\n", strings.Join(res.Retired, ", "))
		}
	case res.Gated:
		fmt.Fprintf(g.stdout, "\nNothing published: image %s scored %.2f, below its gate.\n", name, res.Score)
	}
	if k := res.Kept; k != nil {
		fmt.Fprintf(g.stdout, "\nKept the builder for debugging: server %s, key pair %s, security group %s; its private key is %s.\n",
			k.Server, k.KeyPair, k.Group, k.KeyFile)
		if hint != "" {
			fmt.Fprintf(g.stdout, "Reach it with: %s\n", hint)
		}
		fmt.Fprintln(g.stdout, "hardenctl image gc (or the next build of this configuration) removes it all.")
	}
}

func newImageListCmd(g *globals) *cobra.Command {
	var o struct {
		configFlags
		cloudFlags
		json bool
	}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the images hardenctl built for this configuration, with score and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, cloud, err := loadConfigAndCloud(cmd.Context(), g, o.configFlags, o.cloudFlags)
			if err != nil {
				return err
			}
			found, err := cloud.FindImages(cmd.Context(), images.ConfigQuery(cfg.Name))
			if err != nil {
				return err
			}
			sort.SliceStable(found, func(i, j int) bool { return found[i].Name < found[j].Name })
			if o.json {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(found)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSTATUS\tSCORE\tPROFILE\tFAILED H/M/L\tAGE")
			for _, im := range found {
				p := im.Properties
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s/%s/%s\t%s\n", im.Name, im.ID, im.Status, p["hardenctl_score"], p["hardenctl_profile"],
					p["hardenctl_failed_high"], p["hardenctl_failed_medium"], p["hardenctl_failed_low"], age(im.CreatedAt))
			}
			return tw.Flush()
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case t.IsZero():
		return "?"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
