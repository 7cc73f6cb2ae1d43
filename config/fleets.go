package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
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
		{Name: "canary"},
		{Name: "max_failures"},
		{Name: "on_failure"},
		{Name: "deadline"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "health"}},
}

var healthSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "ssh"},
		{Name: "tcp"},
		{Name: "min_score"},
		{Name: "warmup"},
		{Name: "bake"},
		{Name: "timeout"},
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
// time, a canary first, each answering SSH before the next; roll back on a failure.
func defaultUpgrade() Upgrade {
	return Upgrade{Strategy: StrategyRebuild, MaxUnavailable: Amount{N: 1}, Canary: 1,
		OnFailure: OnFailureRollback, Health: defaultHealth()}
}

func defaultHealth() Health { return Health{SSH: true, Timeout: DefaultGateTimeout} }

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
		a, set, aDiags := d.evalAmount(attr.Expr, 1, "max_unavailable")
		diags = append(diags, aDiags...)
		if set {
			u.MaxUnavailable = a
		}
	}
	if attr, ok := content.Attributes["canary"]; ok {
		n, set, nDiags := d.evalInt(attr.Expr, 0, maxCount, "canary")
		diags = append(diags, nDiags...)
		if set {
			u.Canary = n
		}
	}
	if attr, ok := content.Attributes["max_failures"]; ok {
		a, set, aDiags := d.evalAmount(attr.Expr, 0, "max_failures")
		diags = append(diags, aDiags...)
		if set {
			u.MaxFailures = a
		}
	}
	if attr, ok := content.Attributes["on_failure"]; ok {
		s, set, sDiags := d.evalEnum(attr.Expr, "on_failure", OnFailureRollback, OnFailurePause, OnFailureAbort)
		diags = append(diags, sDiags...)
		if set {
			u.OnFailure = s
		}
	}
	if attr, ok := content.Attributes["deadline"]; ok {
		dur, set, dDiags := d.evalDuration(attr.Expr, "deadline")
		diags = append(diags, dDiags...)
		if set {
			u.Deadline = dur
		}
	}
	hb, hDiags := singleBlock(content.Blocks, "health", "upgrade")
	diags = append(diags, hDiags...)
	if hb != nil {
		h, hDiags := d.decodeHealth(hb)
		diags = append(diags, hDiags...)
		u.Health = h
	}
	if attr, ok := content.Attributes["deadline"]; ok && u.Deadline > 0 && u.Deadline < u.Health.Timeout {
		diags = append(diags, errorAt(attr.Expr.Range(), "Deadline shorter than the gate timeout",
			"The deadline (%s) bounds the whole rollout, but one server alone may take up to health.timeout (%s): make the deadline longer or the timeout shorter.",
			u.Deadline, u.Health.Timeout))
	}
	return u, diags
}

// evalAmount evaluates expr as a number of servers: a whole number of at least lo, or a
// percentage of the fleet written as a string, "25%" (lo% to 100%).
func (d *decoder) evalAmount(expr hcl.Expression, lo int64, what string) (Amount, bool, hcl.Diagnostics) {
	v, ok, diags := d.known(expr)
	if !ok {
		return Amount{}, false, diags
	}
	if v.Type() != cty.String {
		n, set, nDiags := d.evalInt(expr, lo, maxCount, what) // evaluates expr again: its diagnostics are nDiags
		return Amount{N: n}, set, nDiags
	}
	s := strings.TrimSpace(v.AsString())
	if num, isPct := strings.CutSuffix(s, "%"); isPct {
		if p, err := strconv.Atoi(strings.TrimSpace(num)); err == nil && int64(p) >= lo && p <= 100 {
			return Amount{N: p, Percent: true}, true, diags
		}
	} else if n, err := strconv.Atoi(s); err == nil && int64(n) >= lo {
		return Amount{N: n}, true, diags
	}
	return Amount{}, false, append(diags, errorAt(expr.Range(), "Invalid "+what,
		"%s is a number of servers (a whole number of at least %d, like 2) or a percentage of the fleet (%d%% to 100%%, like \"25%%\"); got %s.",
		what, lo, lo, showValue(v)))
}

func (d *decoder) decodeHealth(b *hcl.Block) (Health, hcl.Diagnostics) {
	content, diags := b.Body.Content(healthSchema)
	h := defaultHealth()
	h.DeclRange = b.DefRange
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
	for _, dur := range []struct {
		name string
		dst  *time.Duration
	}{{"warmup", &h.Warmup}, {"bake", &h.Bake}, {"timeout", &h.Timeout}} {
		if attr, ok := content.Attributes[dur.name]; ok {
			v, set, dDiags := d.evalDuration(attr.Expr, dur.name)
			diags = append(diags, dDiags...)
			if set {
				*dur.dst = v
			}
		}
	}
	if !h.SSH {
		// The TCP probes and the scan run over the gate's SSH session.
		for _, name := range []string{"tcp", "min_score"} {
			if attr, ok := content.Attributes[name]; ok {
				diags = append(diags, errorAt(attr.NameRange, "Health check without SSH",
					"%s is checked over the gate's SSH session through the bastion (from inside the server): it needs ssh = true.", name))
			}
		}
	}
	if attr, ok := content.Attributes["warmup"]; ok && h.Warmup >= h.Timeout {
		diags = append(diags, errorAt(attr.Expr.Range(), "Warmup not shorter than the timeout",
			"The warmup (%s) is part of each server's timeout (%s): the gate could never pass.", h.Warmup, h.Timeout))
	}
	return h, diags
}
