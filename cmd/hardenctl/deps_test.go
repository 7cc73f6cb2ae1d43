package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hardenctl/hardenctl/"

// The engines and the data they work on stay free of the cloud SDK and of SSH: they declare
// small interfaces, and the provider (gophercloud) and the SSH transport (package remote,
// x/crypto and pkg/sftp) satisfy them (DESIGN.md, code map; docs/ARCHITECTURE.md).
var (
	noCloudSDK = []string{"config", "plan", "rollout", "schedule", "schedule/units", "tui", "event", "hardening", "images", "apply", "lock", "inventory", "remote", "health"}
	noSSH      = []string{"config", "plan", "rollout", "schedule", "schedule/units", "tui", "event", "hardening", "images", "apply", "lock"}

	cloudSDK = []string{"github.com/gophercloud/"}
	sshLibs  = []string{"golang.org/x/crypto/", "github.com/pkg/sftp", "github.com/skeema/knownhosts"}

	// notBuiltYet are the packages above that are a doc.go and nothing else today: their
	// import direction holds vacuously. The test requires this list to be exactly the empty
	// ones, so whoever builds one must remove it from here, and from then on it is checked.
	notBuiltYet []string
)

// TestImportDirection checks the import direction with go list -deps (non-test imports),
// and that it cannot pass vacuously: each package exists and has code, but for the ones
// listed as not built yet; and the forbidden prefixes do match what the provider and the SSH
// transport import.
func TestImportDirection(t *testing.T) {
	pkgs := append(slices.Clone(noCloudSDK), noSSH...)
	pkgs = append(pkgs, "provider/openstack", "remote")
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	deps := listDeps(t, pkgs)

	check := func(names, forbidden []string, what string) {
		for _, name := range names {
			for _, dep := range deps[name] {
				for _, f := range forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("package %s imports %s (directly or not); it must not depend on %s", name, dep, what)
					}
				}
			}
		}
	}
	check(noCloudSDK, cloudSDK, "the cloud SDK (declare an interface; provider/openstack satisfies it)")
	check(noSSH, sshLibs, "SSH libraries (declare an interface; package remote satisfies it)")

	// The prefixes are spelled right: the packages that may import them do.
	for pkg, want := range map[string][]string{"provider/openstack": cloudSDK[:1], "remote": sshLibs[:2]} {
		for _, w := range want {
			if !slices.ContainsFunc(deps[pkg], func(d string) bool { return strings.HasPrefix(d, w) }) {
				t.Errorf("%s does not import %s: is the forbidden prefix misspelled?", pkg, w)
			}
		}
	}

	// No vacuous pass: every package named exists and has code, or is listed as not built.
	for _, name := range pkgs {
		code := hasCode(t, name)
		switch listed := slices.Contains(notBuiltYet, name); {
		case listed && code:
			t.Errorf("package %s has code now: remove it from notBuiltYet in %s, so its imports are checked for real", name, "deps_test.go")
		case !listed && !code:
			t.Errorf("package %s has no code (a doc.go at most): its import direction would hold vacuously", name)
		}
	}
	if len(notBuiltYet) > 0 {
		t.Logf("not built yet, so checked vacuously: %s", strings.Join(notBuiltYet, ", "))
	}
}

// listDeps runs go list once for all packages and returns each one's transitive non-test
// dependencies; a package that does not exist fails the test.
func listDeps(t *testing.T, names []string) map[string][]string {
	t.Helper()
	args := []string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, n := range names {
		args = append(args, module+n)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[strings.TrimPrefix(f[0], module)] = f[1:]
	}
	for _, n := range names {
		if _, ok := deps[n]; !ok {
			t.Fatalf("go list did not list package %s", n)
		}
	}
	return deps
}

// hasCode reports whether the package in ../../name has a non-test .go file that declares
// something beyond its package clause and imports.
func hasCode(t *testing.T, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", filepath.FromSlash(name), "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("package %s: no .go files (%v)", name, err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
				continue
			}
			return true
		}
	}
	return false
}
