package config

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var complianceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "content_dir"},
		{Name: "report_dir"},
		{Name: "concurrency"},
		{Name: "timeout"},
		{Name: "min_score"},
		{Name: "profile"},
	},
}

func (d *decoder) decodeCompliance(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(complianceSchema)
	c := &d.cfg.Compliance
	c.DeclRange = b.DefRange
	if attr, ok := content.Attributes["content_dir"]; ok {
		p, pDiags := d.evalPath(attr.Expr, d.dir, "content directory", false)
		diags = append(diags, pDiags...)
		if p != "" {
			c.ContentDir = p
		}
	}
	if attr, ok := content.Attributes["report_dir"]; ok {
		p, pDiags := d.evalPath(attr.Expr, d.dir, "report directory", false)
		diags = append(diags, pDiags...)
		if p != "" {
			c.ReportDir = p
		}
	}
	if attr, ok := content.Attributes["concurrency"]; ok {
		n, set, nDiags := d.evalInt(attr.Expr, 1, 1000, "concurrency")
		diags = append(diags, nDiags...)
		if set {
			c.Concurrency = n
		}
	}
	if attr, ok := content.Attributes["timeout"]; ok {
		t, set, tDiags := d.evalDuration(attr.Expr, "timeout")
		diags = append(diags, tDiags...)
		if set {
			c.Timeout = t
		}
	}
	if attr, ok := content.Attributes["min_score"]; ok {
		s, sDiags := d.evalScore(attr.Expr)
		diags = append(diags, sDiags...)
		c.MinScore = s
	}
	if attr, ok := content.Attributes["profile"]; ok {
		ref, rDiags := d.evalProfileRef(attr.Expr)
		diags = append(diags, rDiags...)
		c.Profile = ref
	}
	return diags
}

var profileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "extends"},
		{Name: "datastream"},
		{Name: "scap_profile"},
		{Name: "tailoring"},
		{Name: "min_score"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "audit"}},
}

var auditSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "watch_etcd"},
		{Name: "watch_secrets"},
		{Name: "rules"},
	},
}

func (d *decoder) decodeProfile(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(profileSchema)
	p := &Profile{Name: b.Labels[0], DeclRange: b.DefRange}
	d.cfg.Profiles = append(d.cfg.Profiles, p)
	diags = d.nameAttr(content, "extends", &p.Extends, diags)
	if attr, ok := content.Attributes["datastream"]; ok {
		s, sDiags := d.evalDatastream(attr.Expr)
		diags = append(diags, sDiags...)
		p.Datastream = s
	}
	if attr, ok := content.Attributes["scap_profile"]; ok {
		one, byOS, sDiags := d.decodeSCAPProfile(attr)
		diags = append(diags, sDiags...)
		p.SCAPProfile, p.SCAPProfileByOS = one, byOS
	}
	if attr, ok := content.Attributes["tailoring"]; ok {
		s, sDiags := d.evalPath(attr.Expr, d.dir, "tailoring file", true)
		diags = append(diags, sDiags...)
		p.Tailoring = s
	}
	if attr, ok := content.Attributes["min_score"]; ok {
		s, sDiags := d.evalScore(attr.Expr)
		diags = append(diags, sDiags...)
		p.MinScore = s
	}
	ab, aDiags := singleBlock(content.Blocks, "audit", "profile")
	diags = append(diags, aDiags...)
	if ab != nil {
		a, aDiags := d.decodeAudit(ab)
		diags = append(diags, aDiags...)
		p.Audit = a
	}
	return diags
}

