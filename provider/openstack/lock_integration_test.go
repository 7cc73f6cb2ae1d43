package openstack

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/lock"
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
