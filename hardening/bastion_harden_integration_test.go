package hardening

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/profiles"
)

// noForwardingTailoring selects one rule, the one that cuts a bastion: RHEL's CIS level 2 and
// any tailoring that selects it write "AllowTcpForwarding no" as sshd_config's first line.
const noForwardingTailoring = `<?xml version="1.0" encoding="UTF-8"?>
<xccdf:Tailoring xmlns:xccdf="http://checklists.nist.gov/xccdf/1.2" id="xccdf_org.hardenctl_tailoring_no-tcp-forwarding">
  <xccdf:version time="2025-01-01T00:00:00">1</xccdf:version>
  <xccdf:Profile id="xccdf_org.hardenctl_profile_no_tcp_forwarding">
    <xccdf:title>SSH TCP forwarding disabled</xccdf:title>
    <xccdf:select idref="xccdf_org.ssgproject.content_rule_sshd_disable_tcp_forwarding" selected="true"/>
  </xccdf:Profile>
</xccdf:Tailoring>
`

// noForwardingScanner hardens with noForwardingTailoring through d, as the CLI does with
// --tailoring (the profile names the file, the Scanner gets its bytes).
func noForwardingScanner(t *testing.T, d Dialer) *Scanner {
	t.Helper()
	path := filepath.Join(t.TempDir(), "no-tcp-forwarding.xml")
	if err := os.WriteFile(path, []byte(noForwardingTailoring), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prof := profiles.Profile{Name: "no-tcp-forwarding", SCAPProfile: map[string]string{"*": "xccdf_org.hardenctl_profile_no_tcp_forwarding"}, Tailoring: path}
	return &Scanner{Dialer: d, Content: realContent(t), Profile: prof, Tailoring: data, Remediate: true, Timeout: 5 * time.Minute,
		RunDir: t.TempDir(), LoginUser: "hardenctl", Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

func hardenLogged(t *testing.T, s *Scanner, h Host) HostResult {
	t.Helper()
	r := s.Host(context.Background(), h)
	if !r.Status.Ran() {
		t.Fatalf("harden %s: %s: %s (notes %q)", r.Host, r.Status, r.Error, r.Notes)
	}
	t.Logf("%s: score before %.2f, remediation fixed %d error %d, after %.2f (%s) in %s", r.Host, r.Before.Score,
		r.Remediation.Counts[ResultFixed], r.Remediation.Counts[ResultError], r.Result.Score, r.Status, r.Duration.Round(time.Millisecond))
	for _, n := range r.Notes {
		t.Logf("%s note: %s", r.Host, n)
	}
	return r
}

// Hardening the bastion itself with a rule that writes AllowTcpForwarding no keeps its
// forwarding for the bastion user from hardenctl's address; a target behind it gets the rule
// as it is, without the bastion guard.
func TestIntegrationHardenBastionKeepsForwarding(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 50, 1)
	admin := fmt.Sprintf("10.251.%d.1", tb.instance) // the machine, as the bastion sees it
	bastion := Host{Name: "bastion", Address: tb.bastion}

	d := fleetDialer(t, tb, "hardenctl") // bastion user root
	r := hardenLogged(t, noForwardingScanner(t, d), bastion)
	config := tb.exec(t, "bastion", "cat", "/etc/ssh/sshd_config")
	first, _, _ := strings.Cut(config, "\n")
	t.Logf("bastion sshd_config, first line (the remediation's): %q", first)
	if first != "AllowTcpForwarding no" {
		t.Errorf("the remediation did not write AllowTcpForwarding no first:\n%s", config)
	}
	if i := strings.Index(config, "# hardenctl bastion-safe guard"); i < 0 {
		t.Errorf("no guard Match block in the bastion's sshd_config:\n%s", config)
	} else {
		t.Logf("bastion sshd_config, the guard's block:\n%s", config[i:])
	}
	noted := false
	for _, n := range r.Notes {
		noted = noted || strings.Contains(n, "the bastion's TCP forwarding for root") && strings.Contains(n, "AllowTcpForwarding no") && strings.Contains(n, "Match block")
	}
	if !noted {
		t.Errorf("no note of the forwarding repair: %q", r.Notes)
	}
	for _, who := range []string{admin, "192.0.2.7"} {
		out := tb.exec(t, "bastion", "sshd", "-T", "-C", "user=root,host="+who+",addr="+who)
		fwd := parseSSHDT(strings.NewReader(out)).settings["allowtcpforwarding"]
		t.Logf("bastion sshd -T for root from %s: allowtcpforwarding %s", who, fwd)
		if want := map[bool]string{true: "local", false: "no"}[who == admin]; fwd != want {
			t.Errorf("root from %s: allowtcpforwarding %s, want %s", who, fwd, want)
		}
	}

	// A new dialer (a fresh bastion connection) still reaches h01 through the bastion.
	d2 := fleetDialer(t, tb, "hardenctl")
	c, err := d2.Dial(context.Background(), tb.hosts[0])
	if err != nil {
		t.Fatalf("h01 unreachable through the hardened bastion on a new connection: %v", err)
	}
	out, err := runOut(context.Background(), c, "hostname", "hostname")
	c.Close()
	if err != nil || strings.TrimSpace(out) != "h01" {
		t.Fatalf("h01 through the hardened bastion: %q %v", out, err)
	}
	t.Logf("after hardening the bastion, a new bastion connection reaches %s", strings.TrimSpace(out))

	// A normal target: the rule applies as written, the bastion guard stays out.
	r = hardenLogged(t, noForwardingScanner(t, d2), tb.hosts[0])
	for _, n := range r.Notes {
		if strings.Contains(n, "forwarding") || strings.Contains(n, "bastion") {
			t.Errorf("the bastion guard ran for a target: %s", n)
		}
	}
	config = tb.exec(t, "h01", "cat", "/etc/ssh/sshd_config")
	first, _, _ = strings.Cut(config, "\n")
	t.Logf("h01 sshd_config, first line: %q; guard block: %v", first, strings.Contains(config, "hardenctl bastion-safe guard"))
	if first != "AllowTcpForwarding no" || strings.Contains(config, "hardenctl bastion-safe guard") {
		t.Errorf("h01's sshd_config:\n%s", config)
	}
	c, err = fleetDialer(t, tb, "hardenctl").Dial(context.Background(), tb.hosts[0])
	if err != nil {
		t.Fatalf("h01 unreachable after its harden: %v", err)
	}
	c.Close()
}
