package lock

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStore keeps claims in memory, with the one property the lock relies on: a claim is
// listed once its create returned. (The provider's store, on Neutron, has its integration
// test on the test bed.)
type memStore struct {
	mu     sync.Mutex
	n      int
	claims map[string]Claim
}

func newMemStore() *memStore { return &memStore{claims: map[string]Claim{}} }

func (m *memStore) Claims(context.Context, string) ([]Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Claim
	for _, c := range m.claims {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m *memStore) CreateClaim(_ context.Context, _, data string) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	c := Claim{ID: fmt.Sprintf("c%04d", m.n), Data: data, Created: time.Now()}
	m.claims[c.ID] = c
	return c, nil
}

func (m *memStore) UpdateClaim(_ context.Context, c Claim, data string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.claims[c.ID]; !ok {
		return fmt.Errorf("update claim %s: %w", c.ID, ErrGone)
	}
	c.Data = data
	m.claims[c.ID] = c
	return nil
}

func (m *memStore) DeleteClaim(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, c.ID)
	return nil
}

// Many contenders at once: exactly one holds the lock at any time, and all get it in turn.
func TestAcquireExcludes(t *testing.T) {
	s := newMemStore()
	var inside, peak, served atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Acquire(context.Background(), s, "c", Options{Holder: fmt.Sprint("h", i), Operation: "apply", Wait: time.Minute, Poll: 5 * time.Millisecond})
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
			time.Sleep(10 * time.Millisecond)
			inside.Add(-1)
			served.Add(1)
			if err := l.Release(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() != 1 || served.Load() != 8 {
		t.Errorf("peak holders %d (want 1), served %d (want 8)", peak.Load(), served.Load())
	}
	if left, _ := s.Claims(context.Background(), "c"); len(left) != 0 {
		t.Errorf("claims left after every holder released: %+v", left)
	}
}

func TestHeldLockSaysByWhom(t *testing.T) {
	s := newMemStore()
	l, err := Acquire(context.Background(), s, "c", Options{Holder: "alice@laptop pid 42", Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	_, err = Acquire(context.Background(), s, "c", Options{Holder: "bob", Operation: "destroy"})
	var held *HeldError
	if !errors.As(err, &held) || held.Lease.Holder != "alice@laptop pid 42" || held.Lease.Operation != "apply" {
		t.Fatalf("err = %v, want a HeldError naming alice's apply", err)
	}
	if claims, _ := s.Claims(context.Background(), "c"); len(claims) != 1 {
		t.Errorf("a refused contender left its claim: %+v", claims)
	}
}

// A holder that died (no renewals) loses its lease when it expires; the next one deletes its
// claim and takes the lock, and the dead holder, if it wakes up, finds it lost.
func TestExpiredLeaseIsTaken(t *testing.T) {
	s := newMemStore()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dead, err := Acquire(context.Background(), s, "c", Options{Holder: "dead", Operation: "apply", TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	close(dead.stop) // it stops renewing, as a killed process does
	<-dead.done
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	next, err := Acquire(context.Background(), s, "c", Options{Holder: "next", Operation: "apply", Now: clock})
	if err != nil {
		t.Fatalf("an expired lease was not taken: %v", err)
	}
	defer next.Release(context.Background())
	if err := dead.update(context.Background(), func(*Lease) {}); !errors.Is(err, ErrGone) {
		t.Errorf("the dead holder's update: %v, want ErrGone", err)
	}
}

// Renewals keep the lease; a claim deleted under its holder (after an expiry) is lost.
func TestRenewAndLose(t *testing.T) {
	s := newMemStore()
	l, err := Acquire(context.Background(), s, "c", Options{Holder: "a", Operation: "apply", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	first := l.Lease().Expires
	time.Sleep(2200 * time.Millisecond)
	if !l.Lease().Expires.After(first) {
		t.Errorf("lease not renewed: expires %s, first %s", l.Lease().Expires, first)
	}
	select {
	case <-l.Lost():
		t.Fatalf("lost a renewed lock: %v", l.Err())
	default:
	}
	s.DeleteClaim(context.Background(), l.claim)
	select {
	case <-l.Lost():
	case <-time.After(3 * time.Second):
		t.Fatal("the lock was not reported lost")
	}
	t.Log(l.Err())
	l.Release(context.Background())
}

// A held lock is read back with its holder and operation; released, it holds nothing.
func TestReadAndRelease(t *testing.T) {
	s := newMemStore()
	l, err := Acquire(context.Background(), s, "c", Options{Holder: "a", Operation: "upgrade fleet.node"})
	if err != nil {
		t.Fatal(err)
	}
	if le, _ := Read(context.Background(), s, "c", time.Now()); le == nil || le.Holder != "a" || le.Operation != "upgrade fleet.node" {
		t.Errorf("lease %+v", le)
	}
	l.Release(context.Background())
	if le, _ := Read(context.Background(), s, "c", time.Now()); le != nil {
		t.Errorf("released lock still holds %+v", le)
	}
}
