package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/rollout"
	"github.com/hardenctl/hardenctl/schedule"
	"github.com/hardenctl/hardenctl/schedule/scheduletest"
)

// schedule history reads the records from the test bed's Swift, in the schedule's container.
func TestScheduleHistorySwift(t *testing.T) {
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("set HARDENCTL_INTEGRATION=1 (make test does) to run against the test bed")
	}
	name := fmt.Sprintf("sh%d", time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	hcl := fmt.Sprintf(`name = %q
zone "app" {}
fleet "db" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.small"
  count  = 1
}
schedule "rebuild" {
  every             = "2w"
  at                = "Sun 02:00 Europe/Berlin"
  scan              = [fleet.db]
  history_container = %q
}
`, name, name+"-history")
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cloud, err := openstack.New(ctx, openstack.Options{Cloud: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cloud.Records(name+"-history", name)
	if err != nil {
		t.Fatal(err)
	}
	rec := scheduletest.SampleRecord("rebuild", time.Now().Add(-time.Hour), 7)
	rec.Config, rec.Who = name, cloud.Who()
	if err := store.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := store.Prune(context.Background(), "rebuild", 0); err != nil {
			t.Error(err)
		}
		if err := cloud.DeleteRecordsContainer(context.Background(), name+"-history"); err != nil {
			t.Error(err)
		}
	})
	r := runCLI(t, "", nil, "-C", dir, "schedule", "history", "rebuild", "--cloud", "demo", "-json")
	if r.code != 0 {
		t.Fatalf("schedule history: exit %d\n%s", r.code, r.stderr)
	}
	var got []schedule.Record
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].ID != rec.ID || got[0].Who.User != "demo" {
		t.Errorf("schedule history -json (%v):\n%s", err, r.stdout)
	}
	r = runCLI(t, "", nil, "-C", dir, "schedule", "history", "rebuild", "--cloud", "demo")
	if r.code != 0 || len(r.stdout) == 0 {
		t.Errorf("schedule history: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// schedule run on the test bed (issue 11). One configuration of its own: image "node" built
// from debian-12-base with the mirror, fleet "app" (2 real servers, booted on debian-12-base
// and then named onto image.node: the schedule rolls them onto each image it builds,
// max_unavailable 1), fleet "db" (1 server, scanned only), records in a container of its
// own. The subtests share it, in order:
//
//   - now: schedule run rebuild --now builds and gates the image, rolls app onto it within
//     its budget, scans db; the record reads back with schedule history and from Swift with
//     the openstack CLI.
//   - gate fails, second run locked: with min_score 100 the build fails its gate; a second
//     schedule run started while the first holds the lock records skipped-locked (exit 0);
//     the first records the failed rules and leaves app on its image (exit 3).
//   - kill and resume: schedule run --if-due (the slot is due: the runs before were manual)
//     is SIGKILLed while app is being rebuilt; after force-unlock (the dead run's leases), the
//     next --if-due resumes that record, builds nothing, completes the rollout and the
//     record; one more --if-due is not due.
func TestScheduleRun(t *testing.T) {
	integration(t)
	b := newScheduleBed(t)

	var image1 string
	t.Run("now", func(t *testing.T) {
		start := time.Now()
		r := b.cli(t, "schedule", "run", "rebuild", "--now", "-poll", "1s")
		t.Logf("schedule run --now (%s):\n%s", time.Since(start).Round(time.Second), r.stdout)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, lastLines(r.stderr, 30))
		}
		recs := b.history(t)
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		rec := recs[0]
		if rec.Result != schedule.ResultSucceeded || rec.Trigger != schedule.TriggerManual || rec.Who.User != "demo" || rec.Host == "" ||
			rec.Version == "" || !strings.HasPrefix(rec.ConfigDigest, "sha256:") || len(rec.Datastreams) == 0 || rec.Ended.IsZero() {
			t.Errorf("record: %+v", rec)
		}
		if len(rec.Images) != 1 || rec.Images[0].Gate != schedule.GatePassed || rec.Images[0].ID == "" || rec.Images[0].Score == nil || len(rec.Images[0].PassedRules) == 0 {
			t.Fatalf("images: %+v", rec.Images)
		}
		image1 = rec.Images[0].ID
		if len(rec.Fleets) != 1 || rec.Fleets[0].FromImage != b.base || rec.Fleets[0].ToImage != image1 || rec.Fleets[0].Rebuilt != 2 ||
			rec.Fleets[0].PeakUnavailable > 1 || rec.Fleets[0].MaxUnavailable != 1 || rec.Fleets[0].Result != schedule.FleetSucceeded {
			t.Errorf("fleets: %+v", rec.Fleets)
		}
		if len(rec.Scans) != 1 || rec.Scans[0].Fleet != "db" || len(rec.Scans[0].Hosts) != 1 || rec.Scans[0].Hosts[0].Score == nil {
			t.Errorf("scans: %+v", rec.Scans)
		}
		b.checkOn(t, image1)
		// The record as the object store has it, read with the openstack CLI.
		obj := b.name + "/rebuild/" + rec.ID + ".json"
		list := b.openstack(t, "object", "list", b.container, "-f", "value", "-c", "Name")
		if !strings.Contains(list, obj) {
			t.Errorf("openstack object list %s:\n%s", b.container, list)
		}
		saved, err := schedule.DecodeRecord([]byte(b.openstack(t, "object", "save", b.container, obj, "--file", "-")))
		if err != nil || saved.ID != rec.ID || saved.Result != schedule.ResultSucceeded || saved.Fleets[0].ToImage != image1 {
			t.Errorf("openstack object save: %v %+v", err, saved)
		}
		if h := b.cli(t, "schedule", "history", "rebuild"); h.code != 0 || !strings.Contains(h.stdout, rec.ID) || !strings.Contains(h.stdout, "app 2 rebuilt") {
			t.Errorf("schedule history: exit %d\n%s%s", h.code, h.stdout, h.stderr)
		}
		if h := b.cli(t, "schedule", "history", "rebuild", "--scores"); h.code != 0 || !strings.Contains(h.stdout, "fleet db") {
			t.Errorf("schedule history --scores: exit %d\n%s%s", h.code, h.stdout, h.stderr)
		}
	})
	if image1 == "" {
		t.Fatal("the first run did not publish an image")
	}

	t.Run("gate fails, second run locked", func(t *testing.T) {
		b.writeConfig(t, 100, "rollback")
		first := b.start(t, "schedule", "run", "rebuild", "--now")
		if !b.waitLocked(t, 2*time.Minute, first) {
			t.Fatalf("the first run never held the lock:\n%s", lastLines(first.out.String(), 20))
		}
		r := b.cli(t, "schedule", "run", "rebuild", "--now")
		if r.code != 0 || !strings.Contains(r.stdout, "skipped-locked") || !strings.Contains(r.stdout, fmt.Sprintf("pid %d", first.cmd.Process.Pid)) {
			t.Errorf("second run: exit %d, want 0 and skipped-locked naming pid %d\n%s%s", r.code, first.cmd.Process.Pid, r.stdout, r.stderr)
		}
		if code := first.wait(t, 10*time.Minute); code != exitScheduleFailed {
			t.Fatalf("the gated run: exit %d, want %d\n%s", code, exitScheduleFailed, lastLines(first.out.String(), 30))
		}
		recs := b.history(t)
		var failed, skipped *schedule.Record
		for i := range recs[:2] {
			switch recs[i].Result {
			case schedule.ResultFailed:
				failed = &recs[i]
			case schedule.ResultSkippedLocked:
				skipped = &recs[i]
			}
		}
		if failed == nil || skipped == nil || !strings.Contains(skipped.Error, "is locked by") {
			t.Fatalf("the newest two records are not one failed, one skipped-locked: %+v", recs[:2])
		}
		im := failed.Images[0]
		if im.Gate != schedule.GateFailed || im.ID != "" || len(im.FailedRules) == 0 || !strings.Contains(failed.Error, "below min_score") {
			t.Errorf("failed run's image: %+v, error %q", im, failed.Error)
		}
		if len(failed.Fleets) != 1 || failed.Fleets[0].Result != schedule.FleetSkipped || failed.Fleets[0].Rebuilt != 0 {
			t.Errorf("failed run's fleets: %+v", failed.Fleets)
		}
		b.checkOn(t, image1)
		t.Logf("gated: %s; failed rules %d, e.g. %s", failed.Error[:min(len(failed.Error), 120)], len(im.FailedRules), im.FailedRules[0])
	})

	t.Run("kill and resume", func(t *testing.T) {
		b.writeConfig(t, 0, "rollback")
		run := b.start(t, "schedule", "run", "rebuild", "--if-due", "-poll", "1s")
		deadline := time.Now().Add(10 * time.Minute)
		killed := false
		for time.Now().Before(deadline) && !run.exited() {
			if b.rebuilding(t) {
				run.cmd.Process.Signal(syscall.SIGKILL)
				run.wait(t, time.Minute)
				killed = true
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !killed {
			t.Fatalf("no rebuild seen before the run ended:\n%s", lastLines(run.out.String(), 30))
		}
		recs := b.history(t)
		dead := recs[0]
		if dead.Result != schedule.ResultRunning || dead.Due.IsZero() || len(dead.Images) != 1 || dead.Images[0].ID == "" || dead.Images[0].ID == image1 {
			t.Fatalf("the killed run's record: %+v", dead)
		}
		imagesBefore := b.managedImages(t)
		for _, args := range [][]string{{"force-unlock", "-force"}, {"force-unlock", "-fleet", "app", "-force"}} {
			if r := b.cli(t, args...); r.code != 0 {
				t.Fatalf("%v: %s", args, r.stderr)
			}
		}
		start := time.Now()
		r := b.cli(t, "schedule", "run", "rebuild", "--if-due", "-poll", "1s")
		t.Logf("resumed run (%s):\n%s", time.Since(start).Round(time.Second), r.stdout)
		if r.code != 0 || !strings.Contains(r.stdout, "resumed") {
			t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, lastLines(r.stderr, 30))
		}
		if after := b.managedImages(t); after != imagesBefore {
			t.Errorf("managed images: %d before the resume, %d after: a second image for the slot", imagesBefore, after)
		}
		recs = b.history(t)
		rec := recs[0]
		if rec.ID != dead.ID || rec.Result != schedule.ResultSucceeded || rec.Fleets[0].ToImage != dead.Images[0].ID || rec.Fleets[0].Rebuilt != 2 ||
			rec.Fleets[0].FromImage != image1 || len(rec.Scans) != 1 || rec.Ended.IsZero() {
			t.Errorf("the resumed record: %+v", rec)
		}
		b.checkOn(t, dead.Images[0].ID)
		if r := b.cli(t, "schedule", "run", "rebuild", "--if-due"); r.code != 0 || !strings.HasPrefix(r.stdout, "not due") {
			t.Errorf("after the slot's run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if n := len(b.history(t)); n != len(recs) {
			t.Errorf("a not-due outcome was recorded: %d records, had %d", n, len(recs))
		}
	})
}

type scheduleBed struct {
	name, dir, bin, container string
	base                      string // debian-12-base's id: app's first image
	cloud                     *openstack.Client
	servers                   []rollout.Server
}

func newScheduleBed(t *testing.T) *scheduleBed {
	t.Helper()
	ctx := context.Background()
	pub, err := os.ReadFile(filepath.Join(testhostsDir(), "keys/id_ed25519.pub"))
	if err != nil {
		t.Fatalf("the test hosts are not prepared: %v", err)
	}
	b := &scheduleBed{name: fmt.Sprintf("sr%d", time.Now().UnixNano()%1e8), dir: t.TempDir()}
	b.container = b.name + "-history"
	b.bin = filepath.Join(t.TempDir(), "hardenctl")
	if out, err := exec.Command("go", "build", "-o", b.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hardenctl: %v\n%s", err, out)
	}
	if b.cloud, err = openstack.New(ctx, openstack.Options{Cloud: "demo"}); err != nil {
		t.Fatal(err)
	}
	if err := b.cloud.CreateKeyPair(ctx, b.name, strings.TrimSpace(string(pub))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		b.cli(t, "force-unlock", "-force")
		b.cli(t, "force-unlock", "-fleet", "app", "-force")
		if r := b.cli(t, "destroy", "-auto-approve"); r.code != 0 {
			t.Errorf("destroy: %s%s", r.stdout, r.stderr)
		}
		found, _ := b.cloud.FindImages(ctx, images.ImageQuery{Tags: []string{images.TagManagedBy, "hardenctl-config:" + b.name}})
		for _, im := range found {
			b.cloud.ReleaseImage(ctx, im.ID, b.name+".app")
			if err := b.cloud.DeleteImage(ctx, im.ID); err != nil {
				t.Errorf("delete image %s: %v", im.ID, err)
			}
		}
		if base, err := b.cloud.ResolveImage(ctx, b.name, "debian-12-base", false); err == nil {
			b.cloud.ReleaseImage(ctx, base, b.name+".app") // a failed first rollout may have held it
		}
		if store, err := b.cloud.Records(b.container, b.name); err == nil {
			store.Prune(ctx, "rebuild", 0)
		}
		b.cloud.DeleteRecordsContainer(ctx, b.container)
		b.cloud.DeleteKeyPair(ctx, b.name)
	})
	// Boot the fleets on debian-12-base, then name app's image block: the schedule rolls it.
	b.writeConfigImage(t, `"debian-12-base"`, 0, "abort")
	if r := b.cli(t, "apply", "-auto-approve", "-server-concurrency", "3"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	b.writeConfig(t, 0, "abort")
	b.servers = b.fleet(t)
	if len(b.servers) != 2 {
		t.Fatalf("fleet app has %d servers, want 2", len(b.servers))
	}
	b.base = b.servers[0].ImageID
	return b
}

// writeConfig names app's image block; onFailure is its upgrade's on_failure (a rollback
// protects the previous image in Glance, which the demo project cannot do to the shared
// debian-12-base: the first rollout, from it, aborts instead).
func (b *scheduleBed) writeConfig(t *testing.T, minScore float64, onFailure string) {
	b.writeConfigImage(t, "image.node", minScore, onFailure)
}

func (b *scheduleBed) writeConfigImage(t *testing.T, appImage string, minScore float64, onFailure string) {
	t.Helper()
	rolled := "[fleet.app]"
	if appImage != "image.node" {
		rolled = "[]" // a rolled fleet must run a built image
	}
	hcl := fmt.Sprintf(`name = %q

%s
mirror "debian" {
  kind    = "apt"
  url     = "http://10.252.0.2:8080/debian"
  suites  = ["bookworm"]
  trusted = true
}

zone "app" {}

image "node" {
  source {
    name = "debian-12-base"
  }
  flavor    = "m1.small"
  network   = "platform"
  mirrors   = [mirror.debian]
  profile   = "standard"
  min_score = %g
}

fleet "app" {
  image    = %s
  zone     = zone.app
  flavor   = "m1.small"
  count    = 2
  network  = "platform"
  key_pair = %q

  upgrade {
    max_unavailable = 1
    canary          = 1
    on_failure      = %q
    health {
      ssh     = true
      tcp     = [22]
      timeout = "3m"
    }
  }
}

fleet "db" {
  image    = "debian-12-base"
  zone     = zone.app
  flavor   = "m1.small"
  count    = 1
  network  = "platform"
  key_pair = %q
}

schedule "rebuild" {
  every             = "1w"
  at                = "Mon 00:00 UTC"
  start             = "2025-01-06"
  images            = [image.node]
  fleets            = %s
  scan              = [fleet.db]
  keep_history      = 10
  history_container = %q
}
`, b.name, testbedAccess(t, filepath.Join(b.dir, "reports")), minScore, appImage, b.name, onFailure, b.name, rolled, b.container)
	if err := os.WriteFile(filepath.Join(b.dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *scheduleBed) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, "", nil, append([]string{"-C", b.dir}, append(args, "-cloud", "demo")...)...)
}

// openstack runs the openstack CLI as the demo user and returns its stdout.
func (b *scheduleBed) openstack(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openstack", append([]string{"--os-cloud", "demo"}, args...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("openstack %v: %v\n%s", args, err, msg)
	}
	return string(out)
}

func (b *scheduleBed) history(t *testing.T) []schedule.Record {
	t.Helper()
	r := b.cli(t, "schedule", "history", "rebuild", "-json")
	var recs []schedule.Record
	if err := json.Unmarshal([]byte(r.stdout), &recs); r.code != 0 || err != nil {
		t.Fatalf("schedule history -json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	return recs
}

func (b *scheduleBed) fleet(t *testing.T) []rollout.Server {
	t.Helper()
	s, err := b.cloud.ListFleet(context.Background(), plan.FleetTags(b.name, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rebuilding: a server of app is being rebuilt (Nova says so, or its marks do).
func (b *scheduleBed) rebuilding(t *testing.T) bool {
	t.Helper()
	for _, s := range b.fleet(t) {
		m, _ := rollout.ReadMarks(s.Metadata)
		if s.Status == "REBUILD" || m.Phase == rollout.PhaseRebuilding {
			return true
		}
	}
	return false
}

// checkOn: both servers of app on image, ACTIVE, with the ids and addresses they booted with.
func (b *scheduleBed) checkOn(t *testing.T, image string) {
	t.Helper()
	now := b.fleet(t)
	if len(now) != len(b.servers) {
		t.Fatalf("fleet app has %d servers, had %d", len(now), len(b.servers))
	}
	for _, s0 := range b.servers {
		found := false
		for _, s := range now {
			if s.ID == s0.ID {
				found = true
				if s.ImageID != image || s.Status != "ACTIVE" || s.Address != s0.Address {
					t.Errorf("%s: image %s status %s address %s; want %s ACTIVE %s", s.Name, s.ImageID, s.Status, s.Address, image, s0.Address)
				}
			}
		}
		if !found {
			t.Errorf("server %s is gone", s0.Name)
		}
	}
}

func (b *scheduleBed) managedImages(t *testing.T) int {
	t.Helper()
	found, err := b.cloud.FindImages(context.Background(), images.ImageQuery{Tags: []string{images.TagManagedBy, "hardenctl-config:" + b.name}})
	if err != nil {
		t.Fatal(err)
	}
	return len(found)
}

// waitLocked waits until the configuration's lock is held (by p's run).
func (b *scheduleBed) waitLocked(t *testing.T, d time.Duration, p *schedProc) bool {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && !p.exited(); time.Sleep(300 * time.Millisecond) {
		if le, err := lock.Read(context.Background(), b.cloud, b.name, time.Now()); err == nil && le != nil {
			return true
		}
	}
	return false
}

// schedProc is a scheduled run as a subprocess.
type schedProc = cliProc

func (b *scheduleBed) start(t *testing.T, args ...string) *schedProc {
	t.Helper()
	return startCLI(t, b.bin, b.dir, args...)
}
