package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/images"
	"github.com/hardenctl/hardenctl/images/imagestest"
)

// tickingClock returns a clock that starts at a fixed instant and moves 1.5 s each time it
// is read: runs are reproducible, and elapsed times are not all zero.
func tickingClock() func() time.Time {
	t := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(1500 * time.Millisecond)
		return t
	}
}

// testBuild runs image build's output path against the images package's fake cloud.
func testBuild(t *testing.T, asJSON bool, minScore float64) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir())
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	cloud := imagestest.NewCloud()
	cloud.Console = imagestest.HostKeysConsole
	p := &images.Pipeline{Cloud: cloud, SSH: &imagestest.SSH{}, Harden: imagestest.Harden(87.5),
		Now: tickingClock(), NewID: func() string { return "20250601t120000-0a1b2c3d" }}
	spec := images.Spec{Name: "debian12-node", Config: "sample", Source: images.ImageQuery{Name: "debian-12-base"},
		BastionGroup: "sample-bastion", MinScore: minScore,
		Mirrors: []images.Mirror{{Name: "debian", Kind: "apt", URL: "http://10.252.0.2:8080/debian", Trusted: true}}}
	err = buildImage(context.Background(), g, p, spec, buildOutput{json: asJSON, now: tickingClock()})
	return out.String(), errOut.String(), err
}

// TestImageBuildJSONStream: image build -json streams the build's events as JSON lines on
// stdout, and nothing else; the progress text goes to stderr.
func TestImageBuildJSONStream(t *testing.T) {
	stdout, stderr, err := testBuild(t, true, 80)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("stdout line %d is not one JSON object: %q", i+1, line)
		}
	}
	if !strings.Contains(stderr, "image debian12-node: harden and scan done (") ||
		!strings.Contains(stderr, "image debian12-node: build published, score 87.50 (") {
		t.Errorf("stderr lacks the progress text:\n%s", stderr)
	}
	golden(t, []byte(stdout))
}

// Without -json, stdout has the steps' times and the outcome.
func TestImageBuildTextSummary(t *testing.T) {
	stdout, _, err := testBuild(t, false, 90)
	if err == nil {
		t.Fatal("a build below its gate succeeded")
	}
	if !strings.Contains(stdout, "gate                  1.5s") || !strings.Contains(stdout, "Nothing published: image debian12-node scored 87.50, below its gate.") {
		t.Errorf("stdout:\n%s", stdout)
	}
}
