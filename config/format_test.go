package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	messy, err := os.ReadFile("../testdata/fmt/messy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	got, changed := Format(messy)
	if !changed {
		t.Errorf("Format(messy) says unchanged")
	}
	checkGolden(t, "../testdata/fmt/messy.golden", got)

	again, changed := Format(got)
	if changed || !bytes.Equal(again, got) {
		t.Errorf("Format is not idempotent:\n%s", cmp.Diff(string(got), string(again)))
	}
}

func TestFormatFiles(t *testing.T) {
	messy, err := os.ReadFile("../testdata/fmt/messy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	canonical, _ := Format(messy)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.hcl"), string(messy))
	writeFile(t, filepath.Join(dir, "b.hcl"), string(canonical))
	writeFile(t, filepath.Join(dir, "notes.txt"), "not = configuration")

	// -check -diff: reports, shows the diff, writes nothing.
	var out bytes.Buffer
	changed, diags := NewLoader().FormatFiles(dir, FormatOptions{Check: true, Diff: true, List: true}, &out)
	if len(diags) > 0 {
		t.Fatalf("FormatFiles: %s", FormatDiagnosticsCompact(diags))
	}
	if diff := cmp.Diff([]string{filepath.Join(dir, "a.hcl")}, changed); diff != "" {
		t.Errorf("changed files (-want +got):\n%s", diff)
	}
	for _, want := range []string{"--- old/" + filepath.Join(dir, "a.hcl"), "-name=\"sample\"", "+name = \"sample\"", "@@ -1,"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff output lacks %q:\n%s", want, out.String())
		}
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "a.hcl")); !bytes.Equal(now, messy) {
		t.Errorf("-check rewrote a.hcl")
	}

	// Without -check: rewrites, and then there is nothing left to do.
	if _, diags := NewLoader().FormatFiles(dir, FormatOptions{}, &out); len(diags) > 0 {
		t.Fatalf("FormatFiles: %s", FormatDiagnosticsCompact(diags))
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "a.hcl")); !bytes.Equal(now, canonical) {
		t.Errorf("a.hcl not rewritten:\n%s", now)
	}
	changed, _ = NewLoader().FormatFiles(dir, FormatOptions{}, &out)
	if len(changed) > 0 {
		t.Errorf("second run changed %v", changed)
	}

	// A file with a syntax error is reported and left alone.
	broken := "zone \"app\" {\n  ingress {\n"
	writeFile(t, filepath.Join(dir, "c.hcl"), broken)
	_, diags = NewLoader().FormatFiles(filepath.Join(dir, "c.hcl"), FormatOptions{}, &out)
	if !diags.HasErrors() {
		t.Errorf("no error for a syntax error")
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "c.hcl")); string(now) != broken {
		t.Errorf("c.hcl rewritten despite its syntax error")
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	b := "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n"
	want := `--- old/f
+++ new/f
@@ -1,6 +1,6 @@
 1
 2
-3
+three
 4
 5
 6
@@ -10,3 +10,4 @@
 10
 11
 12
+13
`
	if diff := cmp.Diff(want, unifiedDiff("f", a, b)); diff != "" {
		t.Errorf("unifiedDiff (-want +got):\n%s", diff)
	}
}
