package lock

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// ctlStore adds control requests to memStore: objects apart from the claims.
type ctlStore struct {
	*memStore
	mu   sync.Mutex
	n    int
	reqs map[string]Claim
}

func newCtlStore() *ctlStore { return &ctlStore{memStore: newMemStore(), reqs: map[string]Claim{}} }

func (s *ctlStore) ControlRequests(context.Context, string) ([]Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Claim
	for _, c := range s.reqs {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *ctlStore) CreateControlRequest(_ context.Context, _, data string) (Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	c := Claim{ID: fmt.Sprintf("r%04d", s.n), Data: data, Created: time.Now()}
	s.reqs[c.ID] = c
	return c, nil
}

func (s *ctlStore) DeleteControlRequest(_ context.Context, c Claim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reqs, c.ID)
	return nil
}

func TestControlRequests(t *testing.T) {
	ctx := context.Background()
	s := newCtlStore()
	if _, _, err := Send(ctx, s, s, "c.upgrade.app", "pause", "bob", time.Now()); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("a request to a free lock: %v, want ErrNotHeld", err)
	}
	l, err := Acquire(ctx, s, "c.upgrade.app", Options{Holder: "alice", Operation: "upgrade app"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	in := l.Inbox(s)
	if got, err := in.Requests(ctx); err != nil || len(got) != 0 {
		t.Fatalf("an empty inbox: %v %v", got, err)
	}
	r, le, err := Send(ctx, s, s, "c.upgrade.app", "pause", "bob@laptop pid 7", time.Now())
	if err != nil || le.Holder != "alice" {
		t.Fatalf("send: %v, lease %+v", err, le)
	}
	Send(ctx, s, s, "c.upgrade.app", "resume", "bob@laptop pid 8", time.Now())
	got, err := in.Requests(ctx)
	if err != nil || len(got) != 2 || got[0].Kind != "pause" || got[0].By != "bob@laptop pid 7" || got[1].Kind != "resume" {
		t.Fatalf("inbox: %+v %v", got, err)
	}
	if err := in.Obeyed(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := WaitGone(wctx, s, "c.upgrade.app", r, time.Millisecond); err != nil {
		t.Errorf("an obeyed request is still pending: %v", err)
	}
	if got, _ := in.Requests(ctx); len(got) != 1 || got[0].Kind != "resume" {
		t.Errorf("after obeying the pause: %+v", got)
	}
	// The holder's lease never changed for any of it.
	if claims, _ := s.Claims(ctx, "c.upgrade.app"); len(claims) != 1 {
		t.Errorf("claims: %+v", claims)
	}
}

// A request made to a holder that died is discarded by the next holder, not obeyed.
func TestControlRequestForEarlierHolder(t *testing.T) {
	ctx := context.Background()
	s := newCtlStore()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dead, err := Acquire(ctx, s, "n", Options{Holder: "dead", Operation: "upgrade", TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	close(dead.stop)
	<-dead.done
	if _, _, err := Send(ctx, s, s, "n", "abort", "bob", clock()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	next, err := Acquire(ctx, s, "n", Options{Holder: "next", Operation: "upgrade", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Release(ctx)
	if got, err := next.Inbox(s).Requests(ctx); err != nil || len(got) != 0 {
		t.Errorf("the next holder got the dead one's request: %+v %v", got, err)
	}
	if left, _ := Pending(ctx, s, "n"); len(left) != 0 {
		t.Errorf("the stale request was not discarded: %+v", left)
	}
}

// Requests sent while the holder renews its lease quickly are all seen, none lost, and the
// lease is never lost: the two never write the same object.
func TestControlRequestsDuringRenewals(t *testing.T) {
	ctx := context.Background()
	s := newCtlStore()
	// (leases are kept to the second: a TTL of 3 s renews every second)
	l, err := Acquire(ctx, s, "n", Options{Holder: "h", Operation: "upgrade", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	in := l.Inbox(s)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 80 * time.Millisecond)
			if _, _, err := Send(ctx, s, s, "n", "pause", fmt.Sprint("s", i), time.Now()); err != nil {
				t.Error(err)
			}
		}()
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(seen) < 20 && time.Now().Before(deadline) {
		got, err := in.Requests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			seen[r.By] = true
			in.Obeyed(ctx, r)
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("saw %d of 20 requests", len(seen))
	}
	select {
	case <-l.Lost():
		t.Errorf("lease lost: %v", l.Err())
	default:
	}
}

func TestIsRequest(t *testing.T) {
	if IsRequest(`{"h":"x","t":"abc","e":"2030-01-01T00:00:00Z"}`) {
		t.Error("a lease taken for a request")
	}
	if !IsRequest(`{"k":"pause","by":"b","for":"abc","at":"2030-01-01T00:00:00Z"}`) {
		t.Error("a request not recognized")
	}
}
