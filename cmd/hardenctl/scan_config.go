package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
)

// fromConfig loads the configuration when -C names one (a directory with *.hcl files, or a
// file) and takes its ssh, bastion and compliance settings for every flag not given.
func (o *scanOptions) fromConfig(g *globals, changed func(string) bool) error {
	files, _ := filepath.Glob(filepath.Join(g.configPath, "*.hcl"))
	if st, err := os.Stat(g.configPath); err == nil && !st.IsDir() {
		files = []string{g.configPath}
	}
	if !changed("profile") {
		o.profile = "" // the fleets' image's, the compliance block's, or the built-in default
	}
	if len(files) == 0 {
		if len(o.fleets)+len(o.zones) > 0 {
			return fmt.Errorf("--fleet and --zone need a configuration (-C DIR): there is none in %s", g.configPath)
		}
		return nil
	}
	cfg, err := loadConfig(g, o.configFlags)
	if err != nil {
		return err
	}
	o.cfg = cfg
	set := func(flag string, apply func()) {
		if !changed(flag) {
			apply()
		}
	}
	if cfg.SSH.User != "" {
		set("user", func() { o.user = cfg.SSH.User })
	}
	if len(cfg.SSH.IdentityFiles) > 0 {
		set("identity", func() { o.identities = cfg.SSH.IdentityFiles })
	}
	if cfg.SSH.KnownHosts != "" {
		set("known-hosts", func() { o.knownHosts = cfg.SSH.KnownHosts })
	}
	set("trust-on-first-use", func() { o.tofu = cfg.SSH.TrustOnFirstUse })
	o.noAgent = !cfg.SSH.UseAgent
	o.connectTimeout = cfg.SSH.ConnectTimeout
	if cfg.Bastion != nil && cfg.Bastion.Address != "" {
		set("bastion", func() {
			o.bastion = cfg.Bastion.Address
			if cfg.Bastion.User != "" {
				o.bastion = cfg.Bastion.User + "@" + cfg.Bastion.Address
			}
			o.bastionHostKeys = cfg.Bastion.HostKeys // the keys of this bastion, not of one --bastion names
		})
	}
	set("content-dir", func() { o.contentDir = cfg.Compliance.ContentDir })
	set("report-dir", func() { o.reportDir = cfg.Compliance.ReportDir })
	if cfg.Compliance.Concurrency > 0 {
		set("concurrency", func() { o.concurrency = cfg.Compliance.Concurrency })
	}
	if cfg.Compliance.Timeout > 0 {
		set("timeout", func() { o.timeout = cfg.Compliance.Timeout })
	}
	return nil
}

// resolveProfile is the profile (and gate) of a run, and why (profiles.ForRun): --profile,
// else the one the selected fleets' image was built with, else the compliance block's, else
// standard. --min-score, when given, replaces the gate afterwards (runOscap).
func (o *scanOptions) resolveProfile() (profiles.Choice, error) {
	if o.cfg == nil {
		return profiles.ForRun(nil, o.profile, nil)
	}
	fleets, err := o.selectedFleets()
	if err != nil {
		return profiles.Choice{}, err
	}
	return profiles.ForRun(o.cfg, o.profile, fleets)
}

// selectedFleets are the fleets --fleet names and those in the zones --zone names, sorted.
func (o *scanOptions) selectedFleets() ([]string, error) {
	want := map[string]bool{}
	for _, f := range o.fleets {
		if o.cfg.Fleet(f) == nil {
			return nil, fmt.Errorf("no fleet %q in the configuration", f)
		}
		want[f] = true
	}
	for _, z := range o.zones {
		if o.cfg.Zone(z) == nil {
			return nil, fmt.Errorf("no zone %q in the configuration", z)
		}
		for _, f := range o.cfg.Fleets {
			if f.Zone == z {
				want[f.Name] = true
			}
		}
	}
	return keysOf(want), nil
}

// fleetHosts finds the servers of the named fleets (and of the fleets in the named zones)
// through the cloud, and writes a known_hosts file that adds their host keys, read from
// their consoles, to the operator's: hardenctl verifies the servers it created without ever
// trusting on first use.
func fleetHosts(ctx context.Context, g *globals, o scanOptions) ([]hardening.Host, string, func(), error) {
	cfg := o.cfg
	fleets, err := o.selectedFleets()
	if err != nil {
		return nil, "", nil, err
	}
	want := map[string]bool{}
	for _, f := range fleets {
		want[f] = true
	}
	cloud, err := newCloud(ctx, g, cfg, o.cloudFlags)
	if err != nil {
		return nil, "", nil, err
	}
	servers, err := cloud.ObserveServers(ctx, plan.OwnerTags(cfg.Name))
	if err != nil {
		return nil, "", nil, err
	}
	slices.SortFunc(servers, func(a, b plan.ObservedServer) int { return strings.Compare(a.Name, b.Name) })
	var hosts []hardening.Host
	var known strings.Builder
	for _, s := range servers {
		if !want[s.Fleet()] || s.Address == "" {
			continue
		}
		out, err := cloud.ConsoleOutput(ctx, s.ID)
		if err != nil {
			return nil, "", nil, err
		}
		keys, err := remote.ParseConsoleHostKeys(out)
		if err != nil {
			return nil, "", nil, fmt.Errorf("server %s: %w", s.Name, err)
		}
		if keys == nil {
			g.logger.Warn("server printed no host keys on its console; known_hosts must have them", "server", s.Name)
		}
		known.WriteString(remote.KnownHostsLines(s.Address, keys))
		hosts = append(hosts, hardening.Host{Name: s.Name, Address: s.Address})
	}
	if len(hosts) == 0 {
		return nil, "", nil, fmt.Errorf("no servers with an address in fleets %v", keysOf(want))
	}
	dir, err := os.MkdirTemp("", "hardenctl-scan-")
	if err != nil {
		return nil, "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "known_hosts")
	if err := remote.WriteKnownHosts(path, o.knownHosts, known.String()); err != nil {
		cleanup()
		return nil, "", nil, err
	}
	return hosts, path, cleanup, nil
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
