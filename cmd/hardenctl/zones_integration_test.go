package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/plan"
)

// The integration tests drive the real commands against the test bed (make test brings it
// up) and check the result through Neutron's API with gophercloud directly, not through
// hardenctl's provider.

func integration(t testing.TB) {
	t.Helper()
	if os.Getenv("HARDENCTL_INTEGRATION") != "1" {
		t.Skip("set HARDENCTL_INTEGRATION=1 (make test does) to run against the test bed")
	}
}

// neutron is an independent client for checking what hardenctl did.
func neutron(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	return neutronAs(t, "demo")
}

// neutronAs is neutron for another clouds.yaml entry.
func neutronAs(t testing.TB, cloud string) *gophercloud.ServiceClient {
	t.Helper()
	ctx := context.Background()
	ao, eo, _, err := clouds.Parse(clouds.WithCloudName(cloud))
	if err != nil {
		t.Fatalf("read clouds.yaml (OS_CLIENT_CONFIG_FILE=%s): %v", os.Getenv("OS_CLIENT_CONFIG_FILE"), err)
	}
	pc, err := openstack.AuthenticatedClient(ctx, ao)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := openstack.NewNetworkV2(pc, eo)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// samplePlatform copies testdata/platform under a name of its own, so tests run in parallel
// and never see each other's groups. It destroys what it made when the test ends.
func samplePlatform(t *testing.T) (dir, name string) {
	t.Helper()
	name = fmt.Sprintf("it%d", time.Now().UnixNano()%1e10)
	dir = copyConfig(t, "../../testdata/platform", `name = "sample"`, fmt.Sprintf("name = %q", name))
	t.Cleanup(func() {
		if r := runCLI(t, "", nil, "-C", dir, "destroy", "-cloud", "demo", "-auto-approve"); r.code != 0 {
			t.Errorf("destroy %s: %s%s", name, r.stdout, r.stderr)
		}
	})
	return dir, name
}

// appliedSamplePlatform is samplePlatform, applied.
func appliedSamplePlatform(t *testing.T) (dir, name string) {
	t.Helper()
	dir, name = samplePlatform(t)
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	return dir, name
}

// readBack lists the security groups named prefix-* in the project and renders their rules
// independently of hardenctl's own code: "GROUP: direction ethertype protocol ports peer".
func readBack(t *testing.T, nc *gophercloud.ServiceClient, prefix string) (map[string][]string, map[string]groups.SecGroup) {
	t.Helper()
	pages, err := groups.List(nc, groups.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]groups.SecGroup{}
	for _, g := range all {
		byID[g.ID] = g
	}
	out := map[string][]string{}
	mine := map[string]groups.SecGroup{}
	for _, g := range all {
		if !strings.HasPrefix(g.Name, prefix+"-") {
			continue
		}
		short := strings.TrimPrefix(g.Name, prefix+"-")
		mine[short] = g
		out[short] = []string{}
		for _, r := range g.Rules {
			proto := r.Protocol
			if proto == "" {
				proto = "any"
			}
			ports := ""
			if r.PortRangeMin != 0 || r.PortRangeMax != 0 {
				ports = fmt.Sprintf(" %d-%d", r.PortRangeMin, r.PortRangeMax)
			}
			peer := r.RemoteIPPrefix
			if r.RemoteGroupID != "" {
				peer = "group " + strings.TrimPrefix(byID[r.RemoteGroupID].Name, prefix+"-")
			}
			if peer == "" {
				peer = "anywhere"
			}
			out[short] = append(out[short], fmt.Sprintf("%s %s %s%s %s", r.Direction, r.EtherType, proto, ports, peer))
		}
		sort.Strings(out[short])
	}
	return out, mine
}

// sampleRules are the rules testdata/platform implies, written out by hand from its text.
var sampleRules = map[string][]string{
	"bastion": {
		"egress IPv4 tcp 22-22 group app", "egress IPv4 tcp 22-22 group data", "egress IPv4 tcp 22-22 group dmz",
		"egress IPv4 tcp 22-22 group management",
		"egress IPv6 tcp 22-22 group app", "egress IPv6 tcp 22-22 group dmz", "egress IPv6 tcp 22-22 group management",
		"ingress IPv4 tcp 22-22 198.51.100.0/24", "ingress IPv6 tcp 22-22 2001:db8:100::/48",
	},
	"dmz": {
		"egress IPv4 tcp 8443-8443 group app", "egress IPv6 tcp 8443-8443 group app",
		"ingress IPv4 tcp 22-22 group bastion", "ingress IPv4 tcp 443-443 0.0.0.0/0", "ingress IPv4 tcp 80-80 0.0.0.0/0",
		"ingress IPv6 tcp 22-22 group bastion", "ingress IPv6 tcp 443-443 ::/0", "ingress IPv6 tcp 80-80 ::/0",
	},
	"app": {
		"egress IPv4 icmp group management", "egress IPv4 tcp 5000-5000 203.0.113.0/24", "egress IPv4 tcp 5432-5432 group data",
		"egress IPv6 ipv6-icmp group management",
		"ingress IPv4 tcp 22-22 group bastion", "ingress IPv4 tcp 8443-8443 group dmz",
		"ingress IPv6 tcp 22-22 group bastion", "ingress IPv6 tcp 8443-8443 group dmz",
	},
	"data": {
		"ingress IPv4 tcp 22-22 group bastion", "ingress IPv4 tcp 5432-5432 group app",
	},
	"management": {
		"egress IPv4 udp 514-514 192.0.2.10/32",
		"ingress IPv4 icmp group app", "ingress IPv4 tcp 22-22 group bastion", "ingress IPv4 tcp 9000-9010 10.20.16.0/20",
		"ingress IPv4 tcp 9100-9100 10.20.0.0/16",
		"ingress IPv6 ipv6-icmp group app", "ingress IPv6 tcp 22-22 group bastion", "ingress IPv6 tcp 9100-9100 2001:db8:200::/48",
	},
}

// normalizeAny maps Neutron's two spellings of "any address" to one, so the expectation
// does not depend on which one this Neutron stores.
func normalizeAny(rules map[string][]string) map[string][]string {
	out := map[string][]string{}
	for g, rs := range rules {
		for _, r := range rs {
			r = strings.Replace(r, " 0.0.0.0/0", " anywhere", 1)
			r = strings.Replace(r, " ::/0", " anywhere", 1)
			out[g] = append(out[g], r)
		}
		sort.Strings(out[g])
	}
	return out
}

func TestApplySamplePlatform(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := samplePlatform(t)

	r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-detailed-exitcode")
	if r.code != 2 || !strings.Contains(r.stdout, "Plan: 40 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("first plan: code %d (want 2)\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve")
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete! Resources: 40 added, 0 changed, 0 destroyed.") {
		t.Fatalf("apply: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	got, _ := readBack(t, neutron(t), name)
	want := normalizeAny(sampleRules)
	for g, rules := range normalizeAny(got) {
		if strings.Join(rules, "\n") != strings.Join(want[g], "\n") {
			t.Errorf("group %s-%s in Neutron:\n  %s\nwant:\n  %s", name, g, strings.Join(rules, "\n  "), strings.Join(want[g], "\n  "))
		}
	}
	if len(got) != len(want) {
		t.Errorf("Neutron has groups %v, want %d groups", keys(got), len(want))
	}

	r = runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-detailed-exitcode")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("second plan: code %d (want 0)\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-json")
	var doc struct {
		FormatVersion int    `json:"format_version"`
		Config        string `json:"config"`
		Changes       []struct {
			Action, Kind, Group string
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan -json is not JSON: %v\n%s", err, r.stdout)
	}
	if doc.FormatVersion != plan.FormatVersion || doc.Config != name || len(doc.Changes) != 5 {
		t.Errorf("plan -json: %+v; want format %d, config %s, 5 no-op group entries", doc, plan.FormatVersion, name)
	}
	for _, c := range doc.Changes {
		if c.Action != "no-op" {
			t.Errorf("plan -json after apply has %+v", c)
		}
	}
}

func TestDriftIsRemoved(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := appliedSamplePlatform(t)
	nc := neutron(t)
	_, mine := readBack(t, nc, name)
	hand, err := rules.Create(context.Background(), nc, rules.CreateOpts{SecGroupID: mine["data"].ID, Direction: "ingress",
		EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 3306, PortRangeMax: 3306, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	if err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-detailed-exitcode")
	if r.code != 2 || !strings.Contains(r.stdout, "- ingress IPv4 tcp 3306 from anywhere   # drift") ||
		!strings.Contains(r.stdout, "Plan: 0 to add, 0 to change, 1 to destroy.") {
		t.Fatalf("plan after a hand-made rule: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// apply asks; only "yes" goes ahead.
	r = runCLI(t, "no\n", nil, "-C", dir, "apply", "-cloud", "demo")
	if r.code != 1 || !strings.Contains(r.stderr, "apply cancelled") {
		t.Fatalf("apply answered 'no': code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := rules.Get(context.Background(), nc, hand.ID).Extract(); err != nil {
		t.Fatalf("the rule is gone although apply was cancelled: %v", err)
	}
	r = runCLI(t, "yes\n", nil, "-C", dir, "apply", "-cloud", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "0 added, 0 changed, 1 destroyed") {
		t.Fatalf("apply answered 'yes': code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := rules.Get(context.Background(), nc, hand.ID).Extract(); !gophercloud.ResponseCodeIs(err, 404) {
		t.Errorf("the hand-made rule %s is still there (err %v)", hand.ID, err)
	}
}

func TestUnownedGroupIsNeverTouched(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := samplePlatform(t)
	nc := neutron(t)
	ctx := context.Background()
	// Someone else's group, named like the configuration's app zone group, without tags.
	foreign, err := groups.Create(ctx, nc, groups.CreateOpts{Name: name + "-app", Description: "not hardenctl's"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { groups.Delete(context.Background(), nc, foreign.ID) })
	extra, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: foreign.ID, Direction: "ingress", EtherType: "IPv4",
		Protocol: "tcp", PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, nc, foreign.ID)

	r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo")
	if !strings.Contains(r.stdout, "! conflict: security_group \""+name+"-app\" (id "+foreign.ID) {
		t.Errorf("plan does not report the same-named foreign group as a conflict:\n%s%s", r.stdout, r.stderr)
	}
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	if after := fingerprint(t, nc, foreign.ID); after != before {
		t.Errorf("apply changed a group it does not own:\nbefore %s\nafter  %s", before, after)
	}
	if r := runCLI(t, "", nil, "-C", dir, "destroy", "-cloud", "demo", "-auto-approve"); r.code != 0 {
		t.Fatalf("destroy: %s%s", r.stdout, r.stderr)
	}
	if after := fingerprint(t, nc, foreign.ID); after != before {
		t.Errorf("destroy changed a group it does not own:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := rules.Get(ctx, nc, extra.ID).Extract(); err != nil {
		t.Errorf("the foreign group's rule is gone: %v", err)
	}
	if got, _ := readBack(t, nc, name); len(got) != 1 {
		t.Errorf("after destroy, groups named %s-* are %v; want only the foreign one", name, keys(got))
	}
}

func TestStalePlanIsRefused(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := appliedSamplePlatform(t)
	planFile := filepath.Join(t.TempDir(), "p.plan")
	// A plan with something to do (a new zone), saved; then a rule added by hand.
	os.WriteFile(filepath.Join(dir, "zz_extra.hcl"), []byte("zone \"extra\" {}\n"), 0o644)
	if r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: %s%s", r.stdout, r.stderr)
	}
	nc := neutron(t)
	_, mine := readBack(t, nc, name)
	if _, err := rules.Create(context.Background(), nc, rules.CreateOpts{SecGroupID: mine["dmz"].ID, Direction: "ingress",
		EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 8080, PortRangeMax: 8080, RemoteIPPrefix: "0.0.0.0/0"}).Extract(); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", planFile)
	if r.code != 1 || !strings.Contains(r.stderr, "is stale") {
		t.Fatalf("apply of a stale plan: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := readBack(t, nc, name); got["extra"] != nil {
		t.Errorf("a stale plan was partly applied: group %s-extra exists", name)
	}
	// A fresh plan file applies.
	if r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: %s%s", r.stdout, r.stderr)
	}
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", planFile); r.code != 0 {
		t.Fatalf("apply of a fresh plan file: %s%s", r.stdout, r.stderr)
	}
	if got, _ := readBack(t, nc, name); got["extra"] == nil {
		t.Errorf("applying the fresh plan did not create %s-extra", name)
	}
}

// fingerprint renders a group's name, description, tags and rules.
func fingerprint(t *testing.T, nc *gophercloud.ServiceClient, id string) string {
	t.Helper()
	g, err := groups.Get(context.Background(), nc, id).Extract()
	if err != nil {
		t.Fatalf("read group %s: %v", id, err)
	}
	var rs []string
	for _, r := range g.Rules {
		rs = append(rs, r.ID+"/"+r.Direction+"/"+r.Protocol+fmt.Sprint(r.PortRangeMin))
	}
	sort.Strings(rs)
	return fmt.Sprintf("%s|%s|%v|%v|rev%d", g.Name, g.Description, g.Tags, rs, g.RevisionNumber)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
