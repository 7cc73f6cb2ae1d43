package schedule

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/lock"
)

// The interfaces a run needs, declared here and satisfied by the CLI's wiring over
// images.Pipeline, rollout.Run with the health gate, the scanner and the provider. Nothing
// here reaches the cloud or SSH itself.

// Builder builds an image block: boot, mirror, harden, scan, gate, publish.
type Builder interface {
	// Build builds the image block named image. A build below its gate publishes nothing
	// and returns a Build with Gated set and the failed rules, and an error.
	Build(ctx context.Context, image string) (Build, error)
}

// Build is what an image build left.
type Build struct {
	ImageID     string // the Glance image published; "" when none
	Score       *float64
	MinScore    *float64
	Gated       bool     // below min_score: nothing published
	FailedRules []string // fail or error on the builder, high severity first
	PassedRules []string // pass on the builder: what drift is measured against
	Datastream  Digest   // the content it was scanned with
}

// Roller moves fleets onto an image with their upgrade blocks (gates, budget, rollback),
// resuming from the servers' marks what a killed run left.
type Roller interface {
	// FleetImages are the distinct images the fleet's servers run now.
	FleetImages(ctx context.Context, fleet string) ([]string, error)
	// Roll moves fleet onto imageID. A failed rollout returns what it did and an error.
	Roll(ctx context.Context, fleet, imageID string) (Rollout, error)
}

// Rollout is what a fleet's rollout did.
type Rollout struct {
	RolloutID string
	// Rebuilt counts the servers rebuilt onto the image that passed their gates; Skipped
	// those already on it and healthy (a resumed run's earlier work).
	Rebuilt, Skipped, Failed, RolledBack int
	Peak, Budget                         int
	RolledBackAll                        bool // the fleet is back on its previous images
	Aborted                              bool // stopped by a request (upgrade FLEET -abort)
}

// Scanner scans a fleet and writes its reports.
type Scanner interface {
	// Scan scans the fleet's servers with the profile of their image.
	Scan(ctx context.Context, fleet string) ([]ScannedHost, error)
	// Report writes the fleet's last scan as text, JSON and JUnit with the drift flagged,
	// and returns where.
	Report(fleet string, drift []DriftFinding) (string, error)
}

// ScannedHost is one server's scan.
type ScannedHost struct {
	Server  string
	ImageID string // the image the server runs ("" when Nova does not say)
	Score   *float64
	Status  string
	Failed  []string // the rules that failed (fail or error)
}

// ImageCatalog reads the images the servers run.
type ImageCatalog interface {
	// Published returns the image's name and the score it was published with (its Glance
	// property hardenctl_score); ok false when the image is not one hardenctl published.
	Published(ctx context.Context, imageID string) (name string, score float64, ok bool, err error)
}

// Locker takes the configuration's cloud lock for the whole run.
type Locker interface {
	// Lock takes it; the returned context ends when the lock is lost. A lock held by
	// another is an error wrapping *lock.HeldError.
	Lock(ctx context.Context) (context.Context, func(), error)
}

// RunSpec is one `schedule run`.
type RunSpec struct {
	Config   *config.Config
	Schedule *config.Schedule
	IfDue    bool // --if-due: only when a slot is due (else --now: a manual run outside the slots)
	// Who, Host, Version, ConfigDigest and Datastreams go into the record as they are.
	Who          Who
	Host         string
	Version      string
	ConfigDigest string
	Datastreams  []Digest
	Now          func() time.Time // nil: time.Now
}

// RunDeps are a run's collaborators.
type RunDeps struct {
	Store   RecordStore
	Lock    Locker
	Builder Builder
	Roller  Roller
	Scanner Scanner
	Images  ImageCatalog
	Hook    event.Hook // nil: no events
}

// Outcome is what Run did.
type Outcome struct {
	Record  Record
	Stored  bool   // the record is in the store (not-due outcomes are not stored)
	Resumed bool   // the run continued the record of a run whose process died
	Reason  string // for not-due: why
	Pruned  int
	Closed  []string // records of dead runs closed as aborted
}

