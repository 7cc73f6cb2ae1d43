package config

import (
	"regexp"
	"sort"

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
	return diags
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
