package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var zoneSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: "ip_versions"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "ingress"}, {Type: "egress"}},
}

var ingressSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "from", Required: true},
		{Name: "ports"},
		{Name: "protocol"},
		{Name: "description"},
		{Name: "allow_ssh"},
	},
}

var egressSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "to", Required: true},
		{Name: "ports"},
		{Name: "protocol"},
		{Name: "description"},
		{Name: "allow_ssh"},
	},
}

func (d *decoder) decodeZone(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(zoneSchema)
	z := &Zone{Name: b.Labels[0], IPVersions: []int{4, 6}, DeclRange: b.DefRange}
	d.cfg.Zones = append(d.cfg.Zones, z)
	diags = d.stringAttr(content, "description", &z.Description, diags)
	if attr, ok := content.Attributes["ip_versions"]; ok {
		versions, vDiags := d.decodeIPVersions(attr)
		diags = append(diags, vDiags...)
		if !vDiags.HasErrors() {
			z.IPVersions = versions
		}
	}
	for _, rb := range content.Blocks {
		r, rDiags := d.decodeRule(z.Name, rb)
		diags = append(diags, rDiags...)
		if r == nil {
			continue
		}
		if r.Direction == Ingress {
			z.Ingress = append(z.Ingress, r)
		} else {
			z.Egress = append(z.Egress, r)
		}
	}
	return diags
}

func (d *decoder) decodeIPVersions(attr *hcl.Attribute) ([]int, hcl.Diagnostics) {
	v, diags := d.eval(attr.Expr)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil, diags
	}
	bad := errorAt(attr.Expr.Range(), "Invalid IP versions",
		"ip_versions is a list of 4 and 6, like [4, 6] or [4]; got %s.", showValue(v))
	if v.IsNull() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) || v.LengthInt() == 0 {
		return nil, append(diags, bad)
	}
	var versions []int
	seen := map[int64]bool{}
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		n, ok := wholeNumber(ev, 4, 6)
		if !ok || n == 5 || seen[n] {
			return nil, append(diags, bad)
		}
		seen[n] = true
		versions = append(versions, int(n))
	}
	return versions, diags
}

// decodeRule decodes an ingress or egress block of the zone called zone.
func (d *decoder) decodeRule(zone string, b *hcl.Block) (*Rule, hcl.Diagnostics) {
	r := &Rule{Direction: Direction(b.Type), Protocol: ProtoTCP, DeclRange: b.DefRange}
	schema, peerAttr := ingressSchema, "from"
	if r.Direction == Egress {
		schema, peerAttr = egressSchema, "to"
	}
	content, diags := b.Body.Content(schema)
	if attr, ok := content.Attributes["protocol"]; ok {
		s, sDiags := d.evalString(attr.Expr)
		diags = append(diags, sDiags...)
		switch s {
		case ProtoTCP, ProtoUDP, ProtoICMP, ProtoAny:
			r.Protocol = s
		case "":
			if !sDiags.HasErrors() {
				diags = append(diags, errorAt(attr.Expr.Range(), "Unsupported protocol", "protocol is one of tcp, udp, icmp and any."))
			}
		default:
			diags = append(diags, errorAt(attr.Expr.Range(), "Unsupported protocol",
				"The protocol %q is not supported: use tcp, udp, icmp or any.", s))
		}
	}
	if attr, ok := content.Attributes["ports"]; ok {
		if r.Protocol == ProtoICMP || r.Protocol == ProtoAny {
			diags = append(diags, errorAt(attr.Range, "Ports with protocol "+r.Protocol,
				"A rule with protocol %s has no ports. Remove ports, or use protocol tcp or udp.", r.Protocol))
		} else {
			ports, pDiags := d.decodePorts(attr)
			diags = append(diags, pDiags...)
			r.Ports = ports
		}
	}
	diags = d.stringAttr(content, "description", &r.Description, diags)
	diags = d.boolAttr(content, "allow_ssh", &r.AllowSSH, diags)
	if attr, ok := content.Attributes[peerAttr]; ok {
		peers, pDiags := d.decodePeers(attr, peerAttr+" needs at least one CIDR, zone or bastion.")
		diags = append(diags, pDiags...)
		r.Peers = peers
	}
	if diags.HasErrors() {
		return r, diags
	}
	return r, append(diags, checkSSH(zone, r)...)
}

