package remote

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoInsecureIgnoreHostKey: host keys are always verified. No non-test Go file of the
// module (the SSH transport in this package included) may mention x/crypto's switch that
// turns verification off.
func TestNoInsecureIgnoreHostKey(t *testing.T) {
	banned := "Insecure" + "IgnoreHostKey"
	root := ".."
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	checked := 0
	sawRemote := false // the SSH transport itself is among the files checked
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if n := e.Name(); p != root && (strings.HasPrefix(n, ".") || n == "vendor" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		if filepath.ToSlash(p) == "../remote/ssh.go" {
			sawRemote = true
		}
		if strings.Contains(string(b), banned) {
			t.Errorf("%s uses %s: verify host keys through known_hosts instead", p, banned)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawRemote {
		t.Error("remote/ssh.go, the SSH transport, was not checked")
	}
	if checked < 10 {
		t.Fatalf("only %d Go files checked: wrong root?", checked)
	}
}
