package remote

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// HostKey is one SSH host key a server printed on its console at first boot.
type HostKey struct {
	Type string // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
	Key  string // base64
}

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
func (k HostKey) Fingerprint() (string, error) {
	raw, err := base64.StdEncoding.DecodeString(k.Key)
	if err != nil {
		return "", fmt.Errorf("host key %s: not base64: %w", k.Type, err)
	}
	sum := sha256.Sum256(raw)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// ParseConsoleHostKeys finds the host keys cloud-init (and the test bed's driver) print at
// first boot: the full keys between "-----BEGIN SSH HOST KEY KEYS-----" and its END line,
// checked against the fingerprints between "-----BEGIN SSH HOST KEY FINGERPRINTS-----" and
// its END line when those are printed too. It returns no keys (and no error) while the
// blocks have not appeared yet; a key whose fingerprint is not among the printed ones is an
// error: the console was tampered with or garbled.
func ParseConsoleHostKeys(console string) ([]HostKey, error) {
	var keys []HostKey
	fps := map[string]bool{}
	section := ""
	complete := false
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// cloud-init prefixes lines with "ci-info: " or a timestamp on some clouds.
		if i := strings.Index(line, "-----"); i > 0 {
			line = line[i:]
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "ci-info:"))
		switch line {
		case "-----BEGIN SSH HOST KEY KEYS-----":
			section, keys = "keys", nil
			continue
		case "-----BEGIN SSH HOST KEY FINGERPRINTS-----":
			section, fps = "fps", map[string]bool{}
			continue
		case "-----END SSH HOST KEY KEYS-----":
			section, complete = "", true
			continue
		case "-----END SSH HOST KEY FINGERPRINTS-----":
			section = ""
			continue
		}
		f := strings.Fields(line)
		switch {
		case section == "keys" && len(f) >= 2:
			keys = append(keys, HostKey{Type: f[0], Key: f[1]})
		case section == "fps" && len(f) >= 2 && strings.HasPrefix(f[1], "SHA256:"):
			fps[f[1]] = true
		}
	}
	if !complete {
		return nil, nil
	}
	if len(keys) == 0 {
		return nil, errors.New("the console's host key block is empty")
	}
	if len(fps) > 0 {
		for _, k := range keys {
			fp, err := k.Fingerprint()
			if err != nil {
				return nil, err
			}
			if !fps[fp] {
				return nil, fmt.Errorf("the console prints host key %s %s whose fingerprint %s is not among the printed fingerprints", k.Type, truncate(k.Key, 16), fp)
			}
		}
	}
	return keys, nil
}

// KnownHostsLines renders keys as known_hosts lines for address (host, or host:port).
func KnownHostsLines(address string, keys []HostKey) string {
	host := address
	if h, p, ok := strings.Cut(address, ":"); ok && p != "22" && !strings.Contains(p, ":") {
		host = "[" + h + "]:" + p
	} else if ok && p == "22" {
		host = h
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s %s\n", host, k.Type, k.Key)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
