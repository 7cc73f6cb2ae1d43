package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/config"
)

func weekly(every string, wd time.Weekday, h, m int, zone string, start string) *config.Schedule {
	s := &config.Schedule{Name: "t", Every: every, Weekday: wd, Hour: h, Minute: m, Zone: zone}
	if start != "" {
		t, err := time.Parse(time.DateOnly, start)
		if err != nil {
			panic(err)
		}
		s.Start = config.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
	}
	return s
}

func monthly(nth int, wd time.Weekday, day, h, m int, zone string) *config.Schedule {
	return &config.Schedule{Name: "t", Every: config.EveryMonthly, MonthWeek: nth, Weekday: wd, MonthDay: day,
		Hour: h, Minute: m, Zone: zone}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func slotsOf(t *testing.T, s *config.Schedule) *Slots {
	t.Helper()
	sl, err := NewSlots(s)
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// The next due times, from the slot's wall time in its zone. Expected values were worked out
// by hand and checked with Python's zoneinfo (fold=0: a skipped wall time takes the offset
// before the change, a repeated one its first instant).
func TestNextSlots(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     *config.Schedule
		after string
		want  []string // UTC
	}{
		{"2w from the issue's anchor", weekly("2w", time.Sunday, 2, 0, "UTC", "2026-01-04"), "2026-01-01T00:00:00Z",
			[]string{"2026-01-04T02:00:00Z", "2026-01-18T02:00:00Z", "2026-02-01T02:00:00Z"}},
		{"the slot itself is not after itself", weekly("2w", time.Sunday, 2, 0, "UTC", "2026-01-04"), "2026-01-04T02:00:00Z",
			[]string{"2026-01-18T02:00:00Z"}},
		{"a second later than a slot", weekly("1w", time.Sunday, 2, 0, "UTC", ""), "2026-01-04T01:59:59Z",
			[]string{"2026-01-04T02:00:00Z", "2026-01-11T02:00:00Z"}},
		{"year end, 2w", weekly("2w", time.Sunday, 2, 0, "UTC", "2025-12-21"), "2025-12-21T02:00:01Z",
			[]string{"2026-01-04T02:00:00Z", "2026-01-18T02:00:00Z"}},
		{"year end in a zone ahead of UTC: the slot's UTC is still the old year", weekly("1w", time.Thursday, 0, 30, "Europe/Berlin", ""), "2026-12-30T00:00:00Z",
			[]string{"2026-12-30T23:30:00Z", "2027-01-06T23:30:00Z"}},
		// default parity: weeks since Monday 1969-12-29; 2026-01-04 is in week 2922 (even),
		// 2025-12-28 in 2921 (odd)
		{"default anchor: even weeks since the epoch", weekly("2w", time.Sunday, 2, 0, "UTC", ""), "2025-12-27T00:00:00Z",
			[]string{"2026-01-04T02:00:00Z", "2026-01-18T02:00:00Z"}},
		{"start a week later: the other parity", weekly("2w", time.Sunday, 2, 0, "UTC", "2026-01-11"), "2025-12-27T00:00:00Z",
			[]string{"2026-01-11T02:00:00Z", "2026-01-25T02:00:00Z"}},
		{"start on a Wednesday: the first Sunday after", weekly("2w", time.Sunday, 2, 0, "UTC", "2026-01-07"), "2025-01-01T00:00:00Z",
			[]string{"2026-01-11T02:00:00Z", "2026-01-25T02:00:00Z"}},
		{"4w default: weeks divisible by 4 (2924 = 2026-01-18)", weekly("4w", time.Sunday, 2, 0, "UTC", ""), "2026-01-01T00:00:00Z",
			[]string{"2026-01-18T02:00:00Z", "2026-02-15T02:00:00Z", "2026-03-15T02:00:00Z"}},
		{"leap day in a weekly series", weekly("1w", time.Thursday, 12, 0, "UTC", ""), "2028-02-24T12:00:00Z",
			[]string{"2028-03-02T12:00:00Z"}},
		{"weekly on the leap day itself", weekly("1w", time.Tuesday, 12, 0, "UTC", ""), "2028-02-23T00:00:00Z",
			[]string{"2028-02-29T12:00:00Z", "2028-03-07T12:00:00Z"}},
		// Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET
		{"DST spring: 02:30 is skipped and falls on 03:30 CEST", weekly("1w", time.Sunday, 2, 30, "Europe/Berlin", ""), "2026-03-20T00:00:00Z",
			[]string{"2026-03-22T01:30:00Z", "2026-03-29T01:30:00Z", "2026-04-05T00:30:00Z"}},
		{"DST spring: 02:00 is the jump itself", weekly("1w", time.Sunday, 2, 0, "Europe/Berlin", ""), "2026-03-28T00:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-04-05T00:00:00Z"}},
		{"DST autumn: 02:30 twice, the first one", weekly("1w", time.Sunday, 2, 30, "Europe/Berlin", ""), "2026-10-18T01:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-11-01T01:30:00Z"}},
		{"DST autumn: after the first 02:30, not the second", weekly("1w", time.Sunday, 2, 30, "Europe/Berlin", ""), "2026-10-25T00:30:00Z",
			[]string{"2026-11-01T01:30:00Z"}},
		{"DST in America/New_York (second Sunday of March)", weekly("1w", time.Sunday, 2, 30, "America/New_York", ""), "2026-03-01T12:00:00Z",
			[]string{"2026-03-08T07:30:00Z", "2026-03-15T06:30:00Z"}},
		{"monthly first Sunday across the year end", monthly(1, time.Sunday, 0, 2, 0, "Europe/Berlin"), "2026-11-30T00:00:00Z",
			[]string{"2026-12-06T01:00:00Z", "2027-01-03T01:00:00Z", "2027-02-07T01:00:00Z"}},
		{"monthly last Sunday: February of a leap year", monthly(-1, time.Sunday, 0, 2, 0, "UTC"), "2028-02-01T00:00:00Z",
			[]string{"2028-02-27T02:00:00Z", "2028-03-26T02:00:00Z"}},
		{"monthly last Sunday: the last day itself", monthly(-1, time.Sunday, 0, 2, 0, "UTC"), "2027-02-01T00:00:00Z",
			[]string{"2027-02-28T02:00:00Z"}},
		{"monthly on the 31st: the last day of shorter months", monthly(0, 0, 31, 3, 0, "UTC"), "2028-01-31T03:00:00Z",
			[]string{"2028-02-29T03:00:00Z", "2028-03-31T03:00:00Z", "2028-04-30T03:00:00Z"}},
		{"monthly on the 29th: February 2100 is no leap year", monthly(0, 0, 29, 3, 0, "UTC"), "2100-01-30T00:00:00Z",
			[]string{"2100-02-28T03:00:00Z", "2100-03-29T03:00:00Z"}},
		{"monthly on the 29th: 2000 was a leap year", monthly(0, 0, 29, 3, 0, "UTC"), "2000-01-30T00:00:00Z",
			[]string{"2000-02-29T03:00:00Z"}},
		{"monthly fourth Friday, just before the slot", monthly(4, time.Friday, 0, 23, 59, "UTC"), "2026-05-22T23:58:00Z",
			[]string{"2026-05-22T23:59:00Z", "2026-06-26T23:59:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sl := slotsOf(t, tc.s)
			var got []string
			for _, at := range sl.NextN(mustTime(tc.after), len(tc.want)) {
				got = append(got, at.UTC().Format(time.RFC3339))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NextN(%s) (-want +got):\n%s", tc.after, diff)
			}
		})
	}
}

