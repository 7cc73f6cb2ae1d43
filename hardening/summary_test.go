package hardening

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/<TestName>.golden)")

// summary.json is stable for machines: fields are only ever added. Fixed host results (a
// harden that passed, one below the minimum, an unreachable host, one skipped after a Halt)
// with the clock pinned.
func TestSummaryJSON(t *testing.T) {
	start := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	ds := Datastream{Name: "ssg-debian12-ds.xml", Path: "/srv/content/ssg-debian12-ds.xml", SHA256: "14189cd3ed92ca8e06e74484baa6c065b484803a6c3db331527fa828b614d546"}
	result := func(score float64, high, medium int) *Result {
		return &Result{Score: score, MaxScore: 100, ScoringSystem: "urn:xccdf:scoring:default",
			Counts: map[string]int{"pass": 180, "fail": high + medium, "notapplicable": 12}, Failed: SeverityCounts{High: high, Medium: medium}}
	}
	files := func(h string) HostFiles {
		return HostFiles{ARF: h + "/arf.xml", Report: h + "/report.html", Before: h + "/before-arf.xml", Remedy: h + "/remediation-arf.xml"}
	}
	results := []HostResult{
		{Host: "sample-app-01", Address: "10.252.0.11", Status: StatusNotCompliant, OS: "debian12", Datastream: ds,
			SCAPProfile: "xccdf_org.ssgproject.content_profile_standard", OscapExit: 2, Result: result(91.25, 0, 3), Before: result(62.5, 4, 20),
			Files: files("sample-app-01"), Notes: []string{"auditd rules reloaded"}, Started: start, Duration: 95400 * time.Millisecond},
		{Host: "sample-app-02", Address: "10.252.0.12", Status: StatusNotCompliant, OS: "debian12", Datastream: ds,
			SCAPProfile: "xccdf_org.ssgproject.content_profile_standard", OscapExit: 2, Result: result(71, 2, 9), Before: result(60, 5, 21),
			Files: files("sample-app-02"), Started: start, Duration: 101200 * time.Millisecond},
		{Host: "sample-app-03", Address: "10.252.0.13", Status: StatusUnreachable, Error: "connect: dial tcp 10.252.0.13:22: i/o timeout",
			Started: start, Duration: 20 * time.Second},
		{Host: "sample-app-04", Address: "10.252.0.14", Status: StatusSkipped, Notes: []string{"not started: the run was halted"}},
	}
	sum := NewSummary("20261201T230000Z", "harden", "node", 80, start, results)
	sum.Finished = start.Add(3 * time.Minute)
	sum.RunDir = "reports/20261201T230000Z"
	dir := t.TempDir()
	if err := sum.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("summary.json differs from %s (go test -run %s -update rewrites it):\n got:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// A host skipped because a hook halted the run is no failure of the host: the text counts it
// as skipped, JUnit marks its oscap case skipped, not errored; the run still does not pass.
func TestSkippedHostIsNoFailure(t *testing.T) {
	score := &Result{Score: 90, MaxScore: 100}
	results := []HostResult{
		{Host: "a", Status: StatusCompliant, Result: score},
		{Host: "b", Status: StatusSkipped},
	}
	sum := NewSummary("r", "scan", "node", 80, time.Now(), results)
	var text, junit bytes.Buffer
	if err := sum.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(text.Bytes(), []byte("2 hosts: 1 scanned, 0 below min score 80, 0 without result, 1 skipped (the run was halted before them). FAILED")) {
		t.Errorf("text:\n%s", text.String())
	}
	if err := WriteJUnit(&junit, sum, results); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(junit.Bytes(), []byte(`errors="1"`)) || !bytes.Contains(junit.Bytes(), []byte("<skipped message=\"skipped: the run was halted before this host\"")) {
		t.Errorf("junit:\n%s", junit.String())
	}
}

// A host below its image's published score is flagged in the text, JSON and JUnit reports,
// naming the rules its image passed that it fails.
func TestDriftInReports(t *testing.T) {
	results := []HostResult{
		{Host: "a", Status: StatusCompliant, Result: &Result{Score: 90, MaxScore: 100}},
		{Host: "b", Status: StatusCompliant, Result: &Result{Score: 85, MaxScore: 100}},
	}
	sum := NewSummary("r", "scan", "node", 80, time.Now(), results)
	sum.Hosts[1].Drift = &Drift{Image: "node (img-1)", ImageScore: 91.5, RulesFailed: []string{"sshd_disable_root_login"}}
	var text, js, junit bytes.Buffer
	if err := sum.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := sum.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(&junit, sum, results); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(text.Bytes(), []byte("DRIFT b: 85.00, below image node (img-1)'s published score 91.50; pass -> fail: sshd_disable_root_login")) {
		t.Errorf("text:\n%s", text.String())
	}
	if !bytes.Contains(js.Bytes(), []byte(`"rules_failed": [`)) || bytes.Count(js.Bytes(), []byte(`"drift"`)) != 1 {
		t.Errorf("json:\n%s", js.String())
	}
	if !bytes.Contains(junit.Bytes(), []byte(`<testcase name="drift" classname="hardenctl.b">`)) || !bytes.Contains(junit.Bytes(), []byte(`type="drift"`)) {
		t.Errorf("junit:\n%s", junit.String())
	}
}
