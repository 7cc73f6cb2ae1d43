package config

import (
	"net/netip"

	"github.com/hashicorp/hcl/v2"
)

// Config is one evaluated configuration: the blocks of every file of a directory, with
// variables, locals and references between blocks resolved. It holds what the
// configuration says, never what the cloud has.
type Config struct {
	// Name identifies the configuration in ownership tags. It comes from the top-level
	// `name` attribute, or else the base name of the loaded directory.
	Name    string
	Cloud   Cloud
	Bastion *Bastion // nil when the configuration has no bastion block
	Zones   []*Zone  // sorted by name
	// Variables are the input variables with their final values, sorted by name.
	Variables []*Variable
}

// Zone returns the zone called name, or nil.
func (c *Config) Zone(name string) *Zone {
	for _, z := range c.Zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

// Cloud says which cloud to talk to. Both fields may be empty: the OS_* environment
// variables are used then.
type Cloud struct {
	Cloud     string // clouds.yaml entry
	Region    string
	DeclRange hcl.Range
}

// Bastion is the one way in: every zone accepts SSH only from the bastion's group, and the
// bastion accepts SSH only from AllowFrom.
type Bastion struct {
	AllowFrom []netip.Prefix // admin networks, masked (10.1.2.3/8 is an error, not 10.0.0.0/8)
	DeclRange hcl.Range
}

// Zone is one network zone; it becomes one managed security group.
type Zone struct {
	Name        string
	Description string
	// IPVersions are the ethertypes that rules whose peer is a group (a zone or the
	// bastion) are made for. Default [4, 6]. Rules whose peer is a CIDR take the CIDR's.
	IPVersions []int
	Ingress    []*Rule
	Egress     []*Rule
	DeclRange  hcl.Range
}

// Direction is the way traffic flows, seen from the zone that declares the rule.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// Protocols a rule may name.
const (
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
	ProtoICMP = "icmp"
	ProtoAny  = "any"
)

// Rule is one ingress or egress block of a zone.
type Rule struct {
	Direction Direction
	Protocol  string      // ProtoTCP (default), ProtoUDP, ProtoICMP or ProtoAny
	Ports     []PortRange // empty: every port; always empty for icmp and any
	Peers     []Peer      // `from` for ingress, `to` for egress; never empty
	// AllowSSH is the explicit opt-in (`allow_ssh = true`) for an ingress rule that opens
	// port 22 to a peer other than the bastion.
	AllowSSH    bool
	Description string
	DeclRange   hcl.Range
}

// PortRange is an inclusive range of ports, 1..65535; a single port has Min == Max.
type PortRange struct{ Min, Max int }

// PeerKind says what a rule's peer is.
type PeerKind int

const (
	PeerCIDR    PeerKind = iota // a network: CIDR is set
	PeerZone                    // another zone: Zone is set
	PeerBastion                 // the bastion's group
)

// Peer is the other side of a rule.
type Peer struct {
	Kind  PeerKind
	CIDR  netip.Prefix
	Zone  string
	Range hcl.Range // where the peer was written
}
