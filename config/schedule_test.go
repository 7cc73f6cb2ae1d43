package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

func TestLoadSchedules(t *testing.T) {
	cfg, _ := loadSource(t, `
zone "app" {}
image "node" {
  source { name = "debian-12-base" }
  flavor = "m1.small"
}
fleet "app" {
  image  = image.node
  zone   = zone.app
  flavor = "m1.small"
  count  = 2
}
schedule "weekly" {
  every  = "1w"
  at     = "saturday 23:30 America/New_York"
  images = [image.node]
  fleets = [fleet.app]
}
schedule "first" {
  every             = "monthly"
  at                = "02:00 Europe/Berlin"
  on                = "first Sunday"
  start             = "2026-02-01"
  images            = [image.node]
  keep_history      = 12
  history_container = "platform-runs"
}
schedule "last" {
  every = "monthly"
  at    = "4:05 UTC"
  on    = "Last fri"
  scan  = [fleet.app]
}
schedule "day31" {
  every = "monthly"
  at    = "00:00 UTC"
  on    = 31
  scan  = [fleet.app]
}
schedule "day15" {
  every = "monthly"
  at    = "12:00 UTC"
  on    = "15"
  scan  = [fleet.app]
}
`)
	want := []*Schedule{
		{Name: "day15", Every: EveryMonthly, Hour: 12, Zone: "UTC", Weekday: time.Sunday, MonthDay: 15,
			Scan: []string{"app"}, KeepHistory: DefaultKeepHistory, HistoryContainer: DefaultHistoryContainer},
		{Name: "day31", Every: EveryMonthly, Zone: "UTC", Weekday: time.Sunday, MonthDay: 31,
			Scan: []string{"app"}, KeepHistory: DefaultKeepHistory, HistoryContainer: DefaultHistoryContainer},
		{Name: "first", Every: EveryMonthly, Hour: 2, Zone: "Europe/Berlin", Weekday: time.Sunday, MonthWeek: 1,
			Start: Date{2026, time.February, 1}, Images: []string{"node"}, KeepHistory: 12, HistoryContainer: "platform-runs"},
		{Name: "last", Every: EveryMonthly, Hour: 4, Minute: 5, Zone: "UTC", Weekday: time.Friday, MonthWeek: -1,
			Scan: []string{"app"}, KeepHistory: DefaultKeepHistory, HistoryContainer: DefaultHistoryContainer},
		{Name: "weekly", Every: Every1w, Hour: 23, Minute: 30, Zone: "America/New_York", Weekday: time.Saturday,
			Images: []string{"node"}, Fleets: []string{"app"}, KeepHistory: DefaultKeepHistory, HistoryContainer: DefaultHistoryContainer},
	}
	if diff := cmp.Diff(want, cfg.Schedules, cmpopts.IgnoreTypes(hcl.Range{})); diff != "" {
		t.Errorf("schedules (-want +got):\n%s", diff)
	}
	if s := cfg.Schedule("weekly"); s == nil || s.Weeks() != 1 {
		t.Errorf("Schedule(weekly) = %+v, want the weekly schedule (1 week)", s)
	}
	if cfg.Schedule("nope") != nil {
		t.Errorf("Schedule(nope) is not nil")
	}
}
