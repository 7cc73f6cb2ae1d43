// Package scheduletest holds what the tests of every schedule.RecordStore share: one contract,
// run against the file store here and against the object store on the test bed.
package scheduletest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/schedule"
)

func score(f float64) *float64 { return &f }

// SampleRecord is a record with every field set, started at started.
func SampleRecord(sched string, started time.Time, n int) schedule.Record {
	return schedule.Record{
		FormatVersion: schedule.RecordFormatVersion,
		ID:            fmt.Sprintf("%s-%08x", started.UTC().Format("20060102T150405Z"), n),
		Config:        "sample", Schedule: sched, Trigger: schedule.TriggerTimer,
		Due:     started.Add(-90 * time.Second).UTC().Truncate(time.Minute),
		Started: started.UTC(), Ended: started.Add(41 * time.Minute).UTC(),
		Who:  schedule.Who{User: "demo", UserID: "u-1", Project: "demo", ProjectID: "p-1"},
		Host: "scheduler-1", Version: "v0.11.0",
		ConfigDigest: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		Datastreams: []schedule.Digest{{Name: "ssg-debian12-ds.xml",
			Digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}},
		Images: []schedule.ImageResult{{Name: "debian12-node", ID: "img-b", Score: score(86.5),
			MinScore: score(80), Gate: schedule.GatePassed}},
		Fleets: []schedule.FleetResult{{Name: "app", RolloutID: "r-1", FromImage: "img-a", ToImage: "img-b",
			Rebuilt: 4, PeakUnavailable: 1, MaxUnavailable: 1, Result: schedule.ResultSucceeded}},
		Scans: []schedule.ScanResult{{Fleet: "db", Hosts: []schedule.HostScore{
			{Server: "sample-db-0", Score: score(84.1), Status: "passed"},
			{Server: "sample-db-1", Status: "unreachable"},
		}}},
		Result: schedule.ResultSucceeded,
		Drift: []schedule.DriftFinding{{Server: "sample-db-0", Image: "img-x", ImageScore: 85.0, Score: 84.1,
			RulesFailed: []string{"xccdf_org.ssgproject.content_rule_sshd_set_idle_timeout"}}},
	}
}

// TestStore checks what every RecordStore must do, on a store with no records of the schedule
// sched: put, replace, list newest first (across schedules apart), prune to keep.
func TestStore(t *testing.T, s schedule.RecordStore, sched string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if got, err := s.List(ctx, sched); err != nil || len(got) != 0 {
		t.Fatalf("List of a new schedule = %d records, %v; want none", len(got), err)
	}
	base := time.Date(2026, 1, 4, 1, 2, 12, 0, time.UTC)
	var want []schedule.Record
	for i := range 5 {
		r := SampleRecord(sched, base.Add(time.Duration(i)*14*24*time.Hour), i)
		r.Result, r.Ended = schedule.ResultRunning, time.Time{}
		if err := s.Put(ctx, r); err != nil {
			t.Fatalf("Put %s: %v", r.ID, err)
		}
		r = SampleRecord(sched, base.Add(time.Duration(i)*14*24*time.Hour), i) // its end: the same id again
		if err := s.Put(ctx, r); err != nil {
			t.Fatalf("Put %s again: %v", r.ID, err)
		}
		want = append([]schedule.Record{r}, want...)
	}
	other := SampleRecord(sched+"-other", base, 99)
	if err := s.Put(ctx, other); err != nil {
		t.Fatalf("Put %s: %v", other.ID, err)
	}
	got, err := s.List(ctx, sched)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	n, err := s.Prune(ctx, sched, 2)
	if err != nil || n != 3 {
		t.Errorf("Prune to 2 of 5 = %d, %v; want 3 deleted", n, err)
	}
	got, err = s.List(ctx, sched)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:2], got); diff != "" {
		t.Errorf("List after Prune (-want +got):\n%s", diff)
	}
	if n, err := s.Prune(ctx, sched, 2); err != nil || n != 0 {
		t.Errorf("Prune again = %d, %v; want 0", n, err)
	}
	if got, err := s.List(ctx, sched+"-other"); err != nil || len(got) != 1 {
		t.Errorf("the other schedule's records: %d, %v; want its 1 untouched", len(got), err)
	}
	for _, name := range []string{sched, sched + "-other"} {
		if _, err := s.Prune(ctx, name, 0); err != nil {
			t.Errorf("Prune %s to 0: %v", name, err)
		}
	}
}
