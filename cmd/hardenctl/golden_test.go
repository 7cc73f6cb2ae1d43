package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/apply/applytest"
	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/<TestName>.golden)")

// golden compares got with testdata/<TestName>.golden (-update rewrites it).
func golden(t *testing.T, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -run %s -update rewrites it):\n got:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// goldenTime is the pinned clock of the golden tests.
var goldenTime = time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)

// sampleCloud observes a cloud with none of the sample platform's groups yet, three servers
// of fleet app (two on an older image: rebuilt) and one of a fleet the configuration no longer
// has (deleted).
type sampleCloud struct{}

func (sampleCloud) ObserveSecurityGroups(context.Context, []string, []string) (*plan.Observed, error) {
	return &plan.Observed{}, nil
}

func (sampleCloud) ObserveServers(_ context.Context, owner []string) ([]plan.ObservedServer, error) {
	app := append(append([]string(nil), owner...), "hardenctl-fleet:app")
	old := append(append([]string(nil), owner...), "hardenctl-fleet:old")
	return []plan.ObservedServer{
		{ID: "srv-app-01", Name: "sample-app-01", Status: "ACTIVE", ImageID: "img-node-1", Tags: app},
		{ID: "srv-app-02", Name: "sample-app-02", Status: "ACTIVE", ImageID: "img-node-1", Tags: app},
		{ID: "srv-app-05", Name: "sample-app-05", Status: "ACTIVE", ImageID: "img-node-2", Tags: app},
		{ID: "srv-old-01", Name: "sample-old-01", Status: "ACTIVE", ImageID: "img-node-1", Tags: old},
	}, nil
}

// MaxComputeMicroversion is the test bed's Nova (Zed).
func (sampleCloud) MaxComputeMicroversion() string { return "2.93" }

func (sampleCloud) ResolveImage(_ context.Context, _, name string, managed bool) (string, error) {
	if managed {
		return "img-node-2", nil // debian12-node, built
	}
	return "img-" + name, nil
}

var _ plan.FleetObserver = sampleCloud{}

func loadSample(t *testing.T, g *globals) *config.Config {
	t.Helper()
	cfg, err := loadConfig(g, configFlags{})
	if err != nil {
		t.Fatalf("load the sample platform: %v\n%s", err, g.stderr)
	}
	return cfg
}

func goldenGlobals() (*globals, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &globals{configPath: "../../testdata/platform", stdout: &out, stderr: &errOut,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &out, &errOut
}

// plan -json of the sample platform: groups, rules and servers with their stable fields
// (a server change names its server in server_name, never in group).
func TestPlanJSONSample(t *testing.T) {
	g, out, errOut := goldenGlobals()
	cfg := loadSample(t, g)
	if err := makePlan(context.Background(), g, planOptions{json: true, now: goldenTime}, cfg, sampleCloud{}); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	golden(t, out.Bytes())
}

// apply -json streams the events on stdout, one JSON object a line and nothing else; here
// the sample platform's plan against apply's fake cloud, one unit at a time (a stable order).
func TestApplyJSONEvents(t *testing.T) {
	g, out, errOut := goldenGlobals()
	cfg := loadSample(t, g)
	p, err := plan.Make(context.Background(), cfg, sampleCloud{}, plan.Options{Now: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	cloud := &applytest.Cloud{}
	o := applyOptions{json: true, concurrency: 1, serverConcurrency: 1, allowRebuild: true, now: func() time.Time { return goldenTime }}
	if err := execute(context.Background(), g, o, p, cloud); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	golden(t, out.Bytes())
	if !bytes.Contains(errOut.Bytes(), []byte("Apply complete!")) {
		t.Errorf("the outcome is not on stderr:\n%s", errOut)
	}
}

// apply -json cannot ask before applying: without -auto-approve or a plan file it refuses
// before reading anything.
func TestApplyJSONNeedsApproval(t *testing.T) {
	r := runCLI(t, "", nil, "-C", "../../testdata/platform", "apply", "-json")
	if r.code != 1 || r.stdout != "" || !bytes.Contains([]byte(r.stderr), []byte("give -auto-approve, or a plan file")) {
		t.Errorf("code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
