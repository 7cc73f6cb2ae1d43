package remote

import (
	"os"

	"github.com/hardenctl/hardenctl/config"
)

// FromConfig is the one builder of the SSH settings: how hardenctl reaches hosts, from the
// configuration's ssh and bastion blocks, with the command line's overrides already applied
// to those blocks (scan, harden, image build and the rollouts' gates all come through here).
// The agent is used when the ssh block allows it and one runs (SSH_AUTH_SOCK); a user other
// than root runs commands through sudo; the bastion's user defaults to the ssh user.
func FromConfig(ssh config.SSH, bastion *config.Bastion) Config {
	user := ssh.User
	if user == "" {
		user = "root"
	}
	c := Config{
		User:            user,
		IdentityFiles:   ssh.IdentityFiles,
		UseAgent:        ssh.UseAgent && os.Getenv("SSH_AUTH_SOCK") != "",
		KnownHostsFile:  ssh.KnownHosts,
		TrustOnFirstUse: ssh.TrustOnFirstUse,
		ConnectTimeout:  ssh.ConnectTimeout,
		Sudo:            true,
	}
	if bastion != nil && bastion.Address != "" {
		c.Bastion = &BastionConfig{Address: bastion.Address, User: bastion.User, IdentityFiles: ssh.IdentityFiles, HostKeys: bastion.HostKeys}
	}
	return c
}
