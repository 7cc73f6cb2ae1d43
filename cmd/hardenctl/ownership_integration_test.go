package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/provider/openstack"
)

// An edited plan file (a planned delete pointed at a group that is not hardenctl's) is refused
// before anything is changed: apply re-derives the plan and carries out only the same one.
func TestEditedPlanIsRefused(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := appliedSamplePlatform(t)
	nc := neutron(t)
	ctx := context.Background()
	victim, err := groups.Create(ctx, nc, groups.CreateOpts{Name: name + "-victim", Description: "not hardenctl's"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { groups.Delete(context.Background(), nc, victim.ID) })
	before := fingerprint(t, nc, victim.ID)

	// A plan that deletes a zone's group (the zone left the configuration), saved.
	os.WriteFile(filepath.Join(dir, "zz_extra.hcl"), []byte("zone \"extra\" {}\n"), 0o644)
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve"); r.code != 0 {
		t.Fatalf("apply with zone extra: %s%s", r.stdout, r.stderr)
	}
	os.Remove(filepath.Join(dir, "zz_extra.hcl"))
	planFile := filepath.Join(t.TempDir(), "p.plan")
	if r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: %s%s", r.stdout, r.stderr)
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	edited := false
	for i, c := range p.Changes {
		if c.Kind == plan.KindGroup && c.Action == plan.Delete {
			p.Changes[i].GroupID, p.Changes[i].ID = victim.ID, victim.ID
			edited = true
		}
	}
	if !edited {
		t.Fatalf("the plan deletes no group:\n%s", b)
	}
	b, _ = json.Marshal(&p)
	os.WriteFile(planFile, b, 0o600)

	r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", planFile)
	if r.code == 0 || !strings.Contains(r.stderr, "plan file was edited") {
		t.Errorf("apply of an edited plan: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := fingerprint(t, nc, victim.ID); after != before {
		t.Errorf("an edited plan changed a group hardenctl does not own:\nbefore %s\nafter  %s", before, after)
	}
	if got, _ := readBack(t, nc, name); got["extra"] == nil {
		t.Errorf("the edited plan was partly applied: %s-extra is gone", name)
	}
}

// onRead runs fn when the answer is first read (while the prompt waits), then answers yes.
type onRead struct {
	once sync.Once
	fn   func()
	r    *strings.Reader
}

func (o *onRead) Read(b []byte) (int, error) {
	o.once.Do(o.fn)
	return o.r.Read(b)
}

// Tags removed by hand while apply waits for approval: the approved plan no longer holds, and
// nothing of the no-longer-owned group is touched.
func TestApprovalRechecksOwnership(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := appliedSamplePlatform(t)
	nc := neutron(t)
	ctx := context.Background()
	_, mine := readBack(t, nc, name)
	dmz := mine["dmz"]
	drift, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: dmz.ID, Direction: "ingress", EtherType: "IPv4",
		Protocol: "tcp", PortRangeMin: 8080, PortRangeMax: 8080, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	answer := &onRead{r: strings.NewReader("yes\n"), fn: func() {
		if _, err := attributestags.ReplaceAll(ctx, nc, "security-groups", dmz.ID, attributestags.ReplaceAllOpts{Tags: []string{}}).Extract(); err != nil {
			t.Error(err)
		}
	}}
	t.Cleanup(func() { // give the group back to the configuration, so the cleanup destroys it
		attributestags.ReplaceAll(context.Background(), nc, "security-groups", dmz.ID, attributestags.ReplaceAllOpts{Tags: plan.OwnerTags(name)})
	})
	r := runCLIReader(t, answer, nil, "-C", dir, "apply", "-cloud", "demo")
	if r.code == 0 || !strings.Contains(r.stderr, "changed while the plan waited for approval") {
		t.Errorf("apply after tags were removed during the prompt: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := rules.Get(ctx, nc, drift.ID).Extract(); err != nil {
		t.Errorf("the rule of the group that is no longer owned was deleted: %v", err)
	}
}

// Two applies of one new configuration at once: the cloud lock lets one work while the other
// waits, so every zone has one group (without the lock both created every group).
func TestConcurrentAppliesExclude(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := samplePlatform(t)
	var wg sync.WaitGroup
	res := make([]cliResult, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve", "-lock-timeout", "3m")
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.code != 0 {
			t.Errorf("apply %d: code %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
	}
	pages, err := groups.List(neutron(t), groups.ListOpts{Tags: strings.Join(plan.OwnerTags(name), ",")}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, _ := groups.ExtractGroups(pages)
	seen := map[string]int{}
	for _, g := range all {
		seen[g.Name]++
	}
	for n, k := range seen {
		if k != 1 {
			t.Errorf("%d owned groups named %s", k, n)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no groups")
	}
	// Held: without a wait, the second says who holds the lock.
	store, err := newCloudForTest(t)
	if err != nil {
		t.Fatal(err)
	}
	l, err := acquireForTest(store, name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve")
	if r.code == 0 || !strings.Contains(r.stderr, "is locked by") {
		t.Errorf("apply while the lock is held: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func newCloudForTest(t *testing.T) (*openstack.Client, error) {
	return openstack.New(context.Background(), openstack.Options{Cloud: "demo"})
}

func acquireForTest(store *openstack.Client, name string) (*lock.Lock, error) {
	return lock.Acquire(context.Background(), store, name, lock.Options{Holder: "test holder", Operation: "test"})
}

// A create cut short between the group's create and its tags (a kill, or a failed tag request
// whose delete failed too) leaves an untagged group with Neutron's allow-all egress and the
// creating description: the next apply deletes it and makes the tagged group, and converges.
func TestOrphanOfInterruptedCreateIsRemoved(t *testing.T) {
	integration(t)
	t.Parallel()
	dir, name := samplePlatform(t)
	nc := neutron(t)
	ctx := context.Background()
	orphan, err := groups.Create(ctx, nc, groups.CreateOpts{Name: name + "-dmz", Description: plan.CreatingDescription(plan.OwnerTags(name))}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { groups.Delete(context.Background(), nc, orphan.ID) })
	foreign, err := groups.Create(ctx, nc, groups.CreateOpts{Name: name + "-app", Description: "hardenctl: being created, for someone else"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { groups.Delete(context.Background(), nc, foreign.ID) })
	before := fingerprint(t, nc, foreign.ID)

	r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo")
	if !strings.Contains(r.stdout, "orphan") || !strings.Contains(r.stdout, orphan.ID) {
		t.Errorf("plan does not name the orphan %s:\n%s%s", orphan.ID, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	if _, err := groups.Get(ctx, nc, orphan.ID).Extract(); err == nil {
		t.Errorf("the orphan %s is still there", orphan.ID)
	}
	if after := fingerprint(t, nc, foreign.ID); after != before {
		t.Errorf("a group that only looks like an orphan of another configuration was changed:\nbefore %s\nafter  %s", before, after)
	}
	if r := runCLI(t, "", nil, "-C", dir, "plan", "-cloud", "demo", "-detailed-exitcode"); r.code != 0 {
		t.Errorf("plan after the apply: code %d (want 0, no changes)\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A plan that needs more groups than the project's quota leaves is refused before anything
// is created, saying how many it needs and how many are left. (In the admin project, whose
// quota the test may change without touching the other tests' demo project.)
func TestQuotaIsCheckedFirst(t *testing.T) {
	integration(t)
	ctx := context.Background()
	admin, err := openstack.New(ctx, openstack.Options{Cloud: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := admin.SecurityGroupQuota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc := neutronAs(t, "admin")
	project := admin.ProjectID()
	setLimit := func(n int) {
		t.Helper()
		body := map[string]any{"quota": map[string]any{"security_group": n}}
		if _, err := nc.Put(ctx, nc.ServiceURL("quotas", project), body, nil, &gophercloud.RequestOpts{OkCodes: []int{200}}); err != nil {
			t.Fatal(err)
		}
	}
	// Room for the lock's claim, not for the configuration's groups.
	setLimit(q.Groups.Used + 1)
	t.Cleanup(func() { setLimit(q.Groups.Limit) })

	name := fmt.Sprintf("qt%d", time.Now().UnixNano()%1e9)
	dir := copyConfig(t, "../../testdata/platform", `name = "sample"`, fmt.Sprintf("name = %q", name))
	r := runCLI(t, "", nil, "-C", dir, "apply", "-cloud", "admin", "-auto-approve")
	if r.code == 0 || !strings.Contains(r.stderr, "the plan needs 5 new security groups") || !strings.Contains(r.stderr, "leaves 0 groups") {
		t.Errorf("apply over quota: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pages, err := groups.List(nc, groups.ListOpts{Tags: strings.Join(plan.OwnerTags(name), ",")}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := groups.ExtractGroups(pages); len(all) != 0 {
		t.Errorf("apply over quota created %d groups", len(all))
	}
}
