package config_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/plan"
)

// TestDesiredSSHOnlyThroughBastion checks the SSH guard against the rules that plan makes
// of a configuration, not a model of them: for generated configurations that load, every
// desired ingress rule that lets TCP 22 into a zone's group names the bastion's group, and
// every one into the bastion's group comes from an allow_from network.
func TestDesiredSSHOnlyThroughBastion(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 2))
	loaded := 0
	for i := 0; i < 1000; i++ {
		src := config.GenZonesSource(r)
		cfg, _ := config.TryLoad(t, src)
		if cfg == nil {
			continue
		}
		loaded++
		bastion := plan.GroupName(cfg, "bastion")
		var allowFrom []string
		if cfg.Bastion != nil {
			for _, p := range cfg.Bastion.AllowFrom {
				s := p.String()
				if p.Bits() == 0 {
					s = "" // Neutron's any address
				}
				allowFrom = append(allowFrom, s)
			}
		}
		for _, g := range plan.Desired(cfg) {
			for _, rule := range g.Rules {
				if rule.Direction != plan.Ingress || !opens22(rule) {
					continue
				}
				ok := rule.RemoteGroup == bastion && g.Address != "bastion"
				if g.Address == "bastion" {
					ok = rule.RemoteGroup == "" && slices.Contains(allowFrom, rule.RemoteIPPrefix)
				}
				if !ok {
					t.Errorf("%s gets %s, from:\n%s", g.Address, rule, src)
				}
			}
		}
	}
	if loaded < 100 {
		t.Errorf("only %d configurations loaded", loaded)
	}
}

func opens22(r plan.Rule) bool {
	if r.Protocol != "" && !strings.EqualFold(r.Protocol, "tcp") {
		return false
	}
	return r.PortMin == 0 || (r.PortMin <= 22 && 22 <= r.PortMax)
}
