package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHugeValues loads configurations whose values would take minutes or gigabytes to
// compute (found by FuzzLoad): each is an error, at once.
func TestHugeValues(t *testing.T) {
	for _, src := range []string{
		`zone "a" { description = 1e99999999 }`,
		`zone "a" { ingress { from = "10.0.0.0/8"  ports = [1e999999999] } }`,
		`locals { x = cidrhost("10.0.0.0/8", 1e999) }`,
		`locals { x = cidrsubnet("10.0.0.0/8", 8, 1e999) }`,
		`locals { x = cidrsubnet("10.0.0.0/8", 1e999, 1) }`,
		`locals { x = format("%999999999d", 1) }`,
		`locals { x = formatlist("%.99999999f", [1]) }`,
		`locals { x = "${1e99999999}" }`,
	} {
		dir := filepath.Join(t.TempDir(), "huge")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "main.hcl"), src)
		start := time.Now()
		cfg, diags := NewLoader().Load(dir, LoadOptions{})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: took %v", src, took)
		}
		if cfg != nil || !diags.HasErrors() {
			t.Errorf("%s: no error", src)
		}
	}
}