// checkSSH is the SSH guard. It judges the rules that r becomes, not the block it is written
// in: a flow between two groups is an ingress rule on the receiver whichever side declares
// it. So r, a rule of zone, lets TCP port 22 in
//   - as ingress: into zone, from each of its peers;
//   - as egress: into each peer that is a zone or the bastion, from zone (egress to a
//     network opens nothing into our groups).
//
// Only the bastion may send SSH to a zone, and the bastion takes it only from its
// allow_from networks (never from a zone, since no rule block belongs to the bastion). Any
// other sender is an error unless r says allow_ssh = true.
func checkSSH(zone string, r *Rule) hcl.Diagnostics {
	if r.AllowSSH || !r.opensPort(22) {
		return nil
	}
	const optIn = "set allow_ssh = true on this rule to allow it deliberately"
	if r.Direction == Ingress {
		var others []string
		for _, p := range r.Peers {
			if p.Kind != PeerBastion {
				others = append(others, p.String())
			}
		}
		if len(others) == 0 {
			return nil
		}
		return hcl.Diagnostics{errorAt(r.DeclRange, "SSH open to something other than the bastion",
			"This rule opens port 22 to %s. Zones accept SSH only from the bastion; %s.", strings.Join(others, ", "), optIn)}
	}
	var receivers []string
	for _, p := range r.Peers {
		switch p.Kind {
		case PeerZone:
			receivers = append(receivers, p.String())
		case PeerBastion:
			receivers = append(receivers, "the bastion")
		}
	}
	if len(receivers) == 0 {
		return nil
	}
	return hcl.Diagnostics{errorAt(r.DeclRange, "SSH open to something other than the bastion",
		"This egress rule lets zone.%s reach port 22 of %s: a flow is also an ingress rule on the receiver's group. Zones accept SSH only from the bastion, and the bastion only from its allow_from networks; leave port 22 out of this rule, or %s.",
		zone, strings.Join(receivers, ", "), optIn)}
}

// opensPort says whether the traffic r allows includes TCP to port, whichever way it flows.
func (r *Rule) opensPort(port int) bool {
	switch r.Protocol {
	case ProtoAny:
		return true
	case ProtoTCP:
	default:
		return false
	}
	if len(r.Ports) == 0 {
		return true
	}
	for _, pr := range r.Ports {
		if pr.Min <= port && port <= pr.Max {
			return true
		}
	}
	return false
}

// String renders a peer as it is written in the configuration.
func (p Peer) String() string {
	switch p.Kind {
	case PeerZone:
		return "zone." + p.Zone
	case PeerBastion:
		return "bastion"
	}
	return p.CIDR.String()
}

// String renders a port range as it is written: "443" or "8000-8100".
func (pr PortRange) String() string {
	if pr.Min == pr.Max {
		return strconv.Itoa(pr.Min)
	}
	return fmt.Sprintf("%d-%d", pr.Min, pr.Max)
}

// elementExprs returns the expressions of the elements of a literal list [a, b], each with
// its own range, or expr itself when it is not one.
func elementExprs(expr hcl.Expression) ([]hcl.Expression, bool) {
	exprs, diags := hcl.ExprList(expr)
	if diags.HasErrors() {
		return []hcl.Expression{expr}, false
	}
	return exprs, true
}

// eachElement calls fn with each element of a literal list, evaluated on its own so that a
// diagnostic points at the element; when the expression is not a literal list, fn gets v,
// the whole value, once.
func (d *decoder) eachElement(v cty.Value, exprs []hcl.Expression, isList bool, fn func(cty.Value, hcl.Range) hcl.Diagnostics) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, expr := range exprs {
		ev := v
		if isList {
			var eDiags hcl.Diagnostics
			ev, eDiags = d.eval(expr)
			diags = append(diags, eDiags...)
			if eDiags.HasErrors() || !ev.IsWhollyKnown() {
				continue
			}
		}
		diags = append(diags, fn(ev, expr.Range())...)
	}
	return diags
}

