package hardening

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/profiles"
)

// A profile block's datastream, as config gives it, names a file that the scan's content
// selection finds: the host's OS would pick another one.
func TestProfileDatastreamFromConfigIsPicked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	content := filepath.Join(dir, "scap")
	if err := os.MkdirAll(content, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ssg-debian12-ds.xml", "site-debian12-ds.xml"} {
		if err := os.WriteFile(filepath.Join(content, f), []byte("<"+f+"/>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(`
compliance { content_dir = "scap" }
profile "node" {
  datastream   = "site-debian12-ds.xml"
  scap_profile = "standard"
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewLoader().Load(dir, config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", config.FormatDiagnosticsCompact(diags))
	}
	loaded, err := Content{Dir: cfg.Compliance.ContentDir}.Load()
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profiles.FromConfig(cfg, config.ProfileRef{Name: "node"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Scanner{Content: loaded, Profile: prof}
	ds, id, err := s.pick(OSRelease{ID: "debian", VersionID: "12"})
	if err != nil {
		t.Fatalf("pick: %v (the host would end as no-content)", err)
	}
	if ds.Name != "site-debian12-ds.xml" || id == "" {
		t.Errorf("picked %s (%s), want site-debian12-ds.xml", ds.Name, id)
	}
}
