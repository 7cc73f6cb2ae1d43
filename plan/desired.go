package plan

import (
	"fmt"
	"slices"
	"sort"

	"github.com/hardenctl/hardenctl/config"
)

// Group is a security group as the configuration wants it.
type Group struct {
	// Address says where the group comes from in the configuration: "zone.app" or "bastion".
	Address     string `json:"address"`
	Name        string `json:"name"` // Neutron name: <config>-<zone>, <config>-bastion
	Description string `json:"description"`
	Rules       []Rule `json:"rules"`
}

// GroupName is the Neutron name of the group of a zone (or of the bastion, zone "bastion").
func GroupName(cfg *config.Config, zone string) string { return cfg.Name + "-" + zone }

// Desired turns the configuration's zones and bastion into the security groups and rules
// that implement them, sorted by name, rules sorted by key:
//   - one group per zone, plus the bastion's;
//   - every zone accepts SSH (tcp 22) only from the bastion's group, and the bastion's
//     group may send it only to the zones' groups;
//   - the bastion accepts SSH only from its allow_from networks;
//   - a flow between two groups, whichever side declares it, becomes an egress rule on the
//     sender and an ingress rule on the receiver, both naming the other group;
//   - nothing else: no rule allows all egress unless the configuration says so.
func Desired(cfg *config.Config) []Group {
	b := &builder{cfg: cfg, groups: map[string]*groupRules{}}
	for _, z := range cfg.Zones {
		desc := z.Description
		if desc == "" {
			desc = fmt.Sprintf("zone %s of %s", z.Name, cfg.Name)
		}
		b.group("zone."+z.Name, GroupName(cfg, z.Name), desc, ipVersions(z))
	}
	if cfg.Bastion != nil {
		bastion := b.group("bastion", GroupName(cfg, "bastion"), fmt.Sprintf("bastion of %s", cfg.Name), []int{4, 6})
		for _, p := range cfg.Bastion.AllowFrom {
			bastion.add(Rule{Direction: Ingress, EtherType: etherType(p.Addr().Is4()), Protocol: "tcp",
				PortMin: 22, PortMax: 22, RemoteIPPrefix: prefixString(p.String()),
				Description: RuleMarker + ": ssh from admin network"})
		}
	}
	for _, z := range cfg.Zones {
		self := GroupName(cfg, z.Name)
		if cfg.Bastion != nil {
			b.flow(GroupName(cfg, "bastion"), self, config.ProtoTCP,
				[]config.PortRange{{Min: 22, Max: 22}}, "ssh through the bastion")
		}
		for _, r := range z.Ingress {
			for _, p := range r.Peers {
				if p.Kind == config.PeerCIDR {
					b.groups[self].cidr(Ingress, p, r)
					continue
				}
				b.flow(peerGroup(cfg, p), self, r.Protocol, r.Ports, ruleNote(r, z.Name))
			}
		}
		for _, r := range z.Egress {
			for _, p := range r.Peers {
				if p.Kind == config.PeerCIDR {
					b.groups[self].cidr(Egress, p, r)
					continue
				}
				b.flow(self, peerGroup(cfg, p), r.Protocol, r.Ports, ruleNote(r, z.Name))
			}
		}
	}
	out := make([]Group, 0, len(b.groups))
	for _, g := range b.groups {
		rules := make([]Rule, 0, len(g.rules))
		for _, r := range g.rules {
			rules = append(rules, r)
		}
		sort.Slice(rules, func(i, j int) bool { return rules[i].Less(rules[j]) })
		g.Group.Rules = rules
		out = append(out, g.Group)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type builder struct {
	cfg    *config.Config
	groups map[string]*groupRules // by Neutron name
}

type groupRules struct {
	Group
	versions []int           // IP versions of flows with other groups
	rules    map[string]Rule // by Key; the first description wins
}

func (b *builder) group(address, name, desc string, versions []int) *groupRules {
	g := &groupRules{Group: Group{Address: address, Name: name, Description: desc}, versions: versions, rules: map[string]Rule{}}
	b.groups[name] = g
	return g
}

func (g *groupRules) add(r Rule) {
	if _, ok := g.rules[r.Key()]; !ok {
		g.rules[r.Key()] = r
	}
}

// cidr adds a rule whose peer is a network.
func (g *groupRules) cidr(dir string, p config.Peer, r *config.Rule) {
	et := etherType(p.CIDR.Addr().Is4())
	for _, pr := range portRanges(r.Ports) {
		g.add(Rule{Direction: dir, EtherType: et, Protocol: protocol(r.Protocol, et),
			PortMin: pr.Min, PortMax: pr.Max, RemoteIPPrefix: prefixString(p.CIDR.String()),
			Description: ruleNoteText(r)})
	}
}

// flow lets traffic from group `from` to group `to`: egress on the sender, ingress on the
// receiver, each naming the other, for the IP versions both sides speak.
func (b *builder) flow(from, to string, proto string, ports []config.PortRange, note string) {
	src, dst := b.groups[from], b.groups[to]
	if src == nil || dst == nil {
		return // the loader reports references to undeclared zones; nothing to build here
	}
	for _, v := range src.versions {
		if !slices.Contains(dst.versions, v) {
			continue
		}
		et := etherType(v == 4)
		for _, pr := range portRanges(ports) {
			p := protocol(proto, et)
			src.add(Rule{Direction: Egress, EtherType: et, Protocol: p, PortMin: pr.Min, PortMax: pr.Max,
				RemoteGroup: to, Description: RuleMarker + ": " + note})
			dst.add(Rule{Direction: Ingress, EtherType: et, Protocol: p, PortMin: pr.Min, PortMax: pr.Max,
				RemoteGroup: from, Description: RuleMarker + ": " + note})
		}
	}
}

func peerGroup(cfg *config.Config, p config.Peer) string {
	if p.Kind == config.PeerBastion {
		return GroupName(cfg, "bastion")
	}
	return GroupName(cfg, p.Zone)
}

func ipVersions(z *config.Zone) []int {
	if len(z.IPVersions) == 0 {
		return []int{4, 6}
	}
	return z.IPVersions
}

func etherType(v4 bool) string {
	if v4 {
		return IPv4
	}
	return IPv6
}

// protocol maps a configuration protocol to Neutron's name for it.
func protocol(p, etherType string) string {
	switch p {
	case config.ProtoAny:
		return ""
	case config.ProtoICMP:
		if etherType == IPv6 {
			return "ipv6-icmp"
		}
		return "icmp"
	case "":
		return config.ProtoTCP
	}
	return p
}

// portRanges gives one unset range (every port) when the rule names none.
func portRanges(ports []config.PortRange) []config.PortRange {
	if len(ports) == 0 {
		return []config.PortRange{{}}
	}
	return ports
}

func prefixString(p string) string {
	if p == "0.0.0.0/0" || p == "::/0" {
		return ""
	}
	return p
}

func ruleNote(r *config.Rule, zone string) string {
	if r.Description != "" {
		return r.Description
	}
	return "zone " + zone
}

func ruleNoteText(r *config.Rule) string {
	if r.Description != "" {
		return RuleMarker + ": " + r.Description
	}
	return RuleMarker
}
