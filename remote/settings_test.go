package remote

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/config"
)

func TestFromConfig(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	ssh := config.SSH{User: "ops", IdentityFiles: []string{"/k/id"}, UseAgent: true, KnownHosts: "/k/known_hosts", ConnectTimeout: 7 * time.Second}
	got := FromConfig(ssh, &config.Bastion{Address: "10.0.0.2:2222", User: "jump", HostKeys: []string{"ssh-ed25519 AAAA"}})
	want := Config{User: "ops", IdentityFiles: []string{"/k/id"}, KnownHostsFile: "/k/known_hosts", ConnectTimeout: 7 * time.Second, Sudo: true,
		Bastion: &BastionConfig{Address: "10.0.0.2:2222", User: "jump", IdentityFiles: []string{"/k/id"}, HostKeys: []string{"ssh-ed25519 AAAA"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("FromConfig (-want +got):\n%s", d)
	}
	t.Setenv("SSH_AUTH_SOCK", "/run/agent")
	if c := FromConfig(config.SSH{UseAgent: true}, &config.Bastion{}); c.User != "root" || !c.UseAgent || c.Bastion != nil {
		t.Errorf("defaults: %+v; want user root, the running agent, no bastion without an address", c)
	}
	if c := FromConfig(config.SSH{UseAgent: false}, nil); c.UseAgent {
		t.Error("use_agent = false ignored")
	}
}
