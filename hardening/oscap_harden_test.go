package hardening

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/profiles"
)

func TestSSHDAccess(t *testing.T) {
	for _, tc := range []struct {
		sshdT, user, want string
	}{
		{"permitrootlogin without-password\npubkeyauthentication yes\n", "root", ""},
		{"permitrootlogin no\npubkeyauthentication yes\n", "root", "PermitRootLogin no"},
		{"permitrootlogin no\npubkeyauthentication yes\n", "hardenctl", ""},
		{"permitrootlogin forced-commands-only\n", "root", "PermitRootLogin forced-commands-only"},
		{"pubkeyauthentication no\n", "hardenctl", "PubkeyAuthentication no"},
		{"allowusers alice\nallowusers bob@10.0.0.*\n", "bob", ""},
		{"allowusers alice\nallowusers bob@10.0.0.*\n", "hardenctl", "AllowUsers alice bob@10.0.0.*"},
		{"allowusers hard*\n", "hardenctl", ""},
		{"denyusers root hardenctl\n", "hardenctl", "DenyUsers root hardenctl"},
	} {
		got := parseSSHDT(strings.NewReader(tc.sshdT)).denies(tc.user)
		if got != tc.want {
			t.Errorf("%q as %s: %q, want %q", tc.sshdT, tc.user, got, tc.want)
		}
	}
}

func TestGuardCommandQuotesUser(t *testing.T) {
	cmd := guardCommand("a'b")
	if !strings.Contains(cmd, `user='a'\''b'`) || !strings.HasPrefix(cmd, "sshd -t || exit 3") {
		t.Errorf("guard command:\n%s", cmd)
	}
}

func TestSSHDForwardingCut(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		path      sshPath
		want      map[string]string
	}{
		{"allowed", "== 10.0.0.1\nallowtcpforwarding yes\ndisableforwarding no\n", sshPath{"root", true}, map[string]string{}},
		{"local is enough", "== 10.0.0.1\nallowtcpforwarding local\n", sshPath{"root", true}, map[string]string{}},
		{"no", "== 10.0.0.1\nallowtcpforwarding no\n", sshPath{"root", true}, map[string]string{"10.0.0.1": "AllowTcpForwarding no"}},
		{"remote only", "== 10.0.0.1\nallowtcpforwarding remote\n", sshPath{"root", true}, map[string]string{"10.0.0.1": "AllowTcpForwarding remote"}},
		{"disabled", "== 10.0.0.1\nallowtcpforwarding yes\ndisableforwarding yes\n", sshPath{"root", true}, map[string]string{"10.0.0.1": "DisableForwarding yes"}},
		{"login and forwarding", "== 10.0.0.1\npermitrootlogin no\nallowtcpforwarding no\n", sshPath{"root", true}, map[string]string{"10.0.0.1": "PermitRootLogin no, AllowTcpForwarding no"}},
		{"login only", "== 10.0.0.1\npermitrootlogin no\nallowtcpforwarding yes\n", sshPath{"root", true}, map[string]string{"10.0.0.1": "PermitRootLogin no"}},
		{"login path ignores forwarding", "== 10.0.0.1\nallowtcpforwarding no\n", sshPath{"root", false}, map[string]string{}},
		{"per address", "== 10.0.0.1\nallowtcpforwarding local\n== 10.0.0.2\nallowtcpforwarding no\n", sshPath{"ops", true}, map[string]string{"10.0.0.2": "AllowTcpForwarding no"}},
		{"user not allowed", "== 10.0.0.1\nallowusers hardenctl\nallowtcpforwarding yes\n", sshPath{"ops", true}, map[string]string{"10.0.0.1": "AllowUsers hardenctl"}},
	} {
		got := judgeSSHDT(tc.out, tc.path)
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSSHPathMatchBlock(t *testing.T) {
	fwd := sshPath{"root", true}.matchBlock("10.0.0.1", "10.0.0.1: PermitRootLogin no, AllowTcpForwarding no")
	for _, want := range []string{"Match User root Address 10.0.0.1\n", "\tPermitRootLogin prohibit-password\n", "\tAllowTcpForwarding local\n", "\tDisableForwarding no\n"} {
		if !strings.Contains(fwd, want) {
			t.Errorf("forwarding block lacks %q:\n%s", want, fwd)
		}
	}
	if b := (sshPath{"root", true}).matchBlock("10.0.0.1", "10.0.0.1: PermitRootLogin no"); strings.Contains(b, "Forwarding") {
		t.Errorf("forwarding not cut, yet the block sets it:\n%s", b)
	}
	login := sshPath{"hardenctl", false}.matchBlock("10.0.0.1,10.0.0.2", "")
	if !strings.Contains(login, "Match User hardenctl Address 10.0.0.1,10.0.0.2\n\tPubkeyAuthentication yes\n") || strings.Contains(login, "Forwarding") || strings.Contains(login, "PermitRootLogin") {
		t.Errorf("login block:\n%s", login)
	}
}

// fakeBastionDialer is a fakeDialer whose bastion is one of its hosts; prove answers
// ProveBastionForwarding.
type fakeBastionDialer struct {
	fakeDialer
	bastion string
	proves  int
	prove   func() error
}

func (d *fakeBastionDialer) IsBastion(h Host) bool { return h.Address == d.bastion }
func (d *fakeBastionDialer) BastionUser() string   { return "ops" }
func (d *fakeBastionDialer) ProveBastionForwarding(ctx context.Context) error {
	d.proves++
	return d.prove()
}

// bastionHost is a fake host whose remediation wrote AllowTcpForwarding no: sshd -T says no
// for ops until the guard's forwarding Match block is in sshd_config.
func bastionHost(sshdConfig *strings.Builder) *fakeHost {
	h := &fakeHost{osRelease: debian12, oscapExit: 2}
	h.other = func(cmd string) (string, int) {
		switch {
		case strings.HasPrefix(cmd, "sshd -t"):
			fwd := "no"
			if strings.Contains(cmd, "user=ops") && strings.Contains(sshdConfig.String(), "Match User ops Address 10.250.0.1") {
				fwd = "local"
			}
			return "== 10.250.0.1\npubkeyauthentication yes\nallowtcpforwarding " + fwd + "\n", 0
		case strings.Contains(cmd, ">> /etc/ssh/sshd_config"):
			sshdConfig.WriteString(cmd)
		case cmd == "id -u":
			return "0\n", 0
		}
		return "", 0
	}
	return h
}

func TestHardenGuardKeepsBastionForwarding(t *testing.T) {
	std, _ := profiles.Builtin("standard")
	var bastionConfig, targetConfig strings.Builder
	d := &fakeBastionDialer{
		fakeDialer: fakeDialer{"10.250.0.2": bastionHost(&bastionConfig), "10.252.0.11": bastionHost(&targetConfig)},
		bastion:    "10.250.0.2",
	}
	// Before remediation it forwards; after the sshd restart, only once the Match block is in.
	d.prove = func() error {
		if d.proves == 1 || strings.Contains(bastionConfig.String(), "AllowTcpForwarding local") {
			return nil
		}
		return errors.New("administratively prohibited")
	}
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std, Remediate: true, Timeout: 5 * time.Second, LoginUser: "hardenctl"}
	r := s.Host(context.Background(), Host{Name: "bastion", Address: "10.250.0.2"})
	if r.Status != StatusNotCompliant || r.Error != "" {
		t.Fatalf("harden the bastion: %+v", r)
	}
	if !strings.Contains(bastionConfig.String(), "Match User ops Address 10.250.0.1") || strings.Contains(bastionConfig.String(), "Match User hardenctl") {
		t.Errorf("bastion sshd_config additions: %q", bastionConfig.String())
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "the bastion's TCP forwarding for ops") || !strings.Contains(r.Notes[0], "AllowTcpForwarding no") {
		t.Errorf("notes: %q", r.Notes)
	}
	if d.proves != 2 {
		t.Errorf("forwarding proved %d times, want before and after", d.proves)
	}

	// A target behind the bastion: the same remediation is none of the guard's business.
	d.proves = 0
	r = s.Host(context.Background(), Host{Name: "h01", Address: "10.252.0.11"})
	if r.Status != StatusNotCompliant || len(r.Notes) != 0 || targetConfig.Len() != 0 || d.proves != 0 {
		t.Errorf("harden a target: status %s notes %q sshd_config %q proves %d", r.Status, r.Notes, targetConfig.String(), d.proves)
	}
}

