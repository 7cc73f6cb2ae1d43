package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the configuration stage free of the cloud and SSH libraries.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/gophercloud/", "golang.org/x/crypto"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("config depends on %s", dep)
			}
		}
	}
}
