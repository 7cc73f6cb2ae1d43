package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/rollout"
	"github.com/hardenctl/hardenctl/schedule"
	"github.com/hardenctl/hardenctl/schedule/scheduletest"
)

func sampleConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, diags := config.NewLoader().Load("../../testdata/platform", config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(config.FormatDiagnosticsCompact(diags))
	}
	return cfg
}

// schedule next on the sample platform: every other Sunday from 2026-01-04, 02:00 in Berlin,
// across the DST change of 2026-03-29 (02:00 does not exist: 03:00 CEST).
func TestScheduleNext(t *testing.T) {
	cfg := sampleConfig(t)
	var out strings.Builder
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := runScheduleNext(&out, cfg, []string{"rebuild"}, scheduleNextOptions{n: 3}, now); err != nil {
		t.Fatal(err)
	}
	want := `schedule rebuild: every 2w, Sun 02:00 Europe/Berlin, from 2026-01-04
  Sun 2026-03-15 02:00 CET (01:00 UTC)
  Sun 2026-03-29 03:00 CEST (01:00 UTC)
  Sun 2026-04-12 02:00 CEST (00:00 UTC)
`
	if out.String() != want {
		t.Errorf("schedule next:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if err := runScheduleNext(&out, cfg, nil, scheduleNextOptions{n: 2, json: true}, now); err != nil {
		t.Fatal(err)
	}
	var got []nextJSON
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(got) != 1 || got[0].Schedule != "rebuild" || len(got[0].Due) != 2 || !got[0].Due[0].Equal(time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)) ||
		!strings.Contains(out.String(), `"2026-03-15T01:00:00Z"`) {
		t.Errorf("schedule next -json:\n%s", out.String())
	}
	if err := runScheduleNext(&out, cfg, []string{"nope"}, scheduleNextOptions{n: 1}, now); err == nil || !strings.Contains(err.Error(), "it has: rebuild") {
		t.Errorf("an unknown schedule: %v", err)
	}
	r := runCLI(t, "", nil, "-C", "../../testdata/platform", "schedule", "next", "rebuild", "-n", "2")
	if r.code != 0 || strings.Count(r.stdout, "\n  Sun ") != 2 {
		t.Errorf("hardenctl schedule next: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestScheduleInstall(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, "", nil, "-C", "../../testdata/platform", "schedule", "install", "rebuild", "--systemd", "--dir", dir, "--binary", "/usr/local/bin/hardenctl")
	if r.code != 0 {
		t.Fatalf("install --systemd: exit %d\n%s", r.code, r.stderr)
	}
	svc := filepath.Join(dir, "hardenctl-sample-rebuild.service")
	if r.stdout != svc+"\n"+filepath.Join(dir, "hardenctl-sample-rebuild.timer")+"\n" {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	b, err := os.ReadFile(svc)
	abs, _ := filepath.Abs("../../testdata/platform")
	if err != nil || !strings.Contains(string(b), `ExecStart="/usr/local/bin/hardenctl" "-C" "`+abs+`" "schedule" "run" "rebuild" "--if-due"`) {
		t.Errorf("service (%v):\n%s", err, b)
	}
	r = runCLI(t, "", nil, "-C", "../../testdata/platform", "schedule", "install", "rebuild", "--cronjob", "--dir", dir, "--image", "hardenctl:test")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "hardenctl-sample-rebuild.cronjob.yaml\n") {
		t.Fatalf("install --cronjob: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"install", "rebuild"},
		{"install", "rebuild", "--systemd", "--cronjob"},
		{"install", "rebuild", "--cronjob", "--dir", dir},
		{"install", "nope", "--systemd", "--dir", dir},
		{"install", "rebuild", "--systemd", "--dir", dir, "--env", "OS_PASSWORD=hunter2"},
		{"install", "rebuild", "--cronjob", "--dir", dir, "--image", "i", "--env", "OS_APPLICATION_CREDENTIAL_SECRET=hunter2"},
	} {
		if r := runCLI(t, "", nil, append([]string{"-C", "../../testdata/platform", "schedule"}, args...)...); r.code == 0 || strings.Contains(r.stdout+r.stderr, "hunter2") {
			t.Errorf("schedule %v: exit %d, or the secret shown:\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestScheduleHistoryText(t *testing.T) {
	cfg := sampleConfig(t)
	store := &schedule.FileStore{Dir: t.TempDir(), Config: "sample"}
	ctx := context.Background()
	var out strings.Builder
	if err := runScheduleHistory(ctx, &out, store, cfg.Schedule("rebuild"), false); err != nil || !strings.Contains(out.String(), "no runs recorded") {
		t.Errorf("empty history: %v\n%s", err, out.String())
	}
	r := scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 4, 1, 2, 12, 0, time.UTC), 1)
	failed := scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 18, 1, 1, 0, 0, time.UTC), 2)
	failed.Result, failed.Error = schedule.ResultFailed, "image debian12-node: score 71.0 below min_score 80"
	for _, rec := range []schedule.Record{r, failed} {
		if err := store.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := runScheduleHistory(ctx, &out, store, cfg.Schedule("rebuild"), false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[1], failed.ID) || !strings.HasPrefix(lines[2], r.ID) ||
		!strings.Contains(lines[2], "debian12-node 86.5 passed") || !strings.Contains(lines[2], "app 4 rebuilt, 0 failed, 0 rolled back, peak 1/1") ||
		!strings.Contains(out.String(), failed.ID+": image debian12-node: score 71.0 below min_score 80") {
		t.Errorf("history:\n%s", out.String())
	}
	out.Reset()
	if err := runScheduleHistory(ctx, &out, store, cfg.Schedule("rebuild"), true); err != nil {
		t.Fatal(err)
	}
	var got []schedule.Record
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil || len(got) != 2 || got[0].ID != failed.ID {
		t.Errorf("history -json (%v):\n%s", err, out.String())
	}
}

// history --scores: each scanned fleet's scores across runs, oldest first, drift marked and
// named with its rules; -json the same per fleet.
func TestScheduleHistoryScores(t *testing.T) {
	older := scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 4, 1, 2, 12, 0, time.UTC), 1)
	older.Drift = nil
	newer := scheduletest.SampleRecord("rebuild", time.Date(2026, 1, 18, 1, 1, 0, 0, time.UTC), 2)
	records := []schedule.Record{newer, older} // as List returns them
	var out strings.Builder
	if err := writeScores(&out, records, false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[0], "fleet db") || !strings.HasPrefix(lines[2], older.ID) || !strings.HasPrefix(lines[3], newer.ID) ||
		!strings.Contains(lines[3], "84.10!") || strings.Contains(lines[2], "!") ||
		!strings.Contains(text, "DRIFT sample-db-0: 84.10, below image img-x's published score 85.00") {
		t.Errorf("--scores:\n%s", text)
	}
	out.Reset()
	if err := writeScores(&out, records, true); err != nil {
		t.Fatal(err)
	}
	var got []scoresJSON
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil || len(got) != 1 || len(got[0].Runs) != 2 ||
		got[0].Runs[0].ID != older.ID || len(got[0].Runs[1].Drift) != 1 {
		t.Errorf("--scores -json (%v):\n%s", err, out.String())
	}
}

// The counts of a rollout for the record: each server once.
func TestRolloutOutcome(t *testing.T) {
	res := &rollout.Result{RolloutID: "r", Peak: 2, Budget: 2, Skipped: []string{"s0"}, Servers: []*rollout.ServerResult{
		{ID: "1", Work: rollout.WorkRebuild, Passed: true},
		{ID: "2", Work: rollout.WorkRebuild, Passed: true},
		{ID: "3", Work: rollout.WorkRebuild},
		{ID: "2", Work: rollout.WorkRollback, Passed: true},
		{ID: "3", Work: rollout.WorkRollback, Passed: true},
	}}
	got := rolloutOutcome(res, fmt.Errorf("x: %w", rollout.ErrRolledBack))
	want := schedule.Rollout{RolloutID: "r", Rebuilt: 1, Skipped: 1, Failed: 1, RolledBack: 2, Peak: 2, Budget: 2, RolledBackAll: true}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestScheduleRunNeedsIfDueOrNow(t *testing.T) {
	for _, args := range [][]string{{"run", "rebuild"}, {"run", "rebuild", "--now", "--if-due"}} {
		r := runCLI(t, "", nil, append([]string{"-C", "../../testdata/platform", "schedule"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "--if-due") {
			t.Errorf("schedule %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}

func TestConfigDigest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(`name = "x"`), 0o644)
	d1, err := configDigest(dir)
	if err != nil || !strings.HasPrefix(d1, "sha256:") {
		t.Fatal(d1, err)
	}
	os.WriteFile(filepath.Join(dir, "b.hcl"), []byte(``), 0o644)
	if d2, _ := configDigest(dir); d2 == d1 {
		t.Errorf("a new file does not change the digest")
	}
}

// A sensitive variable given to the units with --env is refused; others pass.
func TestCheckUnitEnv(t *testing.T) {
	cfg := &config.Config{Variables: []*config.Variable{{Name: "api_key", Sensitive: true}, {Name: "ssh_user"}}}
	if err := checkUnitEnv(cfg, []string{"HARDENCTL_VAR_ssh_user=debian", "OS_CLOUD=prod"}); err != nil {
		t.Errorf("plain values refused: %v", err)
	}
	for _, e := range []string{"HARDENCTL_VAR_api_key=s3cr3t", "OS_AUTH_TOKEN=s3cr3t", "novalue"} {
		if err := checkUnitEnv(cfg, []string{e}); err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("--env %s: %v", e, err)
		}
	}
}
