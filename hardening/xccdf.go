package hardening

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Rule result values as XCCDF spells them.
const (
	ResultPass          = "pass"
	ResultFail          = "fail"
	ResultError         = "error"
	ResultUnknown       = "unknown"
	ResultNotApplicable = "notapplicable"
	ResultNotChecked    = "notchecked"
	ResultNotSelected   = "notselected"
	ResultInformational = "informational"
	ResultFixed         = "fixed"
)

// ErrNoTestResult is returned when a document holds no XCCDF TestResult.
var ErrNoTestResult = errors.New("no XCCDF TestResult found")

// Result is one XCCDF TestResult: what oscap found on one host in one evaluation.
type Result struct {
	ID        string    `json:"id"`
	Benchmark string    `json:"benchmark,omitempty"`
	Profile   string    `json:"profile"`
	Start     time.Time `json:"start_time"`
	End       time.Time `json:"end_time"`
	Target    string    `json:"target"`
	// Score is the first score element (oscap writes urn:xccdf:scoring:default unless told
	// otherwise); Scores holds every one.
	Score         float64 `json:"score"`
	ScoringSystem string  `json:"scoring_system"`
	MaxScore      float64 `json:"max_score"`
	Scores        []Score `json:"scores,omitempty"`
	// Rules are the selected rules' results in document order (notselected ones are skipped).
	Rules []RuleResult `json:"rules,omitempty"`
	// Counts is the number of rule results per result value, notselected included.
	Counts map[string]int `json:"counts"`
	// Failed counts the rules whose result is fail, by severity.
	Failed SeverityCounts `json:"failed"`
}

// Score is one XCCDF score element.
type Score struct {
	System  string  `json:"system"`
	Value   float64 `json:"value"`
	Maximum float64 `json:"maximum"`
}

// RuleResult is one rule-result of a TestResult.
type RuleResult struct {
	IDRef    string  `json:"idref"`
	Result   string  `json:"result"`
	Severity string  `json:"severity"`
	Weight   float64 `json:"weight"`
}

// SeverityCounts counts rules by XCCDF severity (info counts as low; anything else as unknown).
type SeverityCounts struct {
	High    int `json:"high"`
	Medium  int `json:"medium"`
	Low     int `json:"low"`
	Unknown int `json:"unknown"`
}

// Total is the sum over all severities.
func (s SeverityCounts) Total() int { return s.High + s.Medium + s.Low + s.Unknown }

func (s *SeverityCounts) add(severity string) {
	switch severity {
	case "high":
		s.High++
	case "medium":
		s.Medium++
	case "low", "info":
		s.Low++
	default:
		s.Unknown++
	}
}

// ParseResultFile parses the first XCCDF TestResult of an XCCDF results file or an ARF.
func ParseResultFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := ParseResult(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return res, nil
}

// ParseResult reads the first XCCDF TestResult from r, which holds an XCCDF results document
// (oscap --results), an ARF (oscap --results-arf, where the TestResult sits in
// arf:reports/arf:report/arf:content) or a bare TestResult. It streams with raw tokens (no
// namespace translation, which is most of encoding/xml's cost), and the subtrees that cannot
// hold the result (the ARF's report requests with the source datastream, OVAL results, the
// benchmark's rules) are skipped by searching the bytes for their end tag, not tokenized; it
// stops after the TestResult. Elements are matched by local name: TestResult is unique to XCCDF
// among the SCAP formats oscap writes.
func ParseResult(r io.Reader) (*Result, error) {
	sr := &skipReader{br: bufio.NewReaderSize(r, 64<<10)}
	d := xml.NewDecoder(sr)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil, ErrNoTestResult
		}
		if err != nil {
			return nil, fmt.Errorf("read XML: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "TestResult" {
			return decodeTestResult(d, se)
		}
		if !skippable(se.Name.Local) || sr.selfClosing() {
			continue
		}
		name := se.Name.Local
		if se.Name.Space != "" {
			name = se.Name.Space + ":" + name
		}
		if err := sr.skipPast("</" + name + ">"); err != nil {
			return nil, fmt.Errorf("read XML: skip %s: %w", name, err)
		}
	}
}

// skippable names elements that never contain the TestResult and never nest in themselves, so
// the first end tag with their name closes them.
func skippable(local string) bool {
	switch local {
	case "report-requests", "extended-infos", // ARF
		"Rule", "Value", "Profile", "platform-specification", // XCCDF
		"oval_results", "oval_definitions", "system_characteristics", // OVAL
		"assets": // asset identification
		return true
	}
	return false
}

// skipReader feeds the XML decoder byte by byte (a Decoder reading from an io.ByteReader does
// not buffer ahead), so the parser can jump over a subtree in the underlying buffer.
type skipReader struct {
	br   *bufio.Reader
	last [2]byte
}

func (s *skipReader) Read(p []byte) (int, error) { return s.br.Read(p) }

