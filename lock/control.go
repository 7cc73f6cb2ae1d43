package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Control requests (pause, resume, abort, rollback of a rollout) reach a lock's holder as
// objects of their own, one per request, apart from the claims: the sender creates one, the
// holder lists them between units of work and deletes each once obeyed. Nobody but the
// holder ever changes its claim, so a request never races the holder's lease renewals (the
// cloud has no atomic compare-and-swap to settle such a race), and a request is seen by
// every list that starts after its create returned, as claims are.

// ControlStore keeps the control requests of a lock.
type ControlStore interface {
	// ControlRequests lists the requests made on lock name, oldest first.
	ControlRequests(ctx context.Context, name string) ([]Claim, error)
	// CreateControlRequest makes one; it is listed by every ControlRequests that starts after
	// it returned.
	CreateControlRequest(ctx context.Context, name, data string) (Claim, error)
	// DeleteControlRequest deletes one; one already gone is not an error.
	DeleteControlRequest(ctx context.Context, c Claim) error
}

// Request is one control request.
type Request struct {
	ID   string    `json:"-"`   // the object's id
	Kind string    `json:"k"`   // what is asked: "pause", "resume", ... (the holder's vocabulary)
	By   string    `json:"by"`  // who asks: user@host pid
	For  string    `json:"for"` // the token of the lease it was made to
	At   time.Time `json:"at"`

	claim Claim
}

// IsRequest says whether data is a control request as Send writes it (for a store that
// must tell its objects apart).
func IsRequest(data string) bool {
	_, err := decodeRequest(data)
	return err == nil
}

func decodeRequest(data string) (Request, error) {
	var r Request
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return Request{}, err
	}
	if r.Kind == "" || r.For == "" {
		return Request{}, errors.New("not a control request")
	}
	return r, nil
}

// ErrNotHeld says a request was sent to a lock nobody holds.
var ErrNotHeld = errors.New("nobody holds the lock")

// Send makes a control request of kind to whoever holds lock name now. It fails wrapping
// ErrNotHeld when the lock is free (there is nobody to obey it).
func Send(ctx context.Context, store Store, cs ControlStore, name, kind, by string, now time.Time) (Request, *Lease, error) {
	le, err := Read(ctx, store, name, now)
	if err != nil {
		return Request{}, nil, fmt.Errorf("read lock %s: %w", name, err)
	}
	if le == nil {
		return Request{}, nil, fmt.Errorf("%s to %s: %w", kind, name, ErrNotHeld)
	}
	if len(by) > 100 {
		by = by[:100]
	}
	r := Request{Kind: kind, By: by, For: le.Token, At: now.UTC().Truncate(time.Second)}
	b, err := json.Marshal(r)
	if err != nil {
		return Request{}, nil, err
	}
	c, err := cs.CreateControlRequest(ctx, name, string(b))
	if err != nil {
		return Request{}, nil, fmt.Errorf("send %s to lock %s: %w", kind, name, err)
	}
	r.ID, r.claim = c.ID, c
	return r, le, nil
}

// Pending lists the requests on lock name not yet obeyed, oldest first.
func Pending(ctx context.Context, cs ControlStore, name string) ([]Request, error) {
	objs, err := cs.ControlRequests(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read the control requests of lock %s: %w", name, err)
	}
	var out []Request
	for _, c := range objs {
		r, err := decodeRequest(c.Data)
		if err != nil {
			continue
		}
		r.ID, r.claim = c.ID, c
		out = append(out, r)
	}
	return out, nil
}

// WaitGone waits until request r is no longer pending: its holder obeyed it (or, had the
// holder died, the next holder discarded it).
func WaitGone(ctx context.Context, cs ControlStore, name string, r Request, poll time.Duration) error {
	for {
		pending, err := Pending(ctx, cs, name)
		if err != nil {
			return err
		}
		found := false
		for _, p := range pending {
			found = found || p.ID == r.ID
		}
		if !found {
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the %s request to be obeyed: %w", r.Kind, ctx.Err())
		case <-t.C:
		}
	}
}

// Inbox is where a holder reads the requests made to it.
type Inbox struct {
	cs    ControlStore
	name  string
	token string
}

// Inbox returns the holder's inbox on cs.
func (l *Lock) Inbox(cs ControlStore) *Inbox {
	return &Inbox{cs: cs, name: l.name, token: l.Lease().Token}
}

// Requests returns the requests made to this holder, oldest first. Requests made to an
// earlier holder of the lock (it died before obeying them) are deleted: they were not
// meant for this one.
func (in *Inbox) Requests(ctx context.Context) ([]Request, error) {
	all, err := Pending(ctx, in.cs, in.name)
	if err != nil {
		return nil, err
	}
	var mine []Request
	for _, r := range all {
		if r.For != in.token {
			if err := in.cs.DeleteControlRequest(ctx, r.claim); err != nil {
				return nil, fmt.Errorf("discard a %s request made to an earlier holder of %s: %w", r.Kind, in.name, err)
			}
			continue
		}
		mine = append(mine, r)
	}
	return mine, nil
}

// Obeyed removes a request once acted on.
func (in *Inbox) Obeyed(ctx context.Context, r Request) error {
	if err := in.cs.DeleteControlRequest(ctx, r.claim); err != nil {
		return fmt.Errorf("remove the %s request on lock %s: %w", r.Kind, in.name, err)
	}
	return nil
}

// UpgradeName is the lock of the rollouts of one fleet of configuration config: two
// rollouts of a fleet never run at once, rollouts of different fleets may.
func UpgradeName(config, fleet string) string { return config + ".upgrade." + fleet }
