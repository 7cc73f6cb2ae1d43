package schedule_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/schedule"
)

// memStore is a RecordStore in memory that remembers every put.
type memStore struct {
	recs map[string]schedule.Record
	puts []schedule.Record
}

func (m *memStore) Put(_ context.Context, r schedule.Record) error {
	if m.recs == nil {
		m.recs = map[string]schedule.Record{}
	}
	if _, err := schedule.EncodeRecord(r); err != nil {
		return err
	}
	m.recs[r.ID] = r
	m.puts = append(m.puts, r)
	return nil
}

func (m *memStore) List(_ context.Context, s string) ([]schedule.Record, error) {
	var out []schedule.Record
	for _, r := range m.recs {
		if r.Schedule == s {
			out = append(out, r)
		}
	}
	schedule.SortNewestFirst(out)
	return out, nil
}

func (m *memStore) Prune(_ context.Context, s string, keep int) (int, error) {
	var ids []string
	for id := range m.recs {
		ids = append(ids, id)
	}
	del := schedule.PruneIDs(ids, keep)
	for _, id := range del {
		delete(m.recs, id)
	}
	return len(del), nil
}

func (m *memStore) Where() string { return "memory" }

type fakeLock struct {
	held  bool
	taken int
}

func (l *fakeLock) Lock(ctx context.Context) (context.Context, func(), error) {
	if l.held {
		return nil, nil, &lock.HeldError{Name: "cfg", Lease: lock.Lease{Holder: "other@host pid 1", Operation: "apply"}}
	}
	l.taken++
	return ctx, func() {}, nil
}

type fakeBuilder struct {
	builds []string
	gated  bool
}

func (b *fakeBuilder) Build(_ context.Context, image string) (schedule.Build, error) {
	b.builds = append(b.builds, image)
	score, min := 91.5, 80.0
	if b.gated {
		score = 60
		return schedule.Build{Score: &score, MinScore: &min, Gated: true, FailedRules: []string{"rule_a", "rule_b"}},
			errors.New("image node scored 60.00, below min_score 80.00: nothing was published")
	}
	return schedule.Build{ImageID: "img-new", Score: &score, MinScore: &min, PassedRules: []string{"rule_a", "rule_c"},
		Datastream: schedule.Digest{Name: "ssg-debian12-ds.xml", Digest: "sha256:ab"}}, nil
}

type fakeRoller struct {
	rolls []string
	fail  error
	res   schedule.Rollout
}

func (f *fakeRoller) FleetImages(context.Context, string) ([]string, error) {
	return []string{"img-old"}, nil
}

func (f *fakeRoller) Roll(_ context.Context, fleet, image string) (schedule.Rollout, error) {
	f.rolls = append(f.rolls, fleet+"->"+image)
	return f.res, f.fail
}

type fakeScanner struct {
	hosts []schedule.ScannedHost
	drift []schedule.DriftFinding
	scans int
}

func (f *fakeScanner) Scan(context.Context, string) ([]schedule.ScannedHost, error) {
	f.scans++
	return f.hosts, nil
}

func (f *fakeScanner) Report(_ string, d []schedule.DriftFinding) (string, error) {
	f.drift = d
	return "reports/x", nil
}

type fakeImages map[string]float64

func (f fakeImages) Published(_ context.Context, id string) (string, float64, bool, error) {
	s, ok := f[id]
	return "node", s, ok, nil
}

func fptr(f float64) *float64 { return &f }

type bed struct {
	store   *memStore
	lock    *fakeLock
	builder *fakeBuilder
	roller  *fakeRoller
	scanner *fakeScanner
	spec    schedule.RunSpec
}

func newBed(t *testing.T) *bed {
	t.Helper()
	cfg := &config.Config{Name: "cfg",
		Fleets: []*config.Fleet{{Name: "app", Image: config.ImageRef{Name: "node", Managed: true}}, {Name: "db"}}}
	s := &config.Schedule{Name: "rebuild", Every: config.Every2w, Hour: 2, Zone: "UTC", Weekday: time.Sunday,
		Start: config.Date{Year: 2026, Month: 1, Day: 4}, Images: []string{"node"}, Fleets: []string{"app"}, Scan: []string{"db"}, KeepHistory: 3}
	cfg.Schedules = []*config.Schedule{s}
	return &bed{store: &memStore{}, lock: &fakeLock{}, builder: &fakeBuilder{},
		roller: &fakeRoller{res: schedule.Rollout{RolloutID: "r1", Rebuilt: 2, Peak: 1, Budget: 1}},
		scanner: &fakeScanner{hosts: []schedule.ScannedHost{
			{Server: "cfg-db-01", ImageID: "img-db", Score: fptr(90), Status: "passed", Failed: []string{"rule_x"}},
			{Server: "cfg-db-02", ImageID: "img-new", Score: fptr(85), Status: "passed", Failed: []string{"rule_a", "rule_z"}},
		}},
		spec: schedule.RunSpec{Config: cfg, Schedule: s, Who: schedule.Who{User: "demo", Project: "demo"}, Host: "h", Version: "dev",
			ConfigDigest: "sha256:cf", Now: func() time.Time { return time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC) }}}
}

