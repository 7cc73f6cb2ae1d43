// Package lock is the cloud lock that apply, rollouts and the schedule share: a lease in the
// cloud itself, so that two operators, the scheduler and the TUI never work on one
// configuration at once, and no state file is needed. It imports nothing of hardenctl; the
// provider implements Store.
//
// The cloud offers no atomic compare-and-swap to build on: Neutron's If-Match on
// revision_number lets several concurrent updates of one revision through (seen on the test
// bed: three of eight). The lock is therefore made of claims, one object per contender, and
// of one property the cloud does have: an object is listed by every list that starts after
// its create returned. A contender creates its claim, then lists the claims: if it sees no
// other live claim it commits its claim (state held), otherwise it withdraws it and tries
// again after a random pause. Of two contenders the later lister always sees the other's
// claim, so at most one commits; a held claim is seen by every later contender.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// Claim is one contender's object: its id, its data (a Lease) and when it was made.
type Claim struct {
	ID      string
	Data    string
	Created time.Time
}

// ErrGone says a claim no longer exists.
var ErrGone = errors.New("the claim is gone")

// Store keeps the claims of a lock.
type Store interface {
	// Claims lists the claims of the lock name, oldest first.
	Claims(ctx context.Context, name string) ([]Claim, error)
	// CreateClaim makes a claim of name; it is listed by every Claims that starts after it
	// returned.
	CreateClaim(ctx context.Context, name, data string) (Claim, error)
	// UpdateClaim replaces the data of a claim (an error wrapping ErrGone when it was deleted).
	UpdateClaim(ctx context.Context, c Claim, data string) error
	// DeleteClaim deletes a claim; one already gone is not an error.
	DeleteClaim(ctx context.Context, c Claim) error
}

// Lease is what a claim holds. It is kept short: the store may bound the data (Neutron: 255
// characters).
type Lease struct {
	Holder    string    `json:"h"`    // who: user@host pid
	Operation string    `json:"op"`   // what: apply, destroy, upgrade fleet.x, schedule
	Token     string    `json:"t"`    // this contender's random id
	Held      bool      `json:"held"` // committed: the lock is this holder's
	Acquired  time.Time `json:"a"`
	Expires   time.Time `json:"e"`
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
	Poll      time.Duration // first wait between looks at a held lock (default 500 ms, doubling up to 16 times that)
	Now       func() time.Time
}

// Lock is a held lease. Lost is closed when a renewal finds the claim gone or cannot renew it
// before it expires; the holder must then stop.
type Lock struct {
	store Store
	name  string
	opts  Options

	mu    sync.Mutex
	claim Claim
	lease Lease

	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error
	stop     chan struct{}
	done     chan struct{}
}

// Acquire takes the lock called name. A live lease held by another is waited for up to
// opts.Wait, then reported as a *HeldError; expired claims are deleted. The lease is renewed
// in the background until Release.
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
	if opts.Poll <= 0 {
		opts.Poll = 500 * time.Millisecond
	}
	delay, collisions := opts.Poll, 0
	pause := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for lock %s: %w", name, ctx.Err())
		case <-t.C:
			return nil
		}
	}
	for {
		live, err := liveClaims(ctx, store, name, opts.Now())
		if err != nil {
			return nil, err
		}
		if held := heldBy(live, ""); held != nil {
			now := opts.Now()
			if !now.Before(deadline) {
				return nil, &HeldError{Name: name, Lease: *held}
			}
			if err := pause(min(delay, deadline.Sub(now))); err != nil {
				return nil, err
			}
			delay = min(delay*2, 16*opts.Poll)
			continue
		}
		now := opts.Now()
		lease := Lease{Holder: opts.Holder, Operation: opts.Operation, Token: token,
			Acquired: now.UTC().Truncate(time.Second), Expires: now.Add(opts.TTL).UTC().Truncate(time.Second)}
		data, err := encode(lease)
		if err != nil {
			return nil, err
		}
		mine, err := store.CreateClaim(ctx, name, data)
		if err != nil {
			return nil, fmt.Errorf("claim lock %s: %w", name, err)
		}
		if live, err = liveClaims(ctx, store, name, opts.Now()); err != nil {
			store.DeleteClaim(context.WithoutCancel(ctx), mine)
			return nil, err
		}
		others := 0
		for _, c := range live {
			if c.claim.ID != mine.ID {
				others++
			}
		}
		if others == 0 {
			lease.Held = true
			if data, err = encode(lease); err == nil {
				err = store.UpdateClaim(ctx, mine, data)
			}
			if err != nil {
				store.DeleteClaim(context.WithoutCancel(ctx), mine)
				return nil, fmt.Errorf("commit lock %s: %w", name, err)
			}
			mine.Data = data
			l := &Lock{store: store, name: name, opts: opts, claim: mine, lease: lease,
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew()
			return l, nil
		}
		// Another contender (or holder) is there: withdraw, and look again after a random
		// pause, so that two contenders who saw each other do not meet again.
		if err := store.DeleteClaim(ctx, mine); err != nil {
			return nil, fmt.Errorf("withdraw claim on lock %s: %w", name, err)
		}
		collisions++
		backoff := opts.Poll << min(collisions, 5)
		if err := pause(time.Duration(mrand.Int64N(int64(backoff))) + opts.Poll/4); err != nil {
			return nil, err
		}
	}
}

