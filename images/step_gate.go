package images

import (
	"context"
	"sort"

	"github.com/hardenctl/hardenctl/hardening"
)

// stepGate stops the build when the score is below min_score: nothing is published.
type stepGate struct {
	noCleanup
}

func (*stepGate) Name() string { return "gate" }

func (s *stepGate) Run(ctx context.Context, b *build) error {
	r := b.scan.Result
	if r.Score >= b.spec.MinScore {
		return nil
	}
	var failed []hardening.RuleResult
	for _, rr := range r.Rules {
		if rr.Result == "fail" || rr.Result == "error" {
			failed = append(failed, rr)
		}
	}
	rank := map[string]int{"high": 0, "medium": 1, "low": 2}
	sort.SliceStable(failed, func(i, j int) bool {
		ri, ok := rank[failed[i].Severity]
		if !ok {
			ri = 3
		}
		rj, ok := rank[failed[j].Severity]
		if !ok {
			rj = 3
		}
		return ri < rj
	})
	return &GateError{Image: b.spec.Name, Score: r.Score, MinScore: b.spec.MinScore, Failed: failed}
}
