package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the packages that hold configuration, plans, rollouts and
// schedules free of the cloud SDK and of SSH: they declare small interfaces, and the
// provider and the SSH layer satisfy them (DESIGN.md, code map).
func TestImportDirection(t *testing.T) {
	forbidden := []string{"github.com/gophercloud/", "golang.org/x/crypto/"}
	for _, pkg := range []string{"config", "plan", "rollout", "schedule"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/hardenctl/hardenctl/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("package %s imports %s (directly or not); it must not depend on %s", pkg, dep, f)
				}
			}
		}
	}
}