type liveClaim struct {
	claim Claim
	lease Lease
}

// liveClaims lists the claims of name and deletes the expired ones (their holders died or
// were cut off); an object whose data is no lease is no claim and is ignored.
func liveClaims(ctx context.Context, store Store, name string, now time.Time) ([]liveClaim, error) {
	claims, err := store.Claims(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read lock %s: %w", name, err)
	}
	var live []liveClaim
	for _, c := range claims {
		le, err := decode(c.Data)
		if err != nil {
			continue
		}
		if !now.Before(le.Expires) {
			if err := store.DeleteClaim(ctx, c); err != nil {
				return nil, fmt.Errorf("delete expired claim of %s on lock %s: %w", le.Holder, name, err)
			}
			continue
		}
		live = append(live, liveClaim{c, le})
	}
	return live, nil
}

// heldBy returns the lease of a committed claim other than token's.
func heldBy(live []liveClaim, token string) *Lease {
	for _, c := range live {
		if c.lease.Held && c.lease.Token != token {
			return &c.lease
		}
	}
	return nil
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
		if errors.Is(err, ErrGone) || (err != nil && expired) {
			l.lose(fmt.Errorf("lost lock %s: %w", l.name, err))
			return
		}
	}
}

// update changes our lease in our claim.
func (l *Lock) update(ctx context.Context, change func(*Lease)) error {
	l.mu.Lock()
	le := l.lease
	claim := l.claim
	l.mu.Unlock()
	change(&le)
	data, err := encode(le)
	if err != nil {
		return err
	}
	if err := l.store.UpdateClaim(ctx, claim, data); err != nil {
		return err
	}
	l.mu.Lock()
	l.lease, l.claim.Data = le, data
	l.mu.Unlock()
	return nil
}

// Release stops the renewals and deletes our claim.
func (l *Lock) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	if err := l.store.DeleteClaim(ctx, l.claim); err != nil {
		return fmt.Errorf("release lock %s: %w", l.name, err)
	}
	return nil
}

// Read returns the lease that holds name now (nil when it is free).
func Read(ctx context.Context, store Store, name string, now time.Time) (*Lease, error) {
	claims, err := store.Claims(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, c := range claims {
		if le, err := decode(c.Data); err == nil && le.Held && now.Before(le.Expires) {
			return &le, nil
		}
	}
	return nil, nil
}

func decode(data string) (Lease, error) {
	var le Lease
	if err := json.Unmarshal([]byte(data), &le); err != nil {
		return Lease{}, fmt.Errorf("the claim holds no lease (%.40q): %w", data, err)
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

// Break deletes every claim on the lock name, held or not, and returns the leases it
// removed: for the operator who knows the holder died (terraform force-unlock). A holder
// that is still alive finds its lock lost at its next renewal.
func Break(ctx context.Context, store Store, name string) ([]Lease, error) {
	claims, err := store.Claims(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read lock %s: %w", name, err)
	}
	var broken []Lease
	for _, c := range claims {
		le, err := decode(c.Data)
		if err != nil {
			continue
		}
		if err := store.DeleteClaim(ctx, c); err != nil {
			return broken, fmt.Errorf("break lock %s: %w", name, err)
		}
		broken = append(broken, le)
	}
	return broken, nil
}