// evalDatastream reads a profile's datastream: the name of one of the content directory's
// *-ds.xml files, which is what scans load and pick by (hardening.Datastreams.Named). It is
// checked to exist there, and kept as the file name.
func (d *decoder) evalDatastream(expr hcl.Expression) (string, hcl.Diagnostics) {
	s, diags := d.evalName(expr, "datastream")
	if s == "" {
		return "", diags
	}
	dir := d.cfg.Compliance.ContentDir
	if filepath.Base(s) != s || strings.ContainsAny(s, `/\`) {
		return "", append(diags, errorAt(expr.Range(), "Datastream is a file name",
			"The datastream is the name of a file in the content directory (compliance.content_dir, %s), like \"ssg-debian12-ds.xml\"; got %q. Put the file there, or set content_dir to its directory.", dir, s))
	}
	if !strings.HasSuffix(s, "-ds.xml") {
		return "", append(diags, errorAt(expr.Range(), "Not a datastream file name",
			"Scans load the content directory's *-ds.xml files; %q does not end in -ds.xml, so no scan would find it. Name the file like ssg-debian12-ds.xml.", s))
	}
	if _, pDiags := d.evalPath(expr, dir, "datastream", true); pDiags.HasErrors() {
		return "", append(diags, pDiags...)
	}
	return s, diags
}

// scapProfilePattern is what an XCCDF profile id looks like: full
// (xccdf_org.ssgproject.content_profile_cis) or short (cis).
var scapProfilePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// osKeyPattern is what an OS key looks like: the os-release ID and major version, as in
// debian12 or rhel9.
var osKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9._-]*$`)

// decodeSCAPProfile reads scap_profile: one profile id for every OS, or a map from OS key
// to profile id.
func (d *decoder) decodeSCAPProfile(attr *hcl.Attribute) (string, map[string]string, hcl.Diagnostics) {
	v, ok, diags := d.known(attr.Expr)
	if !ok {
		return "", nil, diags
	}
	rng := attr.Expr.Range()
	checkID := func(id, where string) *hcl.Diagnostic {
		if scapProfilePattern.MatchString(id) {
			return nil
		}
		return errorAt(rng, "Invalid SCAP profile id",
			"%s%q is not an XCCDF profile id, like \"xccdf_org.ssgproject.content_profile_cis\" (or its short form, \"cis\").", where, id)
	}
	ty := v.Type()
	if ty == cty.String || ty == cty.Number || ty == cty.Bool {
		s, _ := convert.Convert(v, cty.String)
		if diag := checkID(s.AsString(), ""); diag != nil {
			return "", nil, append(diags, diag)
		}
		return s.AsString(), nil, diags
	}
	if !ty.IsMapType() && !ty.IsObjectType() {
		return "", nil, append(diags, errorAt(rng, "Incorrect value type",
			"scap_profile is a profile id for every OS, or a map from OS key to profile id, like {debian12 = \"xccdf_org.ssgproject.content_profile_standard\"}; got %s.", ty.FriendlyName()))
	}
	byOS, mDiags := d.evalStringMap(attr.Expr, "scap_profile")
	diags = append(diags, mDiags...)
	if mDiags.HasErrors() {
		return "", nil, diags
	}
	if len(byOS) == 0 {
		return "", nil, append(diags, errorAt(rng, "Empty scap_profile", "scap_profile maps at least one OS key to a profile id; leave it out to use the profile's default."))
	}
	for _, key := range sortedKeys(byOS) {
		if !osKeyPattern.MatchString(key) {
			diags = append(diags, errorAt(rng, "Invalid OS key",
				"%q is not an OS key: write the os-release ID and major version in lower case, like debian12 or rhel9.", key))
			continue
		}
		if diag := checkID(byOS[key], "For "+key+", "); diag != nil {
			diags = append(diags, diag)
		}
	}
	if diags.HasErrors() {
		return "", nil, diags
	}
	return "", byOS, diags
}

func (d *decoder) decodeAudit(b *hcl.Block) (*Audit, hcl.Diagnostics) {
	content, diags := b.Body.Content(auditSchema)
	a := &Audit{DeclRange: b.DefRange}
	diags = d.boolAttr(content, "watch_etcd", &a.WatchEtcd, diags)
	diags = d.nameAttr(content, "watch_secrets", &a.WatchSecrets, diags)
	if attr, ok := content.Attributes["rules"]; ok {
		rules, ranges, rDiags := d.evalStringsAt(attr.Expr, "rules")
		diags = append(diags, rDiags...)
		for i, r := range rules {
			if diag := checkAuditRule(r, ranges[i]); diag != nil {
				diags = append(diags, diag)
				continue
			}
			a.Rules = append(a.Rules, strings.TrimSpace(r))
		}
	}
	return a, diags
}

// checkAuditRule checks that r looks like an auditctl rule: a watch (-w PATH ...) or a
// syscall rule (-a ACTION,LIST ...), on one line.
func checkAuditRule(r string, rng hcl.Range) *hcl.Diagnostic {
	f := strings.Fields(r)
	if strings.ContainsAny(r, "\n\r") || len(f) < 2 || (f[0] != "-w" && f[0] != "-a" && f[0] != "-A") {
		return errorAt(rng, "Invalid audit rule",
			"%q is not an auditctl rule: write a watch, like \"-w /etc/shadow -p wa -k shadow\", or a syscall rule, like \"-a always,exit -F arch=b64 -S openat -k files\", one per string.", r)
	}
	return nil
}