// decodePorts reads ports: a port, "N-M", or a list of them.
func (d *decoder) decodePorts(attr *hcl.Attribute) ([]PortRange, hcl.Diagnostics) {
	v, diags := d.eval(attr.Expr)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil, diags
	}
	exprs, isList := elementExprs(attr.Expr)
	if isList && len(exprs) == 0 {
		return nil, append(diags, errorAt(attr.Expr.Range(), "Empty ports list",
			"Leave ports out to allow every port; an empty list allows none."))
	}
	var ports []PortRange
	diags = append(diags, d.eachElement(v, exprs, isList, func(ev cty.Value, rng hcl.Range) hcl.Diagnostics {
		ps, pDiags := portsFromValue(ev, rng)
		ports = append(ports, ps...)
		return pDiags
	})...)
	if !diags.HasErrors() && len(ports) == 0 {
		diags = append(diags, errorAt(attr.Expr.Range(), "Empty ports list",
			"Leave ports out to allow every port; an empty list allows none."))
	}
	return ports, diags
}

// portsFromValue reads a port, "N-M", or a collection of these.
func portsFromValue(v cty.Value, rng hcl.Range) ([]PortRange, hcl.Diagnostics) {
	if v.IsNull() {
		return nil, hcl.Diagnostics{errorAt(rng, "Invalid port", "A port is a number from 1 to 65535 or a range \"N-M\"; got null.")}
	}
	ty := v.Type()
	switch {
	case ty == cty.Number:
		n, ok := wholeNumber(v, 1, 65535)
		if !ok {
			return nil, hcl.Diagnostics{errorAt(rng, "Port out of range", "A port is a whole number from 1 to 65535; got %s.", showValue(v))}
		}
		return []PortRange{{int(n), int(n)}}, nil
	case ty == cty.String:
		pr, diag := parsePortRange(v.AsString(), rng)
		if diag != nil {
			return nil, hcl.Diagnostics{diag}
		}
		return []PortRange{pr}, nil
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		var ports []PortRange
		var diags hcl.Diagnostics
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			ps, pDiags := portsFromValue(ev, rng)
			diags = append(diags, pDiags...)
			ports = append(ports, ps...)
		}
		return ports, diags
	}
	return nil, hcl.Diagnostics{errorAt(rng, "Invalid port",
		"A port is a number from 1 to 65535 or a range \"N-M\"; got %s.", ty.FriendlyName())}
}

func parsePortRange(s string, rng hcl.Range) (PortRange, *hcl.Diagnostic) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	min, errLo := strconv.Atoi(strings.TrimSpace(lo))
	max, errHi := strconv.Atoi(strings.TrimSpace(hi))
	if errLo != nil || errHi != nil {
		return PortRange{}, errorAt(rng, "Invalid port",
			"A port is a number from 1 to 65535 or a range \"N-M\" like \"8000-8100\"; got %q.", s)
	}
	if min < 1 || min > 65535 || max < 1 || max > 65535 {
		return PortRange{}, errorAt(rng, "Port out of range", "Ports are 1 to 65535; got %q.", s)
	}
	if min > max {
		return PortRange{}, errorAt(rng, "Invalid port range",
			"In %q the first port is greater than the last; write \"%d-%d\".", s, max, min)
	}
	return PortRange{min, max}, nil
}

// decodePeers reads a peer, or a list of peers: CIDR strings, zone.NAME and bastion. need
// says what an empty list lacks.
func (d *decoder) decodePeers(attr *hcl.Attribute, need string) ([]Peer, hcl.Diagnostics) {
	v, diags := d.eval(attr.Expr)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil, diags
	}
	exprs, isList := elementExprs(attr.Expr)
	var peers []Peer
	diags = append(diags, d.eachElement(v, exprs, isList, func(ev cty.Value, rng hcl.Range) hcl.Diagnostics {
		ps, pDiags := d.peersFromValue(ev, rng)
		peers = append(peers, ps...)
		return pDiags
	})...)
	if !diags.HasErrors() && len(peers) == 0 {
		diags = append(diags, errorAt(attr.Expr.Range(), "No peers", "%s", need))
	}
	return peers, diags
}

