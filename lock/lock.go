// Package lock is the cloud lock that apply, rollouts and the schedule share: a lease on one
// small object in the cloud, taken and renewed by compare-and-swap, so that two operators,
// the scheduler and the TUI never work on one configuration at once, and no state file is
// needed. It imports nothing of hardenctl; the provider implements Store.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Object is the lock object as the store has it: its data and the revision that a swap must
// name.
type Object struct {
	ID       string
	Data     string
	Revision int
}

// ErrConflict says the object changed since it was read: someone else swapped first.
var ErrConflict = errors.New("the lock object changed meanwhile")

// Store is the compare-and-swap the lock needs.
type Store interface {
	// Load returns the lock object of name, creating it (empty) when there is none.
	Load(ctx context.Context, name string) (Object, error)
	// Swap writes data iff the object's revision is still obj.Revision; an error wrapping
	// ErrConflict when it is not.
	Swap(ctx context.Context, obj Object, data string) (Object, error)
}

// Lease is what the lock object holds while someone holds the lock. It is kept short: the
// store may bound the data (Neutron: 255 characters).
type Lease struct {
	Holder    string            `json:"h"`           // who: user@host pid
	Operation string            `json:"op"`          // what: apply, destroy, upgrade fleet.x, schedule
	Token     string            `json:"t"`           // this holder's secret-less id
	Acquired  time.Time         `json:"a"`
	Expires   time.Time         `json:"e"`
	Flags     map[string]string `json:"f,omitempty"` // control flags (a rollout's pause, abort)
}

// HeldError says someone else holds the lock.
type HeldError struct {
	Name  string
	Lease Lease
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is locked by %s (%s since %s, lease until %s): wait for it to finish, or for the lease to expire if it died",
		e.Name, e.Lease.Holder, e.Lease.Operation, e.Lease.Acquired.UTC().Format(time.RFC3339), e.Lease.Expires.UTC().Format(time.RFC3339))
}

// Options tune Acquire.
type Options struct {
	Holder    string        // who takes it (required)
	Operation string        // what for (required)
	TTL       time.Duration // lease length (default 2 min); renewed every TTL/3
	Wait      time.Duration // how long to wait for a held lock (0: fail at once)
	Poll      time.Duration // first wait between looks at a held lock (default 500 ms, doubling up to 10 s)
	Now       func() time.Time
}

// Lock is a held lease. Lost is closed when a renewal finds the lease taken or cannot renew
// it before it expires; the holder must then stop.
type Lock struct {
	store Store
	name  string
	opts  Options

	mu    sync.Mutex
	obj   Object
	lease Lease

	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error
	stop     chan struct{}
	done     chan struct{}
}

