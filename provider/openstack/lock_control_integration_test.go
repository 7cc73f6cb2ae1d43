package openstack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/lock"
)

// A fleet's upgrade lock on the test bed's Neutron, with a configuration name of the longest
// kind: a second rollout of the fleet is refused naming the holder; control requests sent
// from elsewhere while the holder renews its lease every second all reach it, none is lost
// and the lease is never lost; obeyed requests are gone; nothing is left after release.
func TestCloudLockControlRequests(t *testing.T) {
	c := integrationClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := fmt.Sprintf("ctl%d-%s", time.Now().UnixNano()%1e9, strings.Repeat("x", 26)) // 39 characters
	name := lock.UpgradeName(cfg, "app-servers")
	l, err := lock.Acquire(ctx, c, name, lock.Options{Holder: "alice@t pid 1", Operation: "upgrade app-servers", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Release(context.Background()); err != nil {
			t.Error(err)
		}
		if left, err := c.Claims(context.Background(), name); err != nil || len(left) != 0 {
			t.Errorf("claims left: %v %+v", err, left)
		}
		left, err := lock.Pending(context.Background(), c, name)
		for _, r := range left {
			c.DeleteControlRequest(context.Background(), lock.Claim{ID: r.ID})
		}
		if err != nil || len(left) != 0 {
			t.Errorf("requests left: %v %+v", err, left)
		}
	}()
	_, err = lock.Acquire(ctx, c, name, lock.Options{Holder: "bob@t pid 2", Operation: "upgrade app-servers"})
	var held *lock.HeldError
	if !errors.As(err, &held) || held.Lease.Holder != "alice@t pid 1" || !strings.Contains(err.Error(), "alice@t pid 1") {
		t.Fatalf("a second rollout of the fleet: %v, want refused naming alice", err)
	}

	in := l.Inbox(c)
	const n = 4
	var wg sync.WaitGroup
	sent := make([]lock.Request, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 400 * time.Millisecond)
			r, le, err := lock.Send(ctx, c, c, name, []string{"pause", "resume"}[i%2], fmt.Sprint("op", i), time.Now())
			if err != nil || le.Holder != "alice@t pid 1" {
				t.Errorf("send %d: %v (lease %+v)", i, err, le)
			}
			sent[i] = r
		}()
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(time.Minute)
	for len(seen) < n && time.Now().Before(deadline) {
		got, err := in.Requests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			seen[r.By] = true
			if err := in.Obeyed(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("the holder saw %d of %d requests: %v", len(seen), n, seen)
	}
	for _, r := range sent {
		if err := lock.WaitGone(ctx, c, name, r, 200*time.Millisecond); err != nil {
			t.Error(err)
		}
	}
	select {
	case <-l.Lost():
		t.Errorf("the lease was lost while requests came: %v", l.Err())
	default:
	}
	if le := l.Lease(); !le.Expires.After(le.Acquired.Add(3 * time.Second)) {
		t.Errorf("the lease was not renewed during the test: %+v", le)
	}
}
