package plan

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// small is a two-zone configuration with a bastion: web (443 from anywhere, IPv4 and
// IPv6) sends 5432 to db.
func small() *config.Config {
	return &config.Config{
		Name:    "t",
		Bastion: &config.Bastion{AllowFrom: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		Zones: []*config.Zone{
			{Name: "db", IPVersions: []int{4}},
			{Name: "web", IPVersions: []int{4}, Ingress: []*config.Rule{{
				Direction: config.Ingress, Protocol: "tcp", Ports: []config.PortRange{{Min: 443, Max: 443}},
				Peers: []config.Peer{{Kind: config.PeerCIDR, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
					{Kind: config.PeerCIDR, CIDR: netip.MustParsePrefix("::/0")}},
			}}, Egress: []*config.Rule{{
				Direction: config.Egress, Protocol: "tcp", Ports: []config.PortRange{{Min: 5432, Max: 5432}},
				Peers: []config.Peer{{Kind: config.PeerZone, Zone: "db"}},
			}}},
		},
	}
}

func ruleStrings(g Group) []string {
	var out []string
	for _, r := range g.Rules {
		out = append(out, r.String())
	}
	return out
}

func TestDesired(t *testing.T) {
	groups := Desired(small())
	got := map[string][]string{}
	for _, g := range groups {
		got[g.Name] = ruleStrings(g)
	}
	want := map[string][]string{
		"t-bastion": {
			"egress IPv4 tcp 22 to group t-db",
			"egress IPv4 tcp 22 to group t-web",
			"ingress IPv4 tcp 22 from 198.51.100.0/24",
		},
		"t-db": {
			"ingress IPv4 tcp 22 from group t-bastion",
			"ingress IPv4 tcp 5432 from group t-web",
		},
		"t-web": {
			"egress IPv4 tcp 5432 to group t-db",
			"ingress IPv4 tcp 22 from group t-bastion",
			"ingress IPv4 tcp 443 from anywhere",
			"ingress IPv6 tcp 443 from anywhere",
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("desired groups (-want +got):\n%s", d)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Direction == Egress && r.RemoteGroup == "" && r.RemoteIPPrefix == "" {
				t.Errorf("group %s has an allow-all egress rule %s that the configuration never asked for", g.Name, r)
			}
		}
	}
}

// fakeObserver returns a fixed observation.
type fakeObserver struct{ obs *Observed }

func (f fakeObserver) ObserveSecurityGroups(context.Context, []string, []string) (*Observed, error) {
	return f.obs, nil
}

// observe turns desired groups into what the cloud would report after a clean apply.
func observe(groups []Group) *Observed {
	obs := &Observed{}
	ids := map[string]string{}
	for _, g := range groups {
		ids[g.Name] = "id-" + g.Name
	}
	for _, g := range groups {
		og := ObservedGroup{ID: ids[g.Name], Name: g.Name, Description: g.Description, Tags: OwnerTags("t")}
		for i, r := range g.Rules {
			or := ObservedRule{ID: g.Name + "-r" + string(rune('a'+i)), Rule: r}
			if r.RemoteGroup != "" {
				or.RemoteGroupID = ids[r.RemoteGroup]
				or.Rule.RemoteGroup = ""
			}
			og.Rules = append(og.Rules, or)
		}
		obs.Owned = append(obs.Owned, og)
	}
	return obs
}

func TestDiffConverged(t *testing.T) {
	cfg := small()
	p, err := Make(context.Background(), cfg, fakeObserver{observe(Desired(cfg))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() {
		var b bytes.Buffer
		WriteText(&b, p, false)
		t.Fatalf("a cloud built from the plan still has changes:\n%s", b.String())
	}
}

func TestDiffDriftAndRemoved(t *testing.T) {
	cfg := small()
	obs := observe(Desired(cfg))
	// A rule added by hand, a rule hardenctl made but the configuration dropped, and a
	// group the configuration no longer has.
	obs.Owned[2].Rules = append(obs.Owned[2].Rules,
		ObservedRule{ID: "hand", Rule: Rule{Direction: Ingress, EtherType: IPv4, Protocol: "tcp", PortMin: 22, PortMax: 22, RemoteIPPrefix: "0.0.0.0/0"}},
		ObservedRule{ID: "old", Rule: Rule{Direction: Ingress, EtherType: IPv4, Protocol: "tcp", PortMin: 80, PortMax: 80, Description: RuleMarker}})
	obs.Owned = append(obs.Owned, ObservedGroup{ID: "id-gone", Name: "t-gone", Tags: OwnerTags("t"),
		Rules: []ObservedRule{{ID: "g1", Rule: Rule{Direction: Egress, EtherType: IPv4}}}})
	obs.Others = []ObservedGroup{{ID: "foreign", Name: "t-db", Description: "someone else's"}}
	p := Diff(Desired(cfg), obs)
	p.Config = "t"
	p.CreatedAt = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

	type row struct {
		Action Action
		Reason Reason
		Group  string
		ID     string
	}
	var got []row
	for _, c := range p.Changes {
		if c.Action != NoOp {
			got = append(got, row{c.Action, c.Reason, c.Group, c.ID})
		}
	}
	want := []row{
		{Delete, ReasonDrift, "t-web", "hand"},
		{Delete, ReasonRemoved, "t-web", "old"},
		{Delete, ReasonRemoved, "t-gone", "id-gone"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if len(p.Conflicts) != 1 || p.Conflicts[0].ID != "foreign" {
		t.Errorf("conflicts = %+v, want the foreign t-db", p.Conflicts)
	}
	golden(t, "drift.txt", p)
}

func TestDiffCreateAll(t *testing.T) {
	p := Diff(Desired(small()), &Observed{})
	p.Config = "t"
	add, change, destroy := p.Summary()
	if add != 3+3+2+4 || change != 0 || destroy != 0 {
		t.Errorf("summary = %d/%d/%d, want 12 to add", add, change, destroy)
	}
	golden(t, "create.txt", p)
}

func TestDestroyOwnsOnlyOwned(t *testing.T) {
	cfg := small()
	obs := observe(Desired(cfg))
	obs.Others = []ObservedGroup{{ID: "foreign", Name: "t-db"}}
	p, err := Make(context.Background(), cfg, fakeObserver{obs}, Options{Destroy: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		if c.ID == "foreign" || c.GroupID == "foreign" {
			t.Errorf("destroy plans to touch a group it does not own: %+v", c)
		}
		if c.Action != Delete || c.Kind != KindGroup {
			t.Errorf("destroy plans %s of %s %s, want only group deletes", c.Action, c.Kind, c.Group)
		}
	}
	if _, _, d := p.Summary(); d != 3 {
		t.Errorf("destroy deletes %d groups, want 3", d)
	}
}

func TestDigestChangesWithRules(t *testing.T) {
	obs := observe(Desired(small()))
	before := Digest(obs)
	obs.Owned[0].Rules = append(obs.Owned[0].Rules, ObservedRule{ID: "new"})
	if Digest(obs) == before {
		t.Error("digest did not change when a rule was added")
	}
}

func TestPlanFileRoundTrip(t *testing.T) {
	p := Diff(Desired(small()), &Observed{})
	path := filepath.Join(t.TempDir(), "p.json")
	if err := WriteFile(path, p); err != nil {
		t.Fatal(err)
	}
	q, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(p, q); d != "" {
		t.Errorf("plan file round trip (-want +got):\n%s", d)
	}
	os.WriteFile(path, []byte(`{"format_version": 99}`), 0o600)
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "format version 99, written by a newer hardenctl") {
		t.Errorf("reading a future plan file: err = %v", err)
	}
	// Version 1 named a server change's server in "group": refused, with what to do.
	os.WriteFile(path, []byte(`{"format_version": 1, "changes": [{"action": "delete", "kind": "server", "group": "t-web-01", "id": "s1"}]}`), 0o600)
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "format version 1, written by an older hardenctl; this one reads version 2 only: make the plan again") {
		t.Errorf("reading a version 1 plan file: err = %v", err)
	}
}

func golden(t *testing.T, name string, p *Plan) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteText(&b, p, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("%s (-want +got):\n%s", name, d)
	}
}

func TestCheckSaved(t *testing.T) {
	obs := &Observed{Owned: []ObservedGroup{{ID: "g1", Name: "t-a", Tags: OwnerTags("t")}}}
	desired := []Group{{Address: "zone.a", Name: "t-a", Rules: []Rule{{Direction: Ingress, EtherType: IPv4, Protocol: "tcp", PortMin: 443, PortMax: 443}}}}
	make := func() *Plan { p := Diff(desired, obs); p.Config = "t"; return p }
	if err := CheckSaved(make(), make()); err != nil {
		t.Fatalf("the same plan: %v", err)
	}
	edited := make()
	edited.Changes[1].GroupID = "someone-elses"
	if err := CheckSaved(edited, make()); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("an edited plan: %v", err)
	}
	stale := make()
	stale.ObservedDigest = "x"
	if err := CheckSaved(stale, make()); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("a stale plan: %v", err)
	}
}

// TestLoadSaved: a plan file is carried out only for its configuration and only while the
// cloud is as it was (the CLI, rollouts and the schedule share this one check).
func TestLoadSaved(t *testing.T) {
	ctx := context.Background()
	cfg := small()
	empty := fakeObserver{&Observed{}}
	p, err := Make(ctx, cfg, empty, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.plan")
	if err := WriteFile(path, p); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadSaved(ctx, cfg, empty, path); err != nil || len(got.Changes) != len(p.Changes) {
		t.Fatalf("LoadSaved of a fresh plan: %v", err)
	}
	applied := fakeObserver{observe(Desired(cfg))}
	if _, err := LoadSaved(ctx, cfg, applied, path); err == nil || !strings.Contains(err.Error(), "stale") || !strings.Contains(err.Error(), "Run plan again") {
		t.Errorf("the cloud changed since: %v", err)
	}
	other := small()
	other.Name = "u"
	if _, err := LoadSaved(ctx, other, empty, path); err == nil || !strings.Contains(err.Error(), `is for configuration "t", not "u"`) {
		t.Errorf("another configuration's plan: %v", err)
	}
	if err := Recheck(ctx, cfg, empty, p); err != nil {
		t.Errorf("Recheck against the same cloud: %v", err)
	}
}
