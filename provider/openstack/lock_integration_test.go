package openstack

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"

	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
)

// The cloud lock on the test bed's Neutron: contenders at once exclude each other, every one
// gets it in turn, and no claim is left.
func TestCloudLockExcludes(t *testing.T) {
	c := integrationClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	name := fmt.Sprintf("lk%d", time.Now().UnixNano()%1e9)
	var wg sync.WaitGroup
	var inside, peak, served atomic.Int32
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := lock.Acquire(ctx, c, name, lock.Options{Holder: fmt.Sprint("t", i), Operation: "apply", Wait: 3 * time.Minute, Poll: 100 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(300 * time.Millisecond)
			inside.Add(-1)
			served.Add(1)
			if err := l.Release(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() != 1 || served.Load() != 3 {
		t.Errorf("peak holders %d (want 1), served %d (want 3)", peak.Load(), served.Load())
	}
	if left, err := c.Claims(ctx, name); err != nil || len(left) != 0 {
		t.Errorf("claims left: %v %+v", err, left)
	}
}

// The quota as the demo user reads it from the test bed's Neutron.
func TestSecurityGroupQuota(t *testing.T) {
	c := integrationClient(t)
	q, err := c.SecurityGroupQuota(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if q.Groups.Limit != 1000 || q.Rules.Limit != 10000 || q.Groups.Used < 1 {
		t.Errorf("quota %+v; the test bed sets 1000 groups and 10000 rules for demo", q)
	}
}

// The ownership checks apply makes on a group right before it acts, and the orphan delete, on
// the test bed's Neutron: the rule ids come back while the group carries the tags; once a tag
// is gone the check refuses; only an untagged group with the creating marker is deleted as an
// orphan.
func TestOwnershipChecksOnNeutron(t *testing.T) {
	c := integrationClient(t)
	ctx := context.Background()
	name := fmt.Sprintf("oc%d", time.Now().UnixNano()%1e9)
	owner := plan.OwnerTags(name)
	id, defaults, err := c.CreateSecurityGroup(ctx, name+"-app", "zone app", owner)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSecurityGroup(context.Background(), id)
	got, err := c.OwnedGroupRules(ctx, id, owner)
	if err != nil || len(got) != len(defaults) || len(got) == 0 {
		t.Fatalf("rule ids of an owned group: %v %v; want the %d default rules", got, err, len(defaults))
	}
	if err := c.DeleteOrphanGroup(ctx, id, plan.CreatingDescription(owner)); err == nil {
		t.Error("a tagged group was deleted as an orphan")
	}
	if _, err := attributestags.ReplaceAll(ctx, c.network, "security-groups", id, attributestags.ReplaceAllOpts{Tags: []string{plan.TagManagedBy}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OwnedGroupRules(ctx, id, owner); err == nil || !strings.Contains(err.Error(), "no longer carries") {
		t.Errorf("a group without the configuration's tag: %v", err)
	}
	orphan, err := groups.Create(ctx, c.network, groups.CreateOpts{Name: name + "-db", Description: plan.CreatingDescription(owner)}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteSecurityGroup(context.Background(), orphan.ID)
	if err := c.DeleteOrphanGroup(ctx, orphan.ID, plan.CreatingDescription(plan.OwnerTags("other"))); err == nil {
		t.Error("another configuration's marker deleted the orphan")
	}
	if err := c.DeleteOrphanGroup(ctx, orphan.ID, plan.CreatingDescription(owner)); err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Get(ctx, c.network, orphan.ID).Extract(); err == nil {
		t.Error("the orphan is still there")
	}
}
