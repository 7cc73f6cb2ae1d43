package schedule

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
)

// RecordFormatVersion is the format_version of the records this hardenctl writes. A record of
// another version is refused, not misread.
const RecordFormatVersion = 1

// Triggers: what started a run.
const (
	TriggerTimer  = "timer"  // `schedule run NAME --if-due`, from the systemd timer or the CronJob
	TriggerManual = "manual" // `schedule run NAME --now`
)

// Results of a run. A record is put with ResultRunning when the run starts and put again
// with its result when it ends: a record still "running" whose process is gone is a run to
// resume (its slot's images were built already).
const (
	ResultRunning       = "running"
	ResultSucceeded     = "succeeded"
	ResultNotDue        = "not-due"
	ResultSkippedLocked = "skipped-locked" // another holder had the configuration's cloud lock
	ResultFailed        = "failed"         // an image failed its gate, a rollout failed or rolled back
	ResultAborted       = "aborted"        // stopped from outside (upgrade --abort, a signal)
)

// Gate results of an image build.
const (
	GatePassed  = "passed"
	GateFailed  = "failed"  // below min_score: nothing published, the fleets stay on their image
	GateSkipped = "skipped" // not built (an earlier failure, or resumed with the image built already)
)

// Record is what one run did, as a compliance auditor reads it: the slot, who ran it where,
// with which hardenctl, configuration and content, and per image, fleet and scanned fleet
// what came of it. Its JSON form is stable (field names, RFC 3339 UTC times); new fields are
// only ever added.
type Record struct {
	FormatVersion int    `json:"format_version"`
	ID            string `json:"id"` // NewID: sorts by start time
	Config        string `json:"config"`
	Schedule      string `json:"schedule"`
	Trigger       string `json:"trigger"` // TriggerTimer or TriggerManual
	// Due is the slot the run is for (Slots); zero for a manual run outside the slots.
	Due time.Time `json:"due,omitzero"`
	// Missed counts the slots before Due that never ran: this one run caught them up.
	Missed  int       `json:"missed,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"` // zero while running
	Who     Who       `json:"who"`
	Host    string    `json:"host"` // where hardenctl ran (os.Hostname; the pod's name in a CronJob)
	Version string    `json:"hardenctl_version"`
	// ConfigDigest is the digest of the configuration's files ("sha256:..."); Datastreams the
	// SCAP content the builds and scans used.
	ConfigDigest string         `json:"config_digest"`
	Datastreams  []Digest       `json:"datastreams,omitempty"`
	Images       []ImageResult  `json:"images,omitempty"`
	Fleets       []FleetResult  `json:"fleets,omitempty"`
	Scans        []ScanResult   `json:"scans,omitempty"`
	Result       string         `json:"result"`
	Error        string         `json:"error,omitempty"`
	Drift        []DriftFinding `json:"drift,omitempty"` // servers below their image's published score
}

// Who ran it: the Keystone user and project of the token.
type Who struct {
	User      string `json:"user"`
	UserID    string `json:"user_id,omitempty"`
	Project   string `json:"project"`
	ProjectID string `json:"project_id,omitempty"`
}

