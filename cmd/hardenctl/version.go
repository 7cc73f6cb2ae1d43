package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Stamped at build time by the Makefile's build target:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.modified=false"
//
// When they are not stamped (go build / go install by hand), the commit comes from the VCS
// information the go command records in the binary (vcs.revision, vcs.modified).
var (
	version  = ""
	commit   = ""
	modified = "" // "true" or "false"
)

// readBuildInfo is debug.ReadBuildInfo; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

// versionInfo is what `hardenctl version` prints, and what a record of a run can carry.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`   // full revision, "" if unknown
	Modified  bool   `json:"modified"` // built from a work tree with uncommitted changes
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// buildVersion assembles the version information: the stamped values first, then the
// binary's build information, then "dev" / unknown.
func buildVersion() versionInfo {
	v := versionInfo{
		Version:   version,
		Commit:    commit,
		Modified:  modified == "true",
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := readBuildInfo(); ok && bi != nil {
		if bi.GoVersion != "" {
			v.GoVersion = bi.GoVersion
		}
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version // go install module@version
		}
		if commit == "" {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					v.Commit = s.Value
				case "vcs.modified":
					v.Modified = s.Value == "true"
				}
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hardenctl's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := buildVersion()
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(g.stdout, "hardenctl %s\n", v.Version)
			c := v.Commit
			if c == "" {
				c = "unknown"
			}
			if v.Modified {
				c += " (modified: built with uncommitted changes)"
			}
			fmt.Fprintf(g.stdout, "commit %s\n", c)
			fmt.Fprintf(g.stdout, "built with %s for %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version information as one JSON object")
	return cmd
}
