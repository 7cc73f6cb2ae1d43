package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/inventory"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/rollout"
	"github.com/hardenctl/hardenctl/schedule"
)

// Exit codes of schedule run (documented in its help).
const (
	exitScheduleFailed  = 3 // an image failed its gate or its build, a rollout failed or was rolled back, a scan failed
	exitScheduleAborted = 5 // stopped by a signal, a lost lock, or upgrade FLEET -abort
)

type scheduleRunOptions struct {
	configFlags
	cloudFlags
	ifDue       bool
	now         bool
	json        bool
	lockTimeout time.Duration
	poll        time.Duration
}

func newScheduleRunCmd(g *globals) *cobra.Command {
	var o scheduleRunOptions
	cmd := &cobra.Command{
		Use:   "run NAME (--if-due | --now)",
		Short: "Run the schedule NAME: build its images, roll its fleets onto them, scan its scan fleets",
		Long: `Runs a schedule block under the configuration's cloud lock, held for the whole run (the
lock apply, destroy and image build hold): builds each image (a build below its gate
publishes nothing and leaves the fleets of that image on their current image; the run is
then failed, with the failed rules), rolls each fleet onto the image just built with its
upgrade block (gates, budget, rollback; holding the fleet's upgrade lock, so upgrade FLEET
-pause/-abort reach it), then scans the scan fleets and flags drift: a server scoring below
the score its image was published with, naming the rules its image passed that it fails.

--if-due (what the systemd timer and the CronJob call) runs only when a slot is due: the
last slot at or before now has no record that closed it; one run catches up any number of
missed slots. A not-due outcome prints "not due" and is not recorded (the units fire more
often than the slots). --now runs at once, as a manual run outside the slots.

The record (schedule history NAME) is put in the object store when the run starts
(running), after each image, rollout and scan, and at the end; keep_history is enforced.
A run whose process died leaves its record running: the next --if-due run of that slot
resumes it (the images it recorded are not built again; the rollouts resume from the
servers' marks) and completes it. A lock held by another run, apply or image build is
recorded as skipped-locked (exit 0). After a kill -9, the dead run's leases hold the locks
until they expire (2 minutes): wait with --lock-timeout, or force-unlock.

Progress goes to stderr; stdout gets the outcome (-json: the record).

Exit codes: 0 succeeded, not due, or skipped-locked; 1 an error before the run (configuration,
cloud, record store); 3 the run failed; 5 it was aborted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.ifDue == o.now {
				return errors.New("say which: --if-due (only when a slot is due) or --now")
			}
			return runScheduleRun(cmd.Context(), g, o, args[0])
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.ifDue, "if-due", false, "run only when a slot is due (the units call this)")
	f.BoolVar(&o.now, "now", false, "run now, outside the slots")
	f.BoolVar(&o.json, "json", false, "print the run's record as JSON on stdout")
	f.DurationVar(&o.lockTimeout, "lock-timeout", 0, "wait this long for the configuration's lock (and each fleet's upgrade lock) before recording skipped-locked")
	f.DurationVar(&o.poll, "poll", 0, "how often a waiting rollout reads the fleet and the requests again (default 5s)")
	return cmd
}

func runScheduleRun(ctx context.Context, g *globals, o scheduleRunOptions, name string) error {
	cfg, cloud, err := loadConfigAndCloud(ctx, g, o.configFlags, o.cloudFlags)
	if err != nil {
		return err
	}
	s, err := scheduleNamed(cfg, name)
	if err != nil {
		return err
	}
	store, err := openRecordStore(g, cfg, s, cloud)
	if err != nil {
		return err
	}
	digest, err := configDigest(g.configPath)
	if err != nil {
		return err
	}
	var datastreams []schedule.Digest
	if cfg.Compliance.ContentDir != "" {
		content, err := hardening.Content{Dir: cfg.Compliance.ContentDir}.Load()
		if err != nil {
			return err
		}
		for _, ds := range content {
			datastreams = append(datastreams, schedule.Digest{Name: ds.Name, Digest: "sha256:" + ds.SHA256})
		}
	}
	host, _ := os.Hostname()
	runDir := filepath.Join(cfg.Compliance.ReportDir, "schedule-"+name+"-"+hardening.NewRunID(time.Now()))
	hook := &event.Text{W: g.stderr, Verbose: g.verbose}
	w := &scheduleWiring{g: g, cfg: cfg, cloud: cloud, schedule: name, runDir: runDir, hook: hook, lockTimeout: o.lockTimeout, poll: o.poll}
	spec := schedule.RunSpec{Config: cfg, Schedule: s, IfDue: o.ifDue, Who: cloud.Who(), Host: host, Version: versionString(buildVersion()),
		ConfigDigest: digest, Datastreams: datastreams}
	out, err := schedule.Run(ctx, spec, schedule.RunDeps{Store: store, Lock: w, Builder: w, Roller: w,
		Scanner: w, Images: w, Hook: hook})
	if err != nil {
		return err
	}
	if o.json && out.Record.Result != schedule.ResultNotDue {
		b, err := schedule.EncodeRecord(out.Record)
		if err != nil {
			return err
		}
		if _, err := g.stdout.Write(b); err != nil {
			return err
		}
	} else {
		writeRunOutcome(g.stdout, out, store)
	}
	switch out.Record.Result {
	case schedule.ResultFailed:
		return &exitError{code: exitScheduleFailed}
	case schedule.ResultAborted:
		return &exitError{code: exitScheduleAborted}
	}
	return nil
}

// versionString is the hardenctl of a record: "v1.2.3 (commit abc, modified)".
func versionString(v versionInfo) string {
	c := v.Commit
	if c == "" {
		c = "unknown"
	}
	if v.Modified {
		c += ", modified"
	}
	return fmt.Sprintf("%s (commit %s)", v.Version, c)
}

// configDigest is the digest of the configuration's files: sha256 over each *.hcl file's
// name and content, in name order ("sha256:...").
func configDigest(path string) (string, error) {
	files, err := filepath.Glob(filepath.Join(path, "*.hcl"))
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		files = []string{path}
	}
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("digest the configuration: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// writeRunOutcome prints what the run did, for people.
func writeRunOutcome(w io.Writer, out schedule.Outcome, store schedule.RecordStore) {
	r := out.Record
	switch r.Result {
	case schedule.ResultNotDue:
		fmt.Fprintln(w, out.Reason)
		return
	case schedule.ResultSkippedLocked:
		fmt.Fprintf(w, "skipped-locked: %s\nRecorded as %s in the %s.\n", r.Error, r.ID, store.Where())
		return
	}
	for _, id := range out.Closed {
		fmt.Fprintf(w, "Closed the record %s of a run whose process died as aborted.\n", id)
	}
	how := r.Trigger
	if !r.Due.IsZero() {
		how += ", slot " + r.Due.UTC().Format("2006-01-02 15:04 UTC")
	}
	if out.Resumed {
		how += ", resumed"
	}
	fmt.Fprintf(w, "Run %s of schedule %s (%s): %s in %s\n", r.ID, r.Schedule, how, r.Result, r.Ended.Sub(r.Started).Round(time.Second))
	writeRecordDetail(w, r, "  ")
	fmt.Fprintf(w, "Recorded in the %s", store.Where())
	if out.Pruned > 0 {
		fmt.Fprintf(w, "; %d older record(s) pruned (keep_history)", out.Pruned)
	}
	fmt.Fprintln(w, ".")
}

// writeRecordDetail prints a record's images, fleets, scans, drift and error.
func writeRecordDetail(w io.Writer, r schedule.Record, indent string) {
	for _, im := range r.Images {
		fmt.Fprintf(w, "%simage %s: %s, gate %s", indent, im.Name, orDash(im.ID), im.Gate)
		if im.Score != nil {
			fmt.Fprintf(w, ", score %.2f", *im.Score)
		}
		if im.MinScore != nil {
			fmt.Fprintf(w, " (min %.2f)", *im.MinScore)
		}
		fmt.Fprintln(w)
		if len(im.FailedRules) > 0 {
			fmt.Fprintf(w, "%s  failed rules: %s\n", indent, strings.Join(im.FailedRules, ", "))
		}
	}
	for _, f := range r.Fleets {
		fmt.Fprintf(w, "%sfleet %s: %s, %s -> %s, %d rebuilt, %d failed, %d rolled back, peak %d/%d unavailable\n", indent, f.Name, f.Result,
			orDash(f.FromImage), orDash(f.ToImage), f.Rebuilt, f.Failed, f.RolledBack, f.PeakUnavailable, f.MaxUnavailable)
		if f.Error != "" {
			fmt.Fprintf(w, "%s  %s\n", indent, f.Error)
		}
	}
	for _, sc := range r.Scans {
		var hs []string
		for _, h := range sc.Hosts {
			score := "-"
			if h.Score != nil {
				score = strconv.FormatFloat(*h.Score, 'f', 2, 64)
			}
			hs = append(hs, fmt.Sprintf("%s %s (%s)", h.Server, score, h.Status))
		}
		fmt.Fprintf(w, "%sscan %s: %s\n", indent, sc.Fleet, strings.Join(hs, ", "))
	}
	for _, d := range r.Drift {
		fmt.Fprintf(w, "%sDRIFT %s\n", indent, driftLine(d))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%serror: %s\n", indent, r.Error)
	}
}

func driftLine(d schedule.DriftFinding) string {
	img := d.Image
	if d.ImageName != "" {
		img = d.ImageName + " (" + d.Image + ")"
	}
	s := fmt.Sprintf("%s: %.2f, below image %s's published score %.2f", d.Server, d.Score, img, d.ImageScore)
	switch {
	case len(d.RulesFailed) > 0:
		s += "; pass -> fail: " + strings.Join(d.RulesFailed, ", ")
	case d.Note != "":
		s += "; " + d.Note
	}
	return s
}

// scheduleWiring satisfies the interfaces schedule.Run declares, over the same parts image
// build, upgrade and scan use.
type scheduleWiring struct {
	g           *globals
	cfg         *config.Config
	cloud       *openstack.Client
	schedule    string
	runDir      string
	hook        event.Hook
	lockTimeout time.Duration
	poll        time.Duration

	scans     map[string]*fleetScan // the last scan of each fleet, for its reports
	published map[string]images.Image
}

var (
	_ schedule.Locker       = (*scheduleWiring)(nil)
	_ schedule.Builder      = (*scheduleWiring)(nil)
	_ schedule.Roller       = (*scheduleWiring)(nil)
	_ schedule.Scanner      = (*scheduleWiring)(nil)
	_ schedule.ImageCatalog = (*scheduleWiring)(nil)
)

// Lock takes the configuration's cloud lock (holdLock, as apply and image build do).
func (w *scheduleWiring) Lock(ctx context.Context) (context.Context, func(), error) {
	return holdLock(ctx, w.g, w.cloud, w.cfg, "schedule run "+w.schedule, w.lockTimeout)
}

// ruleName is a rule's id without the ComplianceAsCode prefix, as the records keep it.
func ruleName(idref string) string {
	return strings.TrimPrefix(idref, "xccdf_org.ssgproject.content_rule_")
}

// Build is image build NAME without its lock (the run holds it): images.SpecFor and the
// pipeline.
func (w *scheduleWiring) Build(ctx context.Context, name string) (schedule.Build, error) {
	spec, err := images.SpecFor(w.cfg, name)
	if err != nil {
		return schedule.Build{}, err
	}
	p := &images.Pipeline{Cloud: w.cloud, SSH: buildSSH{cfg: w.cfg, user: spec.SSHUser, logger: w.g.logger},
		RunDir: filepath.Join(w.runDir, "image-"+name), Logger: w.g.logger, Hook: w.hook}
	res, err := p.Build(ctx, spec)
	min := spec.MinScore
	b := schedule.Build{MinScore: &min}
	if res != nil {
		b.ImageID = res.Image.ID
		if res.Scan != nil && res.Scan.Result != nil {
			score := res.Scan.Result.Score
			b.Score = &score
			b.Datastream = schedule.Digest{Name: res.Scan.Datastream.Name, Digest: "sha256:" + res.Scan.Datastream.SHA256}
			for _, rr := range res.Scan.Result.Rules {
				if rr.Result == hardening.ResultPass {
					b.PassedRules = append(b.PassedRules, ruleName(rr.IDRef))
				}
			}
		}
	}
	var ge *images.GateError
	if errors.As(err, &ge) {
		b.Gated = true
		for _, rr := range ge.Failed {
			b.FailedRules = append(b.FailedRules, ruleName(rr.IDRef))
		}
	}
	return b, err
}

// FleetImages are the images the fleet's servers run, from the rollout's fleet list.
func (w *scheduleWiring) FleetImages(ctx context.Context, fleet string) ([]string, error) {
	servers, err := w.cloud.ListFleet(ctx, plan.FleetTags(w.cfg.Name, fleet))
	if err != nil {
		return nil, fmt.Errorf("list fleet %s: %w", fleet, err)
	}
	var ids []string
	for _, s := range servers {
		if s.ImageID != "" && !slices.Contains(ids, s.ImageID) {
			ids = append(ids, s.ImageID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Roll is upgrade FLEET onto the image just built: the fleet's upgrade lock for the
// rollout, the health gate (health.ForFleet), rollout.Run. (The configuration's lock is the
// run's, held throughout.) A local adapter of runUpgrade's wiring until that is shared.
func (w *scheduleWiring) Roll(ctx context.Context, fleet, imageID string) (schedule.Rollout, error) {
	lctx, r, release, err := wireRollout(ctx, w.g, rolloutWiring{cfg: w.cfg, cloud: w.cloud, fleet: fleet, target: imageID,
		operation: "schedule " + w.schedule + ": upgrade " + fleet, gateDir: filepath.Join(w.runDir, "upgrade-"+fleet),
		lockTimeout: w.lockTimeout, poll: w.poll})
	if err != nil {
		return schedule.Rollout{}, err
	}
	defer release()
	res, err := r.Start(lctx, w.hook)
	return rolloutOutcome(res, err), err
}

// rolloutOutcome counts a rollout's servers for the record, each server once: rebuilt (on
// the target, passed its gates, not rolled back), failed (a gate after its rebuild onto the
// target failed), rolled back.
func rolloutOutcome(res *rollout.Result, err error) schedule.Rollout {
	out := schedule.Rollout{RolledBackAll: errors.Is(err, rollout.ErrRolledBack), Aborted: errors.Is(err, rollout.ErrAborted)}
	if res == nil {
		return out
	}
	out.RolloutID, out.Skipped, out.Peak, out.Budget = res.RolloutID, len(res.Skipped), res.Peak, res.Budget
	passed, failed, back := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range res.Servers {
		switch {
		case s.Work == rollout.WorkRollback || s.Work == rollout.WorkRegate:
			back[s.ID] = true
		case s.Passed:
			passed[s.ID] = true
		default:
			failed[s.ID] = true
		}
	}
	for id := range passed {
		if !back[id] && !failed[id] {
			out.Rebuilt++
		}
	}
	out.Failed, out.RolledBack = len(failed), len(back)
	return out
}

// fleetScan is a fleet's last scan, kept for its reports.
type fleetScan struct {
	sum     hardening.Summary
	results []hardening.HostResult
	images  map[string]string // host name -> image id
}

// Scan is scan --fleet FLEET with the configuration's settings (the scan command's flag
// defaults, then the ssh, bastion and compliance blocks; the fleet's image's profile).
func (w *scheduleWiring) Scan(ctx context.Context, fleet string) ([]schedule.ScannedHost, error) {
	var o scanOptions
	o.flags(pflag.NewFlagSet("scan", pflag.ContinueOnError)) // the flags' defaults
	o.minScore, o.profile, o.fleets = -1, "", []string{fleet}
	o.applyConfig(w.cfg, func(string) bool { return false })
	o.reportDir = filepath.Join(w.runDir, "scan-"+fleet)
	choice, err := o.resolveProfile()
	if err != nil {
		return nil, err
	}
	var tailoring []byte
	if choice.Tailoring != "" {
		if tailoring, err = os.ReadFile(choice.Tailoring); err != nil {
			return nil, fmt.Errorf("read the tailoring of profile %s: %w", choice.Name, err)
		}
	}
	found, err := inventory.Fleets(ctx, w.cloud, w.cfg, []string{fleet}, inventory.Options{KeyWait: o.connectTimeout, Logger: w.g.logger})
	if err != nil {
		return nil, err
	}
	known, cleanup, err := inventory.KnownHosts(o.knownHosts, found)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	o.knownHosts = known
	hosts := make([]hardening.Host, len(found))
	imgs := map[string]string{}
	for i, h := range found {
		hosts[i] = hardening.Host{Name: h.Name, Address: h.Address}
		imgs[h.Name] = h.ImageID
	}
	sum, results, err := oscapHosts(ctx, w.g, o, newSSHDialer, hosts, choice.Profile, tailoring, choice.Source, w.hook)
	if err != nil {
		return nil, err
	}
	if w.scans == nil {
		w.scans = map[string]*fleetScan{}
	}
	w.scans[fleet] = &fleetScan{sum: sum, results: results, images: imgs}
	out := make([]schedule.ScannedHost, len(results))
	for i, r := range results {
		out[i] = schedule.ScannedHost{Server: r.Host, ImageID: imgs[r.Host], Status: string(r.Status)}
		if r.Result != nil {
			score := r.Result.Score
			out[i].Score = &score
			for _, rr := range r.Result.Rules {
				if rr.Result == hardening.ResultFail || rr.Result == hardening.ResultError {
					out[i].Failed = append(out[i].Failed, ruleName(rr.IDRef))
				}
			}
		}
	}
	return out, nil
}

// Report writes the fleet's scan with its drift flagged: summary.json, summary.txt and
// junit.xml in the scan's run directory.
func (w *scheduleWiring) Report(fleet string, drift []schedule.DriftFinding) (string, error) {
	fs := w.scans[fleet]
	if fs == nil {
		return "", fmt.Errorf("fleet %s was not scanned", fleet)
	}
	for _, d := range drift {
		for i := range fs.sum.Hosts {
			if fs.sum.Hosts[i].Host == d.Server {
				img := d.Image
				if d.ImageName != "" {
					img = d.ImageName + " (" + d.Image + ")"
				}
				fs.sum.Hosts[i].Drift = &hardening.Drift{Image: img, ImageScore: d.ImageScore, RulesFailed: d.RulesFailed, Note: d.Note}
			}
		}
	}
	dir := fs.sum.RunDir
	if err := fs.sum.WriteFile(dir); err != nil {
		return "", err
	}
	if err := writeJUnitFile(filepath.Join(dir, "junit.xml"), fs.sum, fs.results); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(dir, "summary.txt"))
	if err != nil {
		return "", fmt.Errorf("write the text report: %w", err)
	}
	werr := fs.sum.WriteText(io.MultiWriter(f, w.g.stderr))
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", fmt.Errorf("write the text report: %w", err)
	}
	return dir, nil
}

// Published reads the score an image was published with (hardenctl_score) from the
// configuration's managed images, listed once.
func (w *scheduleWiring) Published(ctx context.Context, id string) (string, float64, bool, error) {
	if w.published == nil {
		found, err := w.cloud.FindImages(ctx, images.ConfigQuery(w.cfg.Name))
		if err != nil {
			return "", 0, false, fmt.Errorf("list the configuration's images: %w", err)
		}
		w.published = map[string]images.Image{}
		for _, im := range found {
			w.published[im.ID] = im
		}
	}
	im, ok := w.published[id]
	if !ok {
		return "", 0, false, nil
	}
	score, err := strconv.ParseFloat(im.Properties["hardenctl_score"], 64)
	if err != nil {
		return im.Name, 0, false, nil
	}
	return im.Name, score, true, nil
}

// scoresJSON is schedule history --scores -json: per fleet, each run's scores.
type scoresJSON struct {
	Fleet string          `json:"fleet"`
	Runs  []scoresRunJSON `json:"runs"`
}

type scoresRunJSON struct {
	ID      string                  `json:"id"`
	Started time.Time               `json:"started"`
	Hosts   []schedule.HostScore    `json:"hosts"`
	Drift   []schedule.DriftFinding `json:"drift,omitempty"`
}

// writeScores prints each scanned fleet's scores across the runs, oldest first (the trend
// reads downwards); a server below its image's published score is marked "!" and its drift
// listed under the run.
func writeScores(w io.Writer, records []schedule.Record, asJSON bool) error {
	var fleets []string
	byFleet := map[string][]scoresRunJSON{}
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		for _, sc := range r.Scans {
			if _, ok := byFleet[sc.Fleet]; !ok {
				fleets = append(fleets, sc.Fleet)
			}
			run := scoresRunJSON{ID: r.ID, Started: r.Started.UTC(), Hosts: sc.Hosts}
			for _, d := range r.Drift {
				for _, h := range sc.Hosts {
					if h.Server == d.Server {
						run.Drift = append(run.Drift, d)
					}
				}
			}
			byFleet[sc.Fleet] = append(byFleet[sc.Fleet], run)
		}
	}
	if asJSON {
		out := []scoresJSON{}
		for _, f := range fleets {
			out = append(out, scoresJSON{Fleet: f, Runs: byFleet[f]})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(fleets) == 0 {
		fmt.Fprintln(w, "No run has scanned a fleet yet.")
		return nil
	}
	for n, f := range fleets {
		if n > 0 {
			fmt.Fprintln(w)
		}
		var servers []string
		for _, run := range byFleet[f] {
			for _, h := range run.Hosts {
				if !slices.Contains(servers, h.Server) {
					servers = append(servers, h.Server)
				}
			}
		}
		slices.Sort(servers)
		fmt.Fprintf(w, "fleet %s (! below its image's published score)\n", f)
		fmt.Fprintf(w, "%-26s %-17s", "RUN", "STARTED (UTC)")
		for _, s := range servers {
			fmt.Fprintf(w, " %14s", s)
		}
		fmt.Fprintln(w)
		for _, run := range byFleet[f] {
			fmt.Fprintf(w, "%-26s %-17s", run.ID, run.Started.Format("2006-01-02 15:04"))
			for _, s := range servers {
				cell := "-"
				for _, h := range run.Hosts {
					if h.Server != s {
						continue
					}
					cell = h.Status
					if h.Score != nil {
						cell = strconv.FormatFloat(*h.Score, 'f', 2, 64)
					}
					for _, d := range run.Drift {
						if d.Server == s {
							cell += "!"
						}
					}
				}
				fmt.Fprintf(w, " %14s", cell)
			}
			fmt.Fprintln(w)
			for _, d := range run.Drift {
				fmt.Fprintf(w, "  DRIFT %s\n", driftLine(d))
			}
		}
	}
	return nil
}
