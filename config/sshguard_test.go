package config

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genZonesSource writes a random configuration of zones, rules and perhaps a bastion:
// every peer, protocol and port shape a rule can have, and never allow_ssh, so that every
// configuration that loads must keep SSH to the bastion's path.
func genZonesSource(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("name = \"gen\"\n")
	bastion := r.IntN(3) > 0
	if bastion {
		switch r.IntN(4) {
		case 0:
			b.WriteString("bastion {\n  allow_from = [\"0.0.0.0/0\"]\n  allow_from_anywhere = true\n}\n")
		case 1:
			b.WriteString("bastion {\n  allow_from = [\"0.0.0.0/0\", \"::/0\"]\n}\n")
		default:
			b.WriteString("bastion {\n  allow_from = [\"198.51.100.0/24\", \"2001:db8::/32\"]\n}\n")
		}
	}
	zones := 1 + r.IntN(4)
	peers := []string{"\"10.0.0.0/8\"", "\"0.0.0.0/0\"", "\"::/0\"", "\"203.0.113.7/32\""}
	for i := 0; i < zones; i++ {
		peers = append(peers, fmt.Sprintf("zone.z%d", i))
	}
	if bastion {
		peers = append(peers, "bastion", "bastion")
	}
	protocols := []string{"", "", "tcp", "udp", "icmp", "any"}
	ports := []string{"", "[22]", "[443]", "[\"20-30\"]", "[22, 443]", "[\"1-65535\"]", "[8443, \"5000-5010\"]", "22", "\"22\""}
	for i := 0; i < zones; i++ {
		fmt.Fprintf(&b, "zone \"z%d\" {\n", i)
		if r.IntN(4) == 0 {
			b.WriteString("  ip_versions = [4]\n")
		}
		for n := r.IntN(4); n > 0; n-- {
			dir, attr := "ingress", "from"
			if r.IntN(2) == 0 {
				dir, attr = "egress", "to"
			}
			var ps []string
			for k := 1 + r.IntN(2); k > 0; k-- {
				ps = append(ps, peers[r.IntN(len(peers))])
			}
			fmt.Fprintf(&b, "  %s {\n    %s = [%s]\n", dir, attr, strings.Join(ps, ", "))
			proto := protocols[r.IntN(len(protocols))]
			if proto != "" {
				fmt.Fprintf(&b, "    protocol = %q\n", proto)
			}
			if proto != "icmp" && proto != "any" {
				if p := ports[r.IntN(len(ports))]; p != "" {
					fmt.Fprintf(&b, "    ports = %s\n", p)
				}
			}
			b.WriteString("  }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// sshInto is a small model of the rules a configuration makes: every way TCP port 22 gets
// into a zone or the bastion, as "RECEIVER from SENDER" (receivers zone.NAME or bastion;
// senders zone.NAME, bastion or a CIDR). A flow between two groups is ingress on the
// receiver whichever side declares it; the bastion takes SSH from allow_from.
func sshInto(cfg *Config) []string {
	var in []string
	if cfg.Bastion != nil {
		for _, p := range cfg.Bastion.AllowFrom {
			in = append(in, "bastion from "+p.String())
		}
		for _, z := range cfg.Zones {
			in = append(in, "zone."+z.Name+" from bastion")
		}
	}
	for _, z := range cfg.Zones {
		for _, r := range append(append([]*Rule{}, z.Ingress...), z.Egress...) {
			if !r.opensPort(22) {
				continue
			}
			for _, p := range r.Peers {
				switch {
				case r.Direction == Ingress:
					in = append(in, "zone."+z.Name+" from "+p.String())
				case p.Kind != PeerCIDR:
					in = append(in, p.String()+" from zone."+z.Name)
				}
			}
		}
	}
	return in
}

// checkSSHPath reports each way of SSH into a zone other than from the bastion, and into
// the bastion other than from its allow_from.
func checkSSHPath(cfg *Config, in []string) []string {
	allowed := map[string]bool{}
	if cfg.Bastion != nil {
		for _, p := range cfg.Bastion.AllowFrom {
			allowed["bastion from "+p.String()] = true
		}
	}
	var bad []string
	for _, s := range in {
		if !allowed[s] && !strings.HasSuffix(s, " from bastion") {
			bad = append(bad, s)
		}
	}
	return bad
}

// tryLoad loads src as the one file of a configuration directory, and returns the
// Config (nil on errors) and the diagnostics, compact.
func tryLoad(t *testing.T, src string) (*Config, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gen")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), src)
	cfg, diags := NewLoader().Load(dir, LoadOptions{})
	return cfg, FormatDiagnosticsCompact(diags)
}

// TestSSHOnlyThroughBastion: for many generated configurations that load, no rule that
// will exist lets TCP 22 into a zone except from the bastion, nor into the bastion except
// from its allow_from; and some that load do have rules, so that the property is not
// empty.
func TestSSHOnlyThroughBastion(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	loaded, withRules := 0, 0
	for i := 0; i < 1500; i++ {
		src := genZonesSource(r)
		cfg, diags := tryLoad(t, src)
		if cfg == nil {
			if !strings.Contains(diags, "error:") {
				t.Fatalf("no Config and no error:\n%s", src)
			}
			continue
		}
		loaded++
		for _, z := range cfg.Zones {
			if len(z.Ingress)+len(z.Egress) > 0 {
				withRules++
				break
			}
		}
		if bad := checkSSHPath(cfg, sshInto(cfg)); len(bad) > 0 {
			t.Errorf("SSH %s, in:\n%s", strings.Join(bad, "; "), src)
		}
	}
	if loaded < 200 || withRules < 100 {
		t.Errorf("only %d of the generated configurations loaded, %d with rules", loaded, withRules)
	}
}

// TestSSHOptIns: allow_ssh on egress and allow_from_anywhere on the bastion say it
// deliberately, and load.
func TestSSHOptIns(t *testing.T) {
	cfg, diags := tryLoad(t, `
bastion {
  allow_from          = ["0.0.0.0/0", "::/0"]
  allow_from_anywhere = true
}
zone "app" {
  egress {
    to        = [zone.data, bastion]
    ports     = [22]
    allow_ssh = true
  }
}
zone "data" {}
`)
	if cfg == nil {
		t.Fatalf("Load: %s", diags)
	}
	if !cfg.Bastion.AllowFromAnywhere || !cfg.Zone("app").Egress[0].AllowSSH {
		t.Errorf("opt-ins not recorded: bastion %+v, egress %+v", cfg.Bastion, cfg.Zone("app").Egress[0])
	}
}
