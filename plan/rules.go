package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Ownership tags: a security group is hardenctl's, and this configuration's, only when it
// carries both. Without them hardenctl never changes or deletes it.
const (
	TagManagedBy    = "managed-by:hardenctl"
	tagConfigPrefix = "hardenctl-config:"
	// RuleMarker starts the description of every rule hardenctl creates, so that a rule
	// removed from the configuration can be told from one added by hand.
	RuleMarker = "hardenctl"
	// TagRulesPrefix starts the tag that records the rule set last applied to a group
	// (RulesTag): how a rule missing from the cloud is told to be drift, deleted outside
	// hardenctl, rather than new in the configuration.
	TagRulesPrefix = "hardenctl-rules:"
)

// RulesTag is the tag recording a group's rule set: TagRulesPrefix and a digest (64 bits of
// SHA-256) of the rules' keys. Apply writes it once the group holds exactly these rules.
func RulesTag(rules []Rule) string {
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key()
	}
	return rulesTagOfKeys(keys)
}

func rulesTagOfKeys(keys []string) string {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return TagRulesPrefix + hex.EncodeToString(sum[:8])
}

// recordedRules is a group's rules tag, or "" when it has none.
func recordedRules(tags []string) string {
	for _, t := range tags {
		if strings.HasPrefix(t, TagRulesPrefix) {
			return t
		}
	}
	return ""
}

// deletedOutOfBand tells which of the desired rules missing from a group were deleted
// outside hardenctl: the group's record (recorded, its rules tag) is the digest of the set
// last applied, which is the rules still there that were applied (hardenctl's, or desired)
// plus the missing rules that were in it. The subset of missing rules that reproduces the
// record is that part (all of them first: the configuration unchanged since; none last: only
// new rules). With no record, or no subset matching (a rule both deleted outside hardenctl
// and removed from the configuration, an apply cut short), none is called drift.
func deletedOutOfBand(recorded string, have map[string]ObservedRule, want map[string]bool, missing []Rule) map[string]bool {
	if recorded == "" || len(missing) == 0 {
		return nil
	}
	var base []string
	for k, r := range have {
		if want[k] || isOurs(r.Description) {
			base = append(base, k)
		}
	}
	n := len(missing)
	try := func(mask int) map[string]bool {
		keys := slices.Clone(base)
		for i := range n {
			if mask&(1<<i) != 0 {
				keys = append(keys, missing[i].Key())
			}
		}
		if rulesTagOfKeys(keys) != recorded {
			return nil
		}
		out := map[string]bool{}
		for i := range n {
			if mask&(1<<i) != 0 {
				out[missing[i].Key()] = true
			}
		}
		return out
	}
	if n > 10 { // 2^n digests: only the two likely cases
		if m := try(1<<n - 1); m != nil {
			return m
		}
		return nil
	}
	for mask := 1<<n - 1; mask > 0; mask-- {
		if m := try(mask); m != nil {
			return m
		}
	}
	return nil
}

// Ethertypes and directions as Neutron spells them.
const (
	IPv4    = "IPv4"
	IPv6    = "IPv6"
	Ingress = "ingress"
	Egress  = "egress"
)

// OwnerTags returns the tags that mark a group as owned by configuration config.
func OwnerTags(config string) []string {
	return []string{TagManagedBy, tagConfigPrefix + config}
}

