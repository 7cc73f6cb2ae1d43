package hardening

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// JUnit XML as CI systems read it (the Jenkins/Ant schema): one testsuite per host, one
// testcase per selected rule (failure for fail, error for error, skipped for notapplicable,
// notchecked and informational), plus a testcase "oscap" per host that fails when the host
// could not be scanned, one "min_score" that fails when the score is below the gate, and one
// "drift" that fails when the host scores below its image's published score (schedule run).

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the results as JUnit XML.
func WriteJUnit(w io.Writer, s Summary, results []HostResult) error {
	doc := junitSuites{Name: "hardenctl " + s.Command + " " + s.Profile}
	for i, r := range results {
		suite := junitSuite{Name: r.Host, Hostname: r.Address, Time: strconv.FormatFloat(r.Duration.Seconds(), 'f', 3, 64)}
		if !r.Started.IsZero() {
			suite.Timestamp = r.Started.UTC().Format(time.RFC3339)
		}
		cls := "hardenctl." + HostDirName(r.Host)
		run := junitCase{Name: "oscap", Classname: cls}
		switch {
		case r.Status == StatusSkipped: // not started: the run was halted, no failure of the host
			run.Skipped = &junitMessage{Message: "skipped: the run was halted before this host"}
		case !r.Status.Ran():
			run.Error = &junitMessage{Message: string(r.Status), Type: string(r.Status), Text: r.Error}
		}
		suite.Cases = append(suite.Cases, run)
		if r.Result != nil {
			suite.Properties = []junitProperty{
				{"scap_profile", r.SCAPProfile}, {"datastream", r.Datastream.Name}, {"datastream_sha256", r.Datastream.SHA256},
				{"score", strconv.FormatFloat(r.Result.Score, 'f', 2, 64)}, {"scoring_system", r.Result.ScoringSystem},
			}
			gate := junitCase{Name: "min_score", Classname: cls}
			if i < len(s.Hosts) && s.Hosts[i].BelowMinScore {
				gate.Failure = &junitMessage{Message: fmt.Sprintf("score %.2f is below %g", r.Result.Score, s.MinScore), Type: "min_score"}
			}
			suite.Cases = append(suite.Cases, gate)
			if i < len(s.Hosts) && s.Hosts[i].Drift != nil {
				suite.Cases = append(suite.Cases, junitCase{Name: "drift", Classname: cls, Failure: &junitMessage{
					Message: fmt.Sprintf("score %.2f is %s", r.Result.Score, s.Hosts[i].Drift), Type: "drift",
					Text: strings.Join(s.Hosts[i].Drift.RulesFailed, "\n")}})
			}
			for _, rr := range r.Result.Rules {
				c := junitCase{Name: rr.IDRef, Classname: cls}
				msg := rr.Result + " (severity " + rr.Severity + ")"
				switch rr.Result {
				case ResultFail:
					c.Failure = &junitMessage{Message: msg, Type: rr.Severity}
				case ResultError, ResultUnknown:
					c.Error = &junitMessage{Message: msg, Type: rr.Result}
				case ResultNotApplicable, ResultNotChecked, ResultInformational:
					c.Skipped = &junitMessage{Message: rr.Result}
				}
				suite.Cases = append(suite.Cases, c)
			}
		}
		for _, c := range suite.Cases {
			suite.Tests++
			switch {
			case c.Failure != nil:
				suite.Failures++
			case c.Error != nil:
				suite.Errors++
			case c.Skipped != nil:
				suite.Skipped++
			}
		}
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Suites = append(doc.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
