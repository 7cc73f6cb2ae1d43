package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

// Everything of a fleet's upgrade block that package rollout uses, and the defaults.
func TestLoadUpgrade(t *testing.T) {
	cfg, _ := loadSource(t, `
zone "app" {}

fleet "a" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 8
  upgrade {
    strategy        = "rebuild"
    max_unavailable = "25%"
    canary          = 2
    max_failures    = 1
    on_failure      = "pause"
    deadline        = "2h"
    health {
      tcp       = [8443, 9090]
      min_score = 85.5
      warmup    = "20s"
      bake      = "2m"
      timeout   = "30m"
    }
  }
}

fleet "b" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 3
  upgrade {
    max_unavailable = 2
    max_failures    = "10%"
    canary          = 0
  }
}

fleet "c" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 3
}
`)
	want := []Upgrade{
		{Strategy: StrategyRebuild, MaxUnavailable: Amount{N: 25, Percent: true}, Canary: 2, MaxFailures: Amount{N: 1},
			OnFailure: OnFailurePause, Deadline: 2 * time.Hour,
			Health: Health{SSH: true, TCP: []int{8443, 9090}, MinScore: score(85.5), Warmup: 20 * time.Second,
				Bake: 2 * time.Minute, Timeout: 30 * time.Minute}},
		{Strategy: StrategyRebuild, MaxUnavailable: Amount{N: 2}, MaxFailures: Amount{N: 10, Percent: true},
			OnFailure: OnFailureRollback, Health: Health{SSH: true, Timeout: DefaultGateTimeout}},
		{Strategy: StrategyRebuild, MaxUnavailable: Amount{N: 1}, Canary: 1, OnFailure: OnFailureRollback,
			Health: Health{SSH: true, Timeout: DefaultGateTimeout}},
	}
	var got []Upgrade
	for _, f := range cfg.Fleets {
		got = append(got, f.Upgrade)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreTypes(hcl.Range{})); diff != "" {
		t.Errorf("upgrade blocks (-want +got):\n%s", diff)
	}
}

// A percentage rounds down; Of says nothing of the at-least-one rule (package rollout keeps it).
func TestAmountOf(t *testing.T) {
	for _, c := range []struct {
		a     Amount
		total int
		want  int
	}{
		{Amount{N: 25, Percent: true}, 6, 1},
		{Amount{N: 25, Percent: true}, 8, 2},
		{Amount{N: 25, Percent: true}, 3, 0},
		{Amount{N: 100, Percent: true}, 7, 7},
		{Amount{N: 3}, 2, 3},
	} {
		if got := c.a.Of(c.total); got != c.want {
			t.Errorf("%s of %d = %d, want %d", c.a, c.total, got, c.want)
		}
	}
}
