package schedule

import (
	"fmt"
	"time"

	"github.com/hardenctl/hardenctl/config"
)

// Slots are a schedule's due times, computed from its block: the weekday (or day of the
// month) and time of day in its zone, every 1, 2 or 4 weeks counted from the anchor, or
// monthly. cron cannot say "every two weeks"; this can, and it is plain arithmetic on
// calendar dates, so that it is tested across year ends, leap years and DST changes.
//
// Wall times that a DST change skips (02:30 on the night the clocks go from 02:00 to 03:00)
// fall on the instant the clocks reach them (03:30 of the new offset); wall times that a
// change repeats (02:30 when 03:00 goes back to 02:00) fall on the first of the two.
type Slots struct {
	s   *config.Schedule
	loc *time.Location
	// anchor: with a start date, the first day on or after it on the slot's weekday (weekly)
	anchor int64 // days since the epoch
	start  int64 // days since the epoch of the start date; noStart without one
}

const noStart = -1 << 62

// NewSlots returns the slots of s. It fails only for a zone time.LoadLocation does not know
// (config.Load refuses those).
func NewSlots(s *config.Schedule) (*Slots, error) {
	loc, err := time.LoadLocation(s.Zone)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: time zone %q: %w", s.Name, s.Zone, err)
	}
	if s.Every != config.EveryMonthly && s.Weeks() == 0 {
		return nil, fmt.Errorf("schedule %s: every %q is none of 1w, 2w, 4w, monthly", s.Name, s.Every)
	}
	sl := &Slots{s: s, loc: loc, start: noStart}
	if !s.Start.IsZero() {
		sl.start = days(s.Start.Year, s.Start.Month, s.Start.Day)
		// the first day on or after start that falls on the weekday
		wd := weekday(sl.start)
		sl.anchor = sl.start + int64((int(s.Weekday)-int(wd)+7)%7)
	}
	return sl, nil
}

// Location is the schedule's time zone.
func (sl *Slots) Location() *time.Location { return sl.loc }

// Next returns the first slot strictly after t.
func (sl *Slots) Next(t time.Time) time.Time {
	if sl.s.Every == config.EveryMonthly {
		y, m, _ := t.In(sl.loc).Date()
		for i := -1; ; i++ { // from the month before: a slot's instant may sit in the next month's UTC
			yy, mm := addMonths(y, m, i)
			d, ok := sl.monthSlot(yy, mm)
			if !ok {
				continue
			}
			if at := sl.instant(d); at.After(t) {
				return at
			}
		}
	}
	day := sl.dayOf(t) - 1
	if day < sl.anchorOrStart() {
		day = sl.anchorOrStart()
	}
	for day = sl.alignUp(day); ; day += 7 * int64(sl.s.Weeks()) {
		if at := sl.instant(day); at.After(t) {
			return at
		}
	}
}

// NextN returns the first n slots after t.
func (sl *Slots) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for range n {
		t = sl.Next(t)
		out = append(out, t)
	}
	return out
}

// Latest returns the last slot at or before t, and false when there is none (t is before the
// first slot).
func (sl *Slots) Latest(t time.Time) (time.Time, bool) {
	if sl.s.Every == config.EveryMonthly {
		y, m, _ := t.In(sl.loc).Date()
		for i := 1; i > -1200; i-- { // a hundred years back at most: then there is none
			yy, mm := addMonths(y, m, i)
			d, ok := sl.monthSlot(yy, mm)
			if !ok {
				if sl.start != noStart && days(yy, mm, 1) < sl.start-31 {
					return time.Time{}, false
				}
				continue
			}
			if at := sl.instant(d); !at.After(t) {
				return at, true
			}
		}
		return time.Time{}, false
	}
	period := 7 * int64(sl.s.Weeks())
	day := sl.alignUp(sl.dayOf(t) + 1)
	for ; day >= sl.anchorOrStart(); day -= period {
		if at := sl.instant(day); !at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// anchorOrStart is the first day a weekly slot may fall on.
func (sl *Slots) anchorOrStart() int64 {
	if sl.start == noStart {
		return noStart
	}
	return sl.anchor
}

// alignUp returns the first slot day on or after day (weekly).
func (sl *Slots) alignUp(day int64) int64 {
	period := 7 * int64(sl.s.Weeks())
	base := sl.anchor
	if sl.start == noStart {
		// even weeks since the epoch: weeks counted from Monday 1969-12-29 (day -3), the
		// slot on its weekday in the weeks the period divides
		base = -3 + int64((int(sl.s.Weekday)+6)%7)
	}
	if day < base && sl.start != noStart {
		return base
	}
	return base + ceilDiv(day-base, period)*period
}

// monthSlot is the day of the slot in month m of year y, and false when that day is before
// the start date.
func (sl *Slots) monthSlot(y int, m time.Month) (int64, bool) {
	last := daysIn(y, m)
	var dom int
	switch {
	case sl.s.MonthWeek > 0:
		first := weekday(days(y, m, 1))
		dom = 1 + (int(sl.s.Weekday)-int(first)+7)%7 + 7*(sl.s.MonthWeek-1)
	case sl.s.MonthWeek < 0:
		lw := weekday(days(y, m, last))
		dom = last - (int(lw)-int(sl.s.Weekday)+7)%7
	default:
		dom = min(sl.s.MonthDay, last)
	}
	d := days(y, m, dom)
	return d, sl.start == noStart || d >= sl.start
}

// dayOf is the day (since the epoch) of t's date in the schedule's zone.
func (sl *Slots) dayOf(t time.Time) int64 {
	y, m, d := t.In(sl.loc).Date()
	return days(y, m, d)
}

// instant is the slot's time of day on day, in the zone (see Slots for DST).
func (sl *Slots) instant(day int64) time.Time {
	y, m, d := time.Unix(day*86400, 0).UTC().Date()
	return wallTime(y, m, d, sl.s.Hour, sl.s.Minute, sl.loc)
}

// wallTime is the first instant whose wall clock in loc reads y-m-d h:min, or, when the
// clocks skip that reading, the instant they reach it (the reading taken with the offset in
// force before the change). time.Date leaves both choices unspecified.
func wallTime(y int, m time.Month, d, h, min int, loc *time.Location) time.Time {
	naive := time.Date(y, m, d, h, min, 0, 0, time.UTC) // the reading, as if it were UTC
	var best time.Time
	for _, probe := range []time.Duration{-12 * time.Hour, 12 * time.Hour} {
		// the offsets in force either side: zone changes are months apart
		_, off := naive.Add(probe).In(loc).Zone()
		t := naive.Add(-time.Duration(off) * time.Second)
		wy, wm, wd := t.In(loc).Date()
		wh, wmin, _ := t.In(loc).Clock()
		if wy == y && wm == m && wd == d && wh == h && wmin == min && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if !best.IsZero() {
		return best
	}
	_, off := naive.Add(-12 * time.Hour).In(loc).Zone()
	return naive.Add(-time.Duration(off) * time.Second)
}

// days is the number of days from 1970-01-01 to y-m-d (proleptic Gregorian calendar).
func days(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func weekday(day int64) time.Weekday { return time.Weekday((day%7 + 7 + 4) % 7) } // 1970-01-01 was a Thursday

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

func addMonths(y int, m time.Month, n int) (int, time.Month) {
	t := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	return t.Year(), t.Month()
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}
