package main

import (
	"fmt"
	"os"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/remote"
)

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
