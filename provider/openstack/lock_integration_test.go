package openstack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"

	"github.com/hardenctl/hardenctl/lock"
)

// The cloud lock on the test bed's Neutron: first loads from several clients at once make one
// lock group (no rules), a stale revision is refused, and holders exclude each other.
func TestCloudLockExcludes(t *testing.T) {
	c := integrationClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := fmt.Sprintf("lk%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		found, _ := c.lockGroups(context.Background(), name)
		for _, g := range found {
			groups.Delete(context.Background(), c.network, g.ID)
		}
	})

	var wg sync.WaitGroup
	objs := make([]lock.Object, 4)
	for i := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := c.Load(ctx, name)
			if err != nil {
				t.Error(err)
			}
			objs[i] = o
		}()
	}
	wg.Wait()
	found, err := c.lockGroups(ctx, name)
	if err != nil || len(found) != 1 || len(found[0].Rules) != 0 {
		t.Fatalf("lock groups after concurrent first loads: %v %+v; want one, without rules", err, found)
	}
	for _, o := range objs {
		if o.ID != found[0].ID {
			t.Errorf("a loader got lock %s, the lock is %s", o.ID, found[0].ID)
		}
	}

	obj, err := c.Load(ctx, name) // the loads may have seen it before its default rules went
	if err != nil {
		t.Fatal(err)
	}
	next, err := c.Swap(ctx, obj, "x")
	if err != nil || next.Revision <= obj.Revision || next.Data != "x" {
		t.Fatalf("swap: %v %+v", err, next)
	}
	if _, err := c.Swap(ctx, obj, "y"); !errors.Is(err, lock.ErrConflict) {
		t.Fatalf("a swap at a stale revision: %v, want ErrConflict", err)
	}
	if _, err := c.Swap(ctx, next, ""); err != nil {
		t.Fatal(err)
	}

	var inside, peak atomic.Int32
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := lock.Acquire(ctx, c, name, lock.Options{Holder: fmt.Sprint("t", i), Operation: "apply", Wait: 2 * time.Minute, Poll: 100 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(300 * time.Millisecond)
			inside.Add(-1)
			if err := l.Release(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() != 1 {
		t.Errorf("%d holders at once", peak.Load())
	}
}
