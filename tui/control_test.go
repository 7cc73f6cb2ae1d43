package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/rollout"
)

// memLock keeps claims and control requests in memory (lock.Store and lock.ControlStore).
type memLock struct {
	mu   sync.Mutex
	n    int
	objs map[string]map[string]lock.Claim // "claim" or "ctl": id: claim
}

func newMemLock() *memLock {
	return &memLock{objs: map[string]map[string]lock.Claim{"claim": {}, "ctl": {}}}
}

func (s *memLock) list(kind string) []lock.Claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lock.Claim
	for _, c := range s.objs[kind] {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *memLock) create(kind, data string) lock.Claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	c := lock.Claim{ID: fmt.Sprintf("%s-%03d", kind, s.n), Data: data, Created: time.Now()}
	s.objs[kind][c.ID] = c
	return c
}

func (s *memLock) Claims(context.Context, string) ([]lock.Claim, error) { return s.list("claim"), nil }
func (s *memLock) CreateClaim(_ context.Context, _, data string) (lock.Claim, error) {
	return s.create("claim", data), nil
}
func (s *memLock) UpdateClaim(_ context.Context, c lock.Claim, data string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objs["claim"][c.ID]; !ok {
		return lock.ErrGone
	}
	c.Data = data
	s.objs["claim"][c.ID] = c
	return nil
}
func (s *memLock) DeleteClaim(_ context.Context, c lock.Claim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs["claim"], c.ID)
	return nil
}
func (s *memLock) ControlRequests(context.Context, string) ([]lock.Claim, error) {
	return s.list("ctl"), nil
}
func (s *memLock) CreateControlRequest(_ context.Context, _, data string) (lock.Claim, error) {
	return s.create("ctl", data), nil
}
func (s *memLock) DeleteControlRequest(_ context.Context, c lock.Claim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs["ctl"], c.ID)
	return nil
}

// The LockController's requests reach the holder's inbox as the rollout's request kinds.
func TestLockController(t *testing.T) {
	ctx := context.Background()
	store := newMemLock()
	name := lock.UpgradeName("sample", "app")
	c := &LockController{Store: store, Controls: store, Name: name, By: "ops@laptop 4242"}
	if err := c.Pause(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("pause to a free lock: %v, want ErrNotHeld", err)
	}
	l, err := lock.Acquire(ctx, store, name, lock.Options{Holder: "ops@bastion 1", Operation: "upgrade fleet.app"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	for _, send := range []func(context.Context) error{c.Pause, c.Resume, c.Abort, c.Rollback} {
		if err := send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reqs, err := l.Inbox(store).Requests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range reqs {
		kinds = append(kinds, r.Kind)
		if r.By != "ops@laptop 4242" {
			t.Errorf("request by %q", r.By)
		}
	}
	if want := []string{rollout.Pause, rollout.Resume, rollout.Abort, rollout.Rollback}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("the holder got %v, want %v", kinds, want)
	}
}