func TestMonthlyStart(t *testing.T) {
	s := monthly(1, time.Sunday, 0, 2, 0, "UTC")
	s.Start = config.Date{Year: 2026, Month: time.March, Day: 2} // after March's first Sunday (the 1st)
	sl := slotsOf(t, s)
	if got := sl.Next(mustTime("2025-06-01T00:00:00Z")); !got.Equal(mustTime("2026-04-05T02:00:00Z")) {
		t.Errorf("Next = %s, want the first Sunday of April 2026 (March's is before start)", got)
	}
	if _, ok := sl.Latest(mustTime("2026-04-05T01:59:00Z")); ok {
		t.Errorf("Latest before the first slot found one")
	}
	if got, ok := sl.Latest(mustTime("2026-04-05T02:00:00Z")); !ok || !got.Equal(mustTime("2026-04-05T02:00:00Z")) {
		t.Errorf("Latest at the first slot = %s %v", got, ok)
	}
}

// Latest and Next agree for every hour of six years, across every kind of schedule: the last
// slot at or before t is not after t, and the next slot after it is after t.
func TestLatestAndNextAgree(t *testing.T) {
	for _, s := range []*config.Schedule{
		weekly("1w", time.Sunday, 2, 30, "Europe/Berlin", ""),
		weekly("2w", time.Sunday, 2, 0, "Europe/Berlin", "2026-01-04"),
		weekly("4w", time.Saturday, 23, 45, "America/New_York", ""),
		weekly("2w", time.Monday, 0, 0, "Australia/Lord_Howe", ""), // a 30-minute DST shift
		monthly(-1, time.Sunday, 0, 2, 30, "Europe/Berlin"),
		monthly(0, 0, 31, 0, 15, "Pacific/Auckland"),
		monthly(2, time.Tuesday, 0, 12, 0, "UTC"),
	} {
		sl := slotsOf(t, s)
		for at := mustTime("2024-01-01T00:00:00Z"); at.Before(mustTime("2030-01-01T00:00:00Z")); at = at.Add(time.Hour + 7*time.Minute) {
			latest, ok := sl.Latest(at)
			if ok && latest.After(at) {
				t.Fatalf("%s %s: Latest(%s) = %s is after it", s.Every, s.Zone, at, latest)
			}
			next := sl.Next(at)
			if !next.After(at) {
				t.Fatalf("%s %s: Next(%s) = %s is not after it", s.Every, s.Zone, at, next)
			}
			if s.Start.IsZero() && (!ok || !sl.Next(latest).Equal(next)) {
				t.Fatalf("%s %s at %s: Next(Latest) = %v, want Next = %s", s.Every, s.Zone, at, sl.Next(latest), next)
			}
			if gap := next.Sub(latest); ok && gap > 29*24*time.Hour+2*time.Hour && s.Every != config.EveryMonthly && s.Weeks() < 4 {
				t.Fatalf("%s %s at %s: %s between slots", s.Every, s.Zone, at, gap)
			}
		}
	}
}

