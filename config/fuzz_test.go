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
