package profiles

import (
	"strings"
	"testing"
)

// A fleet is judged by the profile and gate its image was built with, not by the compliance
// block's default; a flag overrides both; the choice says where it came from.
func TestForRun(t *testing.T) {
	cfg := loadFleets(t)
	for _, tc := range []struct {
		name, flag string
		fleets     []string
		profile    string
		minScore   float64
		source     string
	}{
		{"masters", "", []string{"masters"}, "master", 85, "from image debian12-master"},
		{"nodes", "", []string{"nodes"}, "node", 70, "from image debian12-node"},
		{"no fleet", "", nil, "node", 70, "compliance default"},
		{"glance image", "", []string{"db"}, "node", 70, "compliance default (fleet db runs Glance image debian-12-base, which has no image block)"},
		{"flag over the image", "high", []string{"masters"}, "high", 60, "from --profile"},
		{"flag names a block", "master", nil, "master", 60, "from --profile"},
	} {
		c, err := ForRun(cfg, tc.flag, tc.fleets)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.Name != tc.profile || c.MinScore != tc.minScore || c.Source != tc.source {
			t.Errorf("%s: profile %s, min score %g, %q; want %s, %g, %q", tc.name, c.Name, c.MinScore, c.Source, tc.profile, tc.minScore, tc.source)
		}
	}
	if c, err := ForRun(cfg, "", []string{"masters"}); err != nil || !c.WatchEtcd {
		t.Errorf("masters are judged without the master profile's etcd watch: %+v %v", c, err)
	}
	_, err := ForRun(cfg, "", []string{"masters", "nodes"})
	if err == nil || !strings.Contains(err.Error(), "masters by profile master, min score 85 (from image debian12-master)") || !strings.Contains(err.Error(), "--profile") {
		t.Errorf("fleets of two profiles in one run: %v", err)
	}
	if c, err := ForRun(nil, "", nil); err != nil || c.Name != "standard" || c.Source != "built-in default" {
		t.Errorf("no configuration: %+v %v", c, err)
	}
}

func TestForImageGate(t *testing.T) {
	cfg := loadFleets(t)
	for name, want := range map[string]float64{"debian12-master": 85, "debian12-node": 70} {
		p, err := ForImage(cfg, cfg.Image(name))
		if err != nil || p.MinScore != want {
			t.Errorf("image %s: gate %g (%v), want %g", name, p.MinScore, err, want)
		}
	}
}
