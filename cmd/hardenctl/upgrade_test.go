package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/lock"
	"github.com/hardenctl/hardenctl/plan"
	"github.com/hardenctl/hardenctl/rollout"
)

// memLocks is an in-memory lock.Store.
type memLocks struct {
	mu     sync.Mutex
	n      int
	claims map[string][]lock.Claim
}

func (m *memLocks) Claims(_ context.Context, name string) ([]lock.Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]lock.Claim(nil), m.claims[name]...), nil
}

func (m *memLocks) CreateClaim(_ context.Context, name, data string) (lock.Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	c := lock.Claim{ID: fmt.Sprint(m.n), Data: data, Created: time.Now()}
	if m.claims == nil {
		m.claims = map[string][]lock.Claim{}
	}
	m.claims[name] = append(m.claims[name], c)
	return c, nil
}

func (m *memLocks) UpdateClaim(_ context.Context, c lock.Claim, data string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, cs := range m.claims {
		for i := range cs {
			if cs[i].ID == c.ID {
				m.claims[name][i].Data = data
				return nil
			}
		}
	}
	return lock.ErrGone
}

func (m *memLocks) DeleteClaim(_ context.Context, c lock.Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, cs := range m.claims {
		for i := range cs {
			if cs[i].ID == c.ID {
				m.claims[name] = append(cs[:i:i], cs[i+1:]...)
				return nil
			}
		}
	}
	return nil
}

// apply refuses to rebuild a fleet whose rollout holds its upgrade lock, and only when the
// rebuilds would run (allowed); other fleets' rebuilds and a free lock go ahead.
func TestApplyRefusesRebuildsUnderUpgrade(t *testing.T) {
	ctx := context.Background()
	store := &memLocks{}
	cfg := &config.Config{Name: "cfg"}
	rebuild := func(fleet string, allowed bool) plan.Change {
		return plan.Change{Action: plan.Rebuild, Kind: plan.KindServer, ServerName: "cfg-" + fleet + "-01",
			Server: &plan.ServerSpec{Fleet: fleet, Rebuild: allowed}}
	}
	p := &plan.Plan{Changes: []plan.Change{rebuild("db", true), rebuild("app", false)}}
	if err := refuseRebuildsUnderUpgrade(ctx, store, cfg, p, false); err != nil {
		t.Fatalf("no rollout running: %v", err)
	}
	l, err := lock.Acquire(ctx, store, lock.UpgradeName("cfg", "app"), lock.Options{Holder: "op@host pid 1", Operation: "upgrade app"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	if err := refuseRebuildsUnderUpgrade(ctx, store, cfg, p, false); err != nil {
		t.Errorf("app's rebuilds are not allowed, so they are skipped anyway: %v", err)
	}
	err = refuseRebuildsUnderUpgrade(ctx, store, cfg, p, true)
	if err == nil || !strings.Contains(err.Error(), "fleet app is being upgraded by op@host pid 1") {
		t.Errorf("with -allow-rebuild during app's rollout: %v", err)
	}
}

func TestUpgradeExitCodes(t *testing.T) {
	code := func(err error) int {
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.code
		}
		return 1
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{fmt.Errorf("%w: %w", rollout.ErrRolledBack, &rollout.FailureError{Servers: []string{"a"}}), exitUpgradeRolledBack},
		{fmt.Errorf("%w: x", rollout.ErrRollbackFailed), exitUpgradeRollbackBad},
		{fmt.Errorf("%w by request", rollout.ErrAborted), exitUpgradeAborted},
		{fmt.Errorf("%w: x", rollout.ErrBlocked), exitUpgradeFailed},
		{fmt.Errorf("%w (1m): x", rollout.ErrDeadline), exitUpgradeFailed},
		{event.ErrHalted, exitUpgradeFailed},
		{fmt.Errorf("%w: image gone", rollout.ErrRollbackImpossible), 1},
		{errors.New("lock held"), 1},
	} {
		if got := code(upgradeExit(tc.err)); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.want)
		}
	}
}

type fakeFleetLister map[string][]rollout.Server

func (f fakeFleetLister) ListFleet(_ context.Context, tags []string) ([]rollout.Server, error) {
	return f[tags[len(tags)-1]], nil
}

// plan shows each fleet's planned rebuilds as the rollout upgrade would run.
func TestPlanShowsRebuildsAsRollout(t *testing.T) {
	up := config.Upgrade{Strategy: config.StrategyRebuild, MaxUnavailable: config.Amount{N: 2}, Canary: 1, OnFailure: config.OnFailureRollback,
		Health: config.Health{SSH: true, TCP: []int{22}, Timeout: 5 * time.Minute}}
	cfg := &config.Config{Name: "cfg", Fleets: []*config.Fleet{{Name: "web", Image: config.ImageRef{Name: "node", Managed: true}, Upgrade: up}}}
	var changes []plan.Change
	var servers []rollout.Server
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("cfg-web-%02d", i)
		servers = append(servers, rollout.Server{ID: fmt.Sprint(i), Name: name, Status: "ACTIVE", ImageID: "img-old"})
		changes = append(changes, plan.Change{Action: plan.Rebuild, Kind: plan.KindServer, ServerName: name, ID: fmt.Sprint(i),
			Server: &plan.ServerSpec{Name: name, Fleet: "web", ImageID: "img-new"}})
	}
	var b strings.Builder
	if err := writeRollouts(context.Background(), &b, cfg, &plan.Plan{Changes: changes}, fakeFleetLister{"hardenctl-fleet:web": servers}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Fleet web's image change as a rollout (hardenctl upgrade web", "onto image node (img-new): 4 of 4 servers to do",
		"canary       1: cfg-web-01", "batch 2      2: cfg-web-02, cfg-web-03", "batch 3      1: cfg-web-04", "tcp 22 (from inside, over ssh)"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
