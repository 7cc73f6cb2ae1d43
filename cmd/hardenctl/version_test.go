package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// withVersion sets the stamped variables and the build information for one test.
func withVersion(t *testing.T, ver, com, mod string, bi *debug.BuildInfo) {
	t.Helper()
	oldV, oldC, oldM, oldR := version, commit, modified, readBuildInfo
	version, commit, modified = ver, com, mod
	readBuildInfo = func() (*debug.BuildInfo, bool) { return bi, bi != nil }
	t.Cleanup(func() { version, commit, modified, readBuildInfo = oldV, oldC, oldM, oldR })
}

func vcsInfo(rev, mod string) *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: runtime.Version(),
		Main:      debug.Module{Path: "github.com/hardenctl/hardenctl", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: mod},
		},
	}
}

func TestVersionStamped(t *testing.T) {
	// the stamped values win over the binary's own VCS information
	withVersion(t, "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "false", vcsInfo("ffff", "true"))
	r := runCLI(t, "", nil, "version")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := "hardenctl v1.2.3\n" +
		"commit 0123456789abcdef0123456789abcdef01234567\n" +
		"built with " + runtime.Version() + " for " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if r.stdout != want {
		t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
	}
}

func TestVersionJSON(t *testing.T) {
	withVersion(t, "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "true", nil)
	r := runCLI(t, "", nil, "version", "-json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	want := map[string]any{
		"version": "v1.2.3", "commit": "0123456789abcdef0123456789abcdef01234567", "modified": true,
		"go_version": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
	}
	if len(got) != len(want) {
		t.Errorf("fields: got %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %v, want %v", k, got[k], w)
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	// not stamped (go build by hand): the commit and the dirty flag come from vcs.* settings
	withVersion(t, "", "", "", vcsInfo("89abcdef89abcdef89abcdef89abcdef89abcdef", "true"))
	r := runCLI(t, "", nil, "version")
	for _, s := range []string{"hardenctl dev\n", "commit 89abcdef89abcdef89abcdef89abcdef89abcdef (modified", runtime.Version()} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.stdout)
		}
	}
	// go install module@version: the module's version
	bi := vcsInfo("89ab", "false")
	bi.Main.Version = "v0.4.0"
	withVersion(t, "", "", "", bi)
	if v := buildVersion(); v.Version != "v0.4.0" || v.Commit != "89ab" || v.Modified {
		t.Errorf("got %+v", v)
	}
	// nothing known at all (go test, or -buildvcs=false)
	withVersion(t, "", "", "", nil)
	r = runCLI(t, "", nil, "version")
	if !strings.HasPrefix(r.stdout, "hardenctl dev\ncommit unknown\n") {
		t.Errorf("got\n%s", r.stdout)
	}
}