// Digest names a file and its content's digest ("sha256:...").
type Digest struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// ImageResult is one image build of a run.
type ImageResult struct {
	Name        string   `json:"name"`
	ID          string   `json:"id,omitempty"` // the Glance image published; empty when none
	Score       *float64 `json:"score,omitempty"`
	MinScore    *float64 `json:"min_score,omitempty"`
	Gate        string   `json:"gate"`                   // GatePassed, GateFailed or GateSkipped
	FailedRules []string `json:"failed_rules,omitempty"` // the rules that failed, when the gate did
	// PassedRules are the rules the published image passed on its builder: drift is
	// measured against them (the rules a server fails that its image passed).
	PassedRules []string `json:"passed_rules,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// FleetResult is one fleet's rollout onto a new image.
type FleetResult struct {
	Name            string `json:"name"`
	RolloutID       string `json:"rollout_id,omitempty"`
	FromImage       string `json:"from_image,omitempty"`
	ToImage         string `json:"to_image,omitempty"`
	Rebuilt         int    `json:"rebuilt"`
	Failed          int    `json:"failed"`
	RolledBack      int    `json:"rolled_back"`
	PeakUnavailable int    `json:"peak_unavailable"`
	MaxUnavailable  int    `json:"max_unavailable"` // the budget it kept to
	Result          string `json:"result"`
	Error           string `json:"error,omitempty"`
}

// ScanResult is one scanned fleet: each server's score, so that the trend shows across runs.
type ScanResult struct {
	Fleet string      `json:"fleet"`
	Hosts []HostScore `json:"hosts"`
}

// HostScore is one server's scan.
type HostScore struct {
	Server string   `json:"server"`
	Score  *float64 `json:"score,omitempty"`
	Status string   `json:"status"` // the scanner's: passed, below-minimum, unreachable, ...
}

// DriftFinding is a server scoring below the score its image was published with, and the
// rules that went from pass to fail.
type DriftFinding struct {
	Server      string   `json:"server"`
	Image       string   `json:"image"`                // the image id the server runs
	ImageName   string   `json:"image_name,omitempty"` // its Glance name
	ImageScore  float64  `json:"image_score"`          // its Glance property hardenctl_score
	Score       float64  `json:"score"`
	RulesFailed []string `json:"rules_failed,omitempty"` // passed on the image's builder, failed on the server
	// Note says why RulesFailed is empty when the image's passing rules are unknown.
	Note string `json:"note,omitempty"`
}

// Done says whether the record closes its slot: the run ended, whatever its result, except
// not-due and skipped-locked (which ran nothing).
func (r *Record) Done() bool {
	switch r.Result {
	case ResultSucceeded, ResultFailed, ResultAborted:
		return true
	}
	return false
}

var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)

// NewID is a record id: the start time (UTC, to the second) and 8 random hex digits, so that
// ids sort as the runs started and two schedulers never make the same one.
func NewID(started time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return started.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ValidID says whether id has NewID's form (and so is safe in a file or object name).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// EncodeRecord is the stable JSON form of r (indented, one trailing newline).
func EncodeRecord(r Record) ([]byte, error) {
	if r.FormatVersion == 0 {
		r.FormatVersion = RecordFormatVersion
	}
	if !ValidID(r.ID) {
		return nil, fmt.Errorf("record id %q is not of the form NewID makes", r.ID)
	}
	r.Due, r.Started, r.Ended = utc(r.Due), utc(r.Started), utc(r.Ended)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", r.ID, err)
	}
	return append(b, '\n'), nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// ErrRecordFormat is wrapped by DecodeRecord's error for a record of another format version.
var ErrRecordFormat = errors.New("record of another format version")

// DecodeRecord reads a record EncodeRecord wrote. Unknown fields are refused within this
// format version (a newer hardenctl that adds fields raises it).
func DecodeRecord(b []byte) (Record, error) {
	var probe struct {
		FormatVersion int `json:"format_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	if probe.FormatVersion != RecordFormatVersion {
		return Record{}, fmt.Errorf("decode record: format_version %d, this hardenctl reads %d: %w", probe.FormatVersion, RecordFormatVersion, ErrRecordFormat)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	if !ValidID(r.ID) {
		return Record{}, fmt.Errorf("decode record: id %q is not of the form NewID makes", r.ID)
	}
	return r, nil
}

// RecordStore keeps a configuration's run records, one per run, in the cloud (the provider's
// object store) or a directory (FileStore). Put replaces a record of the same id.
type RecordStore interface {
	Put(ctx context.Context, r Record) error
	// List returns the schedule's records, newest first (by id).
	List(ctx context.Context, schedule string) ([]Record, error)
	// Prune deletes all but the newest keep records of the schedule and returns how many it
	// deleted.
	Prune(ctx context.Context, schedule string, keep int) (int, error)
	// Where says where the records are, for messages: "object store container x", a path.
	Where() string
}

// SortNewestFirst orders records by id, newest first.
func SortNewestFirst(rs []Record) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].ID > rs[j].ID })
}

// PruneIDs returns the ids to delete so that the newest keep remain.
func PruneIDs(ids []string, keep int) []string {
	sorted := append([]string(nil), ids...)
	sort.Sort(sort.Reverse(sort.StringSlice(sorted)))
	if keep < 0 {
		keep = 0
	}
	if len(sorted) <= keep {
		return nil
	}
	return sorted[keep:]
}
