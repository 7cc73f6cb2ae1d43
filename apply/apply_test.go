package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenctl/hardenctl/apply/applytest"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/plan"
)

// fakeCloud is applytest's fake cloud, shared with the CLI's golden tests.
type fakeCloud = applytest.Cloud

var _ Cloud = (*fakeCloud)(nil)

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
	if !f.Has("bulk id-t-a [ingress IPv4 tcp 22 from anywhere remote=id-t-b]") {
		t.Errorf("the remote group was not resolved to its new id: %v", f.Calls)
	}
	if f.Has("bulk id-t-b") || f.Has("delete rule t-b-def4") || !f.Has("delete rule t-b-def6") {
		t.Errorf("the default rule t-b wants was not kept (or the other not removed): %v", f.Calls)
	}
	if !f.Has("delete rule t-a-def4") || !f.Has("delete rule t-a-def6") {
		t.Errorf("Neutron's allow-all egress rules were not removed from t-a: %v", f.Calls)
	}
	if !f.Has("create group t-a tags=[managed-by:hardenctl hardenctl-config:t]") {
		t.Errorf("groups are not created with the ownership tags: %v", f.Calls)
	}
	if res.Added != 4 {
		t.Errorf("added = %d, want 4 (2 groups, 2 rules)", res.Added)
	}
}

