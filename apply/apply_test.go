package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hardenctl/hardenctl/plan"
)

// fakeCloud records calls; groups named in failCreate fail to be created. Error paths only:
// the integration tests apply against the test bed's Neutron.
type fakeCloud struct {
	mu         sync.Mutex
	failCreate map[string]bool
	calls      []string
	nextID     int
	// notOwned are ids of groups and servers that lost their ownership tags meanwhile.
	notOwned map[string]bool
	// groupRules are the rule ids each group has (checked before rule deletes).
	groupRules map[string][]string
	failRule   map[string]bool // rule deletes that fail
}

func (f *fakeCloud) OwnedGroupRules(_ context.Context, id string, tags []string) ([]string, error) {
	f.record("check group %s", id)
	if f.notOwned[id] {
		return nil, fmt.Errorf("security group %s does not carry %v", id, tags)
	}
	return f.groupRules[id], nil
}

func (f *fakeCloud) DeleteOrphanGroup(_ context.Context, id, marker string) error {
	f.record("delete orphan %s %q", id, marker)
	return nil
}

func (f *fakeCloud) RecordGroupRules(_ context.Context, id string, _ []string, tag string) error {
	f.record("record rules %s %s", id, tag)
	return nil
}

func (f *fakeCloud) CheckServerOwned(_ context.Context, id string, tags []string) error {
	if f.notOwned[id] {
		return fmt.Errorf("server %s does not carry %v", id, tags)
	}
	return nil
}

func (f *fakeCloud) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeCloud) CreateSecurityGroup(_ context.Context, name, _ string, tags []string) (string, []plan.ObservedRule, error) {
	if f.failCreate[name] {
		return "", nil, errors.New("create security group " + name + ": quota exceeded")
	}
	f.record("create group %s tags=%v", name, tags)
	defaults := []plan.ObservedRule{
		{ID: name + "-def4", Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv4}},
		{ID: name + "-def6", Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv6}},
	}
	return "id-" + name, defaults, nil
}

func (f *fakeCloud) UpdateSecurityGroup(_ context.Context, id, d string) error {
	f.record("update %s %q", id, d)
	return nil
}

func (f *fakeCloud) DeleteSecurityGroup(_ context.Context, id string) error {
	f.record("delete group %s", id)
	return nil
}

func (f *fakeCloud) CreateSecurityGroupRules(_ context.Context, gid string, rules []plan.ObservedRule) error {
	var rs []string
	for _, r := range rules {
		rs = append(rs, r.Rule.String()+" remote="+r.RemoteGroupID)
	}
	f.record("bulk %s [%s]", gid, strings.Join(rs, "; "))
	return nil
}

func (f *fakeCloud) DeleteSecurityGroupRule(_ context.Context, id string) error {
	if f.failRule[id] {
		return errors.New("delete security group rule " + id + ": 429, retry after 300 s")
	}
	f.record("delete rule %s", id)
	return nil
}

func (f *fakeCloud) CreateFleetServer(_ context.Context, spec plan.ServerSpec, gid string, tags []string) (string, error) {
	f.record("boot %s in %s", spec.Name, gid)
	return "srv-" + spec.Name, nil
}

func (f *fakeCloud) WaitServerActive(context.Context, string) error { return nil }

func (f *fakeCloud) RebuildServer(_ context.Context, id, image string) error {
	f.record("rebuild %s onto %s", id, image)
	return nil
}

func (f *fakeCloud) DeleteServer(_ context.Context, id string) error {
	f.record("delete server %s", id)
	return nil
}

func (f *fakeCloud) has(prefix string) bool {
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func newGroupPlan(rules map[string][]plan.Rule) *plan.Plan {
	p := &plan.Plan{Config: "t"}
	for _, g := range []string{"t-a", "t-b"} {
		p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindGroup, Group: g})
		for i := range rules[g] {
			p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindRule, Group: g, Rule: &rules[g][i]})
		}
	}
	return p
}

