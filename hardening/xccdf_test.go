package hardening

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	nsXCCDF12 = "http://checklists.nist.gov/xccdf/1.2"
	nsARF     = "http://scap.nist.gov/schema/asset-reporting-format/1.1"
)

func TestParseResultFixtures(t *testing.T) {
	wantRules := []RuleResult{
		{IDRef: "xccdf_org.hardenctl_rule_passwd_exists", Result: "pass", Severity: "high", Weight: 10},
		{IDRef: "xccdf_org.hardenctl_rule_no_marker_high", Result: "fail", Severity: "high", Weight: 1},
		{IDRef: "xccdf_org.hardenctl_rule_marker_medium", Result: "fail", Severity: "medium", Weight: 1},
		{IDRef: "xccdf_org.hardenctl_rule_marker_low", Result: "fail", Severity: "low", Weight: 0.5},
		{IDRef: "xccdf_org.hardenctl_rule_unknown_sev", Result: "notchecked", Severity: "unknown", Weight: 1},
	}
	for _, file := range []string{"mini-results.xml", "mini-arf.xml"} {
		t.Run(file, func(t *testing.T) {
			res, err := ParseResultFile("testdata/xccdf/" + file)
			if err != nil {
				t.Fatal(err)
			}
			if res.Profile != "xccdf_org.hardenctl_profile_mini" || res.Target != "vm" ||
				res.Benchmark != "xccdf_org.hardenctl_benchmark_mini" {
				t.Errorf("profile/target/benchmark = %q %q %q", res.Profile, res.Target, res.Benchmark)
			}
			if res.Score != 80 || res.MaxScore != 100 || res.ScoringSystem != "urn:xccdf:scoring:default" {
				t.Errorf("score = %v/%v %s", res.Score, res.MaxScore, res.ScoringSystem)
			}
			wantStart := time.Date(2026, 11, 26, 0, 13, 48, 0, time.UTC)
			if !res.Start.Equal(wantStart) || !res.End.Equal(wantStart) {
				t.Errorf("times = %v %v", res.Start, res.End)
			}
			if d := cmp.Diff(wantRules, res.Rules); d != "" {
				t.Errorf("rules (-want +got):\n%s", d)
			}
			wantCounts := map[string]int{"pass": 1, "fail": 3, "notchecked": 1, "notselected": 1}
			if d := cmp.Diff(wantCounts, res.Counts); d != "" {
				t.Errorf("counts (-want +got):\n%s", d)
			}
			if d := cmp.Diff(SeverityCounts{High: 1, Medium: 1, Low: 1}, res.Failed); d != "" {
				t.Errorf("failed (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseResultRemediated(t *testing.T) {
	res, err := ParseResultFile("testdata/xccdf/mini-remediate-arf.xml")
	if err != nil {
		t.Fatal(err)
	}
	if res.Score != 88 || res.Counts[ResultFixed] != 1 || res.Failed != (SeverityCounts{Medium: 1, Low: 1}) {
		t.Errorf("score %v counts %v failed %+v", res.Score, res.Counts, res.Failed)
	}
}

func TestParseResultErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"no TestResult":   `<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2"><Rule id="r"/></Benchmark>`,
		"truncated":       `<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2"><TestResult id="x"><rule-result idref="a">`,
		"bad score":       `<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="x"><score>abc</score></TestResult>`,
		"no score":        `<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="x"></TestResult>`,
		"no result value": `<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="x"><rule-result idref="a"></rule-result><score>1</score></TestResult>`,
		"not XML":         `oscap: error`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseResult(strings.NewReader(doc)); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := ParseResult(strings.NewReader(`<a/>`)); !errors.Is(err, ErrNoTestResult) {
		t.Errorf("err = %v, want ErrNoTestResult", err)
	}
}

// A TestResult in a report request (the source datastream inside an ARF) is never taken for
// the result; only arf:reports count.
func TestParseResultSkipsReportRequests(t *testing.T) {
	doc := `<arf:asset-report-collection xmlns:arf="` + nsARF + `">
<arf:report-requests><arf:report-request><arf:content>
  <TestResult xmlns="` + nsXCCDF12 + `" id="wrong"><score>1</score></TestResult>
</arf:content></arf:report-request></arf:report-requests>
<arf:reports><arf:report id="xccdf1"><arf:content>
  <TestResult xmlns="` + nsXCCDF12 + `" id="right"><score maximum="10">7.5</score></TestResult>
</arf:content></arf:report></arf:reports></arf:asset-report-collection>`
	res, err := ParseResult(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "right" || res.Score != 7.5 || res.MaxScore != 10 {
		t.Errorf("got %+v", res)
	}
}

// BenchmarkParseResultLargeARF builds a 7 MB ARF (a large OVAL results report before the
// TestResult, as oscap writes them) and parses it.
func BenchmarkParseResultLargeARF(b *testing.B) {
	arf, err := os.ReadFile("testdata/xccdf/mini-arf.xml")
	if err != nil {
		b.Fatal(err)
	}
	i := bytes.Index(arf, []byte("<arf:report id=\"xccdf1\">"))
	var pad bytes.Buffer
	pad.WriteString(`<arf:report id="oval9"><arf:content><oval_results xmlns="http://oval.mitre.org/XMLSchema/oval-results-5">`)
	for pad.Len() < 7<<20 {
		pad.WriteString(`<definition definition_id="oval:x:def:1" result="true" version="1"><criteria operator="AND" result="true"><criterion test_ref="oval:x:tst:1" version="1" result="true"/></criteria></definition>`)
	}
	pad.WriteString(`</oval_results></arf:content></arf:report>`)
	doc := append(append(append([]byte{}, arf[:i]...), pad.Bytes()...), arf[i:]...)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResult(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseResultSelfClosingSkippable(t *testing.T) {
	doc := `<Benchmark xmlns="` + nsXCCDF12 + `"><Profile id="p"/><Rule id="a"/><Group id="g"><Rule id="b"><title>x</title></Rule><Group id="h"/></Group>
<TestResult id="t"><profile idref="p"/><rule-result idref="a" severity="high"><result>fail</result></rule-result><score>50</score></TestResult></Benchmark>`
	res, err := ParseResult(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "t" || res.Profile != "p" || res.Failed.High != 1 || res.Score != 50 || res.MaxScore != 100 {
		t.Errorf("got %+v", res)
	}
	if _, err := ParseResult(strings.NewReader(`<arf:x xmlns:arf="a"><arf:report-requests>never closed`)); err == nil {
		t.Error("unterminated skipped element: no error")
	}
}

// BenchmarkParseResultFile parses a real oscap output file named by HARDENCTL_BENCH_RESULT
// (e.g. an ARF of the ssg-debian12 standard profile, 14 MB).
func BenchmarkParseResultFile(b *testing.B) {
	path := os.Getenv("HARDENCTL_BENCH_RESULT")
	if path == "" {
		b.Skip("HARDENCTL_BENCH_RESULT not set")
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		if _, err := ParseResultFile(path); err != nil {
			b.Fatal(err)
		}
	}
}
