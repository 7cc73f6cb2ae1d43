package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/config-errors")

const errorsDir = "../testdata/config-errors"

// TestConfigErrors loads each file of testdata/config-errors. The file says what it expects
// in comments: `# ERROR: SUMMARY` on the line where the error's subject starts, or
// `# ERROR ELSEWHERE: SUMMARY` for an error pointing outside the file (at a -var value).
// `# -var: name=value`, `# -var-file: PATH` (relative to testdata/config-errors) and
// `# env: NAME=value` lines give options. The rendered text of the
// diagnostics must match FILE.golden, and never show a value containing "s3cr3t" (given to
// sensitive variables).
func TestConfigErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(errorsDir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", errorsDir, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hcl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want, opts := expectations(src)

			l := NewLoader()
			cfg, diags := l.Load(file, opts)
			if cfg != nil {
				t.Errorf("Load returned a Config with errors")
			}
			if diff := cmp.Diff(want, summaries(file, diags)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, FormatDiagnosticsCompact(diags))
			}
			for _, diag := range diags {
				if diag.Subject == nil {
					t.Errorf("diagnostic without a subject: %s", diag.Summary)
				}
			}

			var rendered bytes.Buffer
			if err := l.WriteDiagnostics(&rendered, diags, false); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(rendered.Bytes(), []byte("s3cr3t")) {
				t.Errorf("the value of a sensitive variable is shown:\n%s", rendered.String())
			}
			rendered.WriteString("--- compact ---\n")
			rendered.WriteString(FormatDiagnosticsCompact(diags))
			checkGolden(t, filepath.Join(errorsDir, name+".golden"), rendered.Bytes())
		})
	}
}

// expectations reads the ERROR comments and option lines of a fixture.
func expectations(src []byte) ([]string, LoadOptions) {
	var want []string
	var opts LoadOptions
	for i, line := range strings.Split(string(src), "\n") {
		if v, ok := strings.CutPrefix(line, "# -var: "); ok {
			opts.Vars = append(opts.Vars, v)
			continue
		}
		if v, ok := strings.CutPrefix(line, "# -var-file: "); ok {
			opts.VarFiles = append(opts.VarFiles, filepath.Join(errorsDir, v))
			continue
		}
		if v, ok := strings.CutPrefix(line, "# env: "); ok {
			opts.Environ = append(opts.Environ, v)
			continue
		}
		for _, part := range strings.Split(line, "# ERROR")[1:] {
			summary := strings.TrimSpace(part)
			if s, ok := strings.CutPrefix(summary, "ELSEWHERE:"); ok {
				want = append(want, "elsewhere: "+strings.TrimSpace(s))
				continue
			}
			want = append(want, fmt.Sprintf("%d: %s", i+1, strings.TrimSpace(strings.TrimPrefix(summary, ":"))))
		}
	}
	sort.Strings(want)
	return want, opts
}

// summaries renders diags as expectations do.
func summaries(file string, diags hcl.Diagnostics) []string {
	var got []string
	for _, diag := range diags {
		if diag.Subject == nil || diag.Subject.Filename != file {
			got = append(got, "elsewhere: "+diag.Summary)
			continue
		}
		got = append(got, fmt.Sprintf("%d: %s", diag.Subject.Start.Line, diag.Summary))
	}
	sort.Strings(got)
	return got
}

func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run %s -update)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
	}
}
