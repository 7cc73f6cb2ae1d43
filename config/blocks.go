package config

import (
	"encoding/base64"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var cloudSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "cloud"}, {Name: "region"}},
}

func (d *decoder) decodeCloud(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(cloudSchema)
	d.cfg.Cloud.DeclRange = b.DefRange
	diags = d.stringAttr(content, "cloud", &d.cfg.Cloud.Cloud, diags)
	diags = d.stringAttr(content, "region", &d.cfg.Cloud.Region, diags)
	return diags
}

var bastionSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "allow_from", Required: true},
		{Name: "address"},
		{Name: "user"},
		{Name: "image"},
		{Name: "flavor"},
		{Name: "network"},
		{Name: "allow_from_anywhere"},
		{Name: "host_keys"},
	},
}

func (d *decoder) decodeBastion(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(bastionSchema)
	bastion := &Bastion{User: d.cfg.SSH.User, DeclRange: b.DefRange}
	d.cfg.Bastion = bastion
	if attr, ok := content.Attributes["address"]; ok {
		s, set, sDiags := d.evalSetString(attr.Expr)
		diags = append(diags, sDiags...)
		if set {
			addr, diag := parseAddress(s, attr.Expr.Range())
			if diag != nil {
				diags = append(diags, diag)
			}
			bastion.Address = addr
		}
	}
	if attr, ok := content.Attributes["user"]; ok {
		u, uDiags := d.evalName(attr.Expr, "user")
		diags = append(diags, uDiags...)
		if u != "" {
			bastion.User = u
		}
	}
	if attr, ok := content.Attributes["image"]; ok {
		ref, rDiags := d.evalImageRef(attr.Expr)
		diags = append(diags, rDiags...)
		bastion.Image = ref
	}
	diags = d.nameAttr(content, "flavor", &bastion.Flavor, diags)
	diags = d.nameAttr(content, "network", &bastion.Network, diags)
	diags = d.boolAttr(content, "allow_from_anywhere", &bastion.AllowFromAnywhere, diags)
	if attr, ok := content.Attributes["host_keys"]; ok {
		keys, ranges, kDiags := d.evalStringsAt(attr.Expr, "host_keys")
		diags = append(diags, kDiags...)
		for i, k := range keys {
			if !looksLikePublicKey(k) {
				diags = append(diags, errorAt(ranges[i], "Invalid host key",
					"A host key is a public key as ssh-keyscan or /etc/ssh/ssh_host_*_key.pub show it: \"ssh-ed25519 AAAA...\" (type, base64, optional comment)."))
				continue
			}
			bastion.HostKeys = append(bastion.HostKeys, strings.TrimSpace(k))
		}
	}
	attr, ok := content.Attributes["allow_from"]
	if !ok {
		return diags
	}
	peers, pDiags := d.decodePeers(attr, "allow_from needs at least one admin network, like [\"198.51.100.0/24\"]: with none, nobody reaches the bastion.")
	diags = append(diags, pDiags...)
	for _, p := range peers {
		if p.Kind != PeerCIDR {
			diags = append(diags, errorAt(p.Range, "Invalid bastion source",
				"The bastion accepts SSH only from networks: allow_from takes CIDR strings (the admin networks), like \"198.51.100.0/24\"."))
			continue
		}
		bastion.AllowFrom = append(bastion.AllowFrom, p.CIDR)
	}
	if !bastion.AllowFromAnywhere && !diags.HasErrors() {
		if all := coversAnAddressFamily(bastion.AllowFrom); all != nil {
			diags = append(diags, errorAt(attr.Expr.Range(), "Bastion open to any address",
				"allow_from lets SSH reach the bastion from every %s address (%s). The bastion is the way into every zone: list the admin networks only, or set allow_from_anywhere = true in this bastion block to open it to the world deliberately.",
				family(all[0]), prefixList(all)))
		}
	}
	return diags
}

// coversAnAddressFamily returns prefixes of ps that together hold every IPv4 address, or
// every IPv6 address (0.0.0.0/0 alone, or 0.0.0.0/1 with 128.0.0.0/1), or nil when the
// prefixes of neither family do: a /0 alone, else all of that family's, in address order.
// The prefixes are masked.
func coversAnAddressFamily(ps []netip.Prefix) []netip.Prefix {
	for _, is4 := range []bool{true, false} {
		var fam []netip.Prefix
		for _, p := range ps {
			if p.Addr().Is4() == is4 {
				fam = append(fam, p)
			}
		}
		for _, p := range fam {
			if p.Bits() == 0 {
				return []netip.Prefix{p}
			}
		}
		if coversAll(fam) {
			return fam
		}
	}
	return nil
}

// coversAll says whether ps, prefixes of one family, hold all its addresses.
func coversAll(ps []netip.Prefix) bool {
	if len(ps) == 0 {
		return false
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Addr().Less(ps[j].Addr()) })
	next := netip.IPv4Unspecified() // the first address not yet covered
	if !ps[0].Addr().Is4() {
		next = netip.IPv6Unspecified()
	}
	for _, p := range ps {
		if next.Less(p.Addr()) {
			return false // a gap before p
		}
		last := lastAddr(p)
		if !last.Next().IsValid() {
			return true // p reaches the end of the address space
		}
		if next.Less(last.Next()) {
			next = last.Next()
		}
	}
	return false
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// Names of variables and of zones.
var (
	zoneNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,30}$`)
)

func checkZoneName(name string, rng hcl.Range) hcl.Diagnostics {
	if name == "bastion" {
		return hcl.Diagnostics{errorAt(rng, "Reserved zone name",
			"The name bastion belongs to the bastion's own group; give this zone another name.")}
	}
	if !zoneNamePattern.MatchString(name) {
		return hcl.Diagnostics{errorAt(rng, "Invalid zone name",
			"The zone name %q is not valid: it must start with a lower-case letter and hold only a-z, 0-9, '_' and '-', at most 31 characters.", name)}
	}
	return nil
}

func checkVariableName(name string, rng hcl.Range) hcl.Diagnostics {
	if !hclsyntax.ValidIdentifier(name) {
		return hcl.Diagnostics{errorAt(rng, "Invalid variable name",
			"The variable name %q is not valid: a name starts with a letter and holds only letters, digits, '_' and '-'.", name)}
	}
	return nil
}

// sortByPos sorts names by where they are declared.
func sortByPos(names []string, pos func(string) hcl.Pos) {
	sort.SliceStable(names, func(i, j int) bool { return pos(names[i]).Byte < pos(names[j]).Byte })
}

// looksLikePublicKey checks the shape of an authorized_keys line: a key type, base64 whose
// first field names the same type, an optional comment. (The SSH layer parses it for real;
// config does not import x/crypto.)
func looksLikePublicKey(s string) bool {
	f := strings.Fields(s)
	if len(f) < 2 || !(strings.HasPrefix(f[0], "ssh-") || strings.HasPrefix(f[0], "ecdsa-") || strings.HasPrefix(f[0], "sk-")) {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(b) < 4 {
		return false
	}
	n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	return n == len(f[0]) && len(b) >= 4+n && string(b[4:4+n]) == f[0]
}
