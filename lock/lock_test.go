package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStore is a compare-and-swap store in memory (the provider's is a Neutron object with
// If-Match on its revision; its integration test runs against the test bed).
type memStore struct {
	mu  sync.Mutex
	obj Object
}

func (m *memStore) Load(context.Context, string) (Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.obj, nil
}

func (m *memStore) Swap(_ context.Context, obj Object, data string) (Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if obj.Revision != m.obj.Revision {
		return Object{}, fmt.Errorf("swap: %w", ErrConflict)
	}
	m.obj = Object{ID: "lock", Data: data, Revision: m.obj.Revision + 1}
	return m.obj, nil
}

// Many holders at once: exactly one holds the lock at any time, and all get it in turn.
func TestAcquireExcludes(t *testing.T) {
	s := &memStore{}
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
			time.Sleep(20 * time.Millisecond)
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
}

func TestHeldLockSaysByWhom(t *testing.T) {
	s := &memStore{}
	l, err := Acquire(context.Background(), s, "c", Options{Holder: "alice@laptop 42", Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	_, err = Acquire(context.Background(), s, "c", Options{Holder: "bob", Operation: "destroy"})
	var held *HeldError
	if !errors.As(err, &held) || held.Lease.Holder != "alice@laptop 42" || held.Lease.Operation != "apply" {
		t.Fatalf("err = %v, want a HeldError naming alice's apply", err)
	}
	t.Log(err)
}

// A holder that died (no renewals) loses its lease when it expires; the next one takes it,
// and the dead holder's lock, if it wakes up, finds it lost.
func TestExpiredLeaseIsTaken(t *testing.T) {
	s := &memStore{}
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	dead, err := Acquire(context.Background(), s, "c", Options{Holder: "dead", Operation: "apply", TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	close(dead.stop) // it stops renewing, as a killed process does
	<-dead.done
	now = now.Add(2 * time.Hour)
	next, err := Acquire(context.Background(), s, "c", Options{Holder: "next", Operation: "apply", Now: clock})
	if err != nil {
		t.Fatalf("an expired lease was not taken: %v", err)
	}
	defer next.Release(context.Background())
	if err := dead.update(context.Background(), func(*Lease) {}); !errors.As(err, new(*HeldError)) {
		t.Errorf("the dead holder's update: %v, want a HeldError", err)
	}
}

// Renewals keep the lease; a lease taken by another holder (after ours expired) is lost.
func TestRenewAndLose(t *testing.T) {
	s := &memStore{}
	l, err := Acquire(context.Background(), s, "c", Options{Holder: "a", Operation: "apply", TTL: 90 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	first := l.Lease().Expires
	time.Sleep(1100 * time.Millisecond)
	if !l.Lease().Expires.After(first) {
		t.Errorf("lease not renewed: expires %s, first %s", l.Lease().Expires, first)
	}
	select {
	case <-l.Lost():
		t.Fatalf("lost a renewed lock: %v", l.Err())
	default:
	}
	// Someone takes it over (as after an expiry): our next renewal finds it gone.
	obj, _ := s.Load(context.Background(), "c")
	other, _ := encode(Lease{Holder: "b", Token: "other", Expires: time.Now().Add(time.Hour)})
	s.Swap(context.Background(), obj, other)
	select {
	case <-l.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("the lock was not reported lost")
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if le, _ := Read(context.Background(), s, "c"); le.Holder != "b" {
		t.Errorf("releasing a lost lock freed another's lease: %+v", le)
	}
}

func TestFlags(t *testing.T) {
	s := &memStore{}
	l, err := Acquire(context.Background(), s, "c", Options{Holder: "a", Operation: "upgrade fleet.node"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetFlag(context.Background(), "pause", "1"); err != nil {
		t.Fatal(err)
	}
	if le, _ := Read(context.Background(), s, "c"); le.Flags["pause"] != "1" {
		t.Errorf("flags %v", le.Flags)
	}
	l.Release(context.Background())
	if le, _ := Read(context.Background(), s, "c"); le.Token != "" {
		t.Errorf("released lock still holds %+v", le)
	}
}
