package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenctl/hardenctl/provider/openstack"
)

// cliResult is what one in-process run of hardenctl printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs hardenctl in-process with args (Terraform-style single-dash flags allowed),
// stdin as its input, and counter (may be nil) counting its HTTP requests.
func runCLI(t testing.TB, stdin string, counter *openstack.CountingTransport, args ...string) cliResult {
	t.Helper()
	return runCLIReader(t, strings.NewReader(stdin), counter, args...)
}

// runCLIReader is runCLI with standard input read from stdin.
func runCLIReader(t testing.TB, stdin io.Reader, counter *openstack.CountingTransport, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdin: stdin, stdout: &out, stderr: &errOut, counter: counter}
	root := newRootCmd(g)
	root.SetArgs(terraformStyleArgs(root, args))
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
			err = ee.err
		}
		if err != nil {
			errOut.WriteString("Error: " + err.Error() + "\n")
		}
	}
	return cliResult{out.String(), errOut.String(), code}
}

// copyConfig copies a configuration directory into a temporary one, replacing the text
// old with new in every file (to give each test its own configuration name).
func copyConfig(t testing.TB, dir string, replace ...string) string {
	t.Helper()
	dst := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configuration in %s: %v", dir, err)
	}
	r := strings.NewReplacer(replace...)
	for _, f := range files {
		if filepath.Base(f) == "images.hcl" {
			continue // the sample's images and fleets: the zone tests leave them out
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), []byte(r.Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestTerraformStyleArgs(t *testing.T) {
	root := newRootCmd(&globals{})
	got := terraformStyleArgs(root, []string{"plan", "-out", "f", "-json", "-detailed-exitcode", "-var=a=b", "-v", "-C", "x", "--", "-json"})
	want := "plan --out f --json --detailed-exitcode --var=a=b -v -C x -- -json"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, " "), want)
	}
}

func TestValidateSample(t *testing.T) {
	r := runCLI(t, "", nil, "-C", "../../testdata/platform", "validate")
	if r.code != 0 || !strings.Contains(r.stdout, `"sample" is valid: 4 zones`) {
		t.Errorf("validate sample: code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestValidateShowsDiagnostics(t *testing.T) {
	dir := copyConfig(t, "../../testdata/platform", `from  = zone.dmz`, `from  = zone.dmzz`)
	r := runCLI(t, "", nil, "-C", dir, "validate")
	if r.code != 1 {
		t.Fatalf("validate of a broken config exited %d, want 1", r.code)
	}
	for _, want := range []string{"zones.hcl:20:13", "zone.dmzz", "Did you mean zone.dmz?", "has 1 error"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