// Fleet results (FleetResult.Result).
const (
	FleetRunning    = "running"
	FleetSucceeded  = "succeeded"
	FleetFailed     = "failed"
	FleetRolledBack = "rolled-back"
	FleetAborted    = "aborted"
	FleetSkipped    = "skipped" // its image was not built: the fleet stays on its current image
)

// Run is `schedule run NAME`: under the configuration's cloud lock for the whole run, it
// builds each image, rolls each fleet onto the image just built, scans the scan fleets, and
// keeps the record: put as running when it starts, after each step, and with its result at
// the end; then keep_history is enforced.
//
// With IfDue it runs only when Decide says a slot is due (decided again under the lock); a
// not-due outcome is not stored (the units fire more often than the slots). A record still
// running under the lock is a run whose process died (a live run holds the lock): the run
// of its slot resumes it (the images it recorded are not built again; the rollouts resume
// from the servers' marks), others are closed as aborted. A lock held by another run, an
// apply or an image build is recorded as skipped-locked, and is no error.
func Run(ctx context.Context, spec RunSpec, deps RunDeps) (Outcome, error) {
	r := &runner{spec: spec, deps: deps, gate: event.NewGate(deps.Hook), now: spec.Now}
	if r.now == nil {
		r.now = time.Now
	}
	return r.run(ctx)
}

type runner struct {
	spec  RunSpec
	deps  RunDeps
	gate  *event.Gate
	now   func() time.Time
	slots *Slots
}

func (r *runner) info(action, msg string) {
	r.gate.Send(event.Event{Kind: event.KindSchedule, Address: r.spec.Schedule.Name, Action: action, Phase: event.Info, Message: msg})
}

