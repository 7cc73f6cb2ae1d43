package config

import (
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// setDefaults gives the settings blocks (ssh, compliance) their defaults, which hold when
// the configuration has no such block.
func (d *decoder) setDefaults() {
	d.cfg.SSH = SSH{
		UseAgent:       true,
		ConnectTimeout: DefaultSSHConnectTimeout,
		Concurrency:    DefaultSSHConcurrency,
	}
	if home := d.home(); home != "" {
		d.cfg.SSH.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	d.cfg.Compliance = Compliance{
		ContentDir:  filepath.Join(d.dir, "content"),
		ReportDir:   filepath.Join(d.dir, "reports"),
		Concurrency: DefaultComplianceConcurrency,
		Timeout:     DefaultComplianceTimeout,
	}
}

var sshSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "user"},
		{Name: "identity_files"},
		{Name: "use_agent"},
		{Name: "known_hosts"},
		{Name: "trust_on_first_use"},
		{Name: "connect_timeout"},
		{Name: "concurrency"},
	},
}

func (d *decoder) decodeSSH(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(sshSchema)
	s := &d.cfg.SSH
	s.DeclRange = b.DefRange
	diags = d.nameAttr(content, "user", &s.User, diags)
	if attr, ok := content.Attributes["identity_files"]; ok {
		files, ranges, fDiags := d.evalStringsAt(attr.Expr, "identity_files")
		diags = append(diags, fDiags...)
		for i, f := range files {
			p, diag := d.resolvePath(f, d.dir, ranges[i], "identity file")
			if diag != nil {
				diags = append(diags, diag)
				continue
			}
			s.IdentityFiles = append(s.IdentityFiles, p)
		}
	}
	diags = d.boolAttr(content, "use_agent", &s.UseAgent, diags)
	if attr, ok := content.Attributes["known_hosts"]; ok {
		p, pDiags := d.evalPath(attr.Expr, d.dir, "known_hosts file", false)
		diags = append(diags, pDiags...)
		if p != "" {
			s.KnownHosts = p
		}
	}
	diags = d.boolAttr(content, "trust_on_first_use", &s.TrustOnFirstUse, diags)
	if attr, ok := content.Attributes["connect_timeout"]; ok {
		t, set, tDiags := d.evalDuration(attr.Expr, "connect_timeout")
		diags = append(diags, tDiags...)
		if set {
			s.ConnectTimeout = t
		}
	}
	if attr, ok := content.Attributes["concurrency"]; ok {
		n, set, nDiags := d.evalInt(attr.Expr, 1, 1000, "concurrency")
		diags = append(diags, nDiags...)
		if set {
			s.Concurrency = n
		}
	}
	return diags
}

// parseAddress reads "host" or "host:port" (an IPv6 address alone, or in brackets with a
// port) and returns "host:port", with port 22 when none is written.
func parseAddress(s string, rng hcl.Range) (string, *hcl.Diagnostic) {
	bad := func(why string) (string, *hcl.Diagnostic) {
		return "", errorAt(rng, "Invalid address",
			"The address %q %s. Write a host name or IP address, with a port if it is not 22: \"bastion.example.com\", \"203.0.113.5:2222\" or \"[2001:db8::5]:22\".", s, why)
	}
	if s == "" || strings.ContainsAny(s, " \t/") {
		return bad("is not a host or host:port")
	}
	if addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && (s[0] == '[') == strings.HasSuffix(s, "]") {
		return net.JoinHostPort(addr.String(), "22"), nil
	}
	host, port := s, "22"
	if strings.Contains(s, ":") {
		var err error
		host, port, err = net.SplitHostPort(s)
		if err != nil {
			return bad("cannot be read as host:port")
		}
	}
	if host == "" {
		return bad("has no host")
	}
	if strings.HasPrefix(s, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return bad("has brackets around something else than an IPv6 address")
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("has a port that is not a number from 1 to 65535")
	}
	return net.JoinHostPort(host, port), nil
}
