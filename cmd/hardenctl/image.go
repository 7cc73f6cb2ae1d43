package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/profiles"
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
	cmd.Flags().BoolVar(&o.keepBuilder, "keep-builder", false, "keep the builder, key pair and group when the build fails (debugging)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
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

// imageSpec turns an image block into the pipeline's spec.
func imageSpec(cfg *config.Config, ib *config.Image) (images.Spec, error) {
	prof, err := profiles.ForImage(cfg, ib)
	if err != nil {
		return images.Spec{}, err
	}
	content, err := loadContent(cfg)
	if err != nil {
		return images.Spec{}, err
	}
	var tailoring []byte
	if prof.Tailoring != "" {
		if tailoring, err = os.ReadFile(prof.Tailoring); err != nil {
			return images.Spec{}, fmt.Errorf("profile %s: read tailoring: %w", prof.Name, err)
		}
	}
	spec := images.Spec{Name: ib.Name, Config: cfg.Name,
		Source:     images.ImageQuery{Name: ib.Source.Name, Tags: ib.Source.Tags, Properties: ib.Source.Properties},
		MostRecent: ib.Source.MostRecent, Flavor: ib.Flavor, Network: ib.Network, Profile: prof, Content: content,
		Tailoring: tailoring, MinScore: prof.MinScore, Keep: ib.Keep, Retire: ib.Retire,
		SSHUser: ib.SSHUser, BastionGroup: bastionGroup(cfg), KeepBuilderOnFailure: ib.KeepBuilderOnFailure}
	for _, name := range ib.Mirrors {
		m := cfg.Mirror(name)
		spec.Mirrors = append(spec.Mirrors, images.Mirror{Name: m.Name, Kind: m.Kind, URL: m.URL, Suites: m.Suites, Components: m.Components, Trusted: m.Trusted})
	}
	for _, name := range ib.Registries {
		r := cfg.Registry(name)
		spec.Registries = append(spec.Registries, images.Registry{Name: r.Name, URL: r.URL, BlockPublic: r.BlockPublic})
	}
	return spec, nil
}

// bastionGroup is the Neutron name of the bastion's security group, or "" without a bastion.
func bastionGroup(cfg *config.Config) string {
	if cfg.Bastion == nil {
		return ""
	}
	return plan.GroupName(cfg, "bastion")
}

func runImageBuild(ctx context.Context, g *globals, o imageBuildOptions, name string) error {
	cfg, err := loadConfig(g, o.configFlags)
	if err != nil {
		return err
	}
	ib := cfg.Image(name)
	if ib == nil {
		var names []string
		for _, i := range cfg.Images {
			names = append(names, i.Name)
		}
		return fmt.Errorf("no image block %q in %s (there are: %s)", name, g.configPath, strings.Join(names, ", "))
	}
	spec, err := imageSpec(cfg, ib)
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
	p := &images.Pipeline{Cloud: cloud, SSH: newBuildDialer(g, cfg, spec.SSHUser), KnownHosts: cfg.SSH.KnownHosts,
		RunDir: runDir, Logger: g.logger, Hook: func(e images.StepEvent) {
			switch {
			case !e.Done:
				fmt.Fprintf(g.stderr, "image %s: %s...\n", name, e.Step)
			case e.Err != nil:
				fmt.Fprintf(g.stderr, "image %s: %s failed after %s\n", name, e.Step, e.Elapsed.Round(time.Millisecond))
			default:
				fmt.Fprintf(g.stderr, "image %s: %s done in %s\n", name, e.Step, e.Elapsed.Round(time.Millisecond))
			}
		}}
	res, buildErr := p.Build(ctx, spec)
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*images.Result
			Error string `json:"error,omitempty"`
		}{res, errString(buildErr)}); err != nil {
			return err
		}
	} else {
		writeBuildText(g, name, res)
	}
	return buildErr
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeBuildText(g *globals, name string, res *images.Result) {
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
			found, err := cloud.FindImages(cmd.Context(), images.ImageQuery{Tags: []string{images.TagManagedBy, "hardenctl-config:" + cfg.Name}, OwnProject: true})
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
