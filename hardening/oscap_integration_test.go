package hardening

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/internal/shell"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
)

func realContent(t testing.TB) Datastreams {
	t.Helper()
	ds, err := Content{Dir: testHostsDir() + "/content"}.Load()
	if err != nil || len(ds) == 0 {
		t.Skipf("no test bed content in %s/content: %v", testHostsDir(), err)
	}
	return ds
}

// arfScore reads the score from an ARF with a regular expression: an independent check of
// the streaming parser.
var arfScoreRE = regexp.MustCompile(`<(?:[a-z0-9]+:)?score[^>]*system="urn:xccdf:scoring:default"[^>]*>([0-9.]+)<`)

func arfScore(t testing.TB, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := arfScoreRE.FindAllSubmatch(b, -1)
	if len(m) != 1 {
		t.Fatalf("%s: %d default scores", path, len(m))
	}
	f, err := strconv.ParseFloat(string(m[0][1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestIntegrationOpenSSHScanOne(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 41, 1)
	std, _ := profiles.Builtin("standard")
	dir := t.TempDir()
	s := &Scanner{Dialer: opensshDialer{config: tb.run + "/ssh_config"}, Content: realContent(t), Profile: std, Timeout: 2 * time.Minute, RunDir: dir}
	r := s.Host(context.Background(), tb.hosts[0])
	if !r.Status.Ran() {
		t.Fatalf("%s: %s: %s", r.Host, r.Status, r.Error)
	}
	t.Logf("%s: %s score %.2f failed %+v counts %v in %s", r.Host, r.Status, r.Result.Score, r.Result.Failed, r.Result.Counts, r.Duration)
	if got := arfScore(t, dir+"/"+r.Files.ARF); got != r.Result.Score {
		t.Errorf("reported score %v, ARF says %v", r.Result.Score, got)
	}
}

// hardenOne hardens one host with the profile as user and checks what every harden must show:
// the score rises (unless the host was hardened before), the reported score is the ARF's, and
// the host is reachable through the bastion afterwards.
func hardenOne(t *testing.T, d Dialer, host Host, profile, user string, hardenedBefore bool) HostResult {
	t.Helper()
	p, _ := profiles.Builtin(profile)
	dir := t.TempDir()
	// 15 minutes is a ceiling for VM hosts under TCG (a harden there takes about 4 minutes).
	s := &Scanner{Dialer: d, Content: realContent(t), Profile: p, Remediate: true, Timeout: 15 * time.Minute, RunDir: dir, LoginUser: user}
	r := s.Host(context.Background(), host)
	if !r.Status.Ran() {
		t.Fatalf("%s: %s: %s (notes %q)", r.Host, r.Status, r.Error, r.Notes)
	}
	t.Logf("%s harden %s as %s: score before %.2f (failed %d), remediation fixed %d error %d, after %.2f (failed %d) in %s",
		r.Host, profile, user, r.Before.Score, r.Before.Failed.Total(), r.Remediation.Counts[ResultFixed], r.Remediation.Counts[ResultError],
		r.Result.Score, r.Result.Failed.Total(), r.Duration.Round(time.Millisecond))
	for _, n := range r.Notes {
		t.Logf("%s note: %s", r.Host, n)
	}
	if !hardenedBefore && r.Result.Score <= r.Before.Score {
		t.Errorf("harden did not raise the score: %.2f -> %.2f", r.Before.Score, r.Result.Score)
	}
	if got := arfScore(t, dir+"/"+r.Files.ARF); got != r.Result.Score {
		t.Errorf("reported score %v, ARF says %v", r.Result.Score, got)
	}
	// Still reachable through the bastion after the sshd restart: a fresh connection.
	c, err := d.Dial(context.Background(), host)
	if err != nil {
		t.Fatalf("%s unreachable after harden: %v", host.Name, err)
	}
	c.Close()
	return r
}

func TestIntegrationHardenMasterAsRoot(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 42, 1)
	d := fleetDialer(t, tb, "root")
	r := hardenOne(t, d, tb.hosts[0], "master", "root", false)
	t.Logf("sshd_config tail:\n%s", tb.exec(t, "h01", "tail", "-5", "/etc/ssh/sshd_config"))
	t.Logf("audit rules file:\n%s", tb.exec(t, "h01", "cat", profiles.AuditRulesPath))
	_ = r
}

// pid1 is the host's PID 1 (its sshd) as the machine sees it.
func (tb *testbed) pid1(t testing.TB, host string) string {
	t.Helper()
	b, err := os.ReadFile(tb.run + "/hosts/" + host + "/pid")
	if err != nil {
		t.Fatal(err)
	}
	p := strings.TrimSpace(string(b))
	c, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(c))[0]
}

func TestIntegrationHardenNodeAsSudoUser(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 43, 1)
	d := fleetDialer(t, tb, "hardenctl")
	r := hardenOne(t, d, tb.hosts[0], "node", "hardenctl", false)
	for _, n := range r.Notes {
		if strings.Contains(n, "PermitRootLogin") {
			t.Errorf("the guard touched root login for a sudo user: %s", n)
		}
	}
	// The watcher runs and reacts to a secret mount (mounted from the machine into the host's
	// mount namespace: inside, CAP_SYS_ADMIN is dropped).
	pid := tb.pid1(t, "h01")
	dir := "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~secret/token"
	out, err := exec.Command("nsenter", "-t", pid, "-m", "sh", "-c", "mkdir -p "+shell.Quote(dir)+" && mount -t tmpfs -o size=1m tmpfs "+shell.Quote(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a secret: %v %s", err, out)
	}
	time.Sleep(2 * time.Second)
	exec.Command("nsenter", "-t", pid, "-m", "umount", dir).Run()
	time.Sleep(2 * time.Second)
	log := tb.exec(t, "h01", "cat", profiles.SecretWatchLog)
	t.Logf("watcher log:\n%s", log)
	if !strings.Contains(log, dir) {
		t.Errorf("the watcher did not see %s", dir)
	}
	t.Logf("watcher process: %s", tb.exec(t, "h01", "sh", "-c", "pgrep -af hardenctl-secret-watch || true"))
}

// fleetDialer is the transport the fleet tests use: the SSH layer, through the bastion.
func fleetDialer(t testing.TB, tb *testbed, user string) Dialer {
	t.Helper()
	d, err := remote.NewDialer(context.Background(), remote.Config{
		User: user, IdentityFiles: []string{tb.key}, KnownHostsFile: tb.run + "/known_hosts",
		Bastion: &remote.BastionConfig{Address: tb.bastion, User: "root"}, Sudo: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return remoteDialer{d}
}

func TestIntegrationScan20(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 44, 20)
	std, _ := profiles.Builtin("standard")
	dir := t.TempDir()
	s := &Scanner{Dialer: fleetDialer(t, tb, "root"), Content: realContent(t), Profile: std, Timeout: 5 * time.Minute, RunDir: dir}
	start := time.Now()
	results := s.Fleet(context.Background(), tb.hosts, 20, nil)
	t.Logf("20 hosts at concurrency 20: %s", time.Since(start).Round(time.Millisecond))
	for i, r := range results {
		if r.Host != tb.hosts[i].Name {
			t.Errorf("result %d is %s, want %s", i, r.Host, tb.hosts[i].Name)
		}
		if !r.Status.Ran() {
			t.Errorf("%s: %s: %s", r.Host, r.Status, r.Error)
			continue
		}
		arf := arfScore(t, dir+"/"+r.Files.ARF)
		t.Logf("%s: %s score %.2f (ARF %.2f) failed high %d medium %d low %d, %s", r.Host, r.Status, r.Result.Score, arf,
			r.Result.Failed.High, r.Result.Failed.Medium, r.Result.Failed.Low, r.Duration.Round(time.Millisecond))
		if arf != r.Result.Score {
			t.Errorf("%s: reported %v, ARF %v", r.Host, r.Result.Score, arf)
		}
		if r.Datastream.SHA256 != s.Content[0].SHA256 && r.Datastream.Name == s.Content[0].Name {
			t.Errorf("%s: digest %s", r.Host, r.Datastream.SHA256)
		}
	}
}

func TestIntegrationTimeoutAndFaults(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 45, 5)
	// h01's oscap hangs (as it did once for 20 minutes), h03 has none, h04 has a new host key,
	// h05's sshd is gone. At concurrency 1, h02 is connected and loaded while h01 hangs and
	// waits the whole timeout for the run slot: the wait must not count against its own.
	tb.exec(t, "h01", "sh", "-c", "mv /usr/bin/oscap /usr/bin/oscap.real && printf '#!/bin/sh\\nexec sleep 3600\\n' >/usr/bin/oscap && chmod 755 /usr/bin/oscap")
	if out, err := tb.script("hide-oscap", "h03"); err != nil {
		t.Fatal(err, out)
	}
	if out, err := tb.script("rekey", "h04"); err != nil {
		t.Fatal(err, out)
	}
	if out, err := tb.script("stop-sshd", "h05"); err != nil {
		t.Fatal(err, out)
	}
	std, _ := profiles.Builtin("standard")
	timeout := 40 * time.Second
	s := &Scanner{Dialer: fleetDialer(t, tb, "root"), Content: realContent(t), Profile: std, Timeout: timeout, RunDir: t.TempDir()}
	start := time.Now()
	results := s.Fleet(context.Background(), tb.hosts, 1, nil)
	elapsed := time.Since(start)
	want := []Status{StatusTimeout, StatusNotCompliant, StatusNoOscap, StatusHostKey, StatusUnreachable}
	for i, r := range results {
		t.Logf("%s: %s %q after %s", r.Host, r.Status, r.Error, r.Duration.Round(time.Millisecond))
		if r.Status != want[i] {
			t.Errorf("%s: status %s, want %s", r.Host, r.Status, want[i])
		}
	}
	if elapsed > timeout+15*time.Second {
		t.Errorf("fleet took %s with a %s per-host timeout", elapsed, timeout)
	}
	if results[1].Duration >= timeout {
		t.Errorf("h02's duration %s counts its wait for h01's slot", results[1].Duration)
	}
	// The hung oscap does not outlive the run on the host (the transport kills it, or the
	// remote timeout -s KILL a few seconds after the deadline).
	var left string
	for i := 0; i < 20; i++ {
		left = strings.TrimSpace(tb.exec(t, "h01", "sh", "-c", "pgrep -a sleep || true"))
		if left == "" {
			break
		}
		time.Sleep(time.Second)
	}
	if left != "" {
		t.Errorf("the hung oscap still runs on h01: %s", left)
	}
	t.Logf("h01 clean %s after the run", time.Since(start)-elapsed)
}