func TestApplyResolvesRemoteGroupsAndRemovesDefaults(t *testing.T) {
	f := &fakeCloud{}
	p := newGroupPlan(map[string][]plan.Rule{
		"t-a": {{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 22, PortMax: 22, RemoteGroup: "t-b"}},
		// t-b wants exactly one of Neutron's defaults: it must survive.
		"t-b": {{Direction: plan.Egress, EtherType: plan.IPv4}},
	})
	res, err := Apply(context.Background(), p, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !f.has("bulk id-t-a [ingress IPv4 tcp 22 from anywhere remote=id-t-b]") {
		t.Errorf("the remote group was not resolved to its new id: %v", f.calls)
	}
	if f.has("bulk id-t-b") || f.has("delete rule t-b-def4") || !f.has("delete rule t-b-def6") {
		t.Errorf("the default rule t-b wants was not kept (or the other not removed): %v", f.calls)
	}
	if !f.has("delete rule t-a-def4") || !f.has("delete rule t-a-def6") {
		t.Errorf("Neutron's allow-all egress rules were not removed from t-a: %v", f.calls)
	}
	if !f.has("create group t-a tags=[managed-by:hardenctl hardenctl-config:t]") {
		t.Errorf("groups are not created with the ownership tags: %v", f.calls)
	}
	if res.Added != 4 {
		t.Errorf("added = %d, want 4 (2 groups, 2 rules)", res.Added)
	}
}

func TestApplyGoesOnAfterOneGroupFails(t *testing.T) {
	f := &fakeCloud{failCreate: map[string]bool{"t-a": true}}
	p := newGroupPlan(map[string][]plan.Rule{
		"t-a": {{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 1, PortMax: 1}},
		"t-b": {{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 2, PortMax: 2, RemoteGroup: "t-a"},
			{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 3, PortMax: 3}},
	})
	var events []Event
	var mu sync.Mutex
	_, err := Apply(context.Background(), p, f, Options{Hook: HookFunc(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })})
	if err == nil {
		t.Fatal("apply with a failed group creation returned no error")
	}
	for _, want := range []string{"create security group t-a: quota exceeded", "security group t-a: not created", "names group t-a, which does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !f.has("bulk id-t-b [ingress IPv4 tcp 3 from anywhere remote=]") {
		t.Errorf("the other group's independent rule was not created: %v", f.calls)
	}
	failed := false
	for _, e := range events {
		if e.Done && e.Err != nil && e.Group == "t-a" {
			failed = true
		}
	}
	if !failed {
		t.Errorf("no hook event reported t-a's failure: %+v", events)
	}
}

func TestApplyStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, newGroupPlan(nil), &fakeCloud{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "apply interrupted") {
		t.Errorf("err = %v, want 'apply interrupted'", err)
	}
}

// Two owned groups of one name (two applies ran at once): the plan deletes the duplicate and
// fixes the kept one; apply must do both, by id, and not let the duplicate's delete stand in
// for the kept group.
func TestApplyDuplicateGroupsByID(t *testing.T) {
	desired := []plan.Group{{Address: "zone.a", Name: "t-a", Description: "a", Rules: []plan.Rule{
		{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 443, PortMax: 443, Description: "hardenctl"}}}}
	allowAll := []plan.ObservedRule{{ID: "keep-egress4", Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv4}}}
	obs := &plan.Observed{Owned: []plan.ObservedGroup{
		{ID: "g1", Name: "t-a", Description: "a", Tags: plan.OwnerTags("t"), Rules: allowAll},
		{ID: "g2", Name: "t-a", Description: "a", Tags: plan.OwnerTags("t"),
			Rules: []plan.ObservedRule{{ID: "dup-egress4", Rule: plan.Rule{Direction: plan.Egress, EtherType: plan.IPv4}}}},
	}}
	p := plan.Diff(desired, obs)
	p.Config = "t"
	f := &fakeCloud{groupRules: map[string][]string{"g1": {"keep-egress4"}, "g2": {"dup-egress4"}}}
	res, err := Apply(context.Background(), p, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bulk g1 [ingress IPv4 tcp 443", "delete rule keep-egress4", "delete group g2"} {
		if !f.has(want) {
			t.Errorf("no call %q; calls:\n%s", want, strings.Join(f.calls, "\n"))
		}
	}
	if f.has("delete group g1") || f.has("bulk g2") {
		t.Errorf("the kept group was deleted or the duplicate changed:\n%s", strings.Join(f.calls, "\n"))
	}
	if res.Added != 1 || res.Destroyed != 2 {
		t.Errorf("result %+v, want 1 added, 2 destroyed (the allow-all rule and the duplicate)", res)
	}
}

// cancelCloud cancels the apply (Ctrl-C) as soon as the first group is created.
type cancelCloud struct {
	fakeCloud
	cancel context.CancelFunc
}

func (c *cancelCloud) CreateSecurityGroup(ctx context.Context, name, d string, tags []string) (string, []plan.ObservedRule, error) {
	id, defaults, err := c.fakeCloud.CreateSecurityGroup(ctx, name, d, tags)
	c.cancel()
	return id, defaults, err
}

func (c *cancelCloud) CreateSecurityGroupRules(ctx context.Context, gid string, rules []plan.ObservedRule) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return c.fakeCloud.CreateSecurityGroupRules(ctx, gid, rules)
}

func (c *cancelCloud) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return c.fakeCloud.DeleteSecurityGroupRule(ctx, id)
}

// Ctrl-C right after a group is created: that group still gets its rules and loses Neutron's
// allow-all egress (under the grace context); no other group is started; apply says it was
// interrupted.
func TestApplyInterruptedFinishesCreatedGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &cancelCloud{cancel: cancel}
	p := newGroupPlan(map[string][]plan.Rule{"t-a": {{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 443, PortMax: 443}}})
	_, err := Apply(ctx, p, f, Options{Concurrency: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the interruption", err)
	}
	for _, want := range []string{"create group t-a", "bulk id-t-a [ingress IPv4 tcp 443", "delete rule t-a-def4", "delete rule t-a-def6"} {
		if !f.has(want) {
			t.Errorf("no call %q; calls:\n%s", want, strings.Join(f.calls, "\n"))
		}
	}
	if f.has("create group t-b") {
		t.Errorf("a group was started after the interruption:\n%s", strings.Join(f.calls, "\n"))
	}
}