// Rule is one security group rule in the form Neutron stores it, with the remote group
// named (by its Neutron name) rather than by id, so desired and observed rules compare.
type Rule struct {
	Direction string `json:"direction"`
	EtherType string `json:"ethertype"`
	// Protocol is "" for any protocol, else tcp, udp, icmp (IPv4) or ipv6-icmp (IPv6).
	Protocol string `json:"protocol,omitempty"`
	PortMin  int    `json:"port_range_min,omitempty"` // 0: unset (every port)
	PortMax  int    `json:"port_range_max,omitempty"`
	// RemoteIPPrefix is "" for any address (Neutron's null, 0.0.0.0/0 and ::/0 alike).
	RemoteIPPrefix string `json:"remote_ip_prefix,omitempty"`
	// RemoteGroup is the Neutron name of the remote group; for an observed rule whose
	// remote group is not one of this configuration's, "id:" and the group's id.
	RemoteGroup string `json:"remote_group,omitempty"`
	// RemoteAddressGroup is set only on observed rules (hardenctl never makes them).
	RemoteAddressGroup string `json:"remote_address_group_id,omitempty"`
	Description        string `json:"description,omitempty"` // not part of the rule's identity
}

// Key identifies a rule within its group: two rules with the same key are the same rule
// to Neutron (it refuses the second with 409).
func (r Rule) Key() string {
	return strings.Join([]string{r.Direction, r.EtherType, r.Protocol,
		fmt.Sprint(r.PortMin), fmt.Sprint(r.PortMax), r.RemoteIPPrefix, r.RemoteGroup, r.RemoteAddressGroup}, "|")
}

// Less orders rules for people: by direction, ethertype, protocol, then ports as numbers.
func (r Rule) Less(o Rule) bool {
	if r.Direction != o.Direction {
		return r.Direction < o.Direction
	}
	if r.EtherType != o.EtherType {
		return r.EtherType < o.EtherType
	}
	if r.Protocol != o.Protocol {
		return r.Protocol < o.Protocol
	}
	if r.PortMin != o.PortMin {
		return r.PortMin < o.PortMin
	}
	if r.PortMax != o.PortMax {
		return r.PortMax < o.PortMax
	}
	return r.Key() < o.Key()
}

// String reads like "ingress IPv4 tcp 443 from 0.0.0.0/0".
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Direction)
	b.WriteString(" ")
	b.WriteString(r.EtherType)
	b.WriteString(" ")
	if r.Protocol == "" {
		b.WriteString("any")
	} else {
		b.WriteString(r.Protocol)
	}
	switch {
	case r.PortMin == 0 && r.PortMax == 0:
		if r.Protocol == "tcp" || r.Protocol == "udp" {
			b.WriteString(" all ports")
		}
	case r.PortMin == r.PortMax || r.PortMax == 0:
		fmt.Fprintf(&b, " %d", r.PortMin)
	default:
		fmt.Fprintf(&b, " %d-%d", r.PortMin, r.PortMax)
	}
	if r.Direction == Ingress {
		b.WriteString(" from ")
	} else {
		b.WriteString(" to ")
	}
	switch {
	case r.RemoteGroup != "":
		b.WriteString("group ")
		b.WriteString(r.RemoteGroup)
	case r.RemoteAddressGroup != "":
		b.WriteString("address group ")
		b.WriteString(r.RemoteAddressGroup)
	case r.RemoteIPPrefix == "":
		b.WriteString("anywhere")
	default:
		b.WriteString(r.RemoteIPPrefix)
	}
	return b.String()
}

// Normalize brings an observed rule into the canonical form desired rules are built in:
// any-address prefixes become "", ICMP for IPv6 is ipv6-icmp, protocol numbers Neutron
// knows by name are names.
func (r Rule) Normalize() Rule {
	if r.RemoteIPPrefix == "0.0.0.0/0" || r.RemoteIPPrefix == "::/0" {
		r.RemoteIPPrefix = ""
	}
	switch strings.ToLower(r.Protocol) {
	case "6":
		r.Protocol = "tcp"
	case "17":
		r.Protocol = "udp"
	case "1":
		r.Protocol = "icmp"
	case "58", "icmpv6", "ipv6-icmp":
		r.Protocol = "ipv6-icmp"
	case "any", "0":
		r.Protocol = ""
	default:
		r.Protocol = strings.ToLower(r.Protocol)
	}
	if r.EtherType == IPv6 && r.Protocol == "icmp" {
		r.Protocol = "ipv6-icmp"
	}
	return r
}
