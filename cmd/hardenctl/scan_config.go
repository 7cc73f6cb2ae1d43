package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/inventory"
	"github.com/hardenctl/hardenctl/profiles"
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
	o.applyConfig(cfg, changed)
	return nil
}

// applyConfig takes the configuration's ssh, bastion and compliance settings for every flag
// not given.
func (o *scanOptions) applyConfig(cfg *config.Config, changed func(string) bool) {
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
	return inventory.SelectFleets(o.cfg, o.fleets, o.zones)
}

// fleetHosts finds the selected fleets' servers through the cloud (inventory.Fleets: host
// keys from their consoles, waiting up to the ssh connect timeout for a server whose sshd is
// still starting) and a known_hosts file that adds those keys to the operator's: hardenctl
// verifies the servers it created without ever trusting on first use.
func fleetHosts(ctx context.Context, g *globals, o scanOptions) ([]hardening.Host, string, func(), error) {
	fleets, err := o.selectedFleets()
	if err != nil {
		return nil, "", nil, err
	}
	cloud, err := newCloud(ctx, g, o.cfg, o.cloudFlags)
	if err != nil {
		return nil, "", nil, err
	}
	found, err := inventory.Fleets(ctx, cloud, o.cfg, fleets, inventory.Options{KeyWait: o.connectTimeout, Logger: g.logger})
	if err != nil {
		return nil, "", nil, err
	}
	path, cleanup, err := inventory.KnownHosts(o.knownHosts, found)
	if err != nil {
		return nil, "", nil, err
	}
	hosts := make([]hardening.Host, len(found))
	for i, h := range found {
		hosts[i] = hardening.Host{Name: h.Name, Address: h.Address}
	}
	return hosts, path, cleanup, nil
}