func (d *decoder) peersFromValue(v cty.Value, rng hcl.Range) ([]Peer, hcl.Diagnostics) {
	invalid := func(got string) hcl.Diagnostics {
		return hcl.Diagnostics{errorAt(rng, "Invalid peer",
			"A peer is a CIDR string like \"10.0.0.0/8\", a zone like zone.app, or bastion (or a list of these); got %s.", got)}
	}
	if v.IsNull() {
		return nil, invalid("null")
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		prefix, diag := parseCIDR(v.AsString(), rng)
		if diag != nil {
			return nil, hcl.Diagnostics{diag}
		}
		return []Peer{{Kind: PeerCIDR, CIDR: prefix, Range: rng}}, nil
	case ty.IsObjectType():
		return d.peerFromObject(v, rng, invalid)
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		var peers []Peer
		var diags hcl.Diagnostics
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			ps, pDiags := d.peersFromValue(ev, rng)
			diags = append(diags, pDiags...)
			peers = append(peers, ps...)
		}
		return peers, diags
	}
	return nil, invalid(ty.FriendlyName())
}

// peerFromObject reads the value of a reference: {kind = "zone", name = "app"} or
// {kind = "bastion"}.
func (d *decoder) peerFromObject(v cty.Value, rng hcl.Range, invalid func(string) hcl.Diagnostics) ([]Peer, hcl.Diagnostics) {
	attr := func(name string) string {
		if !v.Type().HasAttribute(name) {
			return ""
		}
		a := v.GetAttr(name)
		if a.IsNull() || a.Type() != cty.String {
			return ""
		}
		return a.AsString()
	}
	switch attr("kind") {
	case "zone":
		name := attr("name")
		if d.declared["zone"][name] == nil {
			return nil, hcl.Diagnostics{errorAt(rng, "Reference to undeclared zone", "There is no zone named %q.", name)}
		}
		return []Peer{{Kind: PeerZone, Zone: name, Range: rng}}, nil
	case "bastion":
		if len(d.blocks["bastion"]) == 0 {
			return nil, hcl.Diagnostics{errorAt(rng, "Reference to bastion without a bastion block",
				"This configuration has no bastion block, so there is no bastion to refer to.")}
		}
		return []Peer{{Kind: PeerBastion, Range: rng}}, nil
	case "":
		return nil, invalid("an object")
	}
	return nil, invalid("a reference to " + attr("kind"))
}

// parseCIDR parses a network; host bits must be zero, so that what is written is what is
// opened.
func parseCIDR(s string, rng hcl.Range) (netip.Prefix, *hcl.Diagnostic) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		detail := fmt.Sprintf("%q is not a CIDR: %s. A CIDR is an address and a prefix length, like 10.0.0.0/8 or 2001:db8::/32.", s, reason(err))
		if addr, aErr := netip.ParseAddr(s); aErr == nil {
			detail += fmt.Sprintf(" For the one address, did you mean %s?", netip.PrefixFrom(addr, addr.BitLen()))
		}
		return netip.Prefix{}, errorAt(rng, "Bad CIDR", "%s", detail)
	}
	if masked := p.Masked(); masked != p {
		return netip.Prefix{}, errorAt(rng, "Bad CIDR",
			"%q has host bits set: the network of that prefix is %s, did you mean %s?", s, masked, masked)
	}
	return p, nil
}

// reason strips the call and the input from a netip parse error, which the detail shows
// already: `netip.ParsePrefix("x"): no '/'` becomes `no '/'`.
func reason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "): "); i >= 0 && strings.HasPrefix(msg, "netip.") {
		return msg[i+3:]
	}
	return msg
}
