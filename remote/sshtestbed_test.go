package remote

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The SSH layer's integration tests run against real namespace hosts behind a real bastion
// (scripts/testhosts). Guarded by HARDENCTL_INTEGRATION=1. Each test starts the hosts it needs
// on its own hosts.sh instance (HC_INSTANCE 21..29 belong to these tests) and stops them when
// it ends, so CI can start from a machine with nothing running. The shared root and content
// are made by scripts/testhosts/prepare.sh (make testhosts-up); if they are missing the test
// runs prepare.sh itself (about 75 s once; instant afterwards).

// sshBed is one running hosts.sh instance as the SSH layer sees it.
type sshBed struct {
	instance   int
	dir        string // $TESTHOSTS
	run        string // $TESTHOSTS/run-I
	hosts      []Host
	bastion    string
	knownHosts string
	key        string
}

func sshIntegration(t *testing.T) {
	t.Helper()
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("integration test: set HARDENCTL_INTEGRATION=1 (needs root; starts namespace hosts)")
	}
	if os.Geteuid() != 0 {
		t.Skip("integration test needs root (network namespaces)")
	}
}

func sshBedDir() string { return testHostsDir() }

func sshBedScript(t *testing.T, instance int, name string, args ...string) (string, error) {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "scripts", "testhosts", name))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{p}, args...)...)
	cmd.WaitDelay = 5 * time.Second // a host that kept our pipe must not hang the test
	cmd.Env = append(os.Environ(), fmt.Sprintf("HC_INSTANCE=%d", instance), "TESTHOSTS="+sshBedDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startSSHBed prepares the root if needed and starts the bastion and n targets as instance i.
func startSSHBed(t *testing.T, instance, n int) *sshBed {
	t.Helper()
	if out, err := sshBedScript(t, instance, "prepare.sh"); err != nil {
		t.Fatalf("prepare.sh: %v\n%s", err, out)
	}
	// a previous run that was killed may have left this instance up: start clean
	sshBedScript(t, instance, "hosts.sh", "down")
	start := time.Now()
	if out, err := sshBedScript(t, instance, "hosts.sh", "up", fmt.Sprint(n)); err != nil {
		sshBedScript(t, instance, "hosts.sh", "down")
		t.Fatalf("hosts.sh up %d: %v\n%s", n, err, out)
	}
	t.Logf("instance %d: bastion and %d hosts up in %s", instance, n, time.Since(start).Round(10*time.Millisecond))
	t.Cleanup(func() {
		if out, err := sshBedScript(t, instance, "hosts.sh", "down"); err != nil {
			t.Errorf("hosts.sh down: %v\n%s", err, out)
		}
	})
	b := &sshBed{instance: instance, dir: sshBedDir(), run: fmt.Sprintf("%s/run-%d", sshBedDir(), instance)}
	b.knownHosts = b.run + "/known_hosts"
	b.key = b.dir + "/keys/id_ed25519"
	b.hosts, b.bastion = readRunDir(t, b.run)
	if len(b.hosts) != n || b.bastion == "" {
		t.Fatalf("hosts.txt has %d hosts, bastion %q", len(b.hosts), b.bastion)
	}
	return b
}

// script runs hosts.sh with args on this instance (faults: rekey, stop-sshd, ...).
func (b *sshBed) script(t *testing.T, args ...string) string {
	t.Helper()
	out, err := sshBedScript(t, b.instance, "hosts.sh", args...)
	if err != nil {
		t.Fatalf("hosts.sh %v: %v\n%s", args, err, out)
	}
	return out
}

// config is the SSH configuration of the admin path: user hardenctl with sudo, via the bastion.
func (b *sshBed) config() Config {
	return Config{
		User:           "hardenctl",
		IdentityFiles:  []string{b.key},
		KnownHostsFile: b.knownHosts,
		Bastion:        &BastionConfig{Address: b.bastion},
		ConnectTimeout: 20 * time.Second,
		Sudo:           true,
	}
}
