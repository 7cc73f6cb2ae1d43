package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/hardening"
)

// TestScanCLIThroughBastion runs `hardenctl scan` against namespace test hosts (hosts.sh
// instance 46): the summary, summary.json, JUnit XML and the exit codes of the gate.
func TestScanCLIThroughBastion(t *testing.T) {
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("set HARDENCTL_INTEGRATION=1 (make test does) to run against the test bed")
	}
	th := os.Getenv("TESTHOSTS")
	if th == "" {
		th = "/tmp/hardenctl-testhosts"
	}
	if _, err := os.Stat(th + "/content/ssg-debian12-ds.xml"); err != nil {
		t.Skipf("no test hosts content: %v", err)
	}
	script, _ := filepath.Abs("../../scripts/testhosts/hosts.sh")
	hostsSh := func(args ...string) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "HC_INSTANCE=46", "TESTHOSTS="+th)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hosts.sh %v: %v\n%s", args, err, out)
		}
	}
	hostsSh("up", "3")
	t.Cleanup(func() { hostsSh("down") })
	run := th + "/run-46"
	hostsSh("hide-oscap", "h03")

	args := []string{"scan", "--bastion", "root@10.251.46.2", "--user", "hardenctl", "-i", th + "/keys/id_ed25519",
		"--known-hosts", run + "/known_hosts", "--content-dir", th + "/content", "--concurrency", "3"}
	f, err := os.Open(run + "/hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, addr, _ := strings.Cut(sc.Text(), " ")
		args = append(args, "--host", name+"="+addr)
	}
	f.Close()
	reports := t.TempDir()
	junit := filepath.Join(reports, "junit.xml")

	res := runCLI(t, "", nil, append(args, "--report-dir", reports, "--junit", junit, "--min-score", "20")...)
	t.Logf("stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	if res.code != exitHostFailed || !strings.Contains(res.stdout, "oscap is not installed on h03") {
		t.Fatalf("exit %d, want %d (h03 has no oscap)", res.code, exitHostFailed)
	}
	b, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(b), `<testsuite name="h01"`) || !strings.Contains(string(b), "xccdf_org.ssgproject.content_rule_") {
		t.Errorf("junit: %v\n%.500s", err, b)
	}

	// Without h03: every host scanned, the gate decides.
	args = args[:len(args)-2]
	for _, tc := range []struct {
		min  string
		code int
	}{{"20", 0}, {"50", exitBelowMinScore}} {
		res := runCLI(t, "", nil, append(args, "--report-dir", reports, "--min-score", tc.min, "--json")...)
		if res.code != tc.code {
			t.Errorf("--min-score %s: exit %d, want %d\n%s", tc.min, res.code, tc.code, res.stderr)
		}
		var sum hardening.Summary
		if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
			t.Fatalf("-json: %v", err)
		}
		for _, h := range sum.Hosts {
			if h.Score == nil || h.DatastreamSHA256 == "" || h.SCAPProfile != "xccdf_org.ssgproject.content_profile_standard" {
				t.Errorf("%s: %+v", h.Host, h)
				continue
			}
			if _, err := os.Stat(filepath.Join(sum.RunDir, h.Files.ARF)); err != nil {
				t.Error(err)
			}
			t.Logf("--min-score %s: %s score %.2f below=%v", tc.min, h.Host, *h.Score, h.BelowMinScore)
		}
		if _, err := os.Stat(filepath.Join(sum.RunDir, "summary.json")); err != nil {
			t.Error(err)
		}
	}
}