func (s *skipReader) ReadByte() (byte, error) {
	b, err := s.br.ReadByte()
	if err == nil {
		s.last[0], s.last[1] = s.last[1], b
	}
	return b, err
}

// selfClosing reports whether the start tag just read ended with "/>".
func (s *skipReader) selfClosing() bool { return s.last == [2]byte{'/', '>'} }

// skipPast discards input up to and including the first occurrence of end.
func (s *skipReader) skipPast(end string) error {
	pat := []byte(end)
	for {
		if _, err := s.br.Peek(1); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		if i := bytes.Index(buf, pat); i >= 0 {
			_, err := s.br.Discard(i + len(pat))
			s.last = [2]byte{pat[len(pat)-2], '>'}
			return err
		}
		keep := len(pat) - 1
		if len(buf) <= keep {
			// Too little buffered to hold the pattern: ask for more.
			if _, err := s.br.Peek(len(buf) + 1); err != nil {
				if err == io.EOF || err == bufio.ErrBufferFull {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			continue
		}
		if _, err := s.br.Discard(len(buf) - keep); err != nil {
			return err
		}
	}
}

// skip consumes raw tokens up to the end of the element whose start was just read.
func skip(d *xml.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := d.RawToken()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// decodeTestResult walks the TestResult's children token by token (target-facts and check
// details are skipped, not decoded).
func decodeTestResult(d *xml.Decoder, start xml.StartElement) (*Result, error) {
	res := &Result{Counts: map[string]int{}}
	var err error
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "id":
			res.ID = a.Value
		case "start-time":
			if res.Start, err = parseXCCDFTime(a.Value); err != nil {
				return nil, fmt.Errorf("TestResult start-time: %w", err)
			}
		case "end-time":
			if res.End, err = parseXCCDFTime(a.Value); err != nil {
				return nil, fmt.Errorf("TestResult end-time: %w", err)
			}
		}
	}
	for {
		tok, err := d.RawToken()
		if err != nil {
			return nil, fmt.Errorf("read TestResult: %w", err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Local == start.Name.Local {
				if len(res.Scores) == 0 {
					return nil, fmt.Errorf("TestResult %s has no score", res.ID)
				}
				return res, nil
			}
		case xml.StartElement:
			if err := res.child(d, t); err != nil {
				return nil, err
			}
		}
	}
}

func (res *Result) child(d *xml.Decoder, se xml.StartElement) error {
	switch se.Name.Local {
	case "benchmark":
		res.Benchmark = attr(se, "id")
		return skip(d)
	case "profile":
		res.Profile = attr(se, "idref")
		return skip(d)
	case "target":
		s, err := text(d)
		res.Target = s
		return err
	case "score":
		s, err := text(d)
		if err != nil {
			return err
		}
		sc := Score{System: attr(se, "system"), Maximum: 100}
		if sc.System == "" {
			sc.System = "urn:xccdf:scoring:default"
		}
		if sc.Value, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return fmt.Errorf("score %q: %w", s, err)
		}
		if m := attr(se, "maximum"); m != "" {
			if sc.Maximum, err = strconv.ParseFloat(m, 64); err != nil {
				return fmt.Errorf("score maximum %q: %w", m, err)
			}
		}
		if len(res.Scores) == 0 {
			res.Score, res.ScoringSystem, res.MaxScore = sc.Value, sc.System, sc.Maximum
		}
		res.Scores = append(res.Scores, sc)
		return nil
	case "rule-result":
		rr := RuleResult{IDRef: attr(se, "idref"), Severity: attr(se, "severity"), Weight: 1}
		if rr.Severity == "" {
			rr.Severity = "unknown"
		}
		if w := attr(se, "weight"); w != "" {
			var err error
			if rr.Weight, err = strconv.ParseFloat(w, 64); err != nil {
				return fmt.Errorf("rule-result %s weight %q: %w", rr.IDRef, w, err)
			}
		}
		if err := rr.decodeChildren(d); err != nil {
			return fmt.Errorf("rule-result %s: %w", rr.IDRef, err)
		}
		res.Counts[rr.Result]++
		if rr.Result == ResultNotSelected {
			return nil
		}
		if rr.Result == ResultFail {
			res.Failed.add(rr.Severity)
		}
		res.Rules = append(res.Rules, rr)
		return nil
	default:
		return skip(d)
	}
}

func (rr *RuleResult) decodeChildren(d *xml.Decoder) error {
	for {
		tok, err := d.RawToken()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if rr.Result == "" {
				return errors.New("no result element")
			}
			return nil
		case xml.StartElement:
			if t.Name.Local == "result" {
				s, err := text(d)
				if err != nil {
					return err
				}
				rr.Result = strings.TrimSpace(s)
				continue
			}
			if err := skip(d); err != nil {
				return err
			}
		}
	}
}

// text reads character data up to the end of the current element.
func text(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.RawToken()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			if err := skip(d); err != nil {
				return "", err
			}
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

func attr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func parseXCCDFTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}
