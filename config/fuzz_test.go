package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads arbitrary files as a configuration: loading, rendering the diagnostics
// and formatting must never panic, and a Config comes only without errors.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../testdata/platform/*.hcl", "../testdata/config-errors/*.hcl", "../testdata/fmt/*.hcl"} {
		seeds, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, seed := range seeds {
			src, err := os.ReadFile(seed)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	// References written as object literals, and values of every shape where the new
	// block types expect names, lists and maps.
	f.Add([]byte(`zone "app" {}
image "n" {
  source {
    properties = { a = 1 }
    tags       = toset(["x"])
  }
  flavor     = "f"
  mirrors    = [{ kind = "mirror", name = null }, mirror.m]
  registries = registry.r
  profile    = { kind = "profile", name = "p" }
  min_score  = 1 / 0
}
mirror "m" {
  kind   = "apt"
  url    = "file:///srv"
  suites = [for s in ["a"] : s]
}
registry "r" { url = "[::1]:5000/x" }
profile "p" {
  scap_profile = { "Debian 12" = true }
  audit { rules = ["-w /x", null] }
}
fleet "f" {
  image  = image.n
  zone   = { kind = "zone", name = "nope" }
  flavor = "x"
  count  = "3"
  upgrade {
    health { tcp = "1-2" }
  }
}
ssh {
  identity_files  = "~"
  known_hosts     = "~/kh"
  connect_timeout = "-1s"
}
bastion {
  allow_from = ["10.0.0.0/8"]
  address    = "[::1]"
  image      = image.n
}
compliance {
  profile = "standard"
  timeout = 5
}
`))
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := filepath.Join(t.TempDir(), "fuzz")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		l := NewLoader()
		cfg, diags := l.Load(dir, LoadOptions{Environ: []string{"HARDENCTL_VAR_y=[1]"}})
		if diags.HasErrors() && cfg != nil {
			t.Errorf("Config returned with errors")
		}
		if !diags.HasErrors() && cfg == nil {
			t.Errorf("no Config and no error")
		}
		for _, diag := range diags {
			if diag.Subject == nil {
				t.Errorf("diagnostic without a subject: %s: %s", diag.Summary, diag.Detail)
			}
		}
		if err := l.WriteDiagnostics(io.Discard, diags, true); err != nil {
			t.Errorf("WriteDiagnostics: %v", err)
		}
		FormatDiagnosticsCompact(diags)
		if _, diags := l.FormatFiles(dir, FormatOptions{Check: true, Diff: true}, io.Discard); diags == nil {
			Format(src)
		}
	})
}
