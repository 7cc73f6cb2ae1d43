package openstack

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/apply"
	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/plan"
)

// integrationClient connects to the local test bed (scripts/devcloud) as the demo user, or
// skips the test when HARDENCTL_INTEGRATION is not set.
func integrationClient(t *testing.T) *Client {
	t.Helper()
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("set HARDENCTL_INTEGRATION=1 (make test does) to run against the test bed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := New(ctx, Options{Cloud: "demo"})
	if err != nil {
		t.Fatalf("connect to the test bed: %v", err)
	}
	return c
}

// TestNeutronRoundTrip applies a configuration that uses every rule shape hardenctl makes
// (IPv4 and IPv6 networks, the any-address prefixes, ICMP for both ethertypes, protocol
// any, port ranges, remote groups) and checks that what Neutron stores reads back as
// exactly the desired rules: the normalization of observed rules is right.
func TestNeutronRoundTrip(t *testing.T) {
	c := integrationClient(t)
	ctx := context.Background()
	name := fmt.Sprintf("rt%d", time.Now().UnixNano()%1e9)
	cidr := netip.MustParsePrefix
	cfg := &config.Config{
		Name:    name,
		Bastion: &config.Bastion{AllowFrom: []netip.Prefix{cidr("198.51.100.0/24"), cidr("2001:db8::/32")}},
		Zones: []*config.Zone{
			{Name: "a", Ingress: []*config.Rule{
				{Direction: config.Ingress, Protocol: "tcp", Ports: []config.PortRange{{Min: 443, Max: 443}, {Min: 8000, Max: 8100}},
					Peers: []config.Peer{{Kind: config.PeerCIDR, CIDR: cidr("0.0.0.0/0")}, {Kind: config.PeerCIDR, CIDR: cidr("::/0")}}},
				{Direction: config.Ingress, Protocol: "icmp", Peers: []config.Peer{{Kind: config.PeerZone, Zone: "b"}}},
			}, Egress: []*config.Rule{
				{Direction: config.Egress, Protocol: "any", Peers: []config.Peer{{Kind: config.PeerCIDR, CIDR: cidr("10.0.0.0/8")}}},
				{Direction: config.Egress, Protocol: "udp", Ports: []config.PortRange{{Min: 53, Max: 53}}, Peers: []config.Peer{{Kind: config.PeerCIDR, CIDR: cidr("2001:db8:53::/48")}}},
			}},
			{Name: "b"},
		},
	}
	t.Cleanup(func() {
		p, err := plan.Make(context.Background(), cfg, c, plan.Options{Destroy: true})
		if err == nil {
			_, err = apply.Apply(context.Background(), p, c, apply.Options{})
		}
		if err != nil {
			t.Errorf("clean up %s: %v", name, err)
		}
	})
	p, err := plan.Make(ctx, cfg, c, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Apply(ctx, p, c, apply.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs, err := c.ObserveSecurityGroups(ctx, plan.OwnerTags(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, g := range plan.Desired(cfg) {
		want[g.Name] = len(g.Rules)
	}
	got := map[string]int{}
	for _, g := range obs.Owned {
		got[g.Name] = len(g.Rules)
		for _, r := range g.Rules {
			if r.Direction == plan.Egress && r.Protocol == "" && r.RemoteIPPrefix == "" && r.RemoteGroupID == "" {
				t.Errorf("group %s kept an allow-all egress rule (%s)", g.Name, r.ID)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rules per group in Neutron = %v, want %v", got, want)
	}
	again, err := plan.Make(ctx, cfg, c, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range again.Changes {
		if ch.Action != plan.NoOp {
			t.Errorf("after apply, the plan still has: %s %s %s %v (%s)", ch.Action, ch.Kind, ch.Group, ch.Rule, ch.Reason)
		}
	}

	// A managed rule deleted outside hardenctl is drift; one the configuration gains is new.
	var ga plan.ObservedGroup
	for _, g := range obs.Owned {
		if g.Name == name+"-a" {
			ga = g
		}
	}
	if !slices.ContainsFunc(ga.Tags, func(t string) bool { return strings.HasPrefix(t, plan.TagRulesPrefix) }) {
		t.Fatalf("group %s carries no rules record after apply: %v", ga.Name, ga.Tags)
	}
	var gone plan.ObservedRule
	for _, r := range ga.Rules {
		if r.Protocol == "udp" {
			gone = r
		}
	}
	if err := rules.Delete(ctx, c.network, gone.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	cfg.Zones[0].Ingress = append(cfg.Zones[0].Ingress, &config.Rule{Direction: config.Ingress, Protocol: "tcp",
		Ports: []config.PortRange{{Min: 9443, Max: 9443}}, Peers: []config.Peer{{Kind: config.PeerCIDR, CIDR: cidr("192.0.2.0/24")}}})
	drifted, err := plan.Make(ctx, cfg, c, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, ch := range drifted.Changes {
		if ch.Kind == plan.KindRule {
			reasons[ch.Rule.String()] = string(ch.Reason) + " " + ch.Detail
		}
	}
	if want := map[string]string{
		gone.Rule.Normalize().String():            "drift missing: deleted outside hardenctl",
		"ingress IPv4 tcp 9443 from 192.0.2.0/24": "new-in-config ",
	}; fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("rule changes after a delete in Neutron and a rule added to the configuration: %v, want %v", reasons, want)
	}
}
