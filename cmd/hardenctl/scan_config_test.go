package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/hardening"
)

// scan --fleet masters judges the masters by the profile and gate their image was built
// with (master, 85), not by the compliance block's default (node); the summary says so.
// --profile still wins.
func TestScanFleetUsesItsImageProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	content := filepath.Join(dir, "content")
	os.MkdirAll(content, 0o755)
	os.WriteFile(filepath.Join(content, "ssg-debian12-ds.xml"), []byte("<ds/>"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(`name = "site"
compliance { profile = profile.node }
profile "node" {
  extends   = "node"
  min_score = 70
}
profile "master" { extends = "master" }
zone "app" {}
image "debian12-master" {
  source { name = "debian-12-base" }
  flavor    = "m1.small"
  profile   = profile.master
  min_score = 85
}
fleet "masters" {
  image  = image.debian12-master
  zone   = zone.app
  flavor = "m1.large"
  count  = 3
}
`), 0o644)
	for _, tc := range []struct {
		name, profileFlag string
		want, wantSource  string
		wantMin           float64
	}{
		{"image", "", "master", "from image debian12-master", 85},
		{"flag", "standard", "standard", "from --profile", 0},
	} {
		var out, errOut bytes.Buffer
		g := &globals{configPath: dir, stdout: &out, stderr: &errOut, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		o := scanOptions{fleets: []string{"masters"}, profile: tc.profileFlag, minScore: -1, concurrency: 1, json: true}
		if err := o.fromConfig(g, func(f string) bool { return f == "profile" && tc.profileFlag != "" }); err != nil {
			t.Fatal(err)
		}
		o.reportDir = filepath.Join(dir, "reports", tc.name)
		o.inventory = []hardening.Host{{Name: "site-masters-01", Address: "10.0.0.1"}} // what fleetHosts finds through the cloud
		runOscap(context.Background(), g, o, func(context.Context, *globals, scanOptions) (hardening.Dialer, func() error, error) {
			return diskFullDialer{}, func() error { return nil }, nil
		})
		var sum hardening.Summary
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
			t.Fatalf("%s: -json output: %v\n%s\n%s", tc.name, err, out.String(), errOut.String())
		}
		if sum.Profile != tc.want || sum.ProfileSource != tc.wantSource || sum.MinScore != tc.wantMin {
			t.Errorf("%s: judged by %s (%s), min score %g; want %s (%s), %g", tc.name, sum.Profile, sum.ProfileSource, sum.MinScore, tc.want, tc.wantSource, tc.wantMin)
		}
		var text bytes.Buffer
		sum.WriteText(&text)
		if want := "Profile: " + tc.want + " (" + tc.wantSource + ")"; !strings.Contains(text.String(), want) {
			t.Errorf("%s: the text summary does not say %q:\n%s", tc.name, want, text.String())
		}
	}
}
