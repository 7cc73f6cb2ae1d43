package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A diagnostic that points into a -var-file at a sensitive variable's value shows the line
// with the value masked, never the value.
func TestVarFileSensitiveValueNotShown(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(`variable "token" {
  type      = number
  sensitive = true
}
`), 0o644)
	vars := filepath.Join(dir, "secrets.hclvars")
	os.WriteFile(vars, []byte("token = \"hunter2-not-a-number\"\n"), 0o600)
	l := NewLoader()
	_, diags := l.Load(dir, LoadOptions{VarFiles: []string{vars}})
	if !diags.HasErrors() {
		t.Fatal("a string for a number variable loaded")
	}
	var out bytes.Buffer
	if err := l.WriteDiagnostics(&out, diags, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("the sensitive value is shown:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "secrets.hclvars:1") {
		t.Errorf("the diagnostic does not point into the -var-file:\n%s", out.String())
	}
	t.Log(out.String())
}
