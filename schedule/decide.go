package schedule

import (
	"fmt"
	"time"
)

// Decision is whether a run is due now, for `schedule run NAME --if-due`.
type Decision struct {
	Due bool
	// Slot is the slot a run now is for: the last slot at or before now. Zero when the first
	// slot is still ahead.
	Slot time.Time
	// Resume is the record of Slot's run when it is still "running" (its process died): the
	// run resumes it instead of starting another (no second image for the same slot).
	Resume *Record
	// Missed counts the slots after the last run's and before Slot that never ran: one run
	// now catches them all up, it is not repeated once per missed slot.
	Missed int
	// Last is the newest record that closed a slot; nil when there is none.
	Last *Record
	Next time.Time // the first slot after now
	// Reason says why no run is due, for people.
	Reason string
}

// maxMissed bounds the count of missed slots (and the work of counting them).
const maxMissed = 10000

// Decide says whether a run is due at now, given the schedule's records (newest first, as
// RecordStore.List returns them). Due when the last slot at or before now has no record that
// closed it (Record.Done); a record of that slot still running is resumed. Records of not-due
// and skipped-locked runs, and manual runs (no slot), close nothing.
func (sl *Slots) Decide(now time.Time, records []Record) Decision {
	d := Decision{Next: sl.Next(now)}
	for i := range records {
		if records[i].Done() && !records[i].Due.IsZero() {
			d.Last = &records[i]
			break
		}
	}
	slot, ok := sl.Latest(now)
	if !ok {
		d.Reason = fmt.Sprintf("not due: the first slot is %s", sl.Format(d.Next))
		return d
	}
	d.Slot = slot
	for i := range records {
		r := &records[i]
		if !r.Due.Equal(slot) {
			continue
		}
		if r.Done() {
			d.Reason = fmt.Sprintf("not due: the run %s of the slot %s ended %s; the next slot is %s", r.ID, sl.Format(slot), r.Result, sl.Format(d.Next))
			return d
		}
		if r.Result == ResultRunning && d.Resume == nil {
			d.Resume = r
		}
	}
	d.Due = true
	if d.Last != nil && d.Last.Due.Before(slot) {
		for t := sl.Next(d.Last.Due); t.Before(slot) && d.Missed < maxMissed; t = sl.Next(t) {
			d.Missed++
		}
	}
	return d
}

// Format renders a slot in the schedule's zone, and in UTC when that is another zone:
// "Sun 2026-01-04 02:00 CET (01:00 UTC)".
func (sl *Slots) Format(t time.Time) string {
	local := t.In(sl.loc)
	s := local.Format("Mon 2006-01-02 15:04 MST")
	if sl.loc.String() != "UTC" {
		s += t.UTC().Format(" (15:04 UTC)")
	}
	return s
}