func TestHardenGuardBastionForwardingBrokenBefore(t *testing.T) {
	std, _ := profiles.Builtin("standard")
	var cfg strings.Builder
	d := &fakeBastionDialer{fakeDialer: fakeDialer{"10.250.0.2": bastionHost(&cfg)}, bastion: "10.250.0.2"}
	d.prove = func() error { return errors.New("administratively prohibited") }
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std, Remediate: true, Timeout: 5 * time.Second, LoginUser: "hardenctl"}
	r := s.Host(context.Background(), Host{Name: "bastion", Address: "10.250.0.2"})
	if r.Status != StatusNotCompliant || r.Error != "" || cfg.Len() != 0 || d.proves != 1 {
		t.Fatalf("status %s error %q sshd_config %q proves %d", r.Status, r.Error, cfg.String(), d.proves)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "did not work before remediation") {
		t.Errorf("notes: %q", r.Notes)
	}
}

func TestHardenGuardBastionForwardingRestored(t *testing.T) {
	std, _ := profiles.Builtin("standard")
	var cfg strings.Builder
	h := bastionHost(&cfg)
	d := &fakeBastionDialer{fakeDialer: fakeDialer{"10.250.0.2": h}, bastion: "10.250.0.2"}
	restored := false
	other := h.other
	h.other = func(cmd string) (string, int) {
		if strings.Contains(cmd, "/backup/etc/sudoers") {
			restored = true
		}
		return other(cmd)
	}
	// sshd -T says the Match block wins, but new connections still cannot forward until the
	// saved configuration is back: the guard restores it.
	d.prove = func() error {
		if d.proves == 1 || restored {
			return nil
		}
		return errors.New("administratively prohibited")
	}
	s := &Scanner{Dialer: d, Content: testContent(t), Profile: std, Remediate: true, Timeout: 20 * time.Second, LoginUser: "hardenctl"}
	r := s.Host(context.Background(), Host{Name: "bastion", Address: "10.250.0.2"})
	if r.Status != StatusNotCompliant || r.Error != "" || !restored {
		t.Fatalf("status %s error %q restored %v notes %q", r.Status, r.Error, restored, r.Notes)
	}
	if len(r.Notes) != 2 || !strings.Contains(r.Notes[1], "TCP forwarding through the bastion after remediation") || !strings.Contains(r.Notes[1], "restored /etc/ssh and sudoers") {
		t.Errorf("notes: %q", r.Notes)
	}
}
