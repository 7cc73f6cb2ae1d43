package hardening

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is a fleet run as the reports show it. Its JSON form (-json and summary.json in the
// run directory) is stable: fields are only ever added.
type Summary struct {
	RunID   string `json:"run_id"`
	Command string `json:"command"` // scan or harden
	Profile string `json:"profile"`
	// ProfileSource says why hosts were judged by Profile: "from image NAME", "from
	// --profile", "compliance default", "built-in default".
	ProfileSource string        `json:"profile_source,omitempty"`
	MinScore      float64       `json:"min_score"`
	Started       time.Time     `json:"started"`
	Finished      time.Time     `json:"finished"`
	RunDir        string        `json:"run_dir,omitempty"`
	Hosts         []HostSummary `json:"hosts"`
	// Passed is true when every host ran and none scored below MinScore.
	Passed bool `json:"passed"`
}

// HostSummary is one host's line of the summary.
type HostSummary struct {
	Host             string         `json:"host"`
	Address          string         `json:"address"`
	Status           Status         `json:"status"`
	Error            string         `json:"error,omitempty"`
	OS               string         `json:"os,omitempty"`
	Datastream       string         `json:"datastream,omitempty"`
	DatastreamPath   string         `json:"datastream_path,omitempty"`
	DatastreamSHA256 string         `json:"datastream_sha256,omitempty"`
	SCAPProfile      string         `json:"scap_profile,omitempty"`
	Tailoring        string         `json:"tailoring,omitempty"`
	Score            *float64       `json:"score"`
	MaxScore         float64        `json:"max_score,omitempty"`
	ScoringSystem    string         `json:"scoring_system,omitempty"`
	ScoreBefore      *float64       `json:"score_before,omitempty"`
	Failed           SeverityCounts `json:"failed"`
	Counts           map[string]int `json:"counts,omitempty"`
	BelowMinScore    bool           `json:"below_min_score"`
	Files            HostFiles      `json:"files"`
	Notes            []string       `json:"notes,omitempty"`
	DurationSeconds  float64        `json:"duration_seconds"`
	// Drift is set when the host scores below the score its image was published with
	// (schedule run sets it; scan does not know the images' scores).
	Drift *Drift `json:"drift,omitempty"`
}

// Drift is a host scoring below the score its image was published with (the image's
// Glance property hardenctl_score), and the rules its image passed that the host fails.
type Drift struct {
	Image       string   `json:"image"`
	ImageScore  float64  `json:"image_score"`
	RulesFailed []string `json:"rules_failed,omitempty"`
	Note        string   `json:"note,omitempty"` // why RulesFailed is empty
}

func (d *Drift) String() string {
	s := fmt.Sprintf("below image %s's published score %.2f", d.Image, d.ImageScore)
	switch {
	case len(d.RulesFailed) > 0:
		s += "; pass -> fail: " + strings.Join(d.RulesFailed, ", ")
	case d.Note != "":
		s += "; " + d.Note
	}
	return s
}

// NewSummary summarises host results against a minimum score.
func NewSummary(runID, command, profile string, minScore float64, started time.Time, results []HostResult) Summary {
	s := Summary{RunID: runID, Command: command, Profile: profile, MinScore: minScore, Started: started, Finished: time.Now(), Passed: true}
	for _, r := range results {
		h := HostSummary{
			Host: r.Host, Address: r.Address, Status: r.Status, Error: r.Error, OS: r.OS,
			Datastream: r.Datastream.Name, DatastreamPath: r.Datastream.Path, DatastreamSHA256: r.Datastream.SHA256,
			SCAPProfile: r.SCAPProfile, Tailoring: r.Tailoring, Files: r.Files, Notes: r.Notes,
			DurationSeconds: r.Duration.Round(time.Millisecond).Seconds(),
		}
		if r.Result != nil {
			score := r.Result.Score
			h.Score, h.MaxScore, h.ScoringSystem = &score, r.Result.MaxScore, r.Result.ScoringSystem
			h.Failed, h.Counts = r.Result.Failed, r.Result.Counts
			h.BelowMinScore = score < minScore
		}
		if r.Before != nil {
			b := r.Before.Score
			h.ScoreBefore = &b
		}
		if !r.Status.Ran() || h.BelowMinScore {
			s.Passed = false
		}
		s.Hosts = append(s.Hosts, h)
	}
	return s
}

// WriteText writes the fleet table: one line per host (failed rules by severity; LOW also
// counts rules of unknown severity), then a totals line.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "HOST\tSTATUS\tSCORE\tHIGH\tMEDIUM\tLOW\tERROR"
	if s.Command == "harden" {
		header = "HOST\tSTATUS\tBEFORE\tSCORE\tHIGH\tMEDIUM\tLOW\tERROR"
	}
	fmt.Fprintln(tw, header)
	var ran, below, failed, skipped int
	for _, h := range s.Hosts {
		score, hi, med, lo := "-", "-", "-", "-"
		status := string(h.Status)
		if h.Score != nil {
			ran++
			score = strconv.FormatFloat(*h.Score, 'f', 2, 64)
			hi, med, lo = strconv.Itoa(h.Failed.High), strconv.Itoa(h.Failed.Medium), strconv.Itoa(h.Failed.Low+h.Failed.Unknown)
			if h.BelowMinScore {
				below++
				status += " (below " + strconv.FormatFloat(s.MinScore, 'f', -1, 64) + ")"
			}
		} else if h.Status == StatusSkipped {
			skipped++
		} else {
			failed++
		}
		msg := oneLine(h.Error, 100)
		if msg == "" && len(h.Notes) > 0 {
			msg = "note: " + oneLine(strings.Join(h.Notes, "; "), 100)
		}
		if s.Command == "harden" {
			before := "-"
			if h.ScoreBefore != nil {
				before = strconv.FormatFloat(*h.ScoreBefore, 'f', 2, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, status, before, score, hi, med, lo, msg)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, status, score, hi, med, lo, msg)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range s.Hosts {
		if h.Drift != nil && h.Score != nil {
			if _, err := fmt.Fprintf(w, "DRIFT %s: %.2f, %s\n", h.Host, *h.Score, h.Drift); err != nil {
				return err
			}
		}
	}
	verdict := "PASSED"
	if !s.Passed {
		verdict = "FAILED"
	}
	halted := ""
	if skipped > 0 {
		halted = fmt.Sprintf(", %d skipped (the run was halted before them)", skipped)
	}
	_, err := fmt.Fprintf(w, "\n%d hosts: %d scanned, %d below min score %g, %d without result%s. %s\n",
		len(s.Hosts), ran, below, s.MinScore, failed, halted, verdict)
	if s.Profile != "" && err == nil {
		src := ""
		if s.ProfileSource != "" {
			src = " (" + s.ProfileSource + ")"
		}
		_, err = fmt.Fprintf(w, "Profile: %s%s, min score %g\n", s.Profile, src, s.MinScore)
	}
	if s.RunDir != "" && err == nil {
		_, err = fmt.Fprintf(w, "Reports: %s\n", s.RunDir)
	}
	return err
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteFile writes summary.json into the run directory.
func (s Summary) WriteFile(dir string) error {
	f, err := os.Create(filepath.Join(dir, "summary.json"))
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := s.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("write summary: %w", err)
	}
	return f.Close()
}

// NewRunID names a run by its start time (UTC, sortable).
func NewRunID(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}
