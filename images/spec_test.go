package images_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/images"
)

// TestSpecFor turns an image block into the pipeline's spec: the image's profile and gate,
// the content, the mirror's signing key, the registries and the bastion's group.
func TestSpecFor(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "content"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("content/ssg-debian12-ds.xml", "<ds/>")
	write("mirror.asc", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
	write("main.hcl", `name = "site"
bastion {
  allow_from = ["198.51.100.0/24"]
}
compliance {
  content_dir = "content"
  min_score   = 60
}
mirror "sec" {
  kind    = "apt"
  url     = "http://mirror.internal/debian-security"
  suites  = ["bookworm-security"]
  gpg_key = "mirror.asc"
}
registry "internal" {
  url          = "registry.internal:5000"
  block_public = true
}
image "node" {
  source {
    name = "debian-12-base"
    tags = ["base"]
  }
  flavor     = "m1.small"
  network    = "platform"
  mirrors    = [mirror.sec]
  registries = [registry.internal]
  profile    = "standard"
  min_score  = 75
  keep       = 2
}
`)
	cfg, diags := config.NewLoader().Load(dir, config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	spec, err := images.SpecFor(cfg, "node")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "node" || spec.Config != "site" || spec.MinScore != 75 || spec.Profile.Name != "standard" || spec.Keep != 2 ||
		spec.BastionGroup != "site-bastion" || spec.Source.Name != "debian-12-base" || len(spec.Content) != 1 {
		t.Errorf("spec = %+v", spec)
	}
	if len(spec.Mirrors) != 1 || !strings.HasPrefix(string(spec.Mirrors[0].GPGKey), "-----BEGIN PGP") || spec.Mirrors[0].Trusted {
		t.Errorf("mirrors = %+v; want sec with its signing key", spec.Mirrors)
	}
	if len(spec.Registries) != 1 || !spec.Registries[0].BlockPublic {
		t.Errorf("registries = %+v", spec.Registries)
	}
	if _, err := images.SpecFor(cfg, "nope"); err == nil || !strings.Contains(err.Error(), `no image block "nope" in the configuration (there are: node)`) {
		t.Errorf("unknown image: %v", err)
	}
}