func record(id, due, result string) Record {
	r := Record{ID: id, Schedule: "t", Result: result, Trigger: TriggerTimer}
	if due != "" {
		r.Due = mustTime(due)
	}
	return r
}

func TestDecide(t *testing.T) {
	sl := slotsOf(t, weekly("2w", time.Sunday, 2, 0, "Europe/Berlin", "2026-01-04"))
	// slots (UTC): 01-04 01:00, 01-18 01:00, 02-01 01:00, ...
	for _, tc := range []struct {
		name    string
		now     string
		records []Record
		due     bool
		slot    string
		resume  string
		missed  int
		reason  string
	}{
		{name: "before the first slot", now: "2026-01-04T00:59:00Z", reason: "not due: the first slot is Sun 2026-01-04 02:00 CET (01:00 UTC)"},
		{name: "at the first slot, no records", now: "2026-01-04T01:00:00Z", due: true, slot: "2026-01-04T01:00:00Z"},
		{name: "the timer a week later (2w: the slot ran)", now: "2026-01-11T01:03:00Z", due: false, slot: "2026-01-04T01:00:00Z",
			records: []Record{record("20260104T010212Z-00000001", "2026-01-04T01:00:00Z", ResultSucceeded)},
			reason:  "not due: the run 20260104T010212Z-00000001 of the slot Sun 2026-01-04 02:00 CET (01:00 UTC) ended succeeded; the next slot is Sun 2026-01-18 02:00 CET (01:00 UTC)"},
		{name: "a failed run closes its slot too", now: "2026-01-11T01:03:00Z", slot: "2026-01-04T01:00:00Z",
			records: []Record{record("20260104T010212Z-00000001", "2026-01-04T01:00:00Z", ResultFailed)},
			reason:  "not due: the run 20260104T010212Z-00000001 of the slot Sun 2026-01-04 02:00 CET (01:00 UTC) ended failed; the next slot is Sun 2026-01-18 02:00 CET (01:00 UTC)"},
		{name: "skipped-locked and not-due close nothing", now: "2026-01-11T01:03:00Z", due: true, slot: "2026-01-04T01:00:00Z",
			records: []Record{
				record("20260111T010300Z-00000003", "2026-01-04T01:00:00Z", ResultNotDue),
				record("20260104T010001Z-00000002", "2026-01-04T01:00:00Z", ResultSkippedLocked),
			}},
		{name: "a manual run outside the slots closes nothing", now: "2026-01-04T05:00:00Z", due: true, slot: "2026-01-04T01:00:00Z",
			records: []Record{record("20260104T030000Z-00000004", "", ResultSucceeded)}},
		{name: "killed in the middle: resume that run", now: "2026-01-04T03:00:00Z", due: true, slot: "2026-01-04T01:00:00Z", resume: "20260104T010212Z-00000001",
			records: []Record{record("20260104T010212Z-00000001", "2026-01-04T01:00:00Z", ResultRunning)}},
		{name: "a long downtime: one run for the last slot, the others counted", now: "2026-06-30T12:00:00Z", due: true,
			slot: "2026-06-21T00:00:00Z", missed: 11, // 01-18 ... 06-07 (CEST from 03-29: 00:00 UTC)
			records: []Record{record("20260104T010212Z-00000001", "2026-01-04T01:00:00Z", ResultSucceeded)}},
		{name: "after catching up, not due again", now: "2026-06-30T13:00:00Z", slot: "2026-06-21T00:00:00Z",
			records: []Record{
				record("20260630T120005Z-00000005", "2026-06-21T00:00:00Z", ResultSucceeded),
				record("20260104T010212Z-00000001", "2026-01-04T01:00:00Z", ResultSucceeded),
			},
			reason: "not due: the run 20260630T120005Z-00000005 of the slot Sun 2026-06-21 02:00 CEST (00:00 UTC) ended succeeded; the next slot is Sun 2026-07-05 02:00 CEST (00:00 UTC)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sl.Decide(mustTime(tc.now), tc.records)
			if d.Due != tc.due {
				t.Errorf("Due = %v, want %v (%s)", d.Due, tc.due, d.Reason)
			}
			slot := ""
			if !d.Slot.IsZero() {
				slot = d.Slot.UTC().Format(time.RFC3339)
			}
			if slot != tc.slot {
				t.Errorf("Slot = %q, want %q", slot, tc.slot)
			}
			resume := ""
			if d.Resume != nil {
				resume = d.Resume.ID
			}
			if resume != tc.resume {
				t.Errorf("Resume = %q, want %q", resume, tc.resume)
			}
			if d.Missed != tc.missed {
				t.Errorf("Missed = %d, want %d", d.Missed, tc.missed)
			}
			if d.Reason != tc.reason {
				t.Errorf("Reason = %q\nwant     %q", d.Reason, tc.reason)
			}
			if !d.Next.After(mustTime(tc.now)) {
				t.Errorf("Next = %s, not after now", d.Next)
			}
		})
	}
}

func TestNewSlotsRefuses(t *testing.T) {
	if _, err := NewSlots(&config.Schedule{Name: "x", Every: "1w", Zone: "Mars/Olympus"}); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("NewSlots with an unknown zone: %v", err)
	}
	if _, err := NewSlots(&config.Schedule{Name: "x", Every: "3w", Zone: "UTC"}); err == nil {
		t.Errorf("NewSlots every 3w: no error")
	}
}