func (b *bed) run(t *testing.T) schedule.Outcome {
	t.Helper()
	out, err := schedule.Run(context.Background(), b.spec, schedule.RunDeps{Store: b.store, Lock: b.lock, Builder: b.builder,
		Roller: b.roller, Scanner: b.scanner, Images: fakeImages{"img-new": 91.5, "img-db": 90}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunBuildsRollsScansAndRecords(t *testing.T) {
	b := newBed(t)
	out := b.run(t)
	r := out.Record
	if r.Result != schedule.ResultSucceeded || r.Trigger != schedule.TriggerManual || !r.Due.IsZero() || r.Ended.IsZero() {
		t.Fatalf("record: %+v", r)
	}
	if b.store.puts[0].Result != schedule.ResultRunning || len(b.store.puts) < 4 {
		t.Errorf("the first put is %q (want running), %d puts", b.store.puts[0].Result, len(b.store.puts))
	}
	if len(r.Images) != 1 || r.Images[0].ID != "img-new" || r.Images[0].Gate != schedule.GatePassed || !slices.Equal(r.Images[0].PassedRules, []string{"rule_a", "rule_c"}) {
		t.Errorf("images: %+v", r.Images)
	}
	if len(r.Fleets) != 1 || r.Fleets[0] != (schedule.FleetResult{Name: "app", RolloutID: "r1", FromImage: "img-old", ToImage: "img-new",
		Rebuilt: 2, PeakUnavailable: 1, MaxUnavailable: 1, Result: schedule.FleetSucceeded}) {
		t.Errorf("fleets: %+v", r.Fleets)
	}
	if len(r.Scans) != 1 || len(r.Scans[0].Hosts) != 2 || len(r.Datastreams) != 1 || r.Who.User != "demo" {
		t.Errorf("scans %+v, datastreams %+v", r.Scans, r.Datastreams)
	}
	// cfg-db-02 scores 85 on an image published at 91.5 that passed rule_a: drift naming
	// rule_a (rule_z was no pass on the image). cfg-db-01 is at its image's score.
	want := []schedule.DriftFinding{{Server: "cfg-db-02", Image: "img-new", ImageName: "node", ImageScore: 91.5, Score: 85, RulesFailed: []string{"rule_a"}}}
	if len(r.Drift) != 1 || !slices.EqualFunc(r.Drift, want, func(a, b schedule.DriftFinding) bool {
		return a.Server == b.Server && a.ImageScore == b.ImageScore && slices.Equal(a.RulesFailed, b.RulesFailed)
	}) || len(b.scanner.drift) != 1 {
		t.Errorf("drift: %+v (reported %+v)", r.Drift, b.scanner.drift)
	}
}

func TestRunGateFailureLeavesFleets(t *testing.T) {
	b := newBed(t)
	b.builder.gated = true
	r := b.run(t).Record
	if r.Result != schedule.ResultFailed || !strings.Contains(r.Error, "below min_score") {
		t.Errorf("result %s, error %q", r.Result, r.Error)
	}
	if r.Images[0].Gate != schedule.GateFailed || !slices.Equal(r.Images[0].FailedRules, []string{"rule_a", "rule_b"}) || r.Images[0].ID != "" {
		t.Errorf("image: %+v", r.Images[0])
	}
	if len(b.roller.rolls) != 0 || r.Fleets[0].Result != schedule.FleetSkipped || !strings.Contains(r.Fleets[0].Error, "stays on its current image") {
		t.Errorf("rolled %v; fleet %+v", b.roller.rolls, r.Fleets[0])
	}
	if b.scanner.scans != 1 {
		t.Errorf("the scan fleets are scanned anyway (the trend): %d scans", b.scanner.scans)
	}
}

func TestRunLockedIsRecordedSkipped(t *testing.T) {
	b := newBed(t)
	b.lock.held = true
	out := b.run(t)
	if !out.Stored || out.Record.Result != schedule.ResultSkippedLocked || !strings.Contains(out.Record.Error, "other@host") {
		t.Errorf("outcome %+v", out)
	}
	if len(b.builder.builds)+len(b.roller.rolls)+b.scanner.scans != 0 {
		t.Errorf("a skipped run did work")
	}
}

func TestRunIfDue(t *testing.T) {
	b := newBed(t)
	b.spec.IfDue = true
	out := b.run(t)
	// 2026-01-20 is after the slot Sun 2026-01-18 02:00: due, for that slot, by the timer
	if r := out.Record; r.Result != schedule.ResultSucceeded || r.Trigger != schedule.TriggerTimer || !r.Due.Equal(time.Date(2026, 1, 18, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("record %+v", r)
	}
	// again: not due, nothing stored, no lock taken
	n, taken := len(b.store.puts), b.lock.taken
	out = b.run(t)
	if out.Stored || out.Record.Result != schedule.ResultNotDue || !strings.Contains(out.Reason, "not due") || len(b.store.puts) != n || b.lock.taken != taken {
		t.Errorf("second run: %+v", out)
	}
	// four weeks later: one run catches up the missed slot
	b.spec.Now = func() time.Time { return time.Date(2026, 2, 17, 10, 0, 0, 0, time.UTC) }
	if r := b.run(t).Record; r.Missed != 1 || !r.Due.Equal(time.Date(2026, 2, 15, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("catch-up: missed %d due %s", r.Missed, r.Due)
	}
	if out := b.run(t); out.Stored {
		t.Errorf("caught up once, then not due: %+v", out)
	}
}

// A run killed during its rollout left its record running with the image built: the next
// --if-due run resumes it, builds nothing, rolls on and completes the record.
func TestRunResumesADeadRun(t *testing.T) {
	b := newBed(t)
	b.spec.IfDue = true
	slot := time.Date(2026, 1, 18, 2, 0, 0, 0, time.UTC)
	dead := schedule.Record{ID: schedule.NewID(slot.Add(time.Hour)), Config: "cfg", Schedule: "rebuild", Trigger: schedule.TriggerTimer,
		Due: slot, Started: slot.Add(time.Hour), Result: schedule.ResultRunning,
		Images: []schedule.ImageResult{{Name: "node", ID: "img-new", Gate: schedule.GatePassed, PassedRules: []string{"rule_a"}}},
		Fleets: []schedule.FleetResult{{Name: "app", FromImage: "img-old", ToImage: "img-new", Result: schedule.FleetRunning}}}
	other := dead
	other.ID, other.Due, other.Images, other.Fleets = schedule.NewID(slot.Add(-time.Hour)), time.Time{}, nil, nil
	b.store.Put(context.Background(), dead)
	b.store.Put(context.Background(), other)
	b.roller.res = schedule.Rollout{RolloutID: "r1", Rebuilt: 1, Skipped: 1, Peak: 1, Budget: 1}
	out := b.run(t)
	r := out.Record
	if !out.Resumed || r.ID != dead.ID || r.Result != schedule.ResultSucceeded || len(b.builder.builds) != 0 {
		t.Fatalf("resumed %v, record %s %s, builds %v", out.Resumed, r.ID, r.Result, b.builder.builds)
	}
	if len(b.roller.rolls) != 1 || r.Fleets[0].Rebuilt != 2 || r.Fleets[0].FromImage != "img-old" || r.Fleets[0].Result != schedule.FleetSucceeded {
		t.Errorf("rolls %v, fleet %+v", b.roller.rolls, r.Fleets[0])
	}
	if got := b.store.recs[other.ID]; got.Result != schedule.ResultAborted || !slices.Equal(out.Closed, []string{other.ID}) {
		t.Errorf("the other dead record: %s (closed %v)", got.Result, out.Closed)
	}
}

func TestRunPrunesToKeepHistory(t *testing.T) {
	b := newBed(t)
	for i := range 5 {
		b.spec.Now = func() time.Time { return time.Date(2026, 1, 20, 10, i, 0, 0, time.UTC) }
		b.run(t)
	}
	if len(b.store.recs) != 3 {
		t.Errorf("%d records kept, want keep_history 3", len(b.store.recs))
	}
}
