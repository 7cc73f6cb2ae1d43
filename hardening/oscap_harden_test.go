package hardening

import (
	"strings"
	"testing"
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