// Ownership is checked on the objects themselves right before acting: a group whose tags
// were removed while the plan waited, or a rule id that is not the group's (an edited plan),
// is not touched.
func TestApplyRechecksOwnership(t *testing.T) {
	rule := plan.Rule{Direction: plan.Egress, EtherType: plan.IPv4}
	p := &plan.Plan{Config: "t", Changes: []plan.Change{
		{Action: plan.Delete, Kind: plan.KindRule, Group: "t-a", GroupID: "ga", ID: "ra", Rule: &rule},
		{Action: plan.Delete, Kind: plan.KindRule, Group: "t-b", GroupID: "gb", ID: "foreign-rule", Rule: &rule},
		{Action: plan.Delete, Kind: plan.KindGroup, Group: "t-c", GroupID: "gc", ID: "gc"},
		{Action: plan.Delete, Kind: plan.KindServer, Group: "t-web-01", ID: "srv1"},
	}}
	f := &fakeCloud{notOwned: map[string]bool{"ga": true, "gc": true, "srv1": true}, groupRules: map[string][]string{"gb": {"rb"}}}
	_, err := Apply(context.Background(), p, f, Options{})
	if err == nil {
		t.Fatal("apply succeeded on groups and a server that are not owned")
	}
	for _, bad := range []string{"delete rule", "delete group", "delete server"} {
		if f.has(bad) {
			t.Errorf("%s happened:\n%s", bad, strings.Join(f.calls, "\n"))
		}
	}
	for _, want := range []string{"security group t-a", "rule foreign-rule is not one of its rules", "security group t-c", "server srv1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}

type quotaCloud struct {
	fakeCloud
	q Quota
}

func (c *quotaCloud) SecurityGroupQuota(context.Context) (Quota, error) { return c.q, nil }

// A plan that needs more than the quota leaves is refused before anything is created, and
// the error says how many are needed and how many are left.
func TestApplyChecksQuotaFirst(t *testing.T) {
	rules := []plan.Rule{{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 443, PortMax: 443}}
	p := newGroupPlan(map[string][]plan.Rule{"t-a": rules, "t-b": rules})
	f := &quotaCloud{q: Quota{Groups: Headroom{Limit: 10, Used: 9}, Rules: Headroom{Limit: -1}}}
	_, err := Apply(context.Background(), p, f, Options{})
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Groups != 2 || qe.Rules != 6 || !strings.Contains(err.Error(), "leaves 1 groups (limit 10, used 9)") {
		t.Fatalf("err = %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls before the quota refusal: %v", f.calls)
	}
	f.q.Groups.Used = 8
	if _, err := Apply(context.Background(), p, f, Options{}); err != nil {
		t.Errorf("within quota: %v", err)
	}
}

// A new group whose allow-all egress cannot be removed does not stay open: it is deleted
// again, and no server is booted into it.
func TestApplyDeletesNewGroupLeftOpen(t *testing.T) {
	p := newGroupPlan(nil)
	p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindServer, Group: "t-web-01",
		Server: &plan.ServerSpec{Name: "t-web-01", Fleet: "web", Group: "t-a"}})
	f := &fakeCloud{failRule: map[string]bool{"t-a-def4": true}}
	_, err := Apply(context.Background(), p, f, Options{})
	if err == nil || !strings.Contains(err.Error(), "deleted again") || !strings.Contains(err.Error(), "t-web-01 not booted") {
		t.Fatalf("err = %v", err)
	}
	if !f.has("delete group id-t-a") || f.has("boot t-web-01") || f.has("delete group id-t-b") {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
}

// A group's rules record is written after its rules are in, and not when they failed (a
// record that named rules never made would call them deleted outside hardenctl).
func TestApplyRecordsRulesOnlyWhenDone(t *testing.T) {
	p := newGroupPlan(nil)
	for i := range p.Changes {
		p.Changes[i].RulesTag = plan.TagRulesPrefix + p.Changes[i].Group
	}
	f := &fakeCloud{failRule: map[string]bool{"t-a-def4": true}}
	Apply(context.Background(), p, f, Options{})
	if f.has("record rules id-t-a") || !f.has("record rules id-t-b hardenctl-rules:t-b") {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	last := ""
	for _, c := range f.calls {
		if strings.Contains(c, "id-t-b") {
			last = c
		}
	}
	if !strings.HasPrefix(last, "record rules") {
		t.Errorf("t-b's record is not its last step (%q):\n%s", last, strings.Join(f.calls, "\n"))
	}
}