func TestApplyGoesOnAfterOneGroupFails(t *testing.T) {
	f := &fakeCloud{FailCreate: map[string]bool{"t-a": true}}
	p := newGroupPlan(map[string][]plan.Rule{
		"t-a": {{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 1, PortMax: 1}},
		"t-b": {{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 2, PortMax: 2, RemoteGroup: "t-a"},
			{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 3, PortMax: 3}},
	})
	var events []event.Event
	var mu sync.Mutex
	_, err := Apply(context.Background(), p, f, Options{Hook: event.Observe(func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })})
	if err == nil {
		t.Fatal("apply with a failed group creation returned no error")
	}
	for _, want := range []string{"create security group t-a: quota exceeded", "security group t-a: not created", "names group t-a, which does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !f.Has("bulk id-t-b [ingress IPv4 tcp 3 from anywhere remote=]") {
		t.Errorf("the other group's independent rule was not created: %v", f.Calls)
	}
	failed := false
	for _, e := range events {
		if e.Failed() && e.Kind == event.KindSecurityGroup && e.Address == "t-a" && e.Action == "create" {
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
	f := &fakeCloud{GroupRules: map[string][]string{"g1": {"keep-egress4"}, "g2": {"dup-egress4"}}}
	res, err := Apply(context.Background(), p, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bulk g1 [ingress IPv4 tcp 443", "delete rule keep-egress4", "delete group g2"} {
		if !f.Has(want) {
			t.Errorf("no call %q; calls:\n%s", want, strings.Join(f.Calls, "\n"))
		}
	}
	if f.Has("delete group g1") || f.Has("bulk g2") {
		t.Errorf("the kept group was deleted or the duplicate changed:\n%s", strings.Join(f.Calls, "\n"))
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
		if !f.Has(want) {
			t.Errorf("no call %q; calls:\n%s", want, strings.Join(f.Calls, "\n"))
		}
	}
	if f.Has("create group t-b") {
		t.Errorf("a group was started after the interruption:\n%s", strings.Join(f.Calls, "\n"))
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
		{Action: plan.Delete, Kind: plan.KindServer, ServerName: "t-web-01", ID: "srv1"},
	}}
	f := &fakeCloud{NotOwned: map[string]bool{"ga": true, "gc": true, "srv1": true}, GroupRules: map[string][]string{"gb": {"rb"}}}
	_, err := Apply(context.Background(), p, f, Options{})
	if err == nil {
		t.Fatal("apply succeeded on groups and a server that are not owned")
	}
	for _, bad := range []string{"delete rule", "delete group", "delete server"} {
		if f.Has(bad) {
			t.Errorf("%s happened:\n%s", bad, strings.Join(f.Calls, "\n"))
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
	if len(f.Calls) != 0 {
		t.Errorf("calls before the quota refusal: %v", f.Calls)
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
	p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindServer, ServerName: "t-web-01",
		Server: &plan.ServerSpec{Name: "t-web-01", Fleet: "web", Group: "t-a"}})
	f := &fakeCloud{FailRule: map[string]bool{"t-a-def4": true}}
	_, err := Apply(context.Background(), p, f, Options{})
	if err == nil || !strings.Contains(err.Error(), "deleted again") || !strings.Contains(err.Error(), "t-web-01 not booted") {
		t.Fatalf("err = %v", err)
	}
	if !f.Has("delete group id-t-a") || f.Has("boot t-web-01") || f.Has("delete group id-t-b") {
		t.Errorf("calls:\n%s", strings.Join(f.Calls, "\n"))
	}
}

// slowBootCloud cancels the apply (Ctrl-C) during the first boot, which then takes a while
// to return (a request that ignores the cancellation); the others take 20 ms.
type slowBootCloud struct {
	fakeCloud
	cancel  context.CancelFunc
	running atomic.Int32
}

func (c *slowBootCloud) CreateFleetServer(ctx context.Context, spec plan.ServerSpec, gid string, tags []string) (string, error) {
	c.running.Add(1)
	defer c.running.Add(-1)
	if spec.Name == "t-web-01" {
		c.cancel()
		time.Sleep(200 * time.Millisecond)
	} else {
		time.Sleep(20 * time.Millisecond)
	}
	return c.fakeCloud.CreateFleetServer(ctx, spec, gid, tags)
}

// Apply never returns while a worker of its own still runs: cancelled during the server
// phase, it waits for the boots in flight (and reads their results after they are done).
func TestApplyWaitsForServersWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newGroupPlan(nil)
	for _, n := range []string{"t-web-01", "t-web-02", "t-web-03", "t-web-04"} {
		p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindServer, ServerName: n,
			Server: &plan.ServerSpec{Name: n, Fleet: "web", Group: "t-a"}})
	}
	f := &slowBootCloud{cancel: cancel}
	res, err := Apply(ctx, p, f, Options{ServerConcurrency: 2})
	if n := f.running.Load(); n != 0 {
		t.Fatalf("Apply returned while %d boot(s) still ran", n)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the interruption", err)
	}
	if f.Has("boot t-web-03") || f.Has("boot t-web-04") {
		t.Errorf("a server was booted after the interruption:\n%s", strings.Join(f.Calls, "\n"))
	}
	if res.Added != 4 { // two groups, two servers
		t.Errorf("added %d, want 4 (the boots in flight are counted)", res.Added)
	}
}

// recorder is a hook that keeps the events and answers Halt to the end of the step halt
// names ("t-a create").
type recorder struct {
	mu     sync.Mutex
	events []string
	halt   string
}

func (r *recorder) Event(e event.Event) event.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := fmt.Sprintf("%s %s %s %s", e.Kind, e.Address, e.Action, e.Phase)
	if e.Err != nil {
		line += " failed"
	}
	r.events = append(r.events, line)
	if e.Phase == event.End && e.Address+" "+e.Action == r.halt {
		return event.Halt
	}
	return event.Continue
}

