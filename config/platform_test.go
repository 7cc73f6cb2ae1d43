package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// platformDir is the sample platform that the tests of other packages load too.
const platformDir = "../testdata/platform"

// cmpConfig compares configurations; ranges are checked on their own.
var cmpConfig = []cmp.Option{
	cmpopts.IgnoreTypes(hcl.Range{}),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) }),
	cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) }),
}

func TestLoadSamplePlatform(t *testing.T) {
	l := NewLoader()
	cfg, diags := l.Load(platformDir, LoadOptions{Environ: []string{"HOME=/home/operator"}})
	if len(diags) > 0 {
		t.Fatalf("Load: %s", FormatDiagnosticsCompact(diags))
	}

	cidr := func(s string) Peer { return Peer{Kind: PeerCIDR, CIDR: netip.MustParsePrefix(s)} }
	zone := func(s string) Peer { return Peer{Kind: PeerZone, Zone: s} }
	port := func(p int) PortRange { return PortRange{p, p} }
	want := &Config{
		Name:  "sample",
		Cloud: Cloud{Cloud: "demo", Region: "RegionOne"},
		Bastion: &Bastion{AllowFrom: []netip.Prefix{
			netip.MustParsePrefix("198.51.100.0/24"),
			netip.MustParsePrefix("2001:db8:100::/48"),
		}},
		Zones: []*Zone{
			{
				Name: "app", Description: "Application servers", IPVersions: []int{4, 6},
				Ingress: []*Rule{
					{Direction: Ingress, Protocol: ProtoTCP, Ports: []PortRange{port(8443)}, Peers: []Peer{zone("dmz")}},
				},
				Egress: []*Rule{
					{Direction: Egress, Protocol: ProtoTCP, Ports: []PortRange{port(5432)}, Peers: []Peer{zone("data")}},
					{Direction: Egress, Protocol: ProtoTCP, Ports: []PortRange{port(5000)}, Peers: []Peer{cidr("203.0.113.0/24")},
						Description: "Internal container registry mirror"},
				},
			},
			{
				Name: "data", Description: "Databases", IPVersions: []int{4},
				Ingress: []*Rule{
					{Direction: Ingress, Protocol: ProtoTCP, Ports: []PortRange{port(5432)}, Peers: []Peer{zone("app")}},
				},
			},
			{
				Name: "dmz", Description: "Load balancers facing the internet", IPVersions: []int{4, 6},
				Ingress: []*Rule{
					{Direction: Ingress, Protocol: ProtoTCP, Ports: []PortRange{port(443), port(80)},
						Peers: []Peer{cidr("0.0.0.0/0"), cidr("::/0")}, Description: "HTTPS, and HTTP for redirects"},
				},
				Egress: []*Rule{
					{Direction: Egress, Protocol: ProtoTCP, Ports: []PortRange{port(8443)}, Peers: []Peer{zone("app")}},
				},
			},
			{
				Name: "management", Description: "Monitoring and logging", IPVersions: []int{4, 6},
				Ingress: []*Rule{
					{Direction: Ingress, Protocol: ProtoTCP, Ports: []PortRange{port(9100)},
						Peers: []Peer{cidr("10.20.0.0/16"), cidr("2001:db8:200::/48")}, Description: "Metrics scraping"},
					{Direction: Ingress, Protocol: ProtoICMP, Peers: []Peer{zone("app")}},
					{Direction: Ingress, Protocol: ProtoTCP, Ports: []PortRange{{9000, 9010}}, Peers: []Peer{cidr("10.20.16.0/20")}},
				},
				Egress: []*Rule{
					{Direction: Egress, Protocol: ProtoUDP, Ports: []PortRange{port(514)}, Peers: []Peer{cidr("192.0.2.10/32")}},
				},
			},
		},
		Variables: []*Variable{
			{
				Name:        "admin_cidrs",
				Description: "Networks the administrators come from; only they reach the bastion.",
				Type:        cty.List(cty.String),
				Value:       cty.ListVal([]cty.Value{cty.StringVal("198.51.100.0/24"), cty.StringVal("2001:db8:100::/48")}),
			},
			{
				Name:        "app_health_ports",
				Description: "The ports an app server must accept connections on before a rollout counts it available again.",
				Type:        cty.List(cty.Number),
				Value:       cty.ListVal([]cty.Value{cty.NumberIntVal(8443)}),
			},
			{Name: "bastion_address", Description: "How hardenctl reaches the bastion over SSH (scan, harden, image build); null: not from here.", Type: cty.String, Value: cty.NullVal(cty.String)},
			{Name: "content_dir", Description: "The operator's SCAP datastreams (ssg-debian12-ds.xml, ...).", Type: cty.String, Value: cty.StringVal("content")},
			{Name: "known_hosts", Type: cty.String, Value: cty.StringVal("~/.ssh/known_hosts")},
			{Name: "metrics_port", Type: cty.Number, Value: cty.NumberIntVal(9100)},
			{Name: "node_min_score", Description: "The node image's gate: below it, nothing is published.", Type: cty.Number, Value: cty.NumberIntVal(80)},
			{Name: "report_dir", Type: cty.String, Value: cty.StringVal("reports")},
			{Name: "ssh_identity", Type: cty.String, Value: cty.StringVal("~/.ssh/id_ed25519")},
			{Name: "ssh_user", Type: cty.String, Value: cty.StringVal("hardenctl")},
		},
		SSH: SSH{
			User:           "hardenctl",
			IdentityFiles:  []string{"/home/operator/.ssh/id_ed25519"},
			UseAgent:       true,
			KnownHosts:     "/home/operator/.ssh/known_hosts",
			ConnectTimeout: DefaultSSHConnectTimeout,
			Concurrency:    20,
		},
		Compliance: Compliance{
			ContentDir:  platformDir + "/content",
			ReportDir:   platformDir + "/reports",
			Concurrency: 20,
			Timeout:     15 * time.Minute,
			MinScore:    score(70),
			Profile:     ProfileRef{Name: "node"},
		},
		Profiles: []*Profile{
			{
				Name: "master", Extends: "standard",
				SCAPProfile: "xccdf_org.ssgproject.content_profile_standard",
				MinScore:    score(80.5),
				Audit:       &Audit{WatchEtcd: true, WatchSecrets: "secret~"},
			},
			{
				Name: "node", Extends: "standard",
				SCAPProfileByOS: map[string]string{
					"debian12": "xccdf_org.ssgproject.content_profile_standard",
					"rhel9":    "xccdf_org.ssgproject.content_profile_cis_server_l1",
				},
				MinScore: score(80),
				Audit:    &Audit{WatchSecrets: "secret~", Rules: []string{"-w /etc/shadow -p wa -k shadow"}},
			},
		},
		Mirrors: []*Mirror{
			{
				Name: "debian", Kind: MirrorAPT, URL: "http://10.252.0.2:8080/debian",
				Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}, Trusted: true,
			},
			{
				Name: "debian-security", Kind: MirrorAPT, URL: "http://10.252.0.2:8080/debian-security",
				Suites: []string{"bookworm-security"}, Components: []string{"main"},
			},
		},
		Registries: []*Registry{{Name: "internal", URL: "registry.internal:5000", BlockPublic: true}},
		Images: []*Image{
			{
				Name: "debian12-node",
				Source: ImageSource{
					Name: "debian-12-base", Tags: []string{"base"},
					Properties: map[string]string{"os_distro": "debian"}, MostRecent: true,
				},
				Flavor: "m1.small", Network: "platform",
				Mirrors: []string{"debian", "debian-security"}, Registries: []string{"internal"},
				Profile: ProfileRef{Name: "node"}, MinScore: score(80),
				Keep: 3, Retire: RetireDelete, SSHUser: "hardenctl",
			},
			{
				Name:   "debian12-plain",
				Source: ImageSource{Name: "debian-12-base"},
				Flavor: "m1.small", Network: "platform", Mirrors: []string{"debian"},
				Profile: ProfileRef{Name: "standard", Builtin: true},
				Retire:  RetireDeactivate, SSHUser: "hardenctl",
			},
		},
		Fleets: []*Fleet{
			{
				Name: "app", Image: ImageRef{Name: "debian12-node", Managed: true}, Zone: "app",
				Flavor: "m1.small", Count: 4, Network: "platform", KeyPair: "ops",
				Upgrade: Upgrade{Strategy: StrategyRebuild, MaxUnavailable: Amount{N: 50, Percent: true}, Canary: 1, OnFailure: OnFailureRollback,
					Health: Health{SSH: true, TCP: []int{8443}, MinScore: score(80), Timeout: DefaultGateTimeout}},
			},
			{
				Name: "db", Image: ImageRef{Name: "debian-12-base"}, Zone: "data", Flavor: "m1.small", Count: 2, Network: "platform", KeyPair: "ops",
				Upgrade: Upgrade{Strategy: StrategyRebuild, MaxUnavailable: Amount{N: 1}, Canary: 1, OnFailure: OnFailureRollback,
					Health: Health{SSH: true, Timeout: DefaultGateTimeout}},
			},
		},
		Schedules: []*Schedule{{
			Name: "rebuild", Every: Every2w, Weekday: time.Sunday, Hour: 2, Zone: "Europe/Berlin",
			Start: Date{2026, time.January, 4}, Images: []string{"debian12-node"}, Fleets: []string{"app"},
			Scan: []string{"db"}, KeepHistory: 50, HistoryContainer: DefaultHistoryContainer,
		}},
	}
	want.Bastion.User = "hardenctl"
	if diff := cmp.Diff(want, cfg, cmpConfig...); diff != "" {
		t.Errorf("Load(%s) mismatch (-want +got):\n%s", platformDir, diff)
	}

	// Ranges point at what was written.
	ranges := []struct {
		what string
		got  hcl.Range
		want string
	}{
		{"zone dmz", cfg.Zone("dmz").DeclRange, "zones.hcl:1,1"},
		{"dmz ingress", cfg.Zone("dmz").Ingress[0].DeclRange, "zones.hcl:4,3"},
		{"dmz ingress peer ::/0", cfg.Zone("dmz").Ingress[0].Peers[1].Range, "zones.hcl:5,19"},
		{"management metrics peer 2001:db8:200::/48", cfg.Zone("management").Ingress[0].Peers[1].Range, "zones.hcl:50,36"},
		{"bastion", cfg.Bastion.DeclRange, "main.hcl:21,1"},
		{"cloud", cfg.Cloud.DeclRange, "main.hcl:5,1"},
		{"ssh", cfg.SSH.DeclRange, "compliance.hcl:4,1"},
		{"compliance profile", cfg.Compliance.Profile.Range, "compliance.hcl:18,17"},
		{"profile node", cfg.Profile("node").DeclRange, "compliance.hcl:22,1"},
		{"image debian12-node", cfg.Image("debian12-node").DeclRange, "images.hcl:23,1"},
		{"fleet app image", cfg.Fleet("app").Image.Range, "images.hcl:53,14"},
	}
	for _, r := range ranges {
		if got := at(r.got); got != platformDir+"/"+r.want {
			t.Errorf("%s at %s, want %s", r.what, got, r.want)
		}
	}
}

func TestLoadVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/vars1.hclvars", `admin_cidrs = ["10.1.0.0/16"]`+"\n")
	writeFile(t, dir+"/vars2.json", `{"admin_cidrs": ["10.2.0.0/16"]}`)

	tests := []struct {
		name string
		opts LoadOptions
		want []string
	}{
		{"default", LoadOptions{}, []string{"198.51.100.0/24", "2001:db8:100::/48"}},
		{"environment", LoadOptions{Environ: []string{"HARDENCTL_VAR_admin_cidrs=[\"10.0.0.0/8\"]"}}, []string{"10.0.0.0/8"}},
		{"var-file over environment", LoadOptions{
			Environ:  []string{"HARDENCTL_VAR_admin_cidrs=[\"10.0.0.0/8\"]"},
			VarFiles: []string{dir + "/vars1.hclvars"},
		}, []string{"10.1.0.0/16"}},
		{"later var-file wins", LoadOptions{VarFiles: []string{dir + "/vars1.hclvars", dir + "/vars2.json"}}, []string{"10.2.0.0/16"}},
		{"-var over var-file", LoadOptions{
			VarFiles: []string{dir + "/vars1.hclvars"},
			Vars:     []string{`admin_cidrs=["10.3.0.0/16"]`, `admin_cidrs=["10.4.0.0/16", "10.5.0.0/16"]`},
		}, []string{"10.4.0.0/16", "10.5.0.0/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := NewLoader().Load(platformDir, tt.opts)
			if diags.HasErrors() {
				t.Fatalf("Load: %s", FormatDiagnosticsCompact(diags))
			}
			var got []string
			for _, p := range cfg.Bastion.AllowFrom {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("bastion allow_from (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultName(t *testing.T) {
	tests := []struct{ dir, want string }{
		{"/x/platform", "platform"},
		{"/x/My Platform_2", "my-platform-2"},
		{"/x/--Prod--", "prod"},
		{"/x/123", "123"},
	}
	for _, tt := range tests {
		if got := defaultConfigName(tt.dir); got != tt.want {
			t.Errorf("defaultConfigName(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func TestLoadRawStringValues(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raw")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), `
variable "region" { type = string }
variable "cloud" {}
cloud {
  cloud  = var.cloud
  region = var.region
}
`)
	cfg, diags := NewLoader().Load(filepath.Join(dir, "main.hcl"), LoadOptions{
		Vars:    []string{`region=["not", "a", "list"]`},
		Environ: []string{"HARDENCTL_VAR_cloud=prod-1", "HARDENCTL_VAR_undeclared=ignored", "PATH=/bin"},
	})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", FormatDiagnosticsCompact(diags))
	}
	want := Cloud{Cloud: "prod-1", Region: `["not", "a", "list"]`}
	if diff := cmp.Diff(want, cfg.Cloud, cmpConfig...); diff != "" {
		t.Errorf("cloud (-want +got):\n%s", diff)
	}
	if cfg.Name != "raw" {
		t.Errorf("name %q, want the directory's, raw", cfg.Name)
	}
}

func TestLoadTwiceSeesEdits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "edits")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := NewLoader()
	writeFile(t, filepath.Join(dir, "main.hcl"), `zone "app" {}`)
	if _, diags := l.Load(dir, LoadOptions{}); diags.HasErrors() {
		t.Fatalf("first Load: %s", FormatDiagnosticsCompact(diags))
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), `zone "web" {}`)
	cfg, diags := l.Load(dir, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("second Load: %s", FormatDiagnosticsCompact(diags))
	}
	if cfg.Zone("web") == nil {
		t.Errorf("second Load did not see the edit: zones %v", cfg.Zones)
	}
}

func score(f float64) *float64 { return &f }
