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

	"github.com/hardenctl/hardenctl/profiles"
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

// hardenOne hardens one host with the profile as user and checks what every harden must show.
func hardenOne(t *testing.T, d Dialer, tb *testbed, host Host, profile, user string) HostResult {
	t.Helper()
	p, _ := profiles.Builtin(profile)
	dir := t.TempDir()
	s := &Scanner{Dialer: d, Content: realContent(t), Profile: p, Remediate: true, Timeout: 5 * time.Minute, RunDir: dir, LoginUser: user}
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
	if r.Result.Score <= r.Before.Score {
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

func TestIntegrationOpenSSHHardenMasterAsRoot(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 42, 1)
	d := opensshDialer{config: tb.run + "/ssh_config"}
	r := hardenOne(t, d, tb, tb.hosts[0], "master", "root")
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

func TestIntegrationOpenSSHHardenNodeAsSudoUser(t *testing.T) {
	integration(t)
	tb := startTestbed(t, 43, 1)
	d := opensshDialer{config: tb.run + "/ssh_config", user: "hardenctl"}
	r := hardenOne(t, d, tb, tb.hosts[0], "node", "hardenctl")
	for _, n := range r.Notes {
		if strings.Contains(n, "PermitRootLogin") {
			t.Errorf("the guard touched root login for a sudo user: %s", n)
		}
	}
	// The watcher runs and reacts to a secret mount (mounted from the machine into the host's
	// mount namespace: inside, CAP_SYS_ADMIN is dropped).
	pid := tb.pid1(t, "h01")
	dir := "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~secret/token"
	out, err := exec.Command("nsenter", "-t", pid, "-m", "sh", "-c", "mkdir -p "+shellQuote(dir)+" && mount -t tmpfs -o size=1m tmpfs "+shellQuote(dir)).CombinedOutput()
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