// Halt after the first group is created: that group still gets its rules and loses Neutron's
// allow-all egress (its own steps), no other group is started, no server either, and Apply
// says it was halted and counts what it did.
func TestApplyHaltAfterFirstGroup(t *testing.T) {
	rules := []plan.Rule{{Direction: plan.Ingress, EtherType: plan.IPv4, Protocol: "tcp", PortMin: 443, PortMax: 443}}
	p := newGroupPlan(map[string][]plan.Rule{"t-a": rules, "t-b": rules})
	p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindServer, ServerName: "t-web-01",
		Server: &plan.ServerSpec{Name: "t-web-01", Fleet: "web", Group: "t-a"}})
	f := &fakeCloud{}
	h := &recorder{halt: "t-a create"}
	res, err := Apply(context.Background(), p, f, Options{Concurrency: 1, Hook: h})
	if !errors.Is(err, event.ErrHalted) || !strings.Contains(err.Error(), "apply halted before security group t-b") {
		t.Fatalf("err = %v, want halted before t-b", err)
	}
	for _, want := range []string{"create group t-a", "bulk id-t-a [ingress IPv4 tcp 443", "delete rule t-a-def4", "delete rule t-a-def6"} {
		if !f.Has(want) {
			t.Errorf("no call %q; calls:\n%s", want, strings.Join(f.Calls, "\n"))
		}
	}
	if f.Has("create group t-b") || f.Has("boot") {
		t.Errorf("work was started after the halt:\n%s", strings.Join(f.Calls, "\n"))
	}
	if res.Added != 2 || res.Changed != 0 || res.Destroyed != 0 {
		t.Errorf("result %+v, want 2 added (t-a and its rule)", res)
	}
	want := []string{
		"security_group t-a create start", "security_group t-a create end",
		"security_group t-a create rules start", "security_group t-a create rules end",
		"security_group t-a delete rules start", "security_group t-a delete rules end",
	}
	if d := cmp.Diff(want, h.events); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

// Halt during the servers: the boot that was answered finishes, no other server starts, and
// no group is deleted after it.
func TestApplyHaltDuringServers(t *testing.T) {
	p := newGroupPlan(nil)
	for _, n := range []string{"t-web-01", "t-web-02", "t-web-03"} {
		p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Kind: plan.KindServer, ServerName: n,
			Server: &plan.ServerSpec{Name: n, Fleet: "web", Group: "t-a"}})
	}
	p.Changes = append(p.Changes, plan.Change{Action: plan.Delete, Kind: plan.KindGroup, Group: "t-old", GroupID: "g-old", ID: "g-old"})
	f := &fakeCloud{}
	h := &recorder{halt: "t-web-01 boot"}
	res, err := Apply(context.Background(), p, f, Options{ServerConcurrency: 1, Hook: h})
	if !errors.Is(err, event.ErrHalted) || !strings.Contains(err.Error(), "apply halted before server t-web-02") {
		t.Fatalf("err = %v, want halted before t-web-02", err)
	}
	if !f.Has("boot t-web-01") || f.Has("boot t-web-02") || f.Has("boot t-web-03") || f.Has("delete group g-old") {
		t.Errorf("calls:\n%s", strings.Join(f.Calls, "\n"))
	}
	if res.Added != 3 || res.Destroyed != 0 {
		t.Errorf("result %+v, want 3 added (two groups, one server), nothing destroyed", res)
	}
	if n := strings.Count(strings.Join(h.events, "\n"), "server "); n != 2 {
		t.Errorf("%d server events, want the boot's start and end:\n%s", n, strings.Join(h.events, "\n"))
	}
}

// A group's rules record is written after its rules are in, and not when they failed (a
// record that named rules never made would call them deleted outside hardenctl).
func TestApplyRecordsRulesOnlyWhenDone(t *testing.T) {
	p := newGroupPlan(nil)
	for i := range p.Changes {
		p.Changes[i].RulesTag = plan.TagRulesPrefix + p.Changes[i].Group
	}
	f := &fakeCloud{FailRule: map[string]bool{"t-a-def4": true}}
	Apply(context.Background(), p, f, Options{})
	if f.Has("record rules id-t-a") || !f.Has("record rules id-t-b hardenctl-rules:t-b") {
		t.Errorf("calls:\n%s", strings.Join(f.Calls, "\n"))
	}
	last := ""
	for _, c := range f.Calls {
		if strings.Contains(c, "id-t-b") {
			last = c
		}
	}
	if !strings.HasPrefix(last, "record rules") {
		t.Errorf("t-b's record is not its last step (%q):\n%s", last, strings.Join(f.Calls, "\n"))
	}
}