// Acquire takes the lock called name: a free or expired lease is replaced by ours with one
// compare-and-swap; a live lease of another holder is waited for up to opts.Wait, then
// reported as a *HeldError. The lease is renewed in the background until Release.
func Acquire(ctx context.Context, store Store, name string, opts Options) (*Lock, error) {
	if opts.TTL <= 0 {
		opts.TTL = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var tok [8]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	deadline := opts.Now().Add(opts.Wait)
	delay := opts.Poll
	if delay <= 0 {
		delay = 500 * time.Millisecond
	}
	for {
		obj, err := store.Load(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("read lock %s: %w", name, err)
		}
		cur, err := decode(obj.Data)
		if err != nil {
			return nil, fmt.Errorf("read lock %s: %w", name, err)
		}
		now := opts.Now()
		if cur.Token == token { // our swap went through, though its answer was lost (a retry saw 412)
			l := &Lock{store: store, name: name, opts: opts, obj: obj, lease: cur,
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew()
			return l, nil
		}
		if cur.Token == "" || !now.Before(cur.Expires) {
			lease := Lease{Holder: opts.Holder, Operation: opts.Operation, Token: token,
				Acquired: now.UTC().Truncate(time.Second), Expires: now.Add(opts.TTL).UTC().Truncate(time.Second)}
			data, err := encode(lease)
			if err != nil {
				return nil, err
			}
			next, err := store.Swap(ctx, obj, data)
			if err == nil {
				l := &Lock{store: store, name: name, opts: opts, obj: next, lease: lease,
					lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
				go l.renew()
				return l, nil
			}
			if !errors.Is(err, ErrConflict) {
				return nil, fmt.Errorf("take lock %s: %w", name, err)
			}
			continue // someone swapped first: look again
		}
		if !now.Before(deadline) {
			return nil, &HeldError{Name: name, Lease: cur}
		}
		t := time.NewTimer(min(delay, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Lost is closed when the lock was lost; Err then says why.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err says why the lock was lost (nil while it is held).
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Lease returns the lease as held now.
func (l *Lock) Lease() Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lease
}

func (l *Lock) lose(err error) {
	l.lostOnce.Do(func() {
		l.mu.Lock()
		l.lostErr = err
		l.mu.Unlock()
		close(l.lost)
	})
}

func (l *Lock) renew() {
	defer close(l.done)
	every := l.opts.TTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.update(ctx, func(le *Lease) { le.Expires = l.opts.Now().Add(l.opts.TTL).UTC().Truncate(time.Second) })
		cancel()
		l.mu.Lock()
		expired := !l.opts.Now().Before(l.lease.Expires)
		l.mu.Unlock()
		var held *HeldError
		if errors.As(err, &held) || (err != nil && expired) {
			l.lose(fmt.Errorf("lost lock %s: %w", l.name, err))
			return
		}
	}
}

// update changes our lease with compare-and-swap, re-reading on conflicts; it fails with a
// *HeldError when the lease is no longer ours.
func (l *Lock) update(ctx context.Context, change func(*Lease)) error {
	for range 10 {
		obj, err := l.store.Load(ctx, l.name)
		if err != nil {
			return err
		}
		cur, err := decode(obj.Data)
		if err != nil {
			return err
		}
		if cur.Token != l.lease.Token {
			return &HeldError{Name: l.name, Lease: cur}
		}
		change(&cur)
		data, err := encode(cur)
		if err != nil {
			return err
		}
		next, err := l.store.Swap(ctx, obj, data)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.obj, l.lease = next, cur
		l.mu.Unlock()
		return nil
	}
	return fmt.Errorf("update lock %s: it kept changing", l.name)
}

// SetFlag sets (or, with value "", clears) a control flag on the held lease.
func (l *Lock) SetFlag(ctx context.Context, key, value string) error {
	return l.update(ctx, func(le *Lease) {
		if value == "" {
			delete(le.Flags, key)
			return
		}
		if le.Flags == nil {
			le.Flags = map[string]string{}
		}
		le.Flags[key] = value
	})
}

// Release stops the renewals and frees the lock (if it is still ours).
func (l *Lock) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		return nil // not ours any more: nothing to free
	default:
	}
	for range 10 {
		obj, err := l.store.Load(ctx, l.name)
		if err != nil {
			return fmt.Errorf("release lock %s: %w", l.name, err)
		}
		cur, err := decode(obj.Data)
		if err != nil || cur.Token != l.lease.Token {
			return nil
		}
		if _, err := l.store.Swap(ctx, obj, ""); err == nil {
			return nil
		} else if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("release lock %s: %w", l.name, err)
		}
	}
	return fmt.Errorf("release lock %s: it kept changing", l.name)
}

// Read returns the current lease of name (Token "" when free).
func Read(ctx context.Context, store Store, name string) (Lease, error) {
	obj, err := store.Load(ctx, name)
	if err != nil {
		return Lease{}, err
	}
	return decode(obj.Data)
}

func decode(data string) (Lease, error) {
	var le Lease
	if data == "" {
		return le, nil
	}
	if err := json.Unmarshal([]byte(data), &le); err != nil {
		return Lease{}, fmt.Errorf("the lock object holds no lease (%q): %w", data, err)
	}
	return le, nil
}

func encode(le Lease) (string, error) {
	b, err := json.Marshal(le)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
