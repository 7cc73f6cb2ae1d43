package remote

import (
	"strings"
	"testing"
)

const consoleKey = "AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n"

func console(fp string) string {
	return `[    0.000000] Linux version 6.1.0
-----BEGIN SSH HOST KEY FINGERPRINTS-----
256 ` + fp + ` root@builder (ED25519)
-----END SSH HOST KEY FINGERPRINTS-----
ci-info: -----BEGIN SSH HOST KEY KEYS-----
ci-info: ssh-ed25519 ` + consoleKey + ` root@builder
ci-info: -----END SSH HOST KEY KEYS-----
login:`
}

func TestParseConsoleHostKeys(t *testing.T) {
	fp, _ := HostKey{Type: "ssh-ed25519", Key: consoleKey}.Fingerprint()
	keys, err := ParseConsoleHostKeys(console(fp))
	if err != nil || len(keys) != 1 || keys[0].Key != consoleKey {
		t.Fatalf("keys = %+v, err = %v", keys, err)
	}
	if got := KnownHostsLines("10.252.0.40", keys); got != "10.252.0.40 ssh-ed25519 "+consoleKey+"\n" {
		t.Errorf("known_hosts line = %q", got)
	}
	if got := KnownHostsLines("10.252.0.40:2222", keys); !strings.HasPrefix(got, "[10.252.0.40]:2222 ") {
		t.Errorf("known_hosts line with port = %q", got)
	}
}

func TestParseConsoleHostKeysNotYet(t *testing.T) {
	keys, err := ParseConsoleHostKeys("[    0.000000] Linux version 6.1.0\n-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 " + consoleKey)
	if keys != nil || err != nil {
		t.Errorf("a console without the END line gave keys %v, err %v; want none yet", keys, err)
	}
}

func TestParseConsoleHostKeysFingerprintMismatch(t *testing.T) {
	_, err := ParseConsoleHostKeys(console("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	if err == nil || !strings.Contains(err.Error(), "not among the printed fingerprints") {
		t.Errorf("err = %v, want a fingerprint mismatch", err)
	}
}
