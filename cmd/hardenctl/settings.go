package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
)

// sshConfigFromConfig is how hardenctl reaches hosts, from the ssh and bastion blocks; user
// overrides the ssh block's user when set.
func sshConfigFromConfig(cfg *config.Config, user string) hardening.SSHConfig {
	if user == "" {
		user = cfg.SSH.User
	}
	if user == "" {
		user = "root"
	}
	sc := hardening.SSHConfig{User: user, IdentityFiles: cfg.SSH.IdentityFiles, UseAgent: cfg.SSH.UseAgent && os.Getenv("SSH_AUTH_SOCK") != "",
		KnownHostsFile: cfg.SSH.KnownHosts, TrustOnFirstUse: cfg.SSH.TrustOnFirstUse, ConnectTimeout: cfg.SSH.ConnectTimeout, Sudo: user != "root"}
	if cfg.Bastion != nil && cfg.Bastion.Address != "" {
		sc.Bastion = &hardening.BastionConfig{Address: cfg.Bastion.Address, User: cfg.Bastion.User, IdentityFiles: cfg.SSH.IdentityFiles,
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

// newBuildDialer is the image pipeline's SSH: the configuration's keys and bastion, the
// build's own key, and a known_hosts file that holds the builder's console keys.
func newBuildDialer(g *globals, cfg *config.Config, user string) func(ctx context.Context, knownHosts, identity string) (hardening.Dialer, error) {
	return func(ctx context.Context, knownHosts, identity string) (hardening.Dialer, error) {
		sc := sshConfigFromConfig(cfg, user)
		sc.IdentityFiles = append([]string{identity}, sc.IdentityFiles...)
		sc.KnownHostsFile = knownHosts
		sc.TrustOnFirstUse = false // builders are verified by their console keys, never trusted blindly
		return hardening.NewDialer(ctx, sc, g.logger)
	}
}
