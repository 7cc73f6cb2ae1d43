package profiles

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hardenctl/hardenctl/config"
)

// fleetsHCL has a masters fleet on an image built with profile master, a nodes fleet on one
// built with profile node (the compliance default), and a db fleet on a Glance image.
const fleetsHCL = `name = "site"
compliance {
  profile   = profile.node
  min_score = 60
}
profile "node" {
  extends   = "node"
  min_score = 70
}
profile "master" {
  extends = "master"
}
zone "app" {}
image "debian12-master" {
  source { name = "debian-12-base" }
  flavor    = "m1.small"
  profile   = profile.master
  min_score = 85
}
image "debian12-node" {
  source { name = "debian-12-base" }
  flavor  = "m1.small"
  profile = profile.node
}
fleet "masters" {
  image  = image.debian12-master
  zone   = zone.app
  flavor = "m1.large"
  count  = 3
}
fleet "nodes" {
  image  = image.debian12-node
  zone   = zone.app
  flavor = "m1.large"
  count  = 5
}
fleet "db" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 1
}
`

func loadFleets(t *testing.T) *config.Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(fleetsHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewLoader().Load(dir, config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", config.FormatDiagnosticsCompact(diags))
	}
	return cfg
}