func (r *runner) run(ctx context.Context) (Outcome, error) {
	s := r.spec.Schedule
	sl, err := NewSlots(s)
	if err != nil {
		return Outcome{}, err
	}
	r.slots = sl
	var d Decision
	if r.spec.IfDue {
		records, err := r.deps.Store.List(ctx, s.Name)
		if err != nil {
			return Outcome{}, err
		}
		if d = sl.Decide(r.now(), records); !d.Due {
			return r.notDue(d), nil
		}
	}
	lctx, release, err := r.deps.Lock.Lock(ctx)
	var held *lock.HeldError
	if errors.As(err, &held) {
		return r.skipped(ctx, d, err)
	}
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	ctx = lctx

	// Under the lock: decide again (another scheduler may have just closed the slot).
	records, err := r.deps.Store.List(ctx, s.Name)
	if err != nil {
		return Outcome{}, err
	}
	var resume *Record
	if r.spec.IfDue {
		if d = sl.Decide(r.now(), records); !d.Due {
			return r.notDue(d), nil
		}
		resume = d.Resume
	}
	out := Outcome{}
	for _, old := range records {
		if old.Result != ResultRunning || resume != nil && old.ID == resume.ID {
			continue
		}
		old.Result, old.Ended = ResultAborted, r.now()
		old.Error = joinErr(old.Error, "the run's process ended without closing its record (found running under the lock, not resumed)")
		if err := r.deps.Store.Put(ctx, old); err != nil {
			return out, err
		}
		out.Closed = append(out.Closed, old.ID)
	}

	var rec Record
	if resume != nil {
		rec, out.Resumed = *resume, true
		r.info("resume", fmt.Sprintf("resuming run %s of the slot %s: its process died", rec.ID, sl.Format(rec.Due)))
	} else {
		started := r.now()
		rec = Record{ID: NewID(started), Config: r.spec.Config.Name, Schedule: s.Name, Trigger: TriggerManual, Started: started}
		if r.spec.IfDue {
			rec.Trigger, rec.Due = TriggerTimer, d.Slot
		}
	}
	rec.Who, rec.Host, rec.Version = r.spec.Who, r.spec.Host, r.spec.Version
	rec.ConfigDigest, rec.Datastreams = r.spec.ConfigDigest, mergeDigests(rec.Datastreams, r.spec.Datastreams)
	rec.Result, rec.Ended = ResultRunning, time.Time{}
	if d.Missed > 0 && !out.Resumed {
		rec.Missed = d.Missed
		r.info("catch up", fmt.Sprintf("%d slot(s) before %s never ran: this one run catches them up", d.Missed, sl.Format(d.Slot)))
	}
	if err := r.deps.Store.Put(ctx, rec); err != nil {
		return out, fmt.Errorf("record the start of the run: %w", err)
	}
	out.Stored = true
	r.gate.Send(event.Event{Kind: event.KindSchedule, Address: s.Name, Action: "run", Phase: event.Start, Message: "run " + rec.ID})
	start := r.now()

	runErr := r.steps(ctx, &rec, records)
	rec.Ended = r.now()
	switch {
	case runErr == nil:
		rec.Result = ResultSucceeded
	case ctx.Err() != nil || errors.Is(runErr, errAborted):
		rec.Result = ResultAborted
	default:
		rec.Result = ResultFailed
	}
	if runErr != nil {
		rec.Error = joinErr(rec.Error, runErr.Error())
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	perr := r.deps.Store.Put(pctx, rec)
	if perr == nil && s.KeepHistory > 0 {
		out.Pruned, perr = r.deps.Store.Prune(pctx, s.Name, s.KeepHistory)
	}
	out.Record = rec
	r.gate.Send(event.Event{Kind: event.KindSchedule, Address: s.Name, Action: "run", Phase: event.End, Status: rec.Result,
		Elapsed: r.now().Sub(start), Err: runErr, Message: "run " + rec.ID})
	if perr != nil {
		return out, fmt.Errorf("record the end of run %s: %w", rec.ID, perr)
	}
	return out, nil
}

var errAborted = errors.New("aborted")

func (r *runner) notDue(d Decision) Outcome {
	return Outcome{Reason: d.Reason, Record: Record{Config: r.spec.Config.Name, Schedule: r.spec.Schedule.Name,
		Trigger: TriggerTimer, Due: d.Slot, Result: ResultNotDue}}
}

// skipped records that the lock was held: no run, no error.
func (r *runner) skipped(ctx context.Context, d Decision, lockErr error) (Outcome, error) {
	now := r.now()
	rec := Record{ID: NewID(now), Config: r.spec.Config.Name, Schedule: r.spec.Schedule.Name, Trigger: TriggerManual,
		Started: now, Ended: now, Who: r.spec.Who, Host: r.spec.Host, Version: r.spec.Version,
		ConfigDigest: r.spec.ConfigDigest, Datastreams: r.spec.Datastreams, Result: ResultSkippedLocked, Error: lockErr.Error()}
	if r.spec.IfDue {
		rec.Trigger, rec.Due = TriggerTimer, d.Slot
	}
	out := Outcome{Record: rec}
	if err := r.deps.Store.Put(ctx, rec); err != nil {
		return out, fmt.Errorf("record the skipped run: %w", err)
	}
	out.Stored = true
	r.info("skipped-locked", lockErr.Error())
	if k := r.spec.Schedule.KeepHistory; k > 0 {
		n, err := r.deps.Store.Prune(ctx, r.spec.Schedule.Name, k)
		out.Pruned = n
		return out, err
	}
	return out, nil
}

// steps builds, rolls and scans, putting the record after each step. What a resumed record
// already holds is not done again: a built image, a fleet that succeeded, a fleet scanned.
func (r *runner) steps(ctx context.Context, rec *Record, history []Record) error {
	cfg, s := r.spec.Config, r.spec.Schedule
	var errs []error
	put := func() {
		if err := r.deps.Store.Put(ctx, *rec); err != nil {
			r.info("record", fmt.Sprintf("could not update the record (the run goes on): %v", err))
		}
	}
	built := map[string]*ImageResult{}
	for i := range rec.Images {
		built[rec.Images[i].Name] = &rec.Images[i]
	}
	for _, name := range s.Images {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		if im := built[name]; im != nil && im.Gate != "" {
			r.info("build", fmt.Sprintf("image %s: recorded as %s (%s) by this run before it died: not built again", name, im.Gate, orNone(im.ID)))
			if im.Gate != GatePassed {
				errs = append(errs, fmt.Errorf("image %s: %s", name, orNone(im.Error)))
			}
			continue
		}
		b, err := r.deps.Builder.Build(ctx, name)
		ir := ImageResult{Name: name, ID: b.ImageID, Score: b.Score, MinScore: b.MinScore, FailedRules: b.FailedRules}
		switch {
		case err == nil && b.ImageID != "":
			ir.Gate, ir.FailedRules, ir.PassedRules = GatePassed, nil, b.PassedRules
		case b.Gated:
			ir.Gate = GateFailed
		default:
			ir.Gate = GateSkipped // the build broke before its gate spoke
		}
		if err == nil && b.ImageID == "" {
			err = fmt.Errorf("the build of image %s published nothing", name)
		}
		if err != nil {
			ir.Error = err.Error()
			errs = append(errs, fmt.Errorf("image %s: %w", name, err))
		}
		if b.Datastream.Name != "" {
			rec.Datastreams = mergeDigests(rec.Datastreams, []Digest{b.Datastream})
		}
		rec.Images = append(rec.Images, ir)
		built[name] = &rec.Images[len(rec.Images)-1]
		put()
	}

	rolled := map[string]int{}
	for i := range rec.Fleets {
		rolled[rec.Fleets[i].Name] = i
	}
	for _, name := range s.Fleets {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		f := cfg.Fleet(name)
		if f == nil {
			errs = append(errs, fmt.Errorf("fleet %s: not in the configuration", name))
			continue
		}
		i, seen := rolled[name]
		if !seen {
			rec.Fleets = append(rec.Fleets, FleetResult{Name: name})
			i = len(rec.Fleets) - 1
			rolled[name] = i
		}
		fr := &rec.Fleets[i]
		if fr.Result == FleetSucceeded || fr.Result == FleetSkipped {
			continue
		}
		im := built[f.Image.Name]
		if im == nil || im.Gate != GatePassed || im.ID == "" {
			fr.Result = FleetSkipped
			fr.Error = fmt.Sprintf("image %s was not published by this run: the fleet stays on its current image", f.Image.Name)
			put()
			continue
		}
		if fr.FromImage == "" {
			from, err := r.deps.Roller.FleetImages(ctx, name)
			if err != nil {
				fr.Result, fr.Error = FleetFailed, err.Error()
				errs = append(errs, fmt.Errorf("fleet %s: %w", name, err))
				put()
				continue
			}
			fr.FromImage = strings.Join(from, ",")
		}
		resumed := fr.Result == FleetRunning
		prevRebuilt, prevPeak := fr.Rebuilt, fr.PeakUnavailable
		fr.ToImage, fr.Result = im.ID, FleetRunning
		put() // the rollout's target is recorded before the first rebuild
		ro, err := r.deps.Roller.Roll(ctx, name, im.ID)
		fr.RolloutID = ro.RolloutID
		fr.Rebuilt, fr.Failed, fr.RolledBack = ro.Rebuilt, ro.Failed, ro.RolledBack
		if resumed {
			// what the dead run rebuilt is skipped now: healthy on the target by its marks
			fr.Rebuilt = max(prevRebuilt, ro.Rebuilt+ro.Skipped)
		}
		fr.PeakUnavailable, fr.MaxUnavailable = max(prevPeak, ro.Peak), ro.Budget
		switch {
		case err == nil:
			fr.Result, fr.Error = FleetSucceeded, ""
		case ro.Aborted || ctx.Err() != nil:
			fr.Result, fr.Error = FleetAborted, err.Error()
			errs = append(errs, fmt.Errorf("fleet %s: %w: %w", name, errAborted, err))
		case ro.RolledBackAll:
			fr.Result, fr.Error = FleetRolledBack, err.Error()
			errs = append(errs, fmt.Errorf("fleet %s: %w", name, err))
		default:
			fr.Result, fr.Error = FleetFailed, err.Error()
			errs = append(errs, fmt.Errorf("fleet %s: %w", name, err))
		}
		put()
		if fr.Result == FleetAborted {
			return errors.Join(errs...)
		}
	}

	scanned := map[string]bool{}
	for _, sc := range rec.Scans {
		scanned[sc.Fleet] = true
	}
	for _, name := range s.Scan {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		if scanned[name] {
			continue
		}
		hosts, err := r.deps.Scanner.Scan(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("scan fleet %s: %w", name, err))
			continue
		}
		res := ScanResult{Fleet: name}
		for _, h := range hosts {
			res.Hosts = append(res.Hosts, HostScore{Server: h.Server, Score: h.Score, Status: h.Status})
		}
		drift, err := r.drift(ctx, hosts, append([]Record{*rec}, history...))
		if err != nil {
			errs = append(errs, fmt.Errorf("drift of fleet %s: %w", name, err))
		}
		rec.Scans = append(rec.Scans, res)
		rec.Drift = append(rec.Drift, drift...)
		where, err := r.deps.Scanner.Report(name, drift)
		if err != nil {
			errs = append(errs, fmt.Errorf("report of fleet %s: %w", name, err))
		}
		msg := fmt.Sprintf("fleet %s: %d server(s) scanned, %d below their image's published score; reports in %s", name, len(hosts), len(drift), where)
		r.info("scan", msg)
		put()
	}
	return errors.Join(errs...)
}

