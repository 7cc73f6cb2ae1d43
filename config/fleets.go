package config

import (
	"github.com/hashicorp/hcl/v2"
)

var fleetSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "image", Required: true},
		{Name: "zone", Required: true},
		{Name: "flavor", Required: true},
		{Name: "count", Required: true},
		{Name: "network"},
		{Name: "key_pair"},
		{Name: "allow_rebuild"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "upgrade"}},
}

var upgradeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "strategy"},
		{Name: "max_unavailable"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "health"}},
}

var healthSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "ssh"},
		{Name: "tcp"},
		{Name: "min_score"},
	},
}

func (d *decoder) decodeFleet(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(fleetSchema)
	f := &Fleet{Name: b.Labels[0], Upgrade: defaultUpgrade(), DeclRange: b.DefRange}
	d.cfg.Fleets = append(d.cfg.Fleets, f)
	if attr, ok := content.Attributes["image"]; ok {
		ref, rDiags := d.evalImageRef(attr.Expr)
		diags = append(diags, rDiags...)
		f.Image = ref
	}
	if attr, ok := content.Attributes["zone"]; ok {
		name, isRef, zDiags := d.evalRef(attr.Expr, "zone", "")
		diags = append(diags, zDiags...)
		if isRef {
			f.Zone = name
		}
	}
	diags = d.nameAttr(content, "flavor", &f.Flavor, diags)
	if attr, ok := content.Attributes["count"]; ok {
		n, _, nDiags := d.evalInt(attr.Expr, 0, maxCount, "count")
		diags = append(diags, nDiags...)
		f.Count = n
	}
	diags = d.nameAttr(content, "network", &f.Network, diags)
	diags = d.nameAttr(content, "key_pair", &f.KeyPair, diags)
	diags = d.boolAttr(content, "allow_rebuild", &f.AllowRebuild, diags)
	ub, uDiags := singleBlock(content.Blocks, "upgrade", "fleet")
	diags = append(diags, uDiags...)
	if ub != nil {
		u, uDiags := d.decodeUpgrade(ub)
		diags = append(diags, uDiags...)
		f.Upgrade = u
	}
	return diags
}

// defaultUpgrade is a fleet's upgrade without an upgrade block: rebuild one server at a
// time, each answering SSH before the next.
func defaultUpgrade() Upgrade {
	return Upgrade{Strategy: StrategyRebuild, MaxUnavailable: 1, Health: Health{SSH: true}}
}

func (d *decoder) decodeUpgrade(b *hcl.Block) (Upgrade, hcl.Diagnostics) {
	content, diags := b.Body.Content(upgradeSchema)
	u := defaultUpgrade()
	u.DeclRange = b.DefRange
	if attr, ok := content.Attributes["strategy"]; ok {
		s, set, sDiags := d.evalEnum(attr.Expr, "strategy", StrategyRebuild, StrategyReplace)
		diags = append(diags, sDiags...)
		switch {
		case s == StrategyReplace:
			// The plan promises what a rebuild keeps (id, ports, addresses); nothing boots a
			// replacement yet, so accepting replace would silently rebuild instead.
			diags = append(diags, errorAt(attr.Expr.Range(), "Unsupported strategy",
				"strategy %q is not implemented yet: rebuild is the only strategy until rolling upgrades implement replace (a new server, then the old one deleted). Leave strategy out or write strategy = %q.", s, StrategyRebuild))
		case set:
			u.Strategy = s
		}
	}
	if attr, ok := content.Attributes["max_unavailable"]; ok {
		n, set, nDiags := d.evalInt(attr.Expr, 1, maxCount, "max_unavailable")
		diags = append(diags, nDiags...)
		if set {
			u.MaxUnavailable = n
		}
	}
	hb, hDiags := singleBlock(content.Blocks, "health", "upgrade")
	diags = append(diags, hDiags...)
	if hb != nil {
		h, hDiags := d.decodeHealth(hb)
		diags = append(diags, hDiags...)
		u.Health = h
	}
	return u, diags
}

func (d *decoder) decodeHealth(b *hcl.Block) (Health, hcl.Diagnostics) {
	content, diags := b.Body.Content(healthSchema)
	h := Health{SSH: true, DeclRange: b.DefRange}
	diags = d.boolAttr(content, "ssh", &h.SSH, diags)
	if attr, ok := content.Attributes["tcp"]; ok {
		ports, pDiags := d.decodePorts(attr)
		diags = append(diags, pDiags...)
		for _, pr := range ports {
			if pr.Min != pr.Max {
				diags = append(diags, errorAt(attr.Expr.Range(), "Port range in health check",
					"A health check connects to single ports; %s is a range. List the ports, like [8443, 9090].", pr))
				continue
			}
			h.TCP = append(h.TCP, pr.Min)
		}
	}
	if attr, ok := content.Attributes["min_score"]; ok {
		s, sDiags := d.evalScore(attr.Expr)
		diags = append(diags, sDiags...)
		h.MinScore = s
	}
	return h, diags
}
