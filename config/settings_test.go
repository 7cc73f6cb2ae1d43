package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// loadSource loads src as main.hcl of a fresh directory named "t", with HOME=/home/op.
func loadSource(t *testing.T, src string) (*Config, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "t")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), src)
	cfg, diags := NewLoader().Load(dir, LoadOptions{Environ: []string{"HOME=/home/op"}})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", FormatDiagnosticsCompact(diags))
	}
	return cfg, dir
}

func TestLoadSSH(t *testing.T) {
	cfg, dir := loadSource(t, `
ssh {
  user               = "hardenctl"
  identity_files     = ["~/.ssh/id_ed25519", "keys/ops", "/etc/hardenctl/key"]
  use_agent          = false
  known_hosts        = "known_hosts"
  trust_on_first_use = true
  connect_timeout    = "1m30s"
  concurrency        = 25
}
bastion {
  allow_from = ["198.51.100.0/24"]
  address    = "bastion.example.com"
}
`)
	want := SSH{
		User:            "hardenctl",
		IdentityFiles:   []string{"/home/op/.ssh/id_ed25519", filepath.Join(dir, "keys/ops"), "/etc/hardenctl/key"},
		KnownHosts:      filepath.Join(dir, "known_hosts"),
		TrustOnFirstUse: true,
		ConnectTimeout:  90 * time.Second,
		Concurrency:     25,
	}
	if diff := cmp.Diff(want, cfg.SSH, cmpConfig...); diff != "" {
		t.Errorf("ssh (-want +got):\n%s", diff)
	}
	if cfg.Bastion.User != "hardenctl" {
		t.Errorf("bastion user %q, want ssh.user's, hardenctl", cfg.Bastion.User)
	}
	if cfg.Bastion.Address != "bastion.example.com:22" {
		t.Errorf("bastion address %q, want bastion.example.com:22", cfg.Bastion.Address)
	}
}

func TestLoadBastion(t *testing.T) {
	cfg, _ := loadSource(t, `
ssh { user = "ops" }
bastion {
  allow_from = ["198.51.100.0/24"]
  address    = "[2001:db8::5]:2222"
  user       = "jump"
  image      = "debian-12"
  flavor     = "m1.small"
  network    = "admin"
}
`)
	want := &Bastion{
		AllowFrom: cfg.Bastion.AllowFrom,
		Address:   "[2001:db8::5]:2222",
		User:      "jump",
		Image:     ImageRef{Name: "debian-12"},
		Flavor:    "m1.small",
		Network:   "admin",
	}
	if diff := cmp.Diff(want, cfg.Bastion, cmpConfig...); diff != "" {
		t.Errorf("bastion (-want +got):\n%s", diff)
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]string{
		"bastion":             "bastion:22",
		"203.0.113.5:2222":    "203.0.113.5:2222",
		"2001:db8::5":         "[2001:db8::5]:22",
		"[2001:db8::5]:22":    "[2001:db8::5]:22",
		"[2001:db8::5]":       "[2001:db8::5]:22",
		"[2001:db8::5":        "",
		"b.example.com:65535": "b.example.com:65535",
		"b:0":                 "",
		"b:ssh":               "",
		":22":                 "",
		"[b]:22":              "",
		"a b":                 "",
		"http://b":            "",
	} {
		got, diag := parseAddress(in, hcl.Range{})
		if got != want || (diag == nil) != (want != "") {
			t.Errorf("parseAddress(%q) = %q, %v; want %q", in, got, diag, want)
		}
	}
}

func TestLoadProfileFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t")
	for _, f := range []string{"scap/ssg-debian12-ds.xml", "tailoring/node.xml"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), "<x/>")
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), `
compliance { content_dir = "scap" }
profile "node" {
  datastream   = "ssg-debian12-ds.xml"
  tailoring    = "tailoring/node.xml"
  scap_profile = "standard"
}
`)
	cfg, diags := NewLoader().Load(dir, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", FormatDiagnosticsCompact(diags))
	}
	want := &Profile{
		Name:        "node",
		Datastream:  "ssg-debian12-ds.xml",
		Tailoring:   filepath.Join(dir, "tailoring/node.xml"),
		SCAPProfile: "standard",
	}
	if diff := cmp.Diff(want, cfg.Profile("node"), cmpConfig...); diff != "" {
		t.Errorf("profile (-want +got):\n%s", diff)
	}
	if got := want.SCAPProfileFor("rhel9"); got != "standard" {
		t.Errorf("SCAPProfileFor(rhel9) = %q", got)
	}
}
