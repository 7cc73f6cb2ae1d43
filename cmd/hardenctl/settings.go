package main

import (
	"fmt"
	"os"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
)

// profileFromConfig turns a profile reference of the configuration into the profile the
// hardening layer runs: a built-in by name, or a profile block (on top of the built-in it
// extends, if any). An empty reference means the compliance block's profile, else
// "standard".
func profileFromConfig(cfg *config.Config, ref config.ProfileRef) (profiles.Profile, error) {
	if ref.Name == "" {
		ref = cfg.Compliance.Profile
	}
	if ref.Name == "" {
		ref = config.ProfileRef{Name: "standard", Builtin: true}
	}
	if ref.Builtin {
		return profiles.Builtin(ref.Name)
	}
	pb := cfg.Profile(ref.Name)
	if pb == nil {
		return profiles.Profile{}, fmt.Errorf("no profile block %q", ref.Name)
	}
	p := profiles.Profile{Name: pb.Name, SCAPProfile: map[string]string{}}
	if pb.Extends != "" {
		base, err := profiles.Builtin(pb.Extends)
		if err != nil {
			return profiles.Profile{}, fmt.Errorf("profile %s extends: %w", pb.Name, err)
		}
		p = base
		p.Name = pb.Name
		p.SCAPProfile = copyMap(base.SCAPProfile)
	}
	if pb.Datastream != "" {
		p.Datastream = pb.Datastream
	}
	if pb.SCAPProfile != "" {
		p.SCAPProfile["*"] = pb.SCAPProfile
	}
	for os, id := range pb.SCAPProfileByOS {
		p.SCAPProfile[os] = id
	}
	if pb.Tailoring != "" {
		p.Tailoring = pb.Tailoring
	}
	if pb.MinScore != nil {
		p.MinScore = *pb.MinScore
	}
	if pb.Audit != nil {
		p.WatchEtcd = p.WatchEtcd || pb.Audit.WatchEtcd
		if pb.Audit.WatchSecrets != "" {
			p.WatchSecrets = pb.Audit.WatchSecrets
		}
		p.AuditRules = append(p.AuditRules, pb.Audit.Rules...)
	}
	return p, nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// minScore picks the gate: the most specific setting wins (image or fleet, then the profile,
// then the compliance block).
func minScore(cfg *config.Config, specific *float64, p profiles.Profile) float64 {
	switch {
	case specific != nil:
		return *specific
	case p.MinScore > 0:
		return p.MinScore
	case cfg.Compliance.MinScore != nil:
		return *cfg.Compliance.MinScore
	}
	return 0
}

// sshConfigFromConfig is how hardenctl reaches hosts, from the ssh and bastion blocks; user
// overrides the ssh block's user when set.
func sshConfigFromConfig(cfg *config.Config, user string) remote.Config {
	if user == "" {
		user = cfg.SSH.User
	}
	if user == "" {
		user = "root"
	}
	sc := remote.Config{User: user, IdentityFiles: cfg.SSH.IdentityFiles, UseAgent: cfg.SSH.UseAgent && os.Getenv("SSH_AUTH_SOCK") != "",
		KnownHostsFile: cfg.SSH.KnownHosts, TrustOnFirstUse: cfg.SSH.TrustOnFirstUse, ConnectTimeout: cfg.SSH.ConnectTimeout, Sudo: user != "root"}
	if cfg.Bastion != nil && cfg.Bastion.Address != "" {
		sc.Bastion = &remote.BastionConfig{Address: cfg.Bastion.Address, User: cfg.Bastion.User, IdentityFiles: cfg.SSH.IdentityFiles,
			HostKeys: cfg.Bastion.HostKeys}
	}
	return sc
}

// loadContent reads the operator's datastreams (and digests) from the compliance block's
// content directory.
func loadContent(cfg *config.Config) (hardening.Datastreams, error) {
	ds, err := hardening.Content{Dir: cfg.Compliance.ContentDir}.Load()
	if err != nil {
		return nil, fmt.Errorf("load compliance content from %s: %w", cfg.Compliance.ContentDir, err)
	}
	return ds, nil
}