// drift compares each scanned server with the score its image was published with; the
// rules that went from pass to fail come from the build's passing rules, kept in the record
// of the run that built the image (history).
func (r *runner) drift(ctx context.Context, hosts []ScannedHost, history []Record) ([]DriftFinding, error) {
	var out []DriftFinding
	var errs []error
	type pub struct {
		name  string
		score float64
		ok    bool
	}
	cache := map[string]pub{}
	for _, h := range hosts {
		if h.Score == nil || h.ImageID == "" {
			continue
		}
		p, seen := cache[h.ImageID]
		if !seen {
			name, score, ok, err := r.deps.Images.Published(ctx, h.ImageID)
			if err != nil {
				errs = append(errs, err)
			}
			p = pub{name, score, ok && err == nil}
			cache[h.ImageID] = p
		}
		// the image's score is published with 2 decimals: compare at that precision
		if !p.ok || math.Round(*h.Score*100) >= math.Round(p.score*100) {
			continue
		}
		f := DriftFinding{Server: h.Server, Image: h.ImageID, ImageName: p.name, ImageScore: p.score, Score: *h.Score}
		if passed, ok := passedRules(history, h.ImageID); ok {
			for _, rule := range h.Failed {
				if slices.Contains(passed, rule) {
					f.RulesFailed = append(f.RulesFailed, rule)
				}
			}
		} else {
			f.Note = "the image's passing rules are not recorded (built outside a scheduled run, or its run's record was pruned): the rules that changed are unknown"
		}
		out = append(out, f)
	}
	return out, errors.Join(errs...)
}

// passedRules are the rules image id passed when it was built, from the record of the run
// that built it.
func passedRules(history []Record, id string) ([]string, bool) {
	for _, rec := range history {
		for _, im := range rec.Images {
			if im.ID == id && im.Gate == GatePassed && im.PassedRules != nil {
				return im.PassedRules, true
			}
		}
	}
	return nil, false
}

func mergeDigests(have, add []Digest) []Digest {
	out := append([]Digest(nil), have...)
	for _, d := range add {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
